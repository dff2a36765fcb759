"""Exact resume, divergence and refusals in `fit`.

An interrupted run, resumed from its checkpoint, must give every step's loss and the final
weights of a run that was never interrupted: same batches in the same order (also inside an
epoch, bucketed or plain), the same dropout and feed-back draws, the same patience counter."""

from __future__ import annotations

import pytest
import torch

from s2s.checkpoints import read_checkpoint
from s2s.models import ModelConfig, build_model
from s2s.train import TrainConfig, fit
from tiny import tiny_data

STEPS = 24  # the tiny data has 256 pairs: 8 batches of 32 per epoch, so 3 epochs


def model_with_dropout(data, seed: int = 0):
    torch.manual_seed(seed)
    config = ModelConfig("rnn", len(data.src_vocab), len(data.tgt_vocab), embed_size=16,
                         hidden_size=32, num_layers=2, dropout=0.3, cell="gru", max_len=5)
    return build_model(config, data.src_vocab, data.tgt_vocab)


def config(**changes) -> TrainConfig:
    base = dict(max_steps=STEPS, batch_size=32, eval_every=5, lr=1e-2, patience=None, seed=3)
    return TrainConfig(**{**base, **changes})


def uninterrupted(data, cfg: TrainConfig, tmp_path):
    torch.manual_seed(7)  # the global generator dropout draws from
    model = model_with_dropout(data)
    history = fit(model, data, cfg, checkpoint=tmp_path / "whole.pt", progress=False)
    return history, read_checkpoint(tmp_path / "whole.pt")


class Interrupt(Exception):
    pass


def interrupted_at(step: int, data, cfg: TrainConfig, tmp_path, monkeypatch):
    """Train until `step` raises (as a Ctrl-C would), then resume in a fresh model."""
    import s2s.train

    torch.manual_seed(7)
    model = model_with_dropout(data)
    calls = {"n": 0}
    real = s2s.train.sequence_loss

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == step:
            raise Interrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(s2s.train, "sequence_loss", failing)
    ckpt = tmp_path / f"cut{step}.pt"
    with pytest.raises(Interrupt):
        fit(model, data, cfg, checkpoint=ckpt, progress=False)
    monkeypatch.setattr(s2s.train, "sequence_loss", real)
    torch.manual_seed(12345)  # whatever the global generator holds now must not matter
    again = model_with_dropout(data, seed=99)  # other weights: resume must replace them
    history = fit(again, data, cfg, checkpoint=ckpt, resume=True, progress=False)
    return history, read_checkpoint(ckpt)


@pytest.mark.parametrize("bucket", [True, False])
@pytest.mark.parametrize("step", [7, 9, 12, 17, 23])  # the last checkpoint: steps 5, 5, 10, 15, 20
def test_an_interrupted_run_resumes_exactly(step, bucket, tmp_path, monkeypatch):
    data = tiny_data()
    cfg = config(bucket=bucket, feed_back=0.3)
    whole, whole_ckpt = uninterrupted(data, cfg, tmp_path)
    resumed, resumed_ckpt = interrupted_at(step, data, cfg, tmp_path, monkeypatch)
    assert resumed.step_loss == whole.step_loss  # every step, bit for bit
    assert resumed.val_steps == whole.val_steps and resumed.val_loss == whole.val_loss
    assert resumed.steps == STEPS and resumed.epochs_started == whole.epochs_started
    for name in ("model_state", "last_state"):
        for key, tensor in whole_ckpt[name].items():
            assert torch.equal(resumed_ckpt[name][key], tensor), (name, key)


def test_a_run_stopped_by_its_budget_continues_inside_the_epoch(tmp_path):
    """Stopping at max_steps in the middle of an epoch and resuming with a larger budget
    trains the rest of that epoch, not a new one (the epoch budget is not cut short)."""
    data = tiny_data()
    whole = fit(model_with_dropout(data), data, config(max_steps=None, max_epochs=2,
                                                        eval_every=None), progress=False)
    first = fit(model_with_dropout(data), data, config(max_steps=3, max_epochs=2,
                                                        eval_every=None),
                checkpoint=tmp_path / "m.pt", progress=False)
    assert first.steps == 3 and first.epochs_started == 1
    rest = fit(model_with_dropout(data), data, config(max_steps=None, max_epochs=2,
                                                       eval_every=None),
               checkpoint=tmp_path / "m.pt", resume=True, progress=False)
    assert rest.steps == whole.steps == 16 and rest.epochs_started == 2
    assert rest.step_loss == whole.step_loss  # same batches, same dropout draws


