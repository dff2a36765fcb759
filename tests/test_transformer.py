"""The Transformer (`kind="transformer"`, chapter 9): each from-scratch piece against PyTorch's
own on copied weights (max abs diff printed, <= 1e-5 in fp32), incremental decoding against
recomputing the whole prefix, the course's search, translation, judging and command line on it,
bf16, the config's checks, and sabotages that show the comparisons can fail."""

from __future__ import annotations

import re
from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from s2s import PROFILES, translate, zoo
from s2s.attention import Attention, ScaledDotScore
from s2s.checkpoints import load_checkpoint, load_history
from s2s.cli import read_config
from s2s.decoding import (
    batched_beam_search,
    beam_search,
    count_outputs,
    exhaustive_search,
    greedy,
    output_limit,
)
from s2s.metrics import judge
from s2s.models import Decoder, ModelConfig, Seq2Seq, build_model
from s2s.models import transformer_layers as layers
from s2s.models.multihead import (
    MultiHeadAttention,
    causal_mask,
    key_mask,
    padding_mask,
    scaled_dot_product_attention,
)
from s2s.models.positions import learned_positions, sinusoids
from s2s.models.transformer import TransformerState, attention_maps
from s2s.precision import autocast
from s2s.train import TrainConfig, fit
from s2s.translator import nbest_with_attention
from s2s.vocab import BOS, Vocab
from test_cli import ROOT, TINY, one_line_error, s2s_cli
from test_search import SRC_VOCAB, model_log_prob, sources
from tiny import tiny_data

D, H, FF = 16, 4, 32  # width, heads, feed-forward width of the layer comparisons
TOL = 1e-5


def max_diff(ours: Tensor, theirs: Tensor, what: str) -> float:
    diff = (ours - theirs).abs().max().item()
    print(f"{what}: max abs diff {diff:.2e}")
    return diff


def randomise(module: nn.Module, seed: int = 0) -> nn.Module:
    """Every parameter drawn at random (biases and LayerNorms too, not their zeros and ones)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return module.eval()


def copy_attention(ours: MultiHeadAttention, theirs: nn.MultiheadAttention) -> None:
    """PyTorch keeps W_q, W_k, W_v stacked in one (3d, d) matrix."""
    d = ours.q_proj.in_features
    with torch.no_grad():
        for i, proj in enumerate((ours.q_proj, ours.k_proj, ours.v_proj)):
            proj.weight.copy_(theirs.in_proj_weight[i * d:(i + 1) * d])
            proj.bias.copy_(theirs.in_proj_bias[i * d:(i + 1) * d])
        ours.out_proj.load_state_dict(theirs.out_proj.state_dict())


def copy_layer(ours: nn.Module, theirs: nn.Module) -> None:
    """An encoder or decoder layer's weights from PyTorch's (the same names but for the
    attentions and the feed-forward network)."""
    copy_attention(ours.self_attn, theirs.self_attn)
    if hasattr(theirs, "multihead_attn"):
        copy_attention(ours.cross_attn, theirs.multihead_attn)
    ours.ff.linear1.load_state_dict(theirs.linear1.state_dict())
    ours.ff.linear2.load_state_dict(theirs.linear2.state_dict())
    for name in ("norm1", "norm2", "norm3"):
        if hasattr(theirs, name):
            getattr(ours, name).load_state_dict(getattr(theirs, name).state_dict())


def batch(seed: int = 0, lengths=(5, 2, 4), t: int = 4) -> tuple[Tensor, Tensor, Tensor]:
    """x (B, T, D), memory (B, S, D), source mask (B, S) with padding."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), t, D, generator=g)
    memory = torch.randn(len(lengths), max(lengths), D, generator=g)
    return x, memory, padding_mask(torch.tensor(lengths), max(lengths))


# ---------------------------------------------------------------------------------------------
# Each piece against PyTorch's own, on copied weights


