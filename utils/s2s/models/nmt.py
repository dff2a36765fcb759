"""The capstone's model (chapter 7): Stanford CS224n's neural machine translation system, built
from the library's parts.

    encoder   h_i^enc = [h_i^fwd; h_i^bwd]            bidirectional LSTM     (B, S, 2H)
    bridge    h_0^dec = W_h [h_fwd; h_bwd],  c_0^dec = W_c [c_fwd; c_bwd]    (L, B, H), no bias
    decoder   h_t^dec, c_t^dec = LSTM([y_t; o_{t-1}], (h_{t-1}, c_{t-1}))     o_0 = 0
    attention e_{t,i} = (h_t^dec)^T W_att h_i^enc ("general"),  alpha_t = softmax(e_t) over
              the real source tokens,  a_t = sum_i alpha_{t,i} h_i^enc                (B, 2H)
    output    o_t = dropout(tanh(W_u [a_t; h_t^dec]))                                (B, H)
    logits    W_vocab o_t, no bias                                                   (B, V)

One departure from CS224n, by default: dropout on the source and target embeddings as well
(CS224n applies it to o_t only). `embed_dropout=False` in the config gives CS224n's model.

It is `kind="nmt"` of `ModelConfig`: an `RNNEncoder` with the linear bridge and a
`LuongDecoder` that feeds the dropped-out combined output. Every choice is a config field, so
the chapter's ablations change one field each: `input_feeding`, `attention` (any score of
`s2s.attention.SCORES`), `cell` ("lstm" or "gru": a GRU has no c, only h is bridged).
"""

from __future__ import annotations

from s2s.models.attentive import LuongDecoder, check_luong, memory_size
from s2s.models.base import Decoder, Encoder, ModelConfig, register
from s2s.models.rnn import RNNEncoder


@register("nmt", check_luong)  # the same fields as Luong's kind, the same checks
def _build_nmt(c: ModelConfig) -> tuple[Encoder, Decoder]:
    encoder = RNNEncoder(c.src_vocab_size, c.embed_size, c.hidden_size, c.num_layers, c.dropout,
                         c.cell, c.bidirectional, bridge="linear", embed_dropout=c.embed_dropout)
    decoder = LuongDecoder(c.tgt_vocab_size, c.embed_size, c.hidden_size, memory_size(c),
                           c.num_layers, c.dropout, c.cell, c.attention or "general",
                           c.input_feeding, feed_dropped=True, out_bias=False,
                           embed_dropout=c.embed_dropout)
    return encoder, decoder
