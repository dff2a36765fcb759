"""The course's model zoo: the trained-once cache, and configs at a profile's sizes."""

from __future__ import annotations

import pytest
import torch

from s2s import zoo
from s2s.profiles import PROFILES
from s2s.train import TrainConfig
from tiny import tiny_data, tiny_model


def test_cached_model_trains_once_then_loads(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    data = tiny_data()
    config = tiny_model(data).config
    cfg = TrainConfig(max_steps=10, eval_every=5, batch_size=32)
    model, history = zoo.cached_model("tiny", config, data, cfg, profile="ci", progress=False)
    assert history.steps == 10
    files = sorted(p.name for p in (tmp_path / "models").iterdir())
    assert len(files) == 1 and files[0].startswith("tiny-") and ".partial" not in files[0]
    calls = []
    monkeypatch.setattr(zoo, "fit", lambda *a, **k: calls.append(1))
    again, again_history = zoo.cached_model("tiny", config, data, cfg, profile="ci")
    assert calls == [] and again_history.steps == 10
    src, src_len, tgt_in, _ = next(iter(data.loader("valid", 8)))
    assert torch.equal(model.eval()(src, src_len, tgt_in), again(src, src_len, tgt_in))
    monkeypatch.undo()
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    zoo.cached_model("tiny", config, data, TrainConfig(max_steps=12, batch_size=32),
                     profile="ci", progress=False)  # another training config: another file
    assert len(list((tmp_path / "models").iterdir())) == 2


def test_cached_model_takes_the_profiles_name(tmp_path, monkeypatch):
    monkeypatch.setenv("S2S_CACHE_DIR", str(tmp_path))
    data = tiny_data()
    with pytest.raises(TypeError, match="profile='ci'"):
        zoo.cached_model("tiny", tiny_model(data).config, data, TrainConfig(max_steps=1),
                         profile=PROFILES["ci"])