def test_scaled_dot_product_attention_equals_torchs():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(3, H, 5, 8, generator=g) for _ in range(3))
    _, _, src_mask = batch(lengths=(5, 2, 4))
    both = key_mask(src_mask) & causal_mask(5)  # (B, 1, 5, 5)
    for mask, what in ((None, "no mask"), (key_mask(src_mask), "padding mask"),
                       (causal_mask(5), "causal mask"), (both, "padding and causal")):
        ours, _ = scaled_dot_product_attention(q, k, v, mask)
        theirs = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)  # True = attend
        assert max_diff(ours, theirs, f"scaled dot-product attention, {what}") <= TOL
    theirs = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    ours, _ = scaled_dot_product_attention(q, k, v, causal_mask(5))
    assert max_diff(ours, theirs, "scaled dot-product attention, is_causal") <= TOL


def test_one_head_is_chapter_4s_scaled_dot_score():
    g = torch.Generator().manual_seed(1)
    q, k, v = torch.randn(3, 4, 6, generator=g), torch.randn(3, 5, 6, generator=g), \
        torch.randn(3, 5, 7, generator=g)
    _, _, mask = batch(lengths=(5, 2, 4))
    context, weights = Attention(ScaledDotScore())(q, k, v, mask)
    ours, our_weights = scaled_dot_product_attention(q, k, v, mask[:, None, :])
    assert max_diff(ours, context, "one head vs chapter 4's scaled_dot") <= 1e-6
    assert torch.allclose(our_weights, weights, atol=1e-7)


@pytest.mark.parametrize("masks", ["none", "padding", "causal", "padding+causal", "cross"])
def test_multi_head_attention_equals_torchs(masks):
    theirs = randomise(nn.MultiheadAttention(D, H, batch_first=True))
    ours = MultiHeadAttention(D, H).eval()
    copy_attention(ours, theirs)
    x, memory, src_mask = batch(lengths=(4, 2, 3))
    query, key = (x, memory) if masks == "cross" else (x, x)
    padding = src_mask[:, :key.shape[1]] if "padding" in masks or masks == "cross" else None
    causal = causal_mask(4) if "causal" in masks else None
    ours_mask = None
    if padding is not None:
        ours_mask = key_mask(padding)
    if causal is not None:
        ours_mask = causal if ours_mask is None else ours_mask & causal
    out, weights = ours(query, key, key, ours_mask)
    expected, expected_weights = theirs(
        query, key, key, key_padding_mask=None if padding is None else ~padding,  # True = ignore
        attn_mask=None if causal is None else ~causal, average_attn_weights=False)
    assert max_diff(out, expected, f"multi-head attention, {masks}") <= TOL
    assert max_diff(weights, expected_weights, f"per-head weights, {masks}") <= TOL


@pytest.mark.parametrize("norm_first", [False, True])
def test_encoder_layer_equals_torchs(norm_first):
    theirs = randomise(nn.TransformerEncoderLayer(D, H, FF, dropout=0.0, batch_first=True,
                                                  norm_first=norm_first))
    ours = layers.EncoderLayer(D, H, FF, norm_first=norm_first).eval()
    copy_layer(ours, theirs)
    _, x, mask = batch(lengths=(5, 2, 4))
    expected = theirs(x, src_key_padding_mask=~mask)
    got = ours(x, key_mask(mask))
    assert max_diff(got[mask], expected[mask], f"encoder layer, norm_first={norm_first}") <= TOL


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_layer_equals_torchs(norm_first):
    theirs = randomise(nn.TransformerDecoderLayer(D, H, FF, dropout=0.0, batch_first=True,
                                                  norm_first=norm_first))
    ours = layers.DecoderLayer(D, H, FF, norm_first=norm_first).eval()
    copy_layer(ours, theirs)
    x, memory, mask = batch(lengths=(5, 2, 4), t=6)
    expected = theirs(x, memory, tgt_mask=~causal_mask(6), memory_key_padding_mask=~mask)
    got, cache, _ = ours(x, ours.start(memory), key_mask(mask))
    assert max_diff(got, expected, f"decoder layer, norm_first={norm_first}") <= TOL
    assert cache.keys.shape == (3, H, 6, D // H)


def transformer(seed: int = 0, vocab: int = 11, **changes) -> Seq2Seq:
    torch.manual_seed(seed)
    src, tgt = Vocab([f"s{i}" for i in range(vocab - 4)]), Vocab([f"t{i}" for i in range(7)])
    config = ModelConfig("transformer", len(src), len(tgt), **{
        "embed_size": D, "hidden_size": D, "num_heads": H, "ff_size": FF, "num_layers": 2,
        "dropout": 0.0, "max_len": 6, **changes})
    return build_model(config, src, tgt).eval()


def source_and_target(seed: int = 0, lengths=(5, 2, 4), t: int = 6):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, 11, (len(lengths), max(lengths)), generator=g)
    src_len = torch.tensor(lengths)
    src = src.masked_fill(~padding_mask(src_len, src.shape[1]), 0)
    tgt_in = torch.randint(4, 11, (len(lengths), t), generator=g)
    tgt_in[:, 0] = BOS
    return src, src_len, tgt_in


