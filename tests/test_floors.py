"""The chapters' self-check floors can fail (issue 24: every floor of the `ci` profile was 0, so
no self-check could fail in CI). Every profile claims something of every chapter's final model,
and a model that did not learn — trained with lr=0 — fails the `ci` profile's claim, while the
fewest steps a `ci` chapter trains pass it."""

from __future__ import annotations

import math

import pytest

import s2s
from corpus import require_corpus
from s2s import PROFILES
from s2s.data import load_translation
from s2s.models import build_model
from s2s.profiles import PROFILE_NAMES
from s2s.train import fit
from s2s.zoo import profile_config, profile_train_config

# Each chapter's final model and the floors of its self-check (besides expect_loss_drop, which
# every one of them checks).
CHECKED = {
    "chapter 3's GRU": ("expect_bleu_rnn",),
    "chapter 4's Luong model": ("expect_bleu_attention",),
    "chapter 6's character model": ("expect_bleu_char", "expect_chrf_char"),
    "chapter 7's English->French system": ("expect_bleu_nmt",),
    "chapter 7's English->Chinese system": ("expect_bleu_zh", "expect_chrf_zh"),
}
FLOORS = sorted({f for floors in CHECKED.values() for f in floors} | {"expect_loss_drop"})

# The final models of the chapters at `ci`, as a kind and its changes to profile_config.
KINDS = {
    "chapter 3's GRU": ("rnn", {}),
    "chapter 4's Luong model": ("luong", {"bidirectional": True, "attention": "additive"}),
    "chapter 7's system": ("nmt", {"cell": "lstm", "bidirectional": True,
                                   "input_feeding": True, "attention": "additive"}),
}


@pytest.mark.parametrize("name", PROFILE_NAMES)
def test_every_profile_claims_something_of_every_final_model(name):
    profile = PROFILES[name]
    assert all(getattr(profile, f) >= 0 for f in FLOORS)
    for model, floors in CHECKED.items():
        claims = [f for f in (*floors, "expect_loss_drop") if getattr(profile, f) > 0]
        assert claims, f"the {name} profile claims nothing of {model}: its check cannot fail"


def test_every_floor_the_ci_profile_checks_is_above_zero():
    ci = PROFILES["ci"]
    assert ci.expect_loss_drop > 0  # the claim of every final model at `ci`
    assert ci.max_val_loss(100) == pytest.approx(math.log(100) - ci.expect_loss_drop)


@pytest.fixture(scope="module")
def ci_data():
    """The real English->French pairs at the `ci` profile's sizes (CI sets S2S_DATA_DIR)."""
    require_corpus("fra-eng")
    ci = PROFILES["ci"]
    return load_translation("fra-eng", max_len=ci.max_len, max_pairs=ci.max_pairs,
                            min_freq=ci.min_freq, verbose=False)


def trained(data, model: str, steps: int, lr: float):
    """The history of `model` (a KINDS key) trained `steps` steps at `ci`'s sizes with `lr`."""
    ci = PROFILES["ci"]
    kind, changes = KINDS[model]
    s2s.seed_everything(0)
    net = build_model(profile_config(kind, ci, data, **changes), data.src_vocab, data.tgt_vocab)
    cfg = profile_train_config(ci, lr=lr, max_steps=steps, eval_every=steps)
    return fit(net, data, cfg, progress=False)


@pytest.mark.parametrize("model", list(KINDS))
def test_a_model_that_did_not_learn_fails_the_ci_floor(ci_data, model, monkeypatch):
    monkeypatch.setenv("S2S_STRICT", "1")  # a failing check raises, as under the chapter runner
    ceiling = PROFILES["ci"].max_val_loss(len(ci_data.tgt_vocab))
    sabotaged = trained(ci_data, model, steps=1, lr=0.0)  # the weights never move
    assert abs(sabotaged.best_val - math.log(len(ci_data.tgt_vocab))) < 0.05  # a uniform guess
    with pytest.raises(s2s.CheckFailed):
        s2s.check(sabotaged.best_val <= ceiling,
                  f"{model} with lr=0: validation loss {sabotaged.best_val:.2f} <= {ceiling:.2f}")


def test_the_fewest_steps_chapter_3_trains_pass_the_ci_floor(ci_data, monkeypatch, capsys):
    monkeypatch.setenv("S2S_STRICT", "1")
    ci = PROFILES["ci"]
    ceiling = ci.max_val_loss(len(ci_data.tgt_vocab))
    history = trained(ci_data, "chapter 3's GRU", steps=ci.compare_steps, lr=ci.lr)
    assert s2s.check(history.best_val <= ceiling, f"validation loss {history.best_val:.2f} "
                     f"<= {ceiling:.2f} after {history.steps} steps")
    assert "✓" in capsys.readouterr().out
