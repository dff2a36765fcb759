"""Character level next to word level (chapter 6): the word-level twin holds the very same
sentence pairs in every split, and both levels are judged alike on the same references."""

from __future__ import annotations

from pathlib import Path

import pytest

import s2s.data as data_module
from corpus import require_corpus
from s2s.chars import (
    copied,
    held_out,
    judge_texts,
    longest,
    names_and_numbers,
    unknown_rate,
    word_level_twin,
)
from s2s.data import load_translation
from s2s.download import Release
from s2s.metrics import judge
from s2s.models import ModelConfig
from s2s.text import tokenize_chars, tokenize_words
from s2s.train import TrainConfig
from s2s.vocab import Vocab
from s2s.zoo import model_cache_path
from tiny import tiny_data, trained_tiny

SPLITS = ("train", "valid", "test")


@pytest.fixture(scope="module")
def chars():
    """Character-level pairs of the real corpus (CI sets S2S_DATA_DIR), a small slice."""
    require_corpus("fra-eng")
    return load_translation("fra-eng", max_len=24, max_pairs=4000, min_freq=2,
                            tokenizers=("char", "char"), verbose=False)


def test_the_twin_holds_the_same_sentences_in_every_split(chars):
    words = word_level_twin(chars, verbose=False)
    for split in SPLITS:
        ours, theirs = getattr(chars.splits, split), getattr(words.splits, split)
        assert len(ours) == len(theirs) > 0, split
        for (src, tgt), (w_src, w_tgt) in zip(ours, theirs, strict=True):
            assert w_src == tokenize_words("".join(src))
            assert w_tgt == tokenize_words("".join(tgt))


def test_the_twin_is_word_level_with_vocabularies_from_its_train_split(chars):
    words = word_level_twin(chars, min_freq=2, verbose=False)
    assert words.tokenizers == ("word", "word")
    assert words.src_vocab == Vocab.build([s for s, _ in words.splits.train], 2)
    assert words.tgt_vocab == Vocab.build([t for _, t in words.splits.train], 2)
    assert len(words.tgt_vocab) > 5 * len(chars.tgt_vocab)  # words outnumber characters
    assert all(t == t.lower() for s, _ in words.splits.train for t in s)
    assert longest(words) < longest(chars) <= 24


def test_the_twin_has_its_own_cache_keys(chars):
    """A model trained on the twin is never mistaken for one trained on other data."""
    words = word_level_twin(chars, verbose=False)
    direct = load_translation("fra-eng", max_len=24, max_pairs=4000, min_freq=2,
                              verbose=False)  # word tokens too, but other pairs
    assert words.params != direct.params and words.params != chars.params
    assert words.params["retokenized_from"] == "char"
    config = ModelConfig("rnn", 10, 10)
    paths = {model_cache_path("m", config, d, TrainConfig(), "ci") for d in (words, direct,
                                                                               chars)}
    assert len(paths) == 3


def test_the_twin_of_word_level_data_is_refused():
    with pytest.raises(ValueError, match="character-level data"):
        word_level_twin(tiny_data())


def test_the_twin_of_a_synthetic_corpus(monkeypatch):
    lines = [f"Tom{i % 9} is here, {i}.\tTom{i % 9} est là, {i} !" for i in range(300)]
    release = Release("synthetic", "synthetic", "synthetic.txt", "", None, None, "a test")
    monkeypatch.setattr(data_module, "fetch", lambda dataset: (Path("synthetic.txt"), release))
    monkeypatch.setattr(data_module, "read_text", lambda path, rel: "\n".join(lines) + "\n")
    chars = load_translation("synthetic", min_freq=1, tokenizers=("char", "char"),
                             verbose=False)
    words = word_level_twin(chars, min_freq=1, verbose=False)
    for src, tgt in words.splits.test:  # "Tom3 is here, 17." -> tom3 is here , 17 .
        assert len(src) == 6 and src[0].startswith("tom") and src[3::2] == [",", "."]
        assert tgt[-1] == "!" and src[4] == tgt[4] and src[4].isdigit()
    with pytest.raises(ValueError, match="no word"):
        word_level_twin(chars, min_freq=10**6, verbose=False)


def test_characters_counted_in_words_hold_the_word_levels_pairs():
    """max_len_counts="words": a character-level corpus of exactly the word level's pairs,
    splits and order (what chapter 8's characters arm compares), each side cut from the
    pair's own text; the model's max_len is then its longest sequence of characters."""
    require_corpus("fra-eng")
    words = load_translation("fra-eng", max_len=6, max_pairs=3000, min_freq=2, verbose=False)
    chars = load_translation("fra-eng", max_len=6, max_pairs=3000, min_freq=2,
                             tokenizers=("char", "char"), max_len_counts="words",
                             verbose=False)
    by_chars = load_translation("fra-eng", max_len=24, max_pairs=3000, min_freq=2,
                                tokenizers=("char", "char"), verbose=False)  # other pairs
    for split in SPLITS:
        texts = getattr(chars.texts, split)
        assert texts == getattr(words.texts, split) != getattr(by_chars.texts, split), split
        assert getattr(chars.splits, split) == [(tokenize_chars(s), tokenize_chars(t))
                                               for s, t in texts], split
    assert chars.params["max_len_counts"] == "words" and "max_len_counts" not in words.params
    assert chars.model_max_len(6) == longest(chars) > 6
    assert words.model_max_len(6) == 6 and by_chars.model_max_len(24) == 24
    assert words.model_max_len(None) == longest(words)
    with pytest.raises(ValueError, match="max_len_counts"):
        load_translation("fra-eng", max_len=6, max_len_counts="characters")


def test_held_out_keeps_the_source_text_and_lower_cases_the_references(chars):
    sources, references = held_out(chars, "test", max_sentences=20)
    groups = chars.references("test")[:20]
    assert sources == ["".join(s) for s, _ in groups]
    assert any(s != s.lower() for s in sources)  # the case a model is given is kept
    assert references == [["".join(r).lower() for r in refs] for _, refs in groups]
    with pytest.raises(ValueError, match="split"):
        held_out(chars, "dev")


def test_judge_texts_scores_like_judge_when_case_does_not_matter():
    """On the tiny task (lower-case sources, upper-case targets) lower-casing both sides
    changes nothing but the case, so the scores equal judge's."""
    data, model = trained_tiny()
    ours = judge_texts(model, *held_out(data, "test"))
    theirs = judge(model, data, "test")
    assert ours.bleu.score == pytest.approx(theirs.bleu.score)
    assert ours.chrf().score == pytest.approx(theirs.chrf().score)
    assert ours.hypotheses == [h.lower() for h in theirs.hypotheses]
    assert ours.bleu.score > 20  # the model has learnt the task (unigram precision ~90 %)


def test_unknown_rate_counts_tokens_mapped_to_unk():
    vocab = Vocab(["a", "b"])
    assert unknown_rate(vocab, [["a", "x"], ["b", "y", "z", "a"]]) == 3 / 6
    assert unknown_rate(vocab, []) == 0.0


def test_names_and_numbers_are_the_words_a_translation_copies():
    assert names_and_numbers("Tom met Zoë in 1990, at 5pm.") == ["Zoë", "1990", "5pm"]
    assert names_and_numbers("I'm Tom's friend.") == ["Tom's"]
    assert names_and_numbers("Hello.") == []


def test_copied_matches_whole_words_ignoring_case():
    assert copied("Zoë", "j'ai vu zoë hier.")
    assert copied("1990", "en 1990 !")
    assert not copied("Tom", "tomate")
    assert not copied("19", "en 1990")