@pytest.mark.parametrize("norm_first", [False, True])
@torch.no_grad()
def test_the_stacks_equal_torchs(norm_first):
    """Our encoder and decoder past their embeddings against nn.TransformerEncoder/Decoder with
    our layers' weights (pre-norm: with the final LayerNorm both stacks add)."""
    model = randomise(transformer(norm_first=norm_first))
    src, src_len, tgt_in = source_and_target()
    enc, dec = model.encoder, model.decoder
    norm = (lambda m: m.norm) if norm_first else (lambda m: None)
    their_enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(
        D, H, FF, 0.0, batch_first=True, norm_first=norm_first), 2, norm=norm(enc),
        enable_nested_tensor=False).eval()
    their_dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(
        D, H, FF, 0.0, batch_first=True, norm_first=norm_first), 2, norm=norm(dec)).eval()
    for theirs, ours in ((their_enc, enc), (their_dec, dec)):
        for their_layer, our_layer in zip(theirs.layers, ours.layers, strict=True):
            their_layer.load_state_dict(_as_torch(our_layer))  # ours -> theirs
    mask = padding_mask(src_len, src.shape[1])
    memory, _ = enc(src, src_len)
    expected_memory = their_enc(enc.embed(src), src_key_padding_mask=~mask)
    assert max_diff(memory[mask], expected_memory[mask], "encoder stack") <= TOL
    logits, _ = dec(tgt_in, dec.init_state((memory, mask), src_len))
    expected = dec.out(their_dec(dec.embed(tgt_in), memory, tgt_mask=~causal_mask(6),
                                 memory_key_padding_mask=~mask))
    assert max_diff(logits, expected, f"decoder stack, norm_first={norm_first}") <= TOL


def _as_torch(layer: nn.Module) -> dict[str, Tensor]:
    """Our layer's weights under PyTorch's names."""
    state = {}
    for ours, theirs in (("self_attn", "self_attn"), ("cross_attn", "multihead_attn")):
        if hasattr(layer, ours):
            attn = getattr(layer, ours)
            projs = (attn.q_proj, attn.k_proj, attn.v_proj)
            state[f"{theirs}.in_proj_weight"] = torch.cat([p.weight for p in projs])
            state[f"{theirs}.in_proj_bias"] = torch.cat([p.bias for p in projs])
            state[f"{theirs}.out_proj.weight"] = attn.out_proj.weight
            state[f"{theirs}.out_proj.bias"] = attn.out_proj.bias
    for name in ("linear1", "linear2"):
        for p in ("weight", "bias"):
            state[f"{name}.{p}"] = getattr(getattr(layer.ff, name), p)
    for name in ("norm1", "norm2", "norm3"):
        if hasattr(layer, name):
            for p in ("weight", "bias"):
                state[f"{name}.{p}"] = getattr(getattr(layer, name), p)
    return state


def test_sinusoids_follow_the_formula_from_any_offset():
    pe = sinusoids(7, 6)
    for p in range(7):
        for i in range(3):
            angle = torch.tensor(p / 10000 ** (2 * i / 6))
            assert pe[p, 2 * i] == pytest.approx(torch.sin(angle).item(), abs=1e-6)
            assert pe[p, 2 * i + 1] == pytest.approx(torch.cos(angle).item(), abs=1e-6)
    assert torch.equal(sinusoids(3, 6, offset=4), pe[4:])


def test_masks():
    assert padding_mask(torch.tensor([2, 3]), 4).tolist() == [[True, True, False, False],
                                                              [True, True, True, False]]
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False],
                                       [True, True, True]]
    assert causal_mask(2, past=3).tolist() == [[True, True, True, True, False],
                                               [True, True, True, True, True]]
    assert causal_mask(1, past=4).all()  # one step sees everything decoded so far


