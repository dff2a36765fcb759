"""The inference models of chapter 6: a trained encoder-decoder as an encoder part and a
decoder step, with the per-layer LSTM states that pass between them.

Left, the encoder part (`model.encode`; Keras's encoder_model): the source's characters, then
`<eos>`, run through `num_layers` LSTM layers; each layer's final (h, c) leaves on the right.
Right, one decoder step (`model.decoder.step`; Keras's decoder_model): the previous token and
the context vector go in at the bottom, each layer starts from its own (h, c) and hands on
its new (h', c'), and logits -> distribution -> the next token come out at the top. The
decoding loop feeds the next token and the new states back into the step."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from .canvas import COLORS, arrow, box, canvas, label

GREEN = "#38761d"
ROW = 1.25            # from one layer's row to the next
CELL_W, CELL_H = 0.9, 0.7
TOK_W, TOK_H = 0.9, 0.5
FIRST = 1.6           # bottom of layer 1
ENC_X = 0.5           # left edge of the first encoder column
STEP = 1.15           # between encoder columns
STATE_W = 1.25        # a state box, "(h1, c1)"
DEC_W = 2.3           # a decoder layer
MAX_LAYERS = 3


def inference_flow(num_layers: int = 2, source: Sequence[str] = ("H", "i", "!")) -> Figure:
    """Draw the encoder part and one decoder step of a `num_layers`-layer LSTM model.

    source: the characters the encoder reads (`<eos>` is added). Raises ValueError, naming the
    argument, when num_layers is not in 1..3 or source is empty or longer than 5."""
    if not isinstance(num_layers, int) or not 1 <= num_layers <= MAX_LAYERS:
        raise ValueError(f"num_layers must be an integer in 1..{MAX_LAYERS}, got {num_layers!r}")
    if isinstance(source, str) or not 1 <= len(source) <= 5:
        raise ValueError(f"source must be 1 to 5 tokens (a sequence, not a str), got {source!r}")
    tokens = [*source, "<eos>"]
    top = FIRST + num_layers * ROW  # above the last layer
    enc_right = ENC_X + (len(tokens) - 1) * STEP + CELL_W
    state_x = enc_right + 0.5  # the encoder's final states
    dec_in_x = state_x + STATE_W + 1.6  # the decoder's input states
    dec_x = dec_in_x + STATE_W + 0.5
    out_x = dec_x + DEC_W + 0.5
    width, height = out_x + STATE_W + 0.4, top + 2.6
    fig, ax = canvas(width, height, size=0.62)

    xs = [ENC_X + i * STEP for i in range(len(tokens))]
    for i, (x, token) in enumerate(zip(xs, tokens, strict=True)):
        box(ax, x, 0.55, TOK_W, TOK_H, token, fontsize=8)
        arrow(ax, (x + CELL_W / 2, 0.55 + TOK_H), (x + CELL_W / 2, FIRST))
        for layer in range(num_layers):
            y = FIRST + layer * ROW
            box(ax, x, y, CELL_W, CELL_H, "LSTM", color=COLORS["encoder"], fontsize=7)
            if layer + 1 < num_layers:
                arrow(ax, (x + CELL_W / 2, y + CELL_H), (x + CELL_W / 2, y + ROW))
            if i + 1 < len(tokens):
                arrow(ax, (x + CELL_W, y + CELL_H / 2), (xs[i + 1], y + CELL_H / 2))
    for layer in range(num_layers):
        y = FIRST + layer * ROW
        n = layer + 1
        box(ax, state_x, y, STATE_W, CELL_H, f"(h{n}, c{n})", color=COLORS["context"],
            fontsize=8)
        arrow(ax, (enc_right, y + CELL_H / 2), (state_x, y + CELL_H / 2))
        box(ax, dec_in_x, y, STATE_W, CELL_H, f"(h{n}, c{n})", color=COLORS["context"],
            fontsize=8)
        arrow(ax, (state_x + STATE_W, y + CELL_H / 2), (dec_in_x, y + CELL_H / 2),
              color=GREEN, lw=1.6)
        box(ax, dec_x, y, DEC_W, CELL_H, f"LSTM layer {n}", color=COLORS["decoder"], fontsize=8)
        arrow(ax, (dec_in_x + STATE_W, y + CELL_H / 2), (dec_x, y + CELL_H / 2))
        box(ax, out_x, y, STATE_W, CELL_H, f"(h{n}', c{n}')", color=COLORS["context"],
            fontsize=8)
        arrow(ax, (dec_x + DEC_W, y + CELL_H / 2), (out_x, y + CELL_H / 2))
        if layer + 1 < num_layers:
            arrow(ax, (dec_x + DEC_W / 2, y + CELL_H), (dec_x + DEC_W / 2, y + ROW))
    label(ax, (state_x + STATE_W + dec_in_x) / 2, FIRST - 0.35, "layer by layer",
          fontsize=8, color=GREEN)

    # the decoder step's inputs (bottom) and outputs (top)
    token_x, ctx_x = dec_x, dec_x + DEC_W - 0.9
    box(ax, token_x, 0.55, 1.1, TOK_H, "y(t-1)", fontsize=8)
    box(ax, ctx_x, 0.55, 0.9, TOK_H, "c", color=COLORS["context"], fontsize=8)
    arrow(ax, (token_x + 0.55, 0.55 + TOK_H), (token_x + 0.55, FIRST))
    arrow(ax, (ctx_x + 0.45, 0.55 + TOK_H), (ctx_x + 0.45, FIRST), color=GREEN)
    label(ax, dec_x + DEC_W / 2, 0.2, f"c = h{num_layers} of the encoder, read at every step",
          fontsize=7.5, color=GREEN)
    y_logits = top - ROW + CELL_H + 0.45
    box(ax, dec_x, y_logits, DEC_W, 0.5, "logits -> softmax", fontsize=8)
    arrow(ax, (dec_x + DEC_W / 2, top - ROW + CELL_H), (dec_x + DEC_W / 2, y_logits))
    box(ax, dec_x + 0.4, y_logits + 0.95, DEC_W - 0.8, TOK_H, "y(t)", fontsize=8)
    arrow(ax, (dec_x + DEC_W / 2, y_logits + 0.5), (dec_x + DEC_W / 2, y_logits + 0.95),
          text="argmax", fontsize=7)
    label(ax, out_x + STATE_W / 2, top - ROW + CELL_H + 0.45, "next step's\nstates",
          fontsize=7.5, color=GREEN)
    label(ax, dec_x + DEC_W - 0.3, y_logits + 0.95 + TOK_H / 2, "next step's y(t-1)",
          fontsize=7.5, ha="left")

    label(ax, (ENC_X + state_x + STATE_W) / 2, height - 0.45, "encoder part: model.encode",
          fontsize=10, weight="bold")
    label(ax, (ENC_X + state_x + STATE_W) / 2, height - 0.95, "(Keras: encoder_model)",
          fontsize=8.5, style="italic")
    label(ax, (dec_in_x + out_x + STATE_W) / 2, height - 0.45,
          "decoder step: model.decoder.step", fontsize=10, weight="bold")
    label(ax, (dec_in_x + out_x + STATE_W) / 2, height - 0.95, "(Keras: decoder_model)",
          fontsize=8.5, style="italic")
    return fig
