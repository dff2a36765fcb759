"""Encoder-decoder models.

The interface every model in the course obeys (d2l's names, batch-first tensors):

    Encoder.forward(src, src_len)        -> (outputs (B, S, H_enc), state)
    Decoder.init_state(enc_outputs, src_len) -> state
    Decoder.forward(tgt_in, state)       -> (logits (B, T, V), state)   teacher forcing
    Decoder.step(token, state)           -> (logits (B, V), state)      one inference step
    EncoderDecoder.forward(src, src_len, tgt_in) -> logits (B, T, V)

`<pad>` is id 0 in every vocabulary, so `src != 0` is the source mask.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor, nn

State = Any  # a tensor, a tuple of tensors, or a small dataclass: each decoder says which


class Encoder(nn.Module):
    """Maps a padded batch of variable-length sequences to per-position outputs and a state."""

    def forward(self, src: Tensor, src_len: Tensor) -> tuple[Tensor, State]:
        """src: (B, S) token ids, 0 = <pad>; src_len: (B,) real lengths.

        Returns outputs (B, S, H_enc) and a state (model-specific)."""
        raise NotImplementedError


class Decoder(nn.Module):
    """Generates target logits from a state that `init_state` builds out of the encoder's output."""

    def init_state(self, enc_outputs: tuple[Tensor, State], src_len: Tensor) -> State:
        """enc_outputs: what the encoder returned, (outputs (B, S, H_enc), state); src_len: (B,)."""
        raise NotImplementedError

    def forward(self, tgt_in: Tensor, state: State) -> tuple[Tensor, State]:
        """Teacher forcing. tgt_in: (B, T) = <bos> y_1 ... y_{T-1}. Returns logits (B, T, V)."""
        raise NotImplementedError

    def step(self, token: Tensor, state: State) -> tuple[Tensor, State]:
        """One inference step. token: (B,) the previous output id. Returns logits (B, V).

        The default runs `forward` on a length-1 target; decoders override it when a
        step can be cheaper or must differ."""
        logits, state = self.forward(token[:, None], state)  # (B, 1, V)
        return logits[:, 0], state


class EncoderDecoder(nn.Module):
    """An encoder and a decoder joined: the training-time forward pass."""

    def __init__(self, encoder: Encoder, decoder: Decoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder

    def encode(self, src: Tensor, src_len: Tensor) -> State:
        """Run the encoder once and build the decoder's initial state."""
        enc_outputs = self.encoder(src, src_len)
        return self.decoder.init_state(enc_outputs, src_len)

    def forward(self, src: Tensor, src_len: Tensor, tgt_in: Tensor) -> Tensor:
        """src: (B, S); src_len: (B,); tgt_in: (B, T). Returns logits (B, T, V)."""
        state = self.encode(src, src_len)
        logits, _ = self.decoder(tgt_in, state)
        return logits