# ---------------------------------------------------------------------------------------------
# Sabotage: the comparisons above can fail


def test_a_wrong_mask_or_norm_is_caught():
    theirs = randomise(nn.MultiheadAttention(D, H, batch_first=True))
    ours = MultiHeadAttention(D, H).eval()
    copy_attention(ours, theirs)
    x, _, mask = batch(lengths=(4, 2, 3))
    expected, _ = theirs(x, x, x, attn_mask=~causal_mask(4))
    leaky = causal_mask(4) | torch.diag(torch.ones(3, dtype=torch.bool), 1)  # sees i + 1
    assert max_diff(ours(x, x, x, leaky)[0], expected, "sabotage: a leaky causal mask") > 1e-2
    expected, _ = theirs(x, x, x, key_padding_mask=~padding_mask(torch.tensor([4, 2, 3]), 4))
    assert max_diff(ours(x, x, x)[0], expected, "sabotage: padding not masked") > 1e-2
    their_layer = randomise(nn.TransformerEncoderLayer(D, H, FF, 0.0, batch_first=True))
    our_layer = layers.EncoderLayer(D, H, FF, norm_first=True).eval()  # theirs: post-norm
    copy_layer(our_layer, their_layer)
    assert max_diff(our_layer(x, key_mask(mask[:, :4])), their_layer(
        x, src_key_padding_mask=~mask[:, :4]), "sabotage: pre-norm vs post-norm") > 1e-2


def test_without_the_causal_mask_teacher_forcing_no_longer_equals_the_steps(monkeypatch):
    model = transformer()
    src, src_len, tgt_in = source_and_target()
    assert incremental_diff(model, src, src_len, tgt_in) <= TOL
    monkeypatch.setattr(layers, "causal_mask", lambda length, past=0, device=None: torch.ones(
        length, past + length, dtype=torch.bool, device=device))
    assert incremental_diff(model, src, src_len, tgt_in) > 1e-2


# ---------------------------------------------------------------------------------------------
# Incremental decoding


