"""The decoder-state protocol (`s2s.models.base`): every decoder's state satisfies it, its
`select` picks batch rows, and attention states record their weights."""

from __future__ import annotations

import pytest
import torch

from s2s.decoding import greedy
from s2s.models import (
    MODEL_BUILDERS,
    AttendingState,
    DecoderState,
    ModelConfig,
    build_model,
    select_hidden,
    top_layer,
)
from s2s.vocab import BOS, Vocab

CASES = [
    ("rnn", {}),
    ("rnn", {"cell": "lstm", "bidirectional": True, "num_layers": 2}),
    ("bahdanau", {"bidirectional": True}),
    ("bahdanau", {"cell": "lstm", "num_layers": 2}),
    ("luong", {"attention": "dot"}),
    ("luong", {"cell": "lstm", "bidirectional": True, "attention": "additive"}),
    ("luong", {"cell": "lstm", "num_layers": 2, "input_feeding": True}),
    ("nmt", {"cell": "lstm", "bidirectional": True, "input_feeding": True}),
    ("nmt", {"cell": "gru", "bidirectional": True, "attention": "additive"}),
    ("transformer", {"embed_size": 8}),
    ("transformer", {"embed_size": 8, "num_heads": 2, "num_layers": 2, "norm_first": True,
                     "positions": "learned"}),
]
B, S = 3, 5


def model_and_batch(kind: str, extra: dict):
    torch.manual_seed(0)
    src_vocab, tgt_vocab = Vocab([f"s{i}" for i in range(9)]), Vocab([f"t{i}" for i in range(7)])
    config = ModelConfig(kind, len(src_vocab), len(tgt_vocab), hidden_size=8,
                         **{"embed_size": 6, "num_layers": 1, "dropout": 0.0, **extra})
    model = build_model(config, src_vocab, tgt_vocab).eval()
    src = torch.randint(4, len(src_vocab), (B, S))
    src_len = torch.tensor([5, 2, 4])
    src[1, 2:] = 0
    src[2, 4:] = 0
    return model, src, src_len


def test_every_kind_is_checked():
    assert {kind for kind, _ in CASES} == set(MODEL_BUILDERS)


@pytest.mark.parametrize("kind, extra", CASES, ids=lambda c: str(c))
@torch.no_grad()
def test_every_decoders_state_satisfies_the_protocol(kind, extra):
    model, src, src_len = model_and_batch(kind, extra)
    state = model.encode(src, src_len)
    assert isinstance(state, DecoderState)
    logits, state = model.decoder.step(torch.full((B,), BOS), state)
    assert isinstance(state, DecoderState)
    index = torch.tensor([2, 0, 0, 1])  # drop none, repeat row 0, reorder
    picked = state.select(index)
    assert type(picked) is type(state)
    token = logits.argmax(-1)
    whole, _ = model.decoder.step(token, state)
    rows, _ = model.decoder.step(token[index], picked)
    assert torch.allclose(rows, whole[index], atol=1e-6)  # the rows' own next step
    attends = kind != "rnn"
    assert isinstance(state, AttendingState) is attends
    if attends:
        assert state.weights.shape == (B, 1, S)
        assert torch.equal(picked.weights, state.weights[index])


def test_greedy_asks_the_state_for_its_attention_weights():
    model, src, src_len = model_and_batch("rnn", {})
    with pytest.raises(ValueError, match="RNNDecoder records no attention weights"):
        greedy(model, src, src_len, 4, return_attention=True)
    model, src, src_len = model_and_batch("bahdanau", {})
    _, weights = greedy(model, src, src_len, 4, return_attention=True)
    assert [w.shape[1] for w in weights] == src_len.tolist()


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_hidden_state_helpers(cell):
    h = torch.arange(2 * 3 * 4, dtype=torch.float).view(2, 3, 4)  # (L, B, H)
    hidden = (h, h + 100) if cell == "lstm" else h
    assert torch.equal(top_layer(hidden), h[-1])
    index = torch.tensor([2, 2, 0])
    picked = select_hidden(hidden, index)
    if cell == "lstm":
        assert torch.equal(picked[0], h[:, index]) and torch.equal(picked[1], (h + 100)[:, index])
    else:
        assert torch.equal(picked, h[:, index])