def test_resuming_with_no_budget_left_takes_no_step(tmp_path):
    data = tiny_data()
    first = fit(model_with_dropout(data), data, config(max_steps=6),
                checkpoint=tmp_path / "m.pt", progress=False)
    again = fit(model_with_dropout(data), data, config(max_steps=6),
                checkpoint=tmp_path / "m.pt", resume=True, progress=False)
    assert again.steps == first.steps == 6 and again.stopped == "max_steps=6"


def test_divergence_stops_with_the_step_and_keeps_the_best_weights(tmp_path, monkeypatch):
    """A non-finite loss (here injected at the third step, as a diverging run would produce
    it) stops training with the step named; the model gets back its best weights and the
    last good checkpoint stays as it was."""
    import s2s.train

    data = tiny_data()
    model = model_with_dropout(data)
    fit(model, data, config(max_steps=5, lr=1e-2), checkpoint=tmp_path / "m.pt",
        progress=False)
    good = {k: v.clone() for k, v in model.state_dict().items()}
    saved = (tmp_path / "m.pt").read_bytes()
    real, calls = s2s.train.sequence_loss, {"n": 0}

    def diverging(*args, **kwargs):
        calls["n"] += 1
        loss = real(*args, **kwargs)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(s2s.train, "sequence_loss", diverging)
    with pytest.raises(FloatingPointError, match=r"diverged at step 3: loss nan.*Lower lr"):
        fit(model, data, config(max_steps=20), checkpoint=tmp_path / "m.pt", progress=False)
    assert all(torch.equal(v, good[k]) for k, v in model.state_dict().items())
    assert (tmp_path / "m.pt").read_bytes() == saved  # the last good checkpoint is kept


def test_fit_refuses_data_with_other_vocabularies_and_empty_splits():
    from s2s.data import Splits, TranslationData
    from s2s.vocab import Vocab

    data = tiny_data()
    wider = Vocab.build([s for s, _ in data.splits.train] + [["zzz"]], 1)
    other = TranslationData(data.release, data.report, data.splits, wider, data.tgt_vocab,
                            data.tokenizers)
    with pytest.raises(ValueError, match="fit: the model's source vocabulary differs"):
        fit(model_with_dropout(other), data, config(), progress=False)
    from s2s.metrics import judge

    with pytest.raises(ValueError, match="judge: the model's source vocabulary differs"):
        judge(model_with_dropout(other), data, "valid")
    empty = TranslationData(data.release, data.report, Splits([], data.splits.valid, []),
                            data.src_vocab, data.tgt_vocab, data.tokenizers)
    with pytest.raises(ValueError, match="the train split is empty"):
        fit(model_with_dropout(data), empty, config(), progress=False)


@pytest.mark.parametrize("device, error, phrase", [
    ("gpu", ValueError, "fit(device=...)='gpu' is not a device name"),
    ("cuda:7", RuntimeError, "fit(device=...)='cuda:7' asks for"),
])
def test_fit_refuses_a_device_the_machine_lacks(device, error, phrase):
    if device.startswith("cuda") and torch.cuda.device_count() > 7:
        pytest.skip("this machine has a GPU 7")
    data = tiny_data()
    with pytest.raises(error) as info:
        fit(model_with_dropout(data), data, config(), device=device, progress=False)
    assert phrase in str(info.value) and "device='cpu'" in str(info.value)


def test_load_checkpoint_refuses_a_device_the_machine_lacks(tmp_path):
    from s2s.checkpoints import load_checkpoint, save_checkpoint

    data = tiny_data()
    save_checkpoint(tmp_path / "m.pt", model_with_dropout(data))
    with pytest.raises(ValueError, match=r"load_checkpoint\(device=...\)='tpu'"):
        load_checkpoint(tmp_path / "m.pt", device="tpu")
