"""The masked loss, the training loop, checkpoints and resuming."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from s2s.checkpoints import load_checkpoint, load_history, save_checkpoint
from s2s.models import ModelConfig
from s2s.train import TrainConfig, feed_back_logits, fit, learning_rate, sequence_loss
from s2s.vocab import PAD
from tiny import tiny_data, tiny_model


def test_masked_loss_gives_zero_gradient_at_pad_positions():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 7, requires_grad=True)
    tgt_out = torch.tensor([[5, 6, 3, PAD], [4, 3, PAD, PAD]])
    sequence_loss(logits, tgt_out).backward()
    pads = tgt_out == PAD
    assert torch.all(logits.grad[pads] == 0)
    assert torch.all(logits.grad[~pads].abs().sum(-1) > 0)
    # the mean is over the 5 real tokens only
    manual = torch.nn.functional.cross_entropy(logits[~pads], tgt_out[~pads])
    assert torch.allclose(sequence_loss(logits, tgt_out), manual)
    logits.grad = None
    sequence_loss(logits, tgt_out, mask=False).backward()
    assert torch.all(logits.grad[pads].abs().sum(-1) > 0)  # unmasked: pads are trained on


def test_overfitting_one_batch_drives_the_loss_near_zero():
    data = tiny_data()
    model = tiny_model(data, hidden=64)
    src, src_len, tgt_in, tgt_out = next(iter(data.loader("train", 16)))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(300):
        loss = sequence_loss(model(src, src_len, tgt_in), tgt_out)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert loss.item() < 0.02


def test_feed_back_with_rate_zero_is_teacher_forcing():
    data = tiny_data()
    model = tiny_model(data).eval()
    src, src_len, tgt_in, _ = next(iter(data.loader("valid", 8)))
    assert torch.allclose(feed_back_logits(model, src, src_len, tgt_in, 0.0),
                          model(src, src_len, tgt_in), atol=1e-5)


def test_fit_learns_keeps_the_best_and_resumes(tmp_path):
    data = tiny_data()
    model = tiny_model(data)
    ckpt = tmp_path / "m.pt"
    first = fit(model, data, TrainConfig(max_steps=40, eval_every=20, lr=1e-2, batch_size=32),
                checkpoint=ckpt, progress=False)
    assert first.steps == 40 and first.stopped == "max_steps=40"
    assert first.val_loss[-1] < first.val_loss[0]
    resumed_model = tiny_model(data, seed=99)  # other weights: resume must replace them
    second = fit(resumed_model, data, TrainConfig(max_steps=80, eval_every=20, lr=1e-2,
                                                  batch_size=32),
                 checkpoint=ckpt, resume=True, progress=False)
    assert second.steps == 80 and second.val_steps == [20, 40, 60, 80]
    assert second.step_loss[:40] == first.step_loss
    assert second.best_val == min(second.val_loss) <= first.best_val
    assert load_history(ckpt).steps == 80


def test_learning_rate_falls_linearly_to_zero_over_the_last_part_of_the_budget():
    by_steps = TrainConfig(lr=1.0, max_steps=100, lr_decay=0.4)
    lrs = [learning_rate(by_steps, s, 0.0, steps_per_epoch=1000) for s in range(101)]
    assert lrs[:61] == [1.0] * 61  # constant for the first 60 %
    assert lrs[80] == pytest.approx(0.5) and lrs[100] == 0.0
    assert all(a > b for a, b in zip(lrs[60:-1], lrs[61:], strict=True))  # then strictly down
    by_time = TrainConfig(lr=2.0, max_minutes=10, lr_decay=0.4)
    assert learning_rate(by_time, 5, 540.0, steps_per_epoch=1000) == pytest.approx(0.5)
    by_epochs = TrainConfig(lr=1.0, max_epochs=2, lr_decay=0.4)
    assert learning_rate(by_epochs, 90, 0.0, steps_per_epoch=50) == pytest.approx(0.25)
    # whichever budget runs out first sets the pace
    both = TrainConfig(lr=1.0, max_steps=100, max_minutes=10, lr_decay=0.4)
    assert learning_rate(both, 10, 540.0, steps_per_epoch=1000) == pytest.approx(0.25)
    assert learning_rate(TrainConfig(lr=0.3), 10**6, 1e9, steps_per_epoch=1) == 0.3


def test_learning_rate_rises_linearly_over_the_warmup_then_decays():
    warm = TrainConfig(lr=2.0, max_steps=100, warmup=4, lr_decay=0.5)
    lrs = [learning_rate(warm, s, 0.0, steps_per_epoch=1000) for s in range(101)]
    assert lrs[:6] == pytest.approx([0.5, 1.0, 1.5, 2.0, 2.0, 2.0])  # step 0 already moves
    assert lrs[50] == 2.0 and lrs[75] == pytest.approx(1.0) and lrs[100] == 0.0
    short = TrainConfig(lr=1.0, max_steps=10, warmup=20, lr_decay=0.5)  # both at once: product
    assert learning_rate(short, 9, 0.0, steps_per_epoch=1000) == pytest.approx(0.5 * 0.2)
    with pytest.raises(ValueError, match=r"TrainConfig.warmup .*-1.*rises"):
        TrainConfig(warmup=-1)
    with pytest.raises(TypeError, match=r"TrainConfig.warmup must be an integer"):
        TrainConfig(warmup=2.5)


def test_fit_applies_the_decay_and_refuses_a_bad_one(tmp_path):
    from s2s.checkpoints import read_checkpoint

    data = tiny_data()
    ckpt = tmp_path / "m.pt"
    fit(tiny_model(data), data, TrainConfig(max_steps=10, lr=1e-2, lr_decay=1.0, batch_size=32),
        checkpoint=ckpt, progress=False)
    last_lr = read_checkpoint(ckpt)["optimizer"]["param_groups"][0]["lr"]
    assert last_lr == pytest.approx(1e-3)  # the 10th step ran at 1/10 of lr
    with pytest.raises(ValueError, match="lr_decay"):
        fit(tiny_model(data), data, TrainConfig(max_steps=10, lr_decay=1.5), progress=False)


def test_early_stopping(tmp_path):
    data = tiny_data()
    model = tiny_model(data)
    history = fit(model, data, TrainConfig(max_steps=500, eval_every=5, lr=0.0, patience=2,
                                           batch_size=32), progress=False)
    assert history.stopped.startswith("early stopping") and history.steps == 15


def test_checkpoint_round_trips_to_identical_outputs(tmp_path):
    data = tiny_data()
    model = tiny_model(data, cell="lstm").eval()
    save_checkpoint(tmp_path / "m.pt", model)
    again = load_checkpoint(tmp_path / "m.pt", config=model.config,
                            src_vocab=data.src_vocab, tgt_vocab=data.tgt_vocab)
    src, src_len, tgt_in, _ = next(iter(data.loader("valid", 8)))
    assert torch.equal(model(src, src_len, tgt_in), again(src, src_len, tgt_in))
    assert again.config == model.config and again.tgt_vocab == model.tgt_vocab


def test_mismatched_checkpoint_is_refused(tmp_path):
    data = tiny_data()
    model = tiny_model(data)
    save_checkpoint(tmp_path / "m.pt", model)
    other_config = ModelConfig(**{**model.config.to_dict(), "hidden_size": 64,
                                  "tokenizers": ("word", "word")})
    with pytest.raises(ValueError, match="hidden_size: checkpoint 32 vs expected 64"):
        load_checkpoint(tmp_path / "m.pt", config=other_config)
    other_data = tiny_data(seed=5)
    with pytest.raises(ValueError, match="different tgt vocabulary"):
        load_checkpoint(tmp_path / "m.pt", tgt_vocab=other_data.tgt_vocab)
    with pytest.raises(ValueError, match="another model config"):
        fit(tiny_model(data, hidden=16), data, TrainConfig(max_steps=1),
            checkpoint=tmp_path / "m.pt", resume=True, progress=False)
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ValueError, match="not an s2s checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_plain_batches_are_used_when_bucketing_is_off():
    """`TrainConfig(bucket=False)` trains on plain shuffled batches: more padding per step,
    and a different (but still seeded) run than with bucketing."""
    data = tiny_data(n_train=256)
    runs = {}
    for bucket in (True, False, False):
        model = tiny_model(data)
        h = fit(model, data, TrainConfig(max_steps=6, batch_size=32, eval_every=6,
                                         bucket=bucket), progress=False)
        runs.setdefault(bucket, []).append(h.step_loss)
    assert runs[False][0] == runs[False][1]  # seeded: the same batches again
    assert runs[True][0] != runs[False][0]


def test_live_plot_leaves_no_progress_figure_in_the_notebook():
    """In a real kernel, the live plot's snapshots carry the progress marker, `fit`
    replaces them by a one-line summary when training ends, and no progress bar is left
    behind (a tqdm widget's stored text would read "0%" forever)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r})\n"
        "from tiny import tiny_data, tiny_model\n"
        "from s2s.train import TrainConfig, fit\nfrom s2s.progress import LivePlot\n"
        "data = tiny_data(n_train=64)\n"
        "h = fit(tiny_model(data), data, TrainConfig(max_steps=4, batch_size=16, "
        "eval_every=2), progress=True)\n"
        "plot = LivePlot(steps_per_epoch=4); plot.update(h, 4)")]
    NotebookClient(nb, kernel_name="python3", timeout=120).execute()
    outputs = nb.cells[0].outputs
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 1 and images[0].metadata.get("s2s_progress") is True  # still live
    texts = [o.data["text/plain"] for o in outputs
             if o.output_type == "display_data" and "text/plain" in o.get("data", {})
             and "image/png" not in o.data]
    assert any("trained 4 steps" in t and "live plot closed" in t for t in texts)
    assert not [o for o in outputs if "application/vnd.jupyter.widget-view+json"
                in o.get("data", {}) or o.output_type == "stream" and o.name == "stderr"]