@torch.no_grad()
def incremental_diff(model: Seq2Seq, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> float:
    """Max abs diff between teacher-forced logits and those of `step`, position by position."""
    full = model(src, src_len, tgt_in)  # (B, T, V)
    state = model.encode(src, src_len)
    steps = []
    for t in range(tgt_in.shape[1]):
        logits, state = model.decoder.step(tgt_in[:, t], state)
        assert state.length == t + 1  # the cache grows by one position per step
        steps.append(logits)
    return max_diff(torch.stack(steps, dim=1), full, "steps vs teacher forcing")


@pytest.mark.parametrize("changes", [{}, {"norm_first": True}, {"positions": "learned"},
                                     {"num_heads": 1, "num_layers": 3}])
def test_step_equals_teacher_forcing(changes):
    model = transformer(**changes)
    assert incremental_diff(model, *source_and_target()) <= TOL


@torch.no_grad()
def test_a_step_computes_one_position_against_the_cached_ones():
    model = transformer()
    src, src_len, tgt_in = source_and_target()
    state = model.encode(src, src_len)
    attention = model.decoder.layers[1].self_attn
    attention.keep_weights = True
    for t in range(4):
        _, state = model.decoder.step(tgt_in[:, t], state)
        assert attention.weights.shape == (3, H, 1, t + 1)  # one query, t + 1 keys
    assert state.layers[1].keys.shape == (3, H, 4, D // H)


@torch.no_grad()
def test_forward_continues_from_its_state():
    model = transformer(norm_first=True)
    src, src_len, tgt_in = source_and_target()
    full = model(src, src_len, tgt_in)
    first, state = model.decoder(tgt_in[:, :2], model.encode(src, src_len))
    rest, state = model.decoder(tgt_in[:, 2:], state)
    assert state.length == 6
    assert max_diff(torch.cat([first, rest], 1), full, "two chunks vs one") <= TOL


@torch.no_grad()
def test_select_reorders_every_cached_tensor():
    model = transformer()
    src, src_len, tgt_in = source_and_target()
    _, state = model.decoder(tgt_in[:, :3], model.encode(src, src_len))
    index = torch.tensor([2, 0, 0, 1])
    picked = state.select(index)
    assert isinstance(picked, TransformerState) and picked.length == 3
    assert torch.equal(picked.mask, state.mask[index])
    assert torch.equal(picked.weights, state.weights[index])
    for ours, whole in zip(picked.layers, state.layers, strict=True):
        for tensor, original in zip(ours, whole, strict=True):
            assert torch.equal(tensor, original[index])
    token = tgt_in[:, 3]
    whole, _ = model.decoder.step(token, state)
    rows, _ = model.decoder.step(token[index], picked)
    assert max_diff(rows, whole[index], "selected rows' next step") <= 1e-6


class PrefixState(NamedTuple):
    """The state of decoding without a cache: the initial state and the prefix so far."""

    start: TransformerState
    prefix: Tensor  # (B, t)

    def select(self, index: Tensor) -> PrefixState:
        return PrefixState(self.start.select(index), self.prefix.index_select(0, index))


class Recomputing(Decoder):
    """The same decoder without incremental decoding: every step runs it over the whole prefix
    from the initial state."""

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.inner = decoder

    def init_state(self, enc_outputs, src_len: Tensor) -> PrefixState:
        start = self.inner.init_state(enc_outputs, src_len)
        return PrefixState(start, start.mask.new_zeros((start.mask.shape[0], 0), dtype=torch.long))

    def forward(self, tgt_in: Tensor, state: PrefixState) -> tuple[Tensor, PrefixState]:
        prefix = torch.cat([state.prefix, tgt_in], dim=1)  # (B, t + T)
        logits, _ = self.inner(prefix, state.start)
        return logits[:, -tgt_in.shape[1]:], PrefixState(state.start, prefix)


@pytest.fixture(scope="module")
def trained():
    """A small pre-norm Transformer trained 200 steps on the reversal task: (data, model)."""
    data = tiny_data(n_train=512)
    torch.manual_seed(0)
    config = ModelConfig("transformer", len(data.src_vocab), len(data.tgt_vocab),
                         embed_size=32, hidden_size=32, num_heads=2, ff_size=64, num_layers=2,
                         dropout=0.0, norm_first=True, max_len=5)
    model = build_model(config, data.src_vocab, data.tgt_vocab)
    fit(model, data, TrainConfig(max_steps=200, lr=3e-3, batch_size=32, eval_every=100,
                                 precision="fp32"), progress=False)
    return data, model.eval()


def without_cache(model: Seq2Seq) -> Seq2Seq:
    return Seq2Seq(model.encoder, Recomputing(model.decoder), model.config, model.src_vocab,
                   model.tgt_vocab)


def test_trained_steps_equal_teacher_forcing(trained):
    data, model = trained
    src, src_len, tgt_in, _ = next(iter(data.loader("valid", 16, bucket=False)))
    assert incremental_diff(model, src, src_len, tgt_in) <= TOL


def test_search_is_the_same_with_and_without_the_cache(trained):
    data, model = trained
    plain = without_cache(model)
    src, src_len, _, _ = next(iter(data.loader("test", 12, bucket=False)))
    assert greedy(model, src, src_len, 8) == greedy(plain, src, src_len, 8)
    cached = batched_beam_search(model, src, src_len, 3, max_len=8, n_best=3)
    recomputed = batched_beam_search(plain, src, src_len, 3, max_len=8, n_best=3)
    for ours, theirs in zip(cached, recomputed, strict=True):
        assert [h.value for h in ours] == [h.value for h in theirs]
        assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], abs=TOL)
    for b in range(4):
        one = src[b:b + 1, :src_len[b]], src_len[b:b + 1]
        ours, theirs = beam_search(model, *one, 3, 8, n_best=2), beam_search(plain, *one, 3, 8,
                                                                             n_best=2)
        assert [h.value for h in ours] == [h.value for h in theirs]
        assert [h.score for h in ours] == pytest.approx([h.score for h in theirs], abs=TOL)


def test_beam_one_equals_greedy_and_batched_equals_per_sentence(trained):
    data, model = trained
    src, src_len, _, _ = next(iter(data.loader("test", 12, bucket=False)))
    greedy_out = greedy(model, src, src_len, max_len=8)
    assert [h[0].value for h in batched_beam_search(model, src, src_len, 1, 8)] == greedy_out
    batched = batched_beam_search(model, src, src_len, 4, max_len=8, n_best=2)
    for b in range(src.shape[0]):
        one_src, one_len = src[b:b + 1, :src_len[b]], src_len[b:b + 1]
        assert beam_search(model, one_src, one_len, 1, 8)[0].value == greedy_out[b]
        single = beam_search(model, one_src, one_len, 4, 8, n_best=2)
        assert [h.value for h in batched[b]] == [h.value for h in single]


