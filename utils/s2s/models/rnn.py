"""The RNN encoder-decoder of chapter 3: GRU or LSTM, multi-layer, optionally bidirectional."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from s2s.models.base import Decoder, Encoder, ModelConfig, register

RNNHidden = Tensor | tuple[Tensor, Tensor]  # GRU: h (L, B, H); LSTM: (h, c), each (L, B, H)


def top_layer(hidden: RNNHidden) -> Tensor:
    """The top layer's hidden state (B, H) of a GRU's h or an LSTM's (h, c), each (L, B, H)."""
    return hidden[0][-1] if isinstance(hidden, tuple) else hidden[-1]


def select_hidden(hidden: RNNHidden, index: Tensor) -> RNNHidden:
    """The batch rows `index` (B',) of an RNN's hidden state, whose batch is dim 1:
    (L, B, H) -> (L, B', H), and each of an LSTM's (h, c) alike."""
    if isinstance(hidden, tuple):
        return tuple(h.index_select(1, index) for h in hidden)
    return hidden.index_select(1, index)


def init_weights(module: nn.Module) -> None:
    """Xavier-uniform for every Linear and RNN weight matrix, zeros for their biases.

    Applied with `model.apply(init_weights)`. Unlike d2l's lazy layers, every layer exists at
    construction, so this really runs on all of them (a test checks it)."""
    if isinstance(module, nn.Linear):
        nn.init.xavier_uniform_(module.weight)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.GRU | nn.LSTM):
        for name, param in module.named_parameters():
            if "weight" in name:
                nn.init.xavier_uniform_(param)
            else:
                nn.init.zeros_(param)


def embed(module: nn.Module, tokens: Tensor) -> Tensor:
    """tokens (B, T) -> embeddings (B, T, E) of `module.embedding`, through `module.dropout`
    when `module.embed_dropout` (CS224n's model drops out no embedding)."""
    emb = module.embedding(tokens)
    return module.dropout(emb) if module.embed_dropout else emb


def make_rnn(cell: str, input_size: int, hidden_size: int, num_layers: int, dropout: float,
             bidirectional: bool = False) -> nn.GRU | nn.LSTM:
    """A batch-first `nn.GRU` or `nn.LSTM` (`cell`), with dropout between layers only when
    there are several."""
    if cell not in ("gru", "lstm"):
        raise ValueError(f"cell must be 'gru' or 'lstm', got {cell!r}")
    rnn_class = nn.GRU if cell == "gru" else nn.LSTM
    return rnn_class(input_size, hidden_size, num_layers, batch_first=True,
                     dropout=dropout if num_layers > 1 else 0.0, bidirectional=bidirectional)


def rnn_step(rnn: nn.GRU | nn.LSTM, x: Tensor, hidden: RNNHidden) -> tuple[Tensor, RNNHidden]:
    """One time step of a unidirectional `rnn` (from `make_rnn`), written with its own weights:
    x (B, I), hidden (L, B, H) or LSTM (h, c) -> (the top layer's output (B, H), the new hidden).

    The same function as `rnn(x[:, None], hidden)`: the gates of PyTorch's `nn.GRU` / `nn.LSTM`
    documentation, layer by layer, with the dropout between layers in training (`F.dropout`:
    on a CPU the same masks as the fused kernel draws; cuDNN draws its own). Under bf16
    autocast the matrix products run in bf16 and the new state is fp32 (the fused kernel's is
    bf16): the outputs agree to bf16's rounding. A decoder that must run step by step calls it
    once per target token: as plain matrix products a step costs less than a call of the fused
    RNN kernel on a sequence of one (benchmarks/step_profile.py)."""
    if rnn.bidirectional or rnn.proj_size or not rnn.bias:
        raise ValueError(f"rnn_step runs one direction of an RNN with biases and no projection "
                         f"(make_rnn's), got bidirectional={rnn.bidirectional}, "
                         f"proj_size={rnn.proj_size}, bias={rnn.bias}")
    lstm = isinstance(rnn, nn.LSTM)
    h_all, c_all = hidden if lstm else (hidden, None)
    new_h, new_c = [], []
    for layer in range(rnn.num_layers):
        if layer > 0:
            x = F.dropout(x, rnn.dropout, rnn.training)
        gates_x = F.linear(x, getattr(rnn, f"weight_ih_l{layer}"),
                           getattr(rnn, f"bias_ih_l{layer}"))  # (B, G * H), G = 4 or 3 gates
        gates_h = F.linear(h_all[layer], getattr(rnn, f"weight_hh_l{layer}"),
                           getattr(rnn, f"bias_hh_l{layer}"))
        if lstm:
            i, f, g, o = (gates_x + gates_h).chunk(4, dim=-1)  # each (B, H)
            c = torch.sigmoid(f) * c_all[layer] + torch.sigmoid(i) * torch.tanh(g)
            x = torch.sigmoid(o) * torch.tanh(c)
            new_c.append(c)
        else:
            r_x, z_x, n_x = gates_x.chunk(3, dim=-1)
            r_h, z_h, n_h = gates_h.chunk(3, dim=-1)
            r, z = torch.sigmoid(r_x + r_h), torch.sigmoid(z_x + z_h)
            n = torch.tanh(n_x + r * n_h)
            x = (1 - z) * n + z * h_all[layer]
        new_h.append(x)
    h = torch.stack(new_h)  # (L, B, H)
    return x, ((h, torch.stack(new_c)) if lstm else h)


