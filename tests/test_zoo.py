"""The course's model zoo: the trained-once cache, and configs at a profile's sizes."""

from __future__ import annotations

import random

import pytest
import torch

from s2s import PROFILES, translate, zoo
from s2s.data import Splits, TranslationData
from s2s.download import Release
from s2s.models import build_model
from s2s.text import ParseReport, tokenize_words, tokenize_zh
from s2s.train import TrainConfig, fit
from s2s.vocab import Vocab
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


DIGITS = {"one": "一", "two": "二", "three": "三", "four": "四", "five": "五", "six": "六",
          "seven": "七", "eight": "八", "nine": "九"}


def tiny_zh_data(n: int = 600, seed: int = 0) -> TranslationData:
    """A generated English->Chinese corpus: digit names to Chinese numerals, "two five" ->
    "二五", tokenised as the cmn-eng corpus is (("word", "zh"))."""
    rng = random.Random(seed)
    names = sorted(DIGITS)

    def pairs(count: int):
        out = []
        for _ in range(count):
            words = [rng.choice(names) for _ in range(rng.randint(2, 4))]
            out.append((tokenize_words(" ".join(words)),
                        tokenize_zh("".join(DIGITS[w] for w in words))))
        return out

    splits = Splits(pairs(n), pairs(40), pairs(40))
    release = Release("synthetic-zh", "synthetic", "-", "", None, None, "generated in tests")
    return TranslationData(release, ParseReport(), splits,
                           Vocab.build([s for s, _ in splits.train], 1),
                           Vocab.build([t for _, t in splits.train], 1), ("word", "zh"))


def test_a_model_of_english_to_chinese_data_writes_chinese_without_spaces():
    data = tiny_zh_data()
    profile = PROFILES["ci"]
    config = zoo.profile_config("rnn", profile, data, embed_size=16, hidden_size=64)
    assert config.tokenizers == ("word", "zh")
    torch.manual_seed(0)
    model = build_model(config, data.src_vocab, data.tgt_vocab)
    fit(model, data, zoo.profile_train_config(profile, max_steps=300, lr=1e-2, batch_size=32),
        progress=False)
    out = translate(model, ["three one four", "two seven"])
    assert all(text and " " not in text and all(c in DIGITS.values() for c in text)
               for text in out), out
    assert out == ["三一四", "二七"]


@pytest.mark.parametrize("kind", ["rnn", "bahdanau", "luong"])
def test_profile_config_keeps_the_datas_tokenizers(kind):
    data = tiny_zh_data(n=20)
    for profile in PROFILES.values():
        assert zoo.profile_config(kind, profile, data).tokenizers == ("word", "zh")
    assert zoo.profile_config(kind, PROFILES["ci"], tiny_data()).tokenizers == ("word", "word")
