"""Inference models: a trained encoder-decoder seen as the two parts a decoding loop calls.

Keras's character-level example (`examples/lstm_seq2seq.py`) trains one model, then builds two
more from its layers for inference: an `encoder_model` (source -> the LSTM's [h, c]) and a
`decoder_model` ([previous token, h, c] -> [next-token distribution, h, c]), and decodes with a
hand-written loop, `decode_sequence`. In the course's interface both parts exist on every
model already:

    encoder part:  model.encode(src, src_len)       -> state      (encoder + Decoder.init_state)
    decoder step:  model.decoder.step(token, state) -> (logits (B, V), state)

`inference_models` names the two parts (and switches dropout off); `decode_sequence` is Keras's
loop, batched, on those two parts. It returns exactly what `s2s.decoding.greedy` returns (a test
checks it on trained models); `distribution` turns a step's logits into the probabilities that
Keras's decoder_model outputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from s2s.arguments import check_int
from s2s.decoding import never_generate
from s2s.models import DecoderState, EncoderDecoder
from s2s.vocab import BOS, EOS

EncoderPart = Callable[[Tensor, Tensor], DecoderState]  # (src (B, S), src_len (B,)) -> state
DecoderStep = Callable[[Tensor, DecoderState], tuple[Tensor, DecoderState]]  # see below


class InferenceModels(NamedTuple):
    """The two parts of a trained model that decoding calls (Keras: encoder_model and
    decoder_model).

    encoder: (src (B, S), src_len (B,)) -> the decoder's initial state;
    step: (token (B,), state) -> (logits (B, V), the next state)."""

    encoder: EncoderPart
    step: DecoderStep


def inference_models(model: EncoderDecoder) -> InferenceModels:
    """The encoder part and the decoder step of `model`: its own `encode` and `decoder.step`
    (bound methods: the same weights, nothing copied). Puts the model in eval mode, so that
    dropout is off while the parts are used."""
    model.eval()
    return InferenceModels(model.encode, model.decoder.step)


def distribution(logits: Tensor) -> Tensor:
    """A step's logits (B, V) -> the next-token distribution (B, V), rows summing to 1, with
    `<pad>` and `<bos>` at probability 0 (no decoder of the course writes them)."""
    return torch.softmax(never_generate(logits.float()), dim=-1)


@torch.no_grad()
def decode_sequence(parts: InferenceModels, src: Tensor, src_len: Tensor,
                    max_len: int) -> list[list[int]]:
    """Greedy decoding written as Keras's `decode_sequence`, for a batch.

    src: (B, S); src_len: (B,). Encode once; then, from `<bos>`, run the decoder step on the
    previous token and the states, take the most likely next token (never `<pad>` or `<bos>`),
    and stop a sentence at its `<eos>` (not included) or after `max_len` tokens. Returns B
    lists of token ids, the same as `s2s.decoding.greedy(model, src, src_len, max_len)`."""
    check_int("max_len", max_len, low=1, hint="the most tokens an output may have")
    state = parts.encoder(src, src_len)  # Keras: states_value = encoder_model.predict(...)
    token = torch.full((src.shape[0],), BOS, dtype=torch.long, device=src.device)  # (B,)
    outputs: list[list[int]] = [[] for _ in range(src.shape[0])]
    alive = [True] * src.shape[0]
    for _ in range(max_len):
        logits, state = parts.step(token, state)  # (B, V): Keras's decoder_model.predict
        token = never_generate(logits).argmax(dim=-1)  # (B,) the most likely next token
        for b, t in enumerate(token.tolist()):
            if alive[b]:
                alive[b] = t != EOS
                if alive[b]:
                    outputs[b].append(t)
        if not any(alive):
            break
    return outputs