class RNNEncoder(Encoder):
    """Embedding + multi-layer GRU/LSTM over a padded batch, packed so that each sequence's
    final state is its last *real* token's (and a backward RNN starts there).

    outputs: (B, S, H * directions), zero at padded positions.
    state:   (L, B, H) for a GRU, (h, c) for an LSTM. When bidirectional, the two directions'
             final states are joined by a learned bridge so the state has the decoder's size
             H: bridge="tanh" (chapter 4) is tanh(W [h_fwd; h_bwd] + b); bridge="linear" is
             CS224n's projection W [h_fwd; h_bwd], no bias and no nonlinearity (chapter 7)."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, cell: str = "gru", bidirectional: bool = False,
                 bridge: str = "tanh", *, embed_dropout: bool = True) -> None:
        super().__init__()
        if bridge not in ("tanh", "linear"):
            raise ValueError(f"bridge must be 'tanh' or 'linear', got {bridge!r}")
        self.cell, self.bidirectional, self.bridge = cell, bidirectional, bridge
        self.embed_dropout = embed_dropout
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.rnn = make_rnn(cell, embed_size, hidden_size, num_layers, dropout, bidirectional)
        n_bridges = (2 if cell == "lstm" else 1) if bidirectional else 0
        self.bridges = nn.ModuleList(nn.Linear(2 * hidden_size, hidden_size,
                                               bias=bridge == "tanh")
                                     for _ in range(n_bridges))
        self.apply(init_weights)

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, RNNHidden]:
        emb = embed(self, src)  # (B, S, E)
        packed = nn.utils.rnn.pack_padded_sequence(emb, src_len.cpu(), batch_first=True,
                                                   enforce_sorted=False)
        packed_out, hidden = self.rnn(packed)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(packed_out, batch_first=True,
                                                      total_length=src.shape[1])  # (B, S, H*dirs)
        if self.bidirectional:
            parts = hidden if isinstance(hidden, tuple) else (hidden,)
            bridged = tuple(self._bridge(h, bridge, self.bridge == "tanh")
                            for h, bridge in zip(parts, self.bridges, strict=True))
            hidden = bridged if isinstance(hidden, tuple) else bridged[0]
        return outputs, hidden

    @staticmethod
    def _bridge(h: Tensor, bridge: nn.Linear, squash: bool) -> Tensor:
        """(L * 2, B, H), directions interleaved per layer -> (L, B, H)."""
        layers2, batch, size = h.shape
        h = h.view(layers2 // 2, 2, batch, size).permute(0, 2, 1, 3)  # (L, B, 2, H)
        joined = bridge(h.reshape(layers2 // 2, batch, 2 * size))  # (L, B, H)
        return torch.tanh(joined) if squash else joined


class RNNState(NamedTuple):
    """The RNN decoder's state (a `DecoderState`): the fixed context vector and the RNN's own
    hidden state."""

    context: Tensor  # (B, C): the encoder's top-layer final state
    hidden: RNNHidden  # (L, B, H) or LSTM (h, c)

    def select(self, index: Tensor) -> RNNState:
        """Keep/reorder batch rows: index (B',) -> a state of batch size B' (beam search)."""
        return RNNState(self.context.index_select(0, index), select_hidden(self.hidden, index))


class RNNDecoder(Decoder):
    """GRU/LSTM decoder that reads [embedding of the previous token; context] at every step
    (Cho et al. 2014, d2l's Seq2SeqDecoder); a linear layer gives the logits."""

    def __init__(self, vocab_size: int, embed_size: int, hidden_size: int, num_layers: int = 1,
                 dropout: float = 0.0, cell: str = "gru", *, embed_dropout: bool = True) -> None:
        super().__init__()
        self.cell, self.embed_dropout = cell, embed_dropout
        self.embedding = nn.Embedding(vocab_size, embed_size, padding_idx=0)
        self.dropout = nn.Dropout(dropout)
        self.rnn = make_rnn(cell, embed_size + hidden_size, hidden_size, num_layers, dropout)
        self.out = nn.Linear(hidden_size, vocab_size)
        self.apply(init_weights)

    def init_state(self, enc_outputs: tuple[Tensor, RNNHidden], src_len: Tensor) -> RNNState:
        _, hidden = enc_outputs
        return RNNState(context=top_layer(hidden), hidden=hidden)  # context (B, H)

    def forward(self, tgt_in: Tensor, state: RNNState) -> tuple[Tensor, RNNState]:
        emb = embed(self, tgt_in)  # (B, T, E)
        ctx = state.context[:, None, :].expand(-1, tgt_in.shape[1], -1)  # (B, T, H)
        outputs, hidden = self.rnn(torch.cat([emb, ctx], dim=-1), state.hidden)  # (B, T, H)
        return self.out(self.dropout(outputs)), RNNState(state.context, hidden)  # (B, T, V)


def _check_rnn(c: ModelConfig) -> list[str]:
    problems = []
    if c.attention:
        problems.append(f"attention={c.attention!r} is ignored: the RNN decoder has no attention "
                        "(leave attention unset, or use kind='luong' or 'bahdanau')")
    if c.input_feeding:
        problems.append("input_feeding=True is ignored: input feeding is the Luong decoder's "
                        "(leave it False, or use kind='luong')")
    return problems


@register("rnn", _check_rnn)
def _build_rnn(c: ModelConfig) -> tuple[Encoder, Decoder]:
    encoder = RNNEncoder(c.src_vocab_size, c.embed_size, c.hidden_size, c.num_layers, c.dropout,
                         c.cell, c.bidirectional, embed_dropout=c.embed_dropout)
    decoder = RNNDecoder(c.tgt_vocab_size, c.embed_size, c.hidden_size, c.num_layers, c.dropout,
                         c.cell, embed_dropout=c.embed_dropout)
    return encoder, decoder
