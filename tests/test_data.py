"""Tokenisation (against d2l on the real corpus), vocabularies, leakage-free splits, batches."""

from __future__ import annotations

import pytest
import torch

from corpus import require_corpus
from d2l_oracle import load_d2l
from s2s.data import (
    BucketBatchSampler,
    PairDataset,
    collate,
    group_references,
    leaked_fraction,
    make_loader,
    naive_split,
    padding_efficiency,
    split_by_source,
)
from s2s.download import read_text
from s2s.text import detokenize, normalize, parse_pairs, tokenize_chars, tokenize_words, tokenize_zh
from s2s.vocab import BOS, EOS, PAD, SPECIALS, UNK, Vocab


@pytest.fixture(scope="module")
def fra_text() -> str:
    """The real fra-eng release. CI sets S2S_DATA_DIR; elsewhere a cached or downloaded copy."""
    return read_text(*require_corpus("fra-eng"))


@pytest.fixture(scope="module")
def fra_pairs(fra_text):
    raw, _ = parse_pairs(fra_text)
    return [(tokenize_words(s), tokenize_words(t)) for s, t in raw]


def test_word_tokens_equal_d2l_on_every_line_of_the_real_corpus(fra_text):
    d2l = load_d2l()
    d2l_src, d2l_tgt = d2l.MTFraEng._tokenize(None, d2l.MTFraEng._preprocess(None, fra_text))
    raw, report = parse_pairs(fra_text)
    assert len(raw) == len(d2l_src) == report.pairs > 100_000
    ours_src = [tokenize_words(s) + ["<eos>"] for s, _ in raw]
    ours_tgt = [tokenize_words(t) + ["<eos>"] for _, t in raw]
    mismatches = [i for i in range(len(raw))
                  if ours_src[i] != d2l_src[i] or ours_tgt[i] != d2l_tgt[i]]
    assert mismatches == [], f"first mismatch at line {mismatches[0] + 1}"


def test_normalisation_examples():
    assert normalize("Va\u202f!") == "va !"
    assert normalize("Hi, Tom.") == "hi , tom ."
    assert normalize("Wait !") == "wait !"
    assert tokenize_words("J'ai froid.") == ["j'ai", "froid", "."]
    assert tokenize_words("  Go.  ") == ["go", "."]


def test_detokenize_reverses_the_spacing():
    for sentence in ["Hi, Tom.", "Va !", "Where is it? Here.", "I won!"]:
        assert detokenize(tokenize_words(sentence)) == sentence.lower().replace(" !", "!")
    assert detokenize(tokenize_chars("Va !"), "char") == "Va !"
    assert detokenize(tokenize_zh("我 很 好。"), "zh") == "我很好。"
    with pytest.raises(ValueError, match="unknown tokenizer"):
        detokenize(["a"], "bpe")


def test_character_and_chinese_tokenizers():
    assert tokenize_chars("Go\xa0!") == ["G", "o", " ", "!"]
    assert tokenize_zh("你 好。") == ["你", "好", "。"]


def test_vocab_fixed_specials_frequency_order_and_min_freq():
    vocab = Vocab.build([["b", "a", "b"], ["c", "b", "a"], ["d"]], min_freq=2)
    assert vocab.itos[:4] == list(SPECIALS)
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)
    assert vocab.itos[4:] == ["b", "a"]  # b:3, a:2; c and d are below min_freq
    assert vocab.encode(["a", "c"]) == [5, UNK]
    assert vocab.decode([BOS, 4, 5, EOS, 4]) == ["b", "a"]
    assert vocab.decode(torch.tensor([4, PAD, PAD])) == ["b"]
    with pytest.raises(ValueError, match="min_freq"):
        Vocab.build([["a"]], min_freq=0)


def test_vocab_json_round_trip_and_refusal(tmp_path):
    vocab = Vocab.build([["élève", "à", "à"], ["x", "à"]], min_freq=1)
    vocab.save(tmp_path / "v.json")
    again = Vocab.load(tmp_path / "v.json")
    assert again == vocab and again.encode(["élève"]) == vocab.encode(["élève"])
    with pytest.raises(ValueError, match="specials"):
        Vocab.from_json('{"specials": ["<unk>", "<pad>"], "tokens": []}')


def test_split_keeps_each_source_on_one_side_and_is_deterministic():
    pairs = [([f"s{i % 30}"], [f"t{i}"]) for i in range(200)]  # 30 sources, several refs each
    splits = split_by_source(pairs, valid_frac=0.1, test_frac=0.2, seed=1)
    assert len(splits.train) + len(splits.valid) + len(splits.test) == 200
    sides = [{tuple(s) for s, _ in part} for part in (splits.train, splits.valid, splits.test)]
    assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    assert split_by_source(pairs, 0.1, 0.2, seed=1) == splits
    assert split_by_source(pairs, 0.1, 0.2, seed=2) != splits
    refs = group_references(splits.test)
    assert all(len(r) == len([p for p in pairs if p[0] == s]) for s, r in refs)


def test_max_pairs_slices_whole_groups_and_nests():
    pairs = [([f"s{i % 50}"], [f"t{i}"]) for i in range(500)]
    small = split_by_source(pairs, 0.1, 0.1, seed=0, max_pairs=100)
    total = len(small.train) + len(small.valid) + len(small.test)
    assert 100 <= total < 110


def test_no_test_source_leaks_on_the_real_corpus_but_a_naive_split_does(fra_pairs):
    splits = split_by_source(fra_pairs, valid_frac=0.05, test_frac=0.05, seed=0)
    assert leaked_fraction(splits.train + splits.valid, splits.test) == 0.0
    assert len(splits.test) > 5000
    _, naive_test = naive_split(fra_pairs, test_frac=0.05, seed=0)
    naive_train, _ = naive_split(fra_pairs, test_frac=0.05, seed=0)
    assert leaked_fraction(naive_train, naive_test) > 0.1


def test_collate_pads_with_zero_and_shifts_the_target():
    src, src_len, tgt_in, tgt_out = collate([([5, 6, EOS], [7, 8]), ([9, EOS], [10, 11, 12])])
    assert src.tolist() == [[5, 6, EOS], [9, EOS, PAD]]
    assert src_len.tolist() == [3, 2]
    assert tgt_in.tolist() == [[BOS, 7, 8, PAD], [BOS, 10, 11, 12]]
    assert tgt_out.tolist() == [[7, 8, EOS, PAD], [10, 11, 12, EOS]]


def test_bucket_sampler_yields_every_item_once_and_reshuffles():
    lengths = [(i % 7 + 1, i % 5 + 1) for i in range(103)]
    sampler = BucketBatchSampler(lengths, batch_size=10, seed=3)
    first, second = list(sampler), list(sampler)
    assert sorted(i for b in first for i in b) == list(range(103))
    assert len(first) == len(sampler) == 11
    assert first != second


def test_bucketing_fills_85_percent_of_slots_on_the_real_corpus(fra_pairs):
    splits = split_by_source(fra_pairs, seed=0)
    src_vocab = Vocab.build([s for s, _ in splits.train])
    tgt_vocab = Vocab.build([t for _, t in splits.train])
    data = PairDataset(splits.train, src_vocab, tgt_vocab)
    bucketed = padding_efficiency(make_loader(data, 128, bucket=True))
    plain = padding_efficiency(make_loader(data, 128, bucket=False))
    assert bucketed["src"] >= 0.85 and bucketed["tgt"] >= 0.85
    assert plain["all"] < bucketed["all"]