def test_a_saved_model_has_no_optimizer_and_training_resumes_from_it(tmp_path):
    from s2s.checkpoints import read_checkpoint

    data = tiny_data()
    model = tiny_model(data)
    save_checkpoint(tmp_path / "m.pt", model)
    assert read_checkpoint(tmp_path / "m.pt")["optimizer"] is None
    history = fit(tiny_model(data, seed=5), data, TrainConfig(max_steps=2, batch_size=32),
                  checkpoint=tmp_path / "m.pt", resume=True, progress=False)
    assert history.steps == 2
    assert read_checkpoint(tmp_path / "m.pt")["optimizer"]["state"]  # fit saves its optimizer


def test_progress_without_a_terminal_is_a_few_log_lines(tmp_path):
    """Training with its standard error going to a file (as `python -m s2s train > log`
    does) writes plain lines, one per 100 steps and per validation, not a progress bar's
    carriage-return updates: 120 steps make a few hundred bytes."""
    import subprocess
    import sys

    code = ("import sys; sys.path.insert(0, 'tests')\n"
            "from tiny import tiny_data, tiny_model\n"
            "from s2s.train import TrainConfig, fit\n"
            "data = tiny_data(n_train=64)\n"
            "fit(tiny_model(data), data, TrainConfig(max_steps=120, max_epochs=1000, "
            "batch_size=64, eval_every=50, patience=None), progress=True)\n")
    log = tmp_path / "train.log"
    root = Path(__file__).resolve().parents[1]
    with log.open("w") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, stderr=subprocess.STDOUT,
                       cwd=root, check=True, timeout=300,
                       env={"PYTHONPATH": str(root / "utils"), "PATH": "/usr/bin:/bin"})
    text = log.read_text()
    lines = text.splitlines()
    assert "\r" not in text and len(text) < 1500, text
    assert [line.split(":")[0] for line in lines[:-1]] == [
        "step 50", "step 100 (epoch 100)", "step 100", "step 120"]
    assert lines[-1].startswith("trained 120 steps in") and "(max_steps=120)" in lines[-1]