def sharp_transformer(seed: int, tgt_vocab: int = 6) -> Seq2Seq:
    """A random Transformer over test_search's source vocabulary, its output layer sharpened
    (sharpening every weight, as test_search does for the RNNs, makes the attention scores so
    large that fp32 rounding, not the cache, decides the last digits)."""
    torch.manual_seed(seed)
    tgt = Vocab([f"t{i}" for i in range(tgt_vocab - 4)])
    config = ModelConfig("transformer", len(SRC_VOCAB), len(tgt), embed_size=8, hidden_size=8,
                         num_heads=2, num_layers=2, dropout=0.0, max_len=6)
    model = build_model(config, SRC_VOCAB, tgt).eval()
    with torch.no_grad():
        model.decoder.out.weight.mul_(4.0)
    return model


@pytest.mark.parametrize("seed", range(4))
def test_full_width_beam_equals_exhaustive_search(seed):
    model = sharp_transformer(seed)
    max_len = 4
    width = count_outputs(6, max_len)
    src, src_len = sources(seed, lengths=(3,))
    best = exhaustive_search(model, src, src_len, max_len, n_best=5)
    beam = beam_search(model, src, src_len, width, max_len, n_best=5)
    assert [h.value for h in beam] == [h.value for h in best]
    for b, e in zip(beam, best, strict=True):
        assert b.score == pytest.approx(e.score, abs=TOL)
        assert b.score == pytest.approx(model_log_prob(model, src, src_len, b.value), abs=TOL)


@pytest.mark.parametrize("seed", range(3))
def test_beam_one_equals_greedy_on_random_models(seed):
    model = sharp_transformer(seed, tgt_vocab=9)
    src, src_len = sources(seed)
    greedy_out = greedy(model, src, src_len, max_len=6)
    for b in range(src.shape[0]):
        one = beam_search(model, src[b:b + 1, :src_len[b]], src_len[b:b + 1], 1, 6)
        assert one[0].value == greedy_out[b]


# ---------------------------------------------------------------------------------------------
# Translation, judging, the translator, attention maps


def test_translate_and_judge(trained):
    data, model = trained
    judged = judge(model, data, split="test", max_sentences=16)
    assert judged.bleu.score > 20  # untrained: near 0
    assert translate(model, judged.sources) == judged.hypotheses
    beam = judge(model, data, split="test", max_sentences=16, beam_size=3)
    assert translate(model, judged.sources, beam_size=3) == beam.hypotheses


def test_the_translators_nbest_and_attention(trained):
    _, model = trained
    result = nbest_with_attention(model, "w1 w4 w7", beam_size=4, n_best=3)
    assert result.nbest[0][0] == translate(model, "w1 w4 w7", beam_size=4)
    assert result.weights.shape == (len(result.target), len(result.source))
    torch.testing.assert_close(result.weights.sum(-1), torch.ones(len(result.target)))


def test_attention_maps_per_head(trained):
    data, model = trained
    src, src_len, tgt_in, _ = next(iter(data.loader("valid", 6, bucket=False)))
    maps = attention_maps(model, src, src_len, tgt_in)
    (b, s), t = src.shape, tgt_in.shape[1]
    assert sorted(maps) == sorted(f"{side}.layers.{i}.{kind}" for i in range(2) for side, kind in
                                  (("encoder", "self_attn"), ("decoder", "self_attn"),
                                   ("decoder", "cross_attn")))
    assert maps["encoder.layers.0.self_attn"].shape == (b, 2, s, s)
    assert maps["decoder.layers.1.self_attn"].shape == (b, 2, t, t)
    cross = maps["decoder.layers.1.cross_attn"]
    assert cross.shape == (b, 2, t, s)
    torch.testing.assert_close(cross.sum(-1), torch.ones(b, 2, t))
    padded = ~padding_mask(src_len, s)  # (B, S)
    assert (cross.masked_select(padded[:, None, None, :]) == 0).all()
    assert (maps["decoder.layers.0.self_attn"] * ~causal_mask(t) == 0).all()
    _, state = model.decoder(tgt_in, model.encode(src, src_len))
    torch.testing.assert_close(state.weights, cross.mean(1))  # the state's: heads averaged
    assert not any(getattr(m, "keep_weights", False) for m in model.modules())
    _, weights = greedy(model, src, src_len, 6, return_attention=True)
    assert [w.shape[1] for w in weights] == src_len.tolist()


