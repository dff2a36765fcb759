"""Search: beam search against exhaustive search and greedy, batched against per-sentence,
and every score against the model's own log-probability."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from s2s.data import source_batch
from s2s.decoding import (
    Hypothesis,
    batched_beam_search,
    beam_search,
    count_outputs,
    exhaustive_search,
    greedy,
    normalised,
)
from s2s.models import ModelConfig, build_model
from s2s.vocab import BOS, EOS, Vocab
from tiny import trained_tiny

KINDS = [("rnn", {}), ("luong", {"bidirectional": True, "attention": "general"}),
         ("bahdanau", {"bidirectional": True, "attention": "additive"}),
         ("nmt", {"bidirectional": True, "cell": "lstm", "input_feeding": True})]  # CS224n's


SRC_VOCAB = Vocab([f"s{i}" for i in range(5)])  # 9 ids: s0 .. s4 are 4 .. 8


def random_model(seed: int, tgt_vocab: int = 6, kind: str = "rnn", **extra):
    torch.manual_seed(seed)
    src_vocab = SRC_VOCAB
    tgt = Vocab([f"t{i}" for i in range(tgt_vocab - 4)])
    config = ModelConfig(kind, len(src_vocab), len(tgt), embed_size=4, hidden_size=8,
                         num_layers=1, dropout=0.0, max_len=6, **extra)
    model = build_model(config, src_vocab, tgt).eval()
    for p in model.parameters():  # sharper distributions than the initialisation gives
        p.data.mul_(3.0)
    return model


def sources(seed: int, lengths=(3, 5, 2, 4)):
    g = torch.Generator().manual_seed(seed)
    sentences = [[f"s{i - 4}" for i in torch.randint(4, 9, (n,), generator=g).tolist()]
                 for n in lengths]
    return source_batch(SRC_VOCAB, sentences)


@torch.no_grad()
def model_log_prob(model, src, src_len, value: list[int]) -> float:
    """log p(value + <eos> | src) by teacher forcing."""
    tgt_in = torch.tensor([[BOS, *value]])
    tgt_out = torch.tensor([[*value, EOS]])
    log_probs = F.log_softmax(model(src, src_len, tgt_in), dim=-1)
    return float(log_probs.gather(-1, tgt_out[..., None]).sum())


@pytest.mark.parametrize("kind,extra", KINDS)
@pytest.mark.parametrize("seed", range(8))
def test_full_width_beam_equals_exhaustive_search(seed, kind, extra):
    model = random_model(seed, kind=kind, **extra)
    max_len = 4
    width = count_outputs(6, max_len)  # at least as wide as the whole search space
    src, src_len = sources(seed, lengths=(3,))
    best = exhaustive_search(model, src, src_len, max_len, n_best=5)
    beam = beam_search(model, src, src_len, width, max_len, n_best=5)
    assert [h.value for h in beam] == [h.value for h in best]
    for b, e in zip(beam, best, strict=True):
        assert b.score == pytest.approx(e.score, abs=1e-5)
    assert len(exhaustive_search(model, src, src_len, max_len, n_best=10 ** 6)) == width


@pytest.mark.parametrize("kind,extra", KINDS)
@pytest.mark.parametrize("seed", range(6))
def test_beam_one_equals_greedy_on_random_models(seed, kind, extra):
    model = random_model(seed, tgt_vocab=9, kind=kind, **extra)
    src, src_len = sources(seed)
    greedy_out = greedy(model, src, src_len, max_len=6)
    for b in range(src.shape[0]):
        one = beam_search(model, src[b:b + 1, :src_len[b]], src_len[b:b + 1], 1, 6)
        assert one[0].value == greedy_out[b]


@pytest.fixture(scope="module")
def trained():
    return trained_tiny()


def test_beam_one_equals_greedy_on_a_trained_model(trained):
    data, model = trained
    src, src_len, _, _ = next(iter(data.loader("test", 16, bucket=False)))
    greedy_out = greedy(model, src, src_len, max_len=8)
    batched = batched_beam_search(model, src, src_len, beam_size=1, max_len=8)
    assert [h[0].value for h in batched] == greedy_out


@pytest.mark.parametrize("kind,extra", KINDS)
@pytest.mark.parametrize("beam", [2, 5])
@pytest.mark.parametrize("penalty", [None, "average", "gnmt"])
def test_batched_equals_per_sentence_and_scores_are_log_probs(kind, extra, beam, penalty):
    model = random_model(3, tgt_vocab=10, kind=kind, **extra)
    src, src_len = sources(3, lengths=(3, 6, 1, 4, 2))
    batched = batched_beam_search(model, src, src_len, beam, max_len=6, n_best=2,
                                  length_penalty=penalty)
    for b in range(src.shape[0]):
        one_src, one_len = src[b:b + 1, :src_len[b]], src_len[b:b + 1]
        single = beam_search(model, one_src, one_len, beam, max_len=6, n_best=2,
                             length_penalty=penalty)
        assert [h.value for h in batched[b]] == [h.value for h in single]
        for h, s in zip(batched[b], single, strict=True):
            assert h.score == pytest.approx(s.score, abs=1e-5)
            assert h.score == pytest.approx(model_log_prob(model, one_src, one_len, h.value),
                                            abs=1e-5)


def test_trained_model_batched_equals_per_sentence(trained):
    data, model = trained
    src, src_len, _, _ = next(iter(data.loader("test", 12, bucket=False)))
    batched = batched_beam_search(model, src, src_len, 4, max_len=8, n_best=3)
    for b in range(src.shape[0]):
        single = beam_search(model, src[b:b + 1, :src_len[b]], src_len[b:b + 1], 4, 8, n_best=3)
        assert [h.value for h in batched[b]] == [h.value for h in single]


def test_length_penalties_rank_as_defined():
    short, long = Hypothesis([4], -2.0), Hypothesis([4, 5, 6, 7], -3.0)
    assert normalised(short.score, 2, None, 0.6) > normalised(long.score, 5, None, 0.6)
    assert normalised(short.score, 2, "average", 0.6) < normalised(long.score, 5, "average", 0.6)
    assert normalised(-3.0, 5, "gnmt", 1.0) == pytest.approx(-3.0 / (10 / 6))
    with pytest.raises(ValueError, match="length_penalty"):
        normalised(-1.0, 2, "linear", 0.6)


def test_n_best_larger_than_the_beam_is_refused():
    model = random_model(0)
    src, src_len = sources(0, lengths=(2,))
    with pytest.raises(ValueError, match="beam_size >= n_best"):
        beam_search(model, src, src_len, 2, 4, n_best=3)