def test_the_attention_scores_learning_rate_can_be_set_apart():
    """score_lr_scale gives the attention score's weights their own learning rate (the
    control arm that isolates the optimizer's step on a bilinear score): at a scale of 1e-6
    they barely move while every other weight trains; at 1 the optimizer has one group."""
    from s2s.models import build_model
    from s2s.train import param_groups

    data = tiny_data()
    torch.manual_seed(0)
    config = ModelConfig("luong", len(data.src_vocab), len(data.tgt_vocab), embed_size=8,
                         hidden_size=12, num_layers=1, dropout=0.0, attention="general",
                         max_len=5)
    model = build_model(config, data.src_vocab, data.tgt_vocab)
    assert len(param_groups(model)) == 1
    groups = param_groups(model, 1e-6)
    assert [g.get("lr_scale") for g in groups] == [None, 1e-6]
    assert len(groups[1]["params"]) == 1  # the general score's W
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    fit(model, data, TrainConfig(max_steps=5, batch_size=32, lr=1e-2, score_lr_scale=1e-6,
                                 precision="fp32"), progress=False)
    moved = {n: float((p.detach() - before[n]).abs().max()) for n, p in model.named_parameters()}
    assert moved["decoder.attention.score.W.weight"] < 1e-6
    assert moved["decoder.out.weight"] > 1e-3
    with pytest.raises(ValueError, match="TrainConfig.score_lr_scale"):
        TrainConfig(score_lr_scale=0)


