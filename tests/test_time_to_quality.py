"""benchmarks/time_to_quality.py: its settings, and its rule stopping a real run at a target."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from s2s.train import TrainConfig, fit
from tiny import tiny_data, tiny_model

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "time_to_quality.py"
spec = importlib.util.spec_from_file_location("time_to_quality", PATH)
time_to_quality = importlib.util.module_from_spec(spec)
spec.loader.exec_module(time_to_quality)


def test_settings_change_one_field_each_and_nonsense_is_refused():
    cfg = time_to_quality.with_settings(TrainConfig(), ["train.lr=0.005", "train.bucket=false"])
    assert cfg.lr == 0.005 and cfg.bucket is False
    for bad, phrase in [("lr=0.1", "train.NAME=VALUE"), ("train.lr=", "train.NAME=VALUE"),
                        ("train.speed=2", "no setting 'speed'")]:
        with pytest.raises(SystemExit, match=phrase):
            time_to_quality.with_settings(TrainConfig(), [bad])
    with pytest.raises(ValueError, match="TrainConfig.batch_size"):
        time_to_quality.with_settings(TrainConfig(), ["train.batch_size=0"])


def test_the_rule_checks_every_few_steps_and_stops_at_the_target(monkeypatch):
    """A fake judge whose BLEU is the step number: checks at 3, 6, 9; the target 8 stops the
    run at step 9, the first check that reaches it."""

    class Judged:
        def __init__(self, score):
            self.bleu = type("Bleu", (), {"score": score})()

    steps_judged = []

    def fake_judge(model, data, split, max_sentences):
        assert split == "valid" and max_sentences == 4
        steps_judged.append(history_steps[0])
        return Judged(float(history_steps[0]))

    monkeypatch.setattr(time_to_quality, "judge", fake_judge)
    history_steps = [0]
    curve = []
    rule = time_to_quality.bleu_rule(None, target=8.0, sentences=4, every=3, curve=curve)
    data = tiny_data()

    def counting(model, history):
        history_steps[0] = history.steps
        return rule(model, history)

    history = fit(tiny_model(data), data, TrainConfig(max_steps=30, batch_size=32),
                  progress=False, until=counting)
    assert steps_judged == [3, 6, 9] and history.steps == 9
    assert [point["bleu"] for point in curve] == [3.0, 6.0, 9.0]
    assert history.stopped == "valid BLEU 9.00 >= 8.0"
