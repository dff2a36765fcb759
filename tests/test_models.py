"""RNN encoder and decoder: equal to d2l on copied weights, correct final states with
padding, initialisation on every layer, step-by-step decoding equal to teacher forcing."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from d2l_oracle import load_d2l
from s2s.models import RNNDecoder, RNNEncoder, RNNState, init_weights
from s2s.models.rnn import make_rnn, rnn_step

V_SRC, V_TGT, E, H, L = 23, 29, 8, 16, 2


def padded_batch(lengths: list[int], vocab: int = V_SRC, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (len(lengths), max(lengths)), generator=g)
    for b, n in enumerate(lengths):
        src[b, n:] = 0
    return src, torch.tensor(lengths)


def copy_into_d2l(ours: RNNEncoder):
    d2l = load_d2l()
    theirs = d2l.Seq2SeqEncoder(V_SRC, E, H, L)
    theirs.embedding.weight.data.copy_(ours.embedding.weight.data)
    theirs.rnn.rnn.load_state_dict(ours.rnn.state_dict())
    return theirs.eval()


def test_encoder_equals_d2l_without_padding():
    torch.manual_seed(0)
    ours = RNNEncoder(V_SRC, E, H, L, cell="gru").eval()
    theirs = copy_into_d2l(ours)
    src, src_len = padded_batch([7, 7, 7])
    outputs, state = ours(src, src_len)
    d2l_outputs, d2l_state = theirs(src)
    assert torch.allclose(outputs, d2l_outputs.transpose(0, 1), atol=1e-6)
    assert torch.allclose(state, d2l_state, atol=1e-6)


def test_final_state_is_the_last_real_tokens_where_d2ls_is_not():
    torch.manual_seed(0)
    ours = RNNEncoder(V_SRC, E, H, L, cell="gru").eval()
    theirs = copy_into_d2l(ours)
    lengths = [7, 3, 5]
    src, src_len = padded_batch(lengths)
    _, state = ours(src, src_len)
    _, d2l_state = theirs(src)
    for b, n in enumerate(lengths):
        _, alone = ours(src[b:b + 1, :n], src_len[b:b + 1])  # no padding at all
        assert torch.allclose(state[:, b], alone[:, 0], atol=1e-6)
        if n < src.shape[1]:  # d2l runs through the pads: its state is not the last token's
            assert not torch.allclose(d2l_state[:, b], alone[:, 0], atol=1e-3)


def test_two_layer_lstm_decoder_starts_from_each_layers_state_at_the_last_real_token():
    """Keras' design, and ours: the decoder's (h, c) of every layer is the encoder's at the
    last real token of its source, computed here by the raw nn.LSTM layer by layer on each
    source alone (no padding, no packing)."""
    torch.manual_seed(0)
    encoder = RNNEncoder(V_SRC, E, H, L, cell="lstm").eval()
    decoder = RNNDecoder(V_TGT, E, H, L, cell="lstm").eval()
    lengths = [6, 2, 4]
    src, src_len = padded_batch(lengths)
    with torch.no_grad():
        state = decoder.init_state(encoder(src, src_len), src_len)
        h, c = state.hidden  # each (L, B, H)
        assert h.shape == c.shape == (L, len(lengths), H)
        for b, n in enumerate(lengths):
            x = encoder.embedding(src[b:b + 1, :n])  # (1, n, E)
            for layer in range(L):
                cell = nn.LSTM(x.shape[-1], H, batch_first=True)
                for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
                    getattr(cell, f"{name}_l0").data.copy_(
                        getattr(encoder.rnn, f"{name}_l{layer}").data)
                x, (h_n, c_n) = cell(x)  # the next layer reads this layer's outputs
                assert torch.allclose(h[layer, b], h_n[0, 0], atol=1e-6)
                assert torch.allclose(c[layer, b], c_n[0, 0], atol=1e-6)
        assert torch.equal(state.context, h[-1])  # the context is the top layer's h


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_changes_nothing_for_every_cell(cell, bidirectional):
    torch.manual_seed(1)
    enc = RNNEncoder(V_SRC, E, H, L, cell=cell, bidirectional=bidirectional).eval()
    lengths = [6, 2, 4]
    src, src_len = padded_batch(lengths)
    outputs, state = enc(src, src_len)
    dirs = 2 if bidirectional else 1
    assert outputs.shape == (3, 6, H * dirs)
    parts = state if cell == "lstm" else (state,)
    assert all(p.shape == (L, 3, H) for p in parts)
    for b, n in enumerate(lengths):
        out_alone, alone = enc(src[b:b + 1, :n], src_len[b:b + 1])
        alone_parts = alone if cell == "lstm" else (alone,)
        for p, q in zip(parts, alone_parts, strict=True):
            assert torch.allclose(p[:, b], q[:, 0], atol=1e-6)
        assert torch.allclose(outputs[b, :n], out_alone[0], atol=1e-6)
        assert torch.all(outputs[b, n:] == 0)


def test_initialisation_runs_on_every_layer():
    torch.manual_seed(0)
    enc = RNNEncoder(V_SRC, E, H, L, cell="lstm", bidirectional=True)
    dec = RNNDecoder(V_TGT, E, H, L, cell="lstm")
    checked = 0
    for module in [*enc.modules(), *dec.modules()]:
        if isinstance(module, nn.Linear | nn.GRU | nn.LSTM):
            for name, p in module.named_parameters():
                if "bias" in name:
                    assert torch.all(p == 0), name
                else:
                    bound = math.sqrt(6 / (p.shape[0] + p.shape[1]))
                    assert p.abs().max() <= bound + 1e-6, name
                    assert p.std() > bound / 3, name  # uniform(-a, a) has std a / sqrt(3)
                checked += 1
    assert checked >= 20
    assert torch.all(enc.embedding.weight[0] == 0)  # the <pad> row


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_decoder_step_equals_teacher_forcing(cell):
    torch.manual_seed(0)
    enc = RNNEncoder(V_SRC, E, H, L, cell=cell).eval()
    dec = RNNDecoder(V_TGT, E, H, L, cell=cell).eval()
    src, src_len = padded_batch([5, 3])
    state = dec.init_state(enc(src, src_len), src_len)
    tgt_in = torch.randint(4, V_TGT, (2, 6))
    logits, _ = dec(tgt_in, state)
    assert logits.shape == (2, 6, V_TGT)
    for t in range(6):
        step_logits, state = dec.step(tgt_in[:, t], state)
        assert torch.allclose(step_logits, logits[:, t], atol=1e-5)


def test_state_select_reorders_the_batch():
    h = torch.arange(2 * 3 * 4, dtype=torch.float).view(2, 3, 4)
    state = RNNState(context=h[-1], hidden=(h, h + 100))
    picked = state.select(torch.tensor([2, 0, 0]))
    assert torch.equal(picked.context, h[-1][[2, 0, 0]])
    assert torch.equal(picked.hidden[1], (h + 100)[:, [2, 0, 0]])


def test_unknown_cell_is_refused():
    with pytest.raises(ValueError, match="'gru' or 'lstm'"):
        RNNEncoder(V_SRC, E, H, cell="rnn")


def test_init_weights_is_importable_for_other_models():
    lin = nn.Linear(3, 4)
    init_weights(lin)
    assert torch.all(lin.bias == 0)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
@pytest.mark.parametrize("layers", [1, 2])
def test_one_step_from_the_weights_equals_the_fused_rnn(cell, layers):
    """rnn_step (the step-by-step decoders' RNN step) gives nn.GRU / nn.LSTM's output, state
    and gradients for one time step, every layer, on random non-zero biases."""
    torch.manual_seed(0)
    rnn = make_rnn(cell, 5, H, layers, dropout=0.0)
    for name, param in rnn.named_parameters():
        if "bias" in name:
            nn.init.normal_(param)
    x = torch.randn(3, 5, requires_grad=True)
    h0 = torch.randn(layers, 3, H)
    hidden = (h0, torch.randn(layers, 3, H)) if cell == "lstm" else h0
    out, new = rnn_step(rnn, x, hidden)
    ref_out, ref_new = rnn(x[:, None], hidden)
    assert torch.allclose(out, ref_out[:, 0], atol=1e-6)
    for got, want in zip(new if cell == "lstm" else (new,),
                         ref_new if cell == "lstm" else (ref_new,), strict=True):
        assert torch.allclose(got, want, atol=1e-6)
    grads = torch.autograd.grad(out.sum(), [x, *rnn.parameters()])
    ref_grads = torch.autograd.grad(ref_out.sum(), [x, *rnn.parameters()])
    for got, want in zip(grads, ref_grads, strict=True):
        assert torch.allclose(got, want, atol=1e-5)


def test_one_step_drops_out_between_layers_in_training_only():
    """In training, dropout 0.5 between three layers: the same output, state and random
    draws as the fused LSTM from the same seed (a version that also dropped the first layer's
    input, or skipped a layer, differs); in evaluation no dropout."""
    rnn = make_rnn("lstm", 5, H, 3, dropout=0.5).train()
    x, hidden = torch.randn(3, 5), (torch.randn(3, 3, H), torch.randn(3, 3, H))
    torch.manual_seed(1)
    out, (h, c) = rnn_step(rnn, x, hidden)
    after = torch.get_rng_state()
    torch.manual_seed(1)
    ref_out, (ref_h, ref_c) = rnn(x[:, None], hidden)
    assert torch.equal(after, torch.get_rng_state())
    assert torch.allclose(out, ref_out[:, 0], atol=1e-6)
    assert torch.allclose(h, ref_h, atol=1e-6) and torch.allclose(c, ref_c, atol=1e-6)
    assert not torch.allclose(out, rnn_step(rnn.eval(), x, hidden)[0], atol=1e-3)


def test_one_step_in_bf16_agrees_to_bf16s_rounding():
    torch.manual_seed(0)
    rnn = make_rnn("lstm", 5, H, 2, dropout=0.0)
    x, hidden = torch.randn(3, 5), (torch.randn(2, 3, H), torch.randn(2, 3, H))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, _ = rnn_step(rnn, x, hidden)
        ref_out, _ = rnn(x[:, None], hidden)
    assert torch.allclose(out.float(), ref_out[:, 0].float(), atol=2e-2)


@pytest.mark.parametrize("change", [{"bidirectional": True}, {"proj_size": 4}, {"bias": False}])
def test_one_step_refuses_an_rnn_it_does_not_write_out(change):
    rnn = nn.LSTM(5, H, 1, batch_first=True, **change)
    with pytest.raises(ValueError, match="rnn_step runs one direction"):
        rnn_step(rnn, torch.randn(3, 5), (torch.zeros(1, 3, H), torch.zeros(1, 3, H)))