def test_a_new_training_setting_at_its_default_keeps_the_cache_key():
    from s2s.train import TrainConfig as Config
    from s2s.zoo import ADDED_SETTINGS, train_key

    key = train_key(Config())
    assert not set(ADDED_SETTINGS) & set(key)
    assert train_key(Config(score_lr_scale=0.1))["score_lr_scale"] == 0.1


def test_a_rule_stops_the_run_and_its_time_is_not_training_time(tmp_path, monkeypatch):
    """fit(until=...): asked after every step with the model and the history; its reason ends
    the run (after the final validation and checkpoint), and its seconds do not count."""
    data = tiny_data()
    asked = []

    def rule(model, history):
        asked.append(history.steps)
        if history.steps == 7:
            clock[0] += 1000.0  # the rule "takes" 1,000 s
            return "reached"
        return ""

    clock = [0.0]
    real = __import__("time").perf_counter
    monkeypatch.setattr("s2s.train.time.perf_counter", lambda: real() + clock[0])
    ckpt = tmp_path / "m.pt"
    history = fit(tiny_model(data), data, TrainConfig(max_steps=40, eval_every=5, lr=1e-2,
                                                      batch_size=32, max_minutes=1.0),
                  checkpoint=ckpt, progress=False, until=rule)
    assert asked == list(range(1, 8))
    assert history.steps == 7 and history.stopped == "reached"
    assert history.val_steps == [5, 7]  # the stop validates as the end of a budget does
    assert history.seconds < 60  # neither counted nor spending the minute's budget
    assert 0 < history.validation_seconds < history.seconds
    assert load_history(ckpt).steps == 7


def test_a_rule_that_answers_nonsense_is_refused():
    data = tiny_data()
    with pytest.raises(TypeError, match=r"fit\(until=...\) must return a reason"):
        fit(tiny_model(data), data, TrainConfig(max_steps=5, batch_size=32), progress=False,
            until=lambda model, history: history.steps > 2)


def test_a_rule_that_goes_on_changes_nothing(tmp_path):
    """A rule that never stops leaves the run as it was: the same losses, step by step."""
    data = tiny_data()
    cfg = TrainConfig(max_steps=12, eval_every=4, lr=1e-2, batch_size=32)
    plain = fit(tiny_model(data), data, cfg, progress=False)
    ruled = fit(tiny_model(data), data, cfg, progress=False, until=lambda m, h: "")
    assert ruled.step_loss == plain.step_loss and ruled.val_loss == plain.val_loss


def test_validation_on_the_valid_splits_first_pairs(tmp_path):
    """valid_pairs=N: every validation measures the valid split's first N pairs, the same
    ones each time; a bad N is refused naming the setting."""
    from s2s.train import evaluate_loss

    data = tiny_data()
    cfg = TrainConfig(max_steps=6, eval_every=6, lr=1e-2, batch_size=16, valid_pairs=5)
    model = tiny_model(data)
    history = fit(model, data, cfg, progress=False)
    subset = evaluate_loss(model, data.loader("valid", 32, pairs=5), "cpu")
    whole = evaluate_loss(model, data.loader("valid", 32), "cpu")
    assert history.val_loss == [pytest.approx(subset, abs=1e-6)]
    assert subset != pytest.approx(whole, abs=1e-4)
    assert len(data.dataset("valid", 5)) == 5
    with pytest.raises(ValueError, match="TrainConfig.valid_pairs"):
        TrainConfig(valid_pairs=0)
    with pytest.raises(ValueError, match=r"dataset\(pairs=...\)"):
        data.loader("valid", 8, pairs=0)
