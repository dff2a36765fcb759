"""Attention: equal to d2l's on copied weights, masking, and the decoders' two ways of running."""

from __future__ import annotations

import pytest
import torch

from d2l_oracle import load_d2l
from s2s.attention import (
    SCORES,
    AdditiveScore,
    Attention,
    ScaledDotScore,
    make_score,
    masked_softmax,
)
from s2s.models import BahdanauDecoder, LuongDecoder, RNNEncoder

B, TQ, TK, DQ, DK, DV, H = 3, 4, 6, 5, 7, 9, 8
VALID = torch.tensor([6, 2, 4])


def inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(B, TQ, DQ, generator=g), torch.randn(B, TK, DK, generator=g),
            torch.randn(B, TK, DV, generator=g))


def mask_of(valid: torch.Tensor, width: int = TK) -> torch.Tensor:
    return torch.arange(width)[None, :] < valid[:, None]


def test_additive_attention_equals_d2l():
    d2l = load_d2l()
    q, k, v = inputs()
    theirs = d2l.AdditiveAttention(num_hiddens=H, dropout=0.0).eval()
    theirs(q, k, v, VALID)  # materialise d2l's lazy layers before copying
    ours = Attention(AdditiveScore(DQ, DK, H)).eval()
    ours.score.W_q.weight.data.copy_(theirs.W_q.weight.data)
    ours.score.W_k.weight.data.copy_(theirs.W_k.weight.data)
    ours.score.w_v.weight.data.copy_(theirs.w_v.weight.data)
    context, weights = ours(q, k, v, mask_of(VALID))
    assert torch.allclose(context, theirs(q, k, v, VALID), atol=1e-6)
    assert torch.allclose(weights, theirs.attention_weights, atol=1e-6)


def test_scaled_dot_attention_equals_d2l():
    d2l = load_d2l()
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(B, TQ, DK, generator=g), torch.randn(B, TK, DK, generator=g),
               torch.randn(B, TK, DV, generator=g))
    theirs = d2l.DotProductAttention(dropout=0.0).eval()
    context, weights = Attention(ScaledDotScore())(q, k, v, mask_of(VALID))
    assert torch.allclose(context, theirs(q, k, v, VALID), atol=1e-6)
    assert torch.allclose(weights, theirs.attention_weights, atol=1e-6)


def test_masked_softmax_equals_d2l_where_a_row_has_a_valid_position_and_is_zero_elsewhere():
    d2l = load_d2l()
    scores = torch.randn(B, TQ, TK)
    valid_2d = torch.tensor([[6, 1, 3, 2], [2, 2, 5, 6], [4, 1, 1, 3]])  # per query
    for valid, mask in [(VALID, mask_of(VALID)),
                        (valid_2d, torch.arange(TK)[None, None, :] < valid_2d[..., None])]:
        assert torch.allclose(masked_softmax(scores, mask), d2l.masked_softmax(scores.clone(),
                                                                               valid), atol=1e-6)
    empty = torch.tensor([0, 3, 0])
    ours = masked_softmax(scores, mask_of(empty))
    assert torch.all(ours[0] == 0) and torch.all(ours[2] == 0)  # nothing to attend to: zeros
    assert torch.allclose(ours[1].sum(-1), torch.ones(TQ))
    theirs = d2l.masked_softmax(scores.clone(), empty)
    assert torch.allclose(theirs[0].sum(-1), torch.ones(TQ))  # d2l: uniform over pads instead


def test_masked_softmax_writes_nothing_in_place():
    scores = torch.randn(B, TQ, TK)
    before = scores.clone()
    masked_softmax(scores, mask_of(VALID))
    assert torch.equal(scores, before)


@pytest.mark.parametrize("kind", SCORES)
def test_every_score_gives_zero_weight_to_padding_and_rows_summing_to_one(kind):
    q, k, v = inputs()
    if kind in ("dot", "scaled_dot"):
        q = torch.randn(B, TQ, DK)
    attention = Attention(make_score(kind, q.shape[-1], DK, H))
    context, weights = attention(q, k, v, mask_of(VALID))
    assert context.shape == (B, TQ, DV) and weights.shape == (B, TQ, TK)
    assert torch.all(weights[~mask_of(VALID)[:, None, :].expand(-1, TQ, -1)] == 0)
    assert torch.allclose(weights.sum(-1), torch.ones(B, TQ), atol=1e-6)


def test_scaled_general_is_general_over_the_root_of_the_query_size():
    q, k, _ = inputs()
    torch.manual_seed(0)
    general = make_score("general", q.shape[-1], DK, H)
    scaled = make_score("scaled_general", q.shape[-1], DK, H)
    scaled.load_state_dict(general.state_dict())  # the same W
    assert torch.allclose(scaled(q, k), general(q, k) / q.shape[-1] ** 0.5, atol=1e-6)


def test_make_score_refuses_mismatched_dot_sizes():
    with pytest.raises(ValueError, match="use 'general' or 'additive'"):
        make_score("dot", 4, 6, 8)
    with pytest.raises(ValueError, match="unknown attention score"):
        make_score("cosine", 4, 4, 8)


def encoded(seed: int = 0, bidirectional: bool = True):
    torch.manual_seed(seed)
    enc = RNNEncoder(20, 8, H, 2, cell="gru", bidirectional=bidirectional).eval()
    src = torch.randint(4, 20, (3, 7))
    src_len = torch.tensor([7, 3, 5])
    src[1, 3:] = 0
    src[2, 5:] = 0
    return enc(src, src_len), src_len