# ---------------------------------------------------------------------------------------------
# Precision, positions, configs


def test_bf16_autocast_runs_without_nan_and_masks_hold():
    """Masks fill scores with bf16's most negative finite value, never -inf, so nothing
    overflows; masked weights stay exactly zero."""
    model = transformer(norm_first=True)
    src, src_len, tgt_in = source_and_target()
    with torch.no_grad():
        fp32 = model(src, src_len, tgt_in)
    with autocast("bf16", "cpu"):
        logits = model(src, src_len, tgt_in)
        maps = attention_maps(model, src, src_len, tgt_in)
        state = model.encode(src, src_len)
        step, _ = model.decoder.step(tgt_in[:, 0], state)
    assert logits.dtype == torch.bfloat16 and torch.isfinite(logits).all()
    assert torch.isfinite(step).all()
    assert (logits.float() - fp32).abs().max() < 0.1  # bf16 keeps ~3 significant digits
    padded = ~padding_mask(src_len, src.shape[1])
    cross = maps["decoder.layers.0.cross_attn"]
    assert (cross.masked_select(padded[:, None, None, :]) == 0).all()
    data = tiny_data(n_train=64, n_valid=8, n_test=8)
    model = build_model(ModelConfig("transformer", len(data.src_vocab), len(data.tgt_vocab),
                                    embed_size=16, hidden_size=16, num_layers=1, dropout=0.1,
                                    max_len=5), data.src_vocab, data.tgt_vocab)
    history = fit(model, data, TrainConfig(max_steps=3, batch_size=16, precision="bf16"),
                  progress=False)
    assert all(torch.isfinite(torch.tensor(history.step_loss)))


def test_learned_positions_cover_the_default_output_limit_and_refuse_beyond():
    """Search's last step at the default limit embeds position output_limit (after <bos>)."""
    model = transformer(positions="learned")
    src, src_len, _ = source_and_target()
    limit = output_limit(model, None)
    assert learned_positions(model.config.max_len) == limit + 1 == 23
    state = model.encode(src, src_len)
    with torch.no_grad():
        logits, _ = model.decoder(torch.full((3, limit + 1), 5), state)  # positions 0 .. limit
        assert logits.shape[1] == limit + 1
        with pytest.raises(ValueError, match="position 23 is beyond the 23 learned positions"
                                             ".*or use positions='sinusoidal'"):
            model.decoder(torch.full((3, limit + 2), 5), state)
        sinusoidal = transformer()
        logits, _ = sinusoidal.decoder(torch.full((3, limit + 20), 5),
                                       sinusoidal.encode(src, src_len))
    assert torch.isfinite(logits).all()


SIZES = dict(src_vocab_size=12, tgt_vocab_size=10, embed_size=8, hidden_size=8)


