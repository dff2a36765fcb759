"""Profiles, device choice, seeding, the self-check helper and the model interface."""

import pytest
import torch
from torch import nn

import s2s
from s2s.models import Decoder, Encoder, EncoderDecoder
from s2s.settings import in_ci


def test_profile_from_environment(monkeypatch):
    monkeypatch.setenv("S2S_PROFILE", "ci")
    assert s2s.get_profile().name == "ci"
    assert s2s.get_profile("gpu").name == "gpu"


def test_default_profile_follows_hardware(monkeypatch):
    monkeypatch.delenv("S2S_PROFILE", raising=False)
    expected = "gpu" if torch.cuda.is_available() else "cpu"
    assert s2s.get_profile().name == expected


def test_unknown_profile_says_what_to_do(monkeypatch):
    monkeypatch.setenv("S2S_PROFILE", "laptop")
    with pytest.raises(ValueError, match="S2S_PROFILE=ci|cpu|gpu"):
        s2s.get_profile()


def test_ci_profile_is_the_smallest():
    ci, cpu, gpu = (s2s.PROFILES[n] for n in ("ci", "cpu", "gpu"))
    assert ci.hidden_size <= cpu.hidden_size <= gpu.hidden_size
    assert ci.toy_steps < cpu.toy_steps <= gpu.toy_steps


def test_check_prints_and_raises_only_when_strict(monkeypatch, capsys):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("S2S_PROFILE", "cpu")
    assert s2s.check(True, "fine") is True
    assert s2s.check(False, "not fine") is False
    out = capsys.readouterr().out
    assert "✓ fine" in out and "✗ not fine" in out
    monkeypatch.setenv("CI", "true")
    with pytest.raises(s2s.CheckFailed, match="not fine"):
        s2s.check(False, "not fine")
    monkeypatch.delenv("CI")
    monkeypatch.setenv("S2S_PROFILE", "ci")  # a size, not a switch: a learner's ci run
    assert s2s.check(False, "not fine at ci") is False


@pytest.fixture
def outside_ci(monkeypatch):
    """A run that is not CI until the test says so."""
    for name in ("CI", "S2S_QUIET", "S2S_STRICT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("S2S_PROFILE", "cpu")
    return monkeypatch


@pytest.mark.parametrize("value, ci", [
    ("", False), ("0", False), ("false", False), ("False", False), ("NO", False), (" 0 ", False),
    ("1", True), ("true", True), ("yes", True), ("github-actions", True),
])
def test_in_ci_reads_the_ci_variable(outside_ci, value, ci):
    outside_ci.setenv("CI", value)
    assert in_ci() is ci
    outside_ci.setenv("S2S_PROFILE", "ci")
    assert in_ci() is ci  # the ci profile is only a size: $CI alone says CI


@pytest.mark.parametrize("value", ["0", "false", "1", "true"])
def test_progress_and_self_checks_agree_on_what_ci_is(outside_ci, capsys, value):
    """Training shows its progress bar exactly when a failing self-check does not raise
    (they disagreed once: CI=0 silenced the bar but let checks pass as outside CI)."""
    from s2s.train import TrainConfig, fit
    from tiny import tiny_data, tiny_model

    outside_ci.setenv("CI", value)
    data = tiny_data(n_train=32)
    fit(tiny_model(data), data, TrainConfig(max_steps=1, batch_size=16))  # progress: default
    shown = "trained 1 step" in capsys.readouterr().err
    try:
        s2s.check(False, "a failing check")
        raised = False
    except s2s.CheckFailed:
        raised = True
    assert shown is not raised
    assert raised is (value in ("1", "true"))


def test_quiet_and_strict_switches_outside_ci(outside_ci, capsys):
    from s2s.train import TrainConfig, fit
    from tiny import tiny_data, tiny_model

    outside_ci.setenv("S2S_QUIET", "1")
    data = tiny_data(n_train=32)
    fit(tiny_model(data), data, TrainConfig(max_steps=1, batch_size=16))
    assert "trained 1 step" not in capsys.readouterr().err
    assert s2s.check(False, "not strict") is False
    outside_ci.setenv("S2S_STRICT", "1")
    with pytest.raises(s2s.CheckFailed):
        s2s.check(False, "strict")


def test_seed_everything_repeats_random_draws():
    s2s.seed_everything(3)
    a = torch.rand(4)
    s2s.seed_everything(3)
    assert torch.equal(a, torch.rand(4))


def test_device_override(monkeypatch):
    monkeypatch.setenv("S2S_DEVICE", "cpu")
    assert s2s.get_device() == torch.device("cpu")


class _Enc(Encoder):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 5)
        self.rnn = nn.GRU(5, 6, batch_first=True)

    def forward(self, src, src_len):
        return self.rnn(self.emb(src))


class _Dec(Decoder):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(7, 5)
        self.rnn = nn.GRU(5, 6, batch_first=True)
        self.out = nn.Linear(6, 7)

    def init_state(self, enc_outputs, src_len):
        return enc_outputs[1]

    def forward(self, tgt_in, state):
        out, state = self.rnn(self.emb(tgt_in), state)
        return self.out(out), state


def test_default_step_agrees_with_teacher_forcing():
    torch.manual_seed(0)
    model = EncoderDecoder(_Enc(), _Dec())
    src, src_len = torch.randint(1, 7, (3, 4)), torch.tensor([4, 4, 4])
    tgt_in = torch.randint(1, 7, (3, 5))
    logits = model(src, src_len, tgt_in)
    assert logits.shape == (3, 5, 7)
    state = model.encode(src, src_len)
    for t in range(5):
        step_logits, state = model.decoder.step(tgt_in[:, t], state)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-6)


def test_base_classes_must_be_filled_in():
    with pytest.raises(NotImplementedError):
        Encoder()(torch.zeros(1, 1, dtype=torch.long), torch.ones(1))