@pytest.mark.parametrize("feeding", [False, True])
def test_luong_parallel_equals_step_by_step(feeding):
    enc_out, src_len = encoded()
    dec = LuongDecoder(30, 8, H, 2 * H, num_layers=2, input_feeding=feeding).eval()
    tgt_in = torch.randint(4, 30, (3, 6))
    state = dec.init_state(enc_out, src_len)
    logits, after = dec(tgt_in, state)
    for t in range(6):
        step_logits, state = dec.step(tgt_in[:, t], state)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-5)
        assert torch.allclose(state.weights[:, 0], after.weights[:, t], atol=1e-6)


def test_attention_decoders_ignore_padded_source_positions():
    enc_out, src_len = encoded()
    for dec in (BahdanauDecoder(30, 8, H, 2 * H, num_layers=2).eval(),
                LuongDecoder(30, 8, H, 2 * H, num_layers=2, score="additive").eval()):
        _, state = dec(torch.randint(4, 30, (3, 5)), dec.init_state(enc_out, src_len))
        pad = ~mask_of(src_len, 7)[:, None, :].expand(-1, 5, -1)
        assert torch.all(state.weights[pad] == 0)
        assert torch.allclose(state.weights.sum(-1), torch.ones(3, 5), atol=1e-6)


def test_bahdanau_step_equals_forward():
    torch.manual_seed(2)
    dec = BahdanauDecoder(30, 8, H, 2 * H, num_layers=2, cell="lstm").eval()
    enc = RNNEncoder(20, 8, H, 2, cell="lstm", bidirectional=True).eval()
    src = torch.randint(4, 20, (3, 7))
    enc_out = enc(src, torch.tensor([7, 3, 5]))
    tgt_in = torch.randint(4, 30, (3, 5))
    state = dec.init_state(enc_out, torch.tensor([7, 3, 5]))
    logits, _ = dec(tgt_in, state)
    for t in range(5):
        step_logits, state = dec.step(tgt_in[:, t], state)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-5)


def test_additive_score_on_precomputed_keys_equals_its_forward():
    q, k, _ = inputs()
    score = AdditiveScore(DQ, DK, H)
    projected = score.precompute(k)
    assert projected.shape == (B, TK, H)
    assert torch.equal(score.score_precomputed(q, projected), score(q, k))


def test_bahdanau_scores_through_the_additive_scores_own_method(monkeypatch):
    """The decoder projects the keys once per sentence and asks the score for every step's
    scores: it never recomputes the additive score from the score's weights itself."""
    enc_out, src_len = encoded()
    dec = BahdanauDecoder(30, 8, H, 2 * H, num_layers=2).eval()
    calls = {"precompute": 0, "score_precomputed": 0}
    for name in calls:
        original = getattr(dec.score, name)

        def counted(*args, _original=original, _name=name):
            calls[_name] += 1
            return _original(*args)

        monkeypatch.setattr(dec.score, name, counted)
    dec(torch.randint(4, 30, (3, 5)), dec.init_state(enc_out, src_len))
    assert calls == {"precompute": 1, "score_precomputed": 5}


@pytest.mark.parametrize("kind", SCORES)
def test_every_score_on_its_precomputed_keys_equals_its_forward(kind):
    q, k, _ = inputs()
    size = DK if kind in ("dot", "scaled_dot") else DQ
    score = make_score(kind, size, DK, H)
    q = q if kind not in ("dot", "scaled_dot") else torch.randn(B, TQ, DK)
    assert torch.allclose(score.score_precomputed(q, score.precompute(k)), score(q, k),
                          atol=1e-6)


@pytest.mark.parametrize("kind", ["general", "additive", "scaled_general"])
@pytest.mark.parametrize("feeding", [False, True])
def test_luong_projects_the_keys_once_per_sentence(kind, feeding, monkeypatch):
    """The key projection (W k) is made in init_state and kept in the state: a decoder that
    made it again at every step would call `precompute` once per step; beam search's
    `select` reorders it with the rest of the state."""
    enc_out, src_len = encoded()
    dec = LuongDecoder(30, 8, H, 2 * H, num_layers=2, score=kind, input_feeding=feeding).eval()
    calls = {"precompute": 0, "score_precomputed": 0}
    for name in calls:
        original = getattr(dec.attention.score, name)

        def counted(*args, _original=original, _name=name):
            calls[_name] += 1
            return _original(*args)

        monkeypatch.setattr(dec.attention.score, name, counted)
    state = dec.init_state(enc_out, src_len)
    dec(torch.randint(4, 30, (3, 5)), state)
    assert calls == {"precompute": 1, "score_precomputed": 5 if feeding else 1}
    assert torch.equal(state.keys, dec.attention.score.W(enc_out[0]) if kind != "additive"
                       else dec.attention.score.W_k(enc_out[0]))
    picked = state.select(torch.tensor([2, 0]))
    assert torch.equal(picked.keys, state.keys[[2, 0]])


def test_a_score_that_projects_nothing_keeps_no_keys():
    enc_out, src_len = encoded()
    dec = LuongDecoder(30, 8, 2 * H, 2 * H, score="dot", input_feeding=True).eval()
    assert dec.init_state(enc_out, src_len).keys is None
