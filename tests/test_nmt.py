"""The capstone's model (`kind="nmt"`, chapter 7) against the CS224n equations, computed here
step by step for one sentence at a time from the model's own weights (float64, no padding,
nn.LSTM not used): the encoder's bidirectional LSTM cell by cell, the linear bridge, the
decoder's LSTM with input feeding, the general score, the combined output and the vocabulary
projection. The batched model must give the same logits under teacher forcing and step by step
(what search uses), with sentences of different lengths in one padded batch."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor

from s2s.data import source_batch
from s2s.models import ModelConfig, build_model
from s2s.vocab import BOS, Vocab

SRC = Vocab([f"s{i}" for i in range(7)])
TGT = Vocab([f"t{i}" for i in range(9)])


def nmt_model(seed: int, **changes) -> torch.nn.Module:
    torch.manual_seed(seed)
    settings = dict(embed_size=5, hidden_size=6, num_layers=1, dropout=0.3, cell="lstm",
                    bidirectional=True, input_feeding=True, attention="general", max_len=8)
    config = ModelConfig("nmt", len(SRC), len(TGT), **{**settings, **changes})
    model = build_model(config, SRC, TGT).double().eval()
    for p in model.parameters():  # away from zero biases, so that every term matters
        p.data.add_(0.3 * torch.randn_like(p))
    return model


def lstm_cell(x: Tensor, h: Tensor, c: Tensor, w_ih: Tensor, w_hh: Tensor, b_ih: Tensor,
              b_hh: Tensor) -> tuple[Tensor, Tensor]:
    """One LSTM step (PyTorch's gate order i, f, g, o): x (E,), h and c (H,)."""
    i, f, g, o = (w_ih @ x + b_ih + w_hh @ h + b_hh).chunk(4)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def reference_logits(model, src: list[int], tgt_in: list[int]) -> Tensor:
    """The CS224n equations for one sentence: src ids (S,) (ending in <eos>), tgt_in ids (T,)
    -> logits (T, V)."""
    w = dict(model.state_dict())
    rnn = "encoder.rnn."
    x = w["encoder.embedding.weight"][src]  # (S, E)
    hidden = w["decoder.rnn.weight_hh_l0"].shape[1]
    zeros = torch.zeros(hidden, dtype=torch.float64)

    def run(order, suffix):
        h, c, outs = zeros, zeros, {}
        for i in order:
            h, c = lstm_cell(x[i], h, c, w[f"{rnn}weight_ih_l0{suffix}"],
                             w[f"{rnn}weight_hh_l0{suffix}"], w[f"{rnn}bias_ih_l0{suffix}"],
                             w[f"{rnn}bias_hh_l0{suffix}"])
            outs[i] = h
        return outs, h, c

    forward, h_fwd, c_fwd = run(range(len(src)), "")
    backward, h_bwd, c_bwd = run(reversed(range(len(src))), "_reverse")
    enc = torch.stack([torch.cat([forward[i], backward[i]]) for i in range(len(src))])  # (S, 2H)
    h = w["encoder.bridges.0.weight"] @ torch.cat([h_fwd, h_bwd])  # h_0 = W_h [h_fwd; h_bwd]
    c = w["encoder.bridges.1.weight"] @ torch.cat([c_fwd, c_bwd])  # c_0 = W_c [c_fwd; c_bwd]
    enc_proj = enc @ w["decoder.attention.score.W.weight"].T  # (S, H): W_att h_i^enc
    o_prev, logits = zeros, []
    for y in tgt_in:
        ybar = torch.cat([w["decoder.embedding.weight"][y], o_prev])  # [y_t; o_{t-1}]
        h, c = lstm_cell(ybar, h, c, w["decoder.rnn.weight_ih_l0"], w["decoder.rnn.weight_hh_l0"],
                         w["decoder.rnn.bias_ih_l0"], w["decoder.rnn.bias_hh_l0"])
        e = enc_proj @ h  # (S,): e_{t,i} = h_t^T W_att h_i^enc
        alpha = torch.softmax(e, dim=0)
        a = alpha @ enc  # (2H,)
        o_prev = torch.tanh(w["decoder.combine.weight"] @ torch.cat([a, h]))  # o_t (eval)
        logits.append(w["decoder.out.weight"] @ o_prev)  # no bias
    return torch.stack(logits)


SENTENCES = [["s0", "s3", "s1"], ["s5", "s2", "s2", "s6", "s4"], ["s4"], ["s1", "s6"]]
TARGETS = [[BOS, 5, 9, 4], [BOS, 11, 6], [BOS, 7, 7, 8, 12], [BOS]]


@pytest.mark.parametrize("seed", range(3))
def test_teacher_forcing_equals_the_cs224n_equations(seed):
    model = nmt_model(seed)
    src, src_len = source_batch(SRC, SENTENCES)
    longest = max(map(len, TARGETS))
    tgt_in = torch.tensor([t + [0] * (longest - len(t)) for t in TARGETS])
    with torch.no_grad():
        logits = model(src, src_len, tgt_in)  # (B, T, V)
        for b, target in enumerate(TARGETS):
            ids = src[b, :src_len[b]].tolist()  # the sentence and its <eos>
            expected = reference_logits(model, ids, target)
            torch.testing.assert_close(logits[b, :len(target)], expected, rtol=1e-10,
                                       atol=1e-10)


@pytest.mark.parametrize("seed", range(3))
def test_step_by_step_decoding_equals_the_equations(seed):
    model = nmt_model(seed)
    src, src_len = source_batch(SRC, SENTENCES)
    steps = 4
    tokens = torch.tensor([[BOS, 6, 10, 5]] * len(SENTENCES))  # the same prefix for all
    with torch.no_grad():
        state = model.encode(src, src_len)
        got = []
        for t in range(steps):
            logits, state = model.decoder.step(tokens[:, t], state)  # (B, V)
            got.append(logits)
        got = torch.stack(got, dim=1)  # (B, T, V)
    for b in range(len(SENTENCES)):
        ids = src[b, :src_len[b]].tolist()
        expected = reference_logits(model, ids, tokens[b].tolist())
        torch.testing.assert_close(got[b], expected, rtol=1e-10, atol=1e-10)


def test_dropout_is_applied_to_the_fed_output_in_training():
    """o_t = dropout(tanh(W_u [a_t; h_t])) is what the next step reads: with dropout 1.0 - p
    masks, the fed vector and the output must be the same dropped-out tensor. Zeroing the whole
    output (p -> 1) must therefore silence both the logits and the next step's feed."""
    model = nmt_model(0, dropout=0.999999)
    model.train()
    torch.manual_seed(0)
    src, src_len = source_batch(SRC, SENTENCES)
    tgt_in = torch.tensor([[BOS, 5, 6]] * len(SENTENCES))
    state = model.encode(src, src_len)
    logits, state = model.decoder(tgt_in, state)
    assert torch.count_nonzero(state.feed) == 0  # the fed o_t was dropped out
    assert torch.allclose(logits, torch.zeros_like(logits))  # no bias: zero o_t, zero logits


def test_the_ablation_switches_build_and_differ():
    base = nmt_model(0)
    assert base.decoder.out.bias is None and base.encoder.bridges[0].bias is None
    no_feed = nmt_model(0, input_feeding=False)
    assert no_feed.decoder.rnn.input_size == 5  # the embedding only
    assert base.decoder.rnn.input_size == 5 + 6  # [y_t; o_{t-1}]
    gru = nmt_model(0, cell="gru")
    assert len(gru.encoder.bridges) == 1  # a GRU has no cell state to bridge
    additive = nmt_model(0, attention="additive")
    assert type(additive.decoder.attention.score).__name__ == "AdditiveScore"
    with pytest.raises(ValueError, match="unknown attention score 'cosine'"):
        nmt_model(0, attention="cosine")
