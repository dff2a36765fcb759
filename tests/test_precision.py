"""Mixed precision: the `auto` rule from mocked hardware, fp16 with a gradient scaler, bf16
checkpoints that load and decode in fp32, bad settings refused."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from s2s import precision as P
from s2s.checkpoints import load_checkpoint, load_history, read_checkpoint
from s2s.decoding import greedy
from s2s.train import TrainConfig, fit
from tiny import tiny_data, tiny_model


@pytest.mark.parametrize(("hardware", "expected"), [
    (P.Hardware("cpu", cpu_bf16=True), "bf16"),
    (P.Hardware("cpu", cpu_bf16=False), "fp32"),
    (P.Hardware("cuda", cuda_bf16=False), "fp16"),  # a T4: fp16 tensor cores, a scaler
    (P.Hardware("cuda", cuda_bf16=True), "fp32"),  # an H100 at the gpu sizes: fp32 measured faster
    (P.Hardware("mps"), "fp32"),
])
def test_auto_follows_the_documented_rule(hardware, expected):
    assert P.auto_precision(hardware) == expected


@pytest.mark.parametrize(("avx512_bf16", "amx", "expected"), [
    (True, False, "bf16"), (False, True, "bf16"), (True, True, "bf16"), (False, False, "fp32")])
def test_auto_on_a_cpu_detects_native_bf16(monkeypatch, avx512_bf16, amx, expected):
    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: avx512_bf16)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: amx)
    assert P.resolve_precision("auto", "cpu") == expected
    assert P.detect("cpu").cpu_bf16 == (expected == "bf16")


@pytest.mark.parametrize(("capability", "expected"), [((7, 5), "fp16"), ((8, 0), "fp32"),
                                                      ((9, 0), "fp32")])
def test_auto_on_a_gpu_reads_its_compute_capability(monkeypatch, capability, expected):
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
    assert P.resolve_precision("auto", torch.device("cuda", 0)) == expected


def test_an_explicit_precision_is_kept_and_a_bad_one_refused():
    assert P.resolve_precision("fp32", "cpu") == "fp32"
    assert P.resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match=r"precision='fp8'.*'auto'"):
        P.resolve_precision("fp8", "cpu")
    with pytest.raises(ValueError, match=r"TrainConfig\.precision='half'"):
        TrainConfig(precision="half")
    with pytest.raises(ValueError, match="resolve_precision first"):
        with P.autocast("auto", "cpu"):
            pass
    with pytest.raises(ValueError, match="grad_scaler needs a resolved precision"):
        P.grad_scaler("auto", "cpu")


def test_autocast_runs_products_in_16_bits_and_fp32_leaves_them_alone():
    a, b = torch.randn(4, 8), torch.randn(8, 3)
    with P.autocast("bf16", "cpu"):
        assert (a @ b).dtype == torch.bfloat16
    with P.autocast("fp32", "cpu"):
        assert (a @ b).dtype == torch.float32
    with P.autocast("bf16", "cpu"), P.autocast("fp32", "cpu"):  # fp32 switches it off inside
        assert (a @ b).dtype == torch.float32


def test_validation_is_fp32_even_inside_an_autocast_block():
    from s2s.train import evaluate_loss

    data = tiny_data()
    model = tiny_model(data)
    loader = data.loader("valid", 32)
    plain = evaluate_loss(model, loader, torch.device("cpu"))
    with P.autocast("bf16", "cpu"):
        assert evaluate_loss(model, loader, torch.device("cpu")) == plain


def test_fp16_training_scales_the_loss_with_a_grad_scaler(tmp_path, monkeypatch):
    calls = {"scale": 0, "step": 0}
    order = []  # the sequence of scaler and clipping calls in the first step
    scale, step = torch.amp.GradScaler.scale, torch.amp.GradScaler.step
    unscale, clip = torch.amp.GradScaler.unscale_, torch.nn.utils.clip_grad_norm_

    def spy_scale(self, outputs):
        calls["scale"] += self.is_enabled()
        order.append("scale")
        return scale(self, outputs)

    def spy_unscale(self, optimizer):
        order.append("unscale")
        return unscale(self, optimizer)

    def spy_clip(*args, **kwargs):
        order.append("clip")
        return clip(*args, **kwargs)

    def spy_step(self, optimizer, *args, **kwargs):
        calls["step"] += self.is_enabled()
        order.append("step")
        return step(self, optimizer, *args, **kwargs)

    monkeypatch.setattr(torch.amp.GradScaler, "scale", spy_scale)
    monkeypatch.setattr(torch.amp.GradScaler, "unscale_", spy_unscale)
    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy_clip)
    monkeypatch.setattr(torch.amp.GradScaler, "step", spy_step)
    data = tiny_data()
    model = tiny_model(data)
    history = fit(model, data, TrainConfig(max_steps=6, eval_every=3, lr=1e-2, batch_size=32,
                                           precision="fp16"),
                  checkpoint=tmp_path / "fp16.pt", progress=False)
    assert history.precision == "fp16"
    assert calls == {"scale": 6, "step": 6}  # every step went through an enabled scaler
    assert order[:4] == ["scale", "unscale", "clip", "step"]  # clipping sees true gradients
    saved = read_checkpoint(tmp_path / "fp16.pt")
    assert saved["resume"]["scaler"] is not None  # the scaler's state, for an exact resume
    assert all(t.dtype == torch.float32 for t in saved["model_state"].values())


def test_fp16_training_resumes_exactly_with_its_scaler(tmp_path):
    data = tiny_data()
    cfg = TrainConfig(max_steps=8, eval_every=2, lr=1e-2, batch_size=32, precision="fp16")
    whole = fit(tiny_model(data), data, cfg, progress=False)
    first = fit(tiny_model(data), data, replace(cfg, max_steps=5),
                checkpoint=tmp_path / "run.pt", progress=False)
    resumed = fit(tiny_model(data), data, cfg, checkpoint=tmp_path / "run.pt", resume=True,
                  progress=False)
    assert first.steps == 5 and resumed.step_loss == whole.step_loss


def test_a_run_resumed_in_another_precision_records_both(tmp_path):
    data = tiny_data()
    fit(tiny_model(data), data, TrainConfig(max_steps=2, batch_size=32, precision="bf16"),
        checkpoint=tmp_path / "run.pt", progress=False)
    history = fit(tiny_model(data), data, TrainConfig(max_steps=4, batch_size=32,
                                                      precision="fp32"),
                  checkpoint=tmp_path / "run.pt", resume=True, progress=False)
    assert history.precision == "bf16+fp32"


def test_fp16_divergence_is_reported_with_the_precision_and_what_to_do(monkeypatch):
    data = tiny_data()
    model = tiny_model(data)
    # A loss so large that every fp16 gradient overflows: the scaler skips each step and
    # halves its scale, until it falls below 1 and training stops with an error.
    import s2s.train

    loss = s2s.train.sequence_loss
    monkeypatch.setattr(s2s.train, "sequence_loss", lambda *a, **k: loss(*a, **k) * 1e30)
    with pytest.raises(FloatingPointError, match=r"precision=fp16.*train in bf16 or fp32"):
        fit(model, data, TrainConfig(max_steps=40, batch_size=32, precision="fp16"),
            progress=False)


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_other_precisions_train_without_a_scaler(precision, monkeypatch):
    enabled = []
    scale = torch.amp.GradScaler.scale
    monkeypatch.setattr(torch.amp.GradScaler, "scale",
                        lambda self, outputs: enabled.append(self.is_enabled())
                        or scale(self, outputs))
    data = tiny_data()
    history = fit(tiny_model(data), data, TrainConfig(max_steps=3, batch_size=32,
                                                      precision=precision), progress=False)
    assert history.precision == precision and enabled == [False] * 3


def test_a_bf16_checkpoint_loads_and_decodes_in_fp32(tmp_path):
    data = tiny_data(n_train=512)
    model = tiny_model(data, hidden=64)
    fit(model, data, TrainConfig(max_steps=150, lr=1e-2, batch_size=32, eval_every=50,
                                 precision="bf16"),
        checkpoint=tmp_path / "bf16.pt", progress=False)
    saved = read_checkpoint(tmp_path / "bf16.pt")["model_state"]
    assert all(t.dtype == torch.float32 for t in saved.values())
    assert load_history(tmp_path / "bf16.pt").precision == "bf16"
    loaded = load_checkpoint(tmp_path / "bf16.pt")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                 loaded.state_dict().values(), strict=True))
    src = torch.tensor([[4, 5, 6, 7], [8, 9, 0, 0]])
    src_len = torch.tensor([4, 2])
    fp32_out = greedy(loaded, src, src_len, max_len=6)
    assert fp32_out == greedy(model, src, src_len, max_len=6)
    with P.autocast("bf16", "cpu"):  # and in bf16 too, from the same fp32 weights
        assert greedy(loaded, src, src_len, max_len=6) == fp32_out  # a well-trained toy


def test_bf16_training_matches_fp32_closely_at_equal_steps():
    data = tiny_data(n_train=512)
    losses = {}
    for precision in ("fp32", "bf16"):
        model = tiny_model(data, hidden=64, seed=1)
        history = fit(model, data, TrainConfig(max_steps=60, lr=1e-2, batch_size=32,
                                               eval_every=60, precision=precision),
                      progress=False)
        losses[precision] = history.val_loss[-1]
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05), losses


def test_describe_names_what_auto_chose():
    line = P.describe("auto", "cpu")
    assert line.startswith(f"precision: {P.resolve_precision('auto', 'cpu')} (auto, on a CPU")
    assert P.describe("fp32", "cpu") == "precision: fp32"