@pytest.mark.parametrize("fields, message", [
    ({"num_heads": 3}, "hidden_size=8 is not divisible by num_heads=3: each head attends in "
                       "hidden_size / num_heads dimensions (choose num_heads among [1, 2, 4, 8]"),
    ({"num_heads": 0}, "num_heads=0: attention needs at least one head"),
    ({"embed_size": 6}, "embed_size=6 differs from hidden_size=8"),
    ({"ff_size": -1}, "ff_size=-1: give the feed-forward layer's width, or 0 for 4 * hidden_size"),
    ({"positions": "rotary"}, "positions='rotary': choose one of sinusoidal, learned"),
    ({"embed_size": 7, "hidden_size": 7, "num_heads": 7}, "hidden_size=7 is odd: sinusoidal"),
    ({"num_layers": 0}, "num_layers=0: the encoder and decoder need at least one layer"),
    ({"attention": "dot"}, "attention='dot' is ignored: the Transformer always attends"),
    ({"input_feeding": True}, "input_feeding=True is ignored"),
    ({"bidirectional": True}, "bidirectional=True is ignored: the encoder's self-attention"),
    ({"cell": "lstm"}, "cell='lstm' is ignored: the Transformer has no recurrent cell"),
])
def test_bad_configs_are_refused_naming_the_setting(fields, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ModelConfig("transformer", **{**SIZES, **fields})


def test_an_odd_width_works_with_learned_positions():
    transformer(embed_size=7, hidden_size=7, num_heads=7, positions="learned")


def test_existing_configs_keep_their_keys_and_new_fields_round_trip():
    old_keys = {"kind", "src_vocab_size", "tgt_vocab_size", "embed_size", "hidden_size",
                "num_layers", "dropout", "cell", "bidirectional", "attention", "input_feeding",
                "max_len", "tokenizers"}
    for kind in ("rnn", "bahdanau", "luong", "nmt"):
        assert set(ModelConfig(kind, 10, 10).to_dict()) == old_keys
    assert set(ModelConfig("transformer", 10, 10).to_dict()) == old_keys
    config = ModelConfig("transformer", 10, 10, num_heads=8, ff_size=64, norm_first=True,
                         positions="learned")
    assert {"num_heads", "ff_size", "norm_first", "positions"} <= set(config.to_dict())
    assert ModelConfig.from_dict(config.to_dict()) == config


def test_the_example_config_builds():
    config = read_config(ROOT / "configs" / "transformer-cpu.toml")
    model = ModelConfig(src_vocab_size=100, tgt_vocab_size=100, **config["model"])
    assert model.kind == "transformer"
    build_model(model, Vocab([f"s{i}" for i in range(96)]), Vocab([f"t{i}" for i in range(96)]))


# ---------------------------------------------------------------------------------------------
# The command line

TINY_TRANSFORMER = TINY.replace('kind = "rnn"\nembed_size = 16',
                                'kind = "transformer"\nembed_size = 32\nnum_heads = 2\n'
                                'ff_size = 64\nnorm_first = true\npositions = "learned"')


def test_the_command_line_trains_and_translates(tmp_path):
    assert 'kind = "transformer"' in TINY_TRANSFORMER
    config = tmp_path / "tiny.toml"
    config.write_text(TINY_TRANSFORMER.format(steps=12))
    trained = s2s_cli("train", str(config))
    assert trained.returncode == 0, trained.stderr
    model = load_checkpoint(tmp_path / "run.pt")
    assert (model.config.kind, model.config.positions, model.config.num_heads) == (
        "transformer", "learned", 2)
    out = s2s_cli("translate", str(tmp_path / "run.pt"), "--beam", "3", stdin="I am cold.\n")
    assert out.returncode == 0, out.stderr
    assert out.stdout == translate(model, "I am cold.", beam_size=3) + "\n"
    config.write_text(TINY_TRANSFORMER.format(steps=1).replace("num_heads = 2", "num_heads = 3"))
    one_line_error(s2s_cli("train", str(config)), 2, "[model]", "not divisible by num_heads=3")


def test_torchrun_trains_it_on_two_processes_as_on_one(tmp_path):
    """DistributedDataParallel takes the kind unchanged (every parameter gets a gradient):
    two processes with gloo give one process's losses at the same global batch."""
    from test_distributed import one_process, two_processes

    runs = {}
    for name in ("two", "one"):
        (tmp_path / name).mkdir()
        runs[name] = tmp_path / name / "c.toml"
        runs[name].write_text(TINY_TRANSFORMER.format(steps=6).replace("batch_size = 32",
                                                                       "batch_size = 33"))
    two_processes(runs["two"])
    one_process(runs["one"])
    two, one = (load_history(runs[name].parent / "run.pt") for name in ("two", "one"))
    assert two.steps == one.steps == 6
    assert two.step_loss == pytest.approx(one.step_loss, rel=1e-5, abs=1e-6)


def test_the_zoo_builds_it_at_every_profile():
    data = tiny_data(n_train=32, n_valid=8, n_test=8)
    for profile in PROFILES.values():
        config = zoo.profile_config("transformer", profile, data, num_heads=4)
        assert (config.embed_size, config.num_heads) == (profile.hidden_size, 4)
        build_model(config, data.src_vocab, data.tgt_vocab)
