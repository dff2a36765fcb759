"""CS224n's translation system of chapter 7, unrolled over a short sentence.

Bottom left, the bidirectional LSTM encoder reads the source and `<eos>`: each column's box
holds [→h_i; ←h_i], the arrows between columns run both ways. Its two final states (the
forward one at `<eos>`, the backward one at the first word) go through the bridge W_h, W_c to
the decoder's first state. The decoder (right) runs one LSTM step per output: each step's
hidden state queries the attention over every encoder state (the bus along the top of the
encoder), the combined output o_t = dropout(tanh(W_u [a_t; h_t])) predicts the word, and o_t is fed
into the next step's input (input feeding, dashed): the dependency that makes training run
step by step."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from .canvas import COLORS, arrow, box, canvas, label

INPUT_FEEDING_GID = "input_feeding"  # gid of each dashed input-feeding arrow, for tests
PATH = COLORS["highlight"]
GREEN = "#6aa84f"     # the encoder states on their way to attention
COL = 1.75            # distance between columns
BOX_W, BOX_H = 1.4, 0.6
TOKEN_Y = 0.4         # bottom row: source tokens and decoder inputs
RNN_Y = 1.55          # encoder boxes and decoder LSTM boxes
ATT_Y = 2.75          # attention boxes
OUT_Y = 3.95          # combined outputs o_t
PRED_Y = 5.15         # predicted words
BUS_Y = 4.0           # the line that carries the encoder states to every attention box
MAX_SOURCE, MAX_TARGET = 5, 4


def _tokens(value: object, name: str, most: int) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence) \
            or not 1 <= len(value) <= most or not all(isinstance(t, str) for t in value):
        raise ValueError(f"{name} must be 1 to {most} tokens (a sequence of str, not a str), "
                         f"got {value!r}")
    return list(value)


def nmt_system(source: Sequence[str] = ("i", "am", "cold", "."),
               target: Sequence[str] = ("j'ai", "froid", ".")) -> Figure:
    """Draw the system translating `source` into `target` (teacher forcing: the decoder reads
    <bos> and the target, and predicts the target and <eos>).

    Raises ValueError naming the argument when source has not 1..5 tokens or target 1..4."""
    src = _tokens(source, "source", MAX_SOURCE) + ["<eos>"]
    tgt = _tokens(target, "target", MAX_TARGET)
    inputs, outputs = ["<bos>", *tgt], [*tgt, "<eos>"]
    enc_x = [0.4 + i * COL for i in range(len(src))]
    bridge_x = enc_x[-1] + COL + 0.15
    dec_x = [bridge_x + COL + 0.35 + t * COL for t in range(len(inputs))]
    width, height = dec_x[-1] + BOX_W + 0.5, PRED_Y + 1.55
    fig, ax = canvas(width, height, size=0.6)

    # encoder: one column per source token, arrows both ways between columns
    for i, (x, token) in enumerate(zip(enc_x, src, strict=True)):
        box(ax, x, TOKEN_Y, BOX_W, 0.5, token, fontsize=8)
        arrow(ax, (x + BOX_W / 2, TOKEN_Y + 0.5), (x + BOX_W / 2, RNN_Y))
        box(ax, x, RNN_Y, BOX_W, BOX_H, f"h{i + 1}", color=COLORS["encoder"], fontsize=8)
        if i + 1 < len(src):
            arrow(ax, (x + BOX_W, RNN_Y + 0.42), (enc_x[i + 1], RNN_Y + 0.42), lw=0.9)
            arrow(ax, (enc_x[i + 1], RNN_Y + 0.18), (x + BOX_W, RNN_Y + 0.18), lw=0.9)
        arrow(ax, (x + BOX_W / 2, RNN_Y + BOX_H), (x + BOX_W / 2, BUS_Y), lw=0.9, color=GREEN)
    ax.plot([enc_x[0] + BOX_W / 2, dec_x[-1] + BOX_W / 2], [BUS_Y, BUS_Y], color=GREEN, lw=2)
    label(ax, (enc_x[0] + enc_x[-1] + BOX_W) / 2, BUS_Y + 0.3,
          "encoder states h_1..h_S: keys and values of attention", fontsize=8, color=GREEN)

    label(ax, (enc_x[0] + enc_x[-1] + BOX_W) / 2, RNN_Y + BOX_H + 0.3,
          "h_i = [→h_i; ←h_i]: one LSTM reads left to right, one right to left", fontsize=7.5,
          backgroundcolor="white")
    # the bridge: final forward state (at <eos>) and final backward state (at the first word)
    box(ax, bridge_x, RNN_Y, BOX_W, BOX_H, "W_h, W_c", color=COLORS["context"], fontsize=8)
    arrow(ax, (enc_x[-1] + BOX_W, RNN_Y + BOX_H / 2), (bridge_x, RNN_Y + BOX_H / 2))
    label(ax, bridge_x + BOX_W / 2, RNN_Y - 0.3, "bridge", fontsize=7.5)
    label(ax, bridge_x + BOX_W / 2, TOKEN_Y + 0.1, "→h_S, ←h_1\n→c_S, ←c_1", fontsize=7)
    arrow(ax, (bridge_x + BOX_W, RNN_Y + BOX_H / 2), (dec_x[0], RNN_Y + BOX_H / 2))

    # decoder: LSTM step, attention, combined output, prediction; o_t fed to the next step
    for t, (x, y_in, y_out) in enumerate(zip(dec_x, inputs, outputs, strict=True)):
        cx = x + BOX_W / 2
        box(ax, x, TOKEN_Y, BOX_W, 0.5, y_in, fontsize=8)
        arrow(ax, (cx, TOKEN_Y + 0.5), (cx, RNN_Y))
        box(ax, x, RNN_Y, BOX_W, BOX_H, "LSTM", color=COLORS["decoder"], fontsize=8)
        arrow(ax, (cx, RNN_Y + BOX_H), (cx, ATT_Y), text="h_t", fontsize=7)
        box(ax, x, ATT_Y, BOX_W, BOX_H, "attention", color=COLORS["context"], fontsize=8)
        arrow(ax, (cx + 0.35, BUS_Y), (cx + 0.35, ATT_Y + BOX_H), color=GREEN, lw=0.9)
        box(ax, x, OUT_Y + 0.25, BOX_W, BOX_H, "o_t", color=COLORS["decoder"], fontsize=8)
        arrow(ax, (cx - 0.2, ATT_Y + BOX_H), (cx - 0.2, OUT_Y + 0.25), text="a_t", fontsize=7)
        box(ax, x, PRED_Y + 0.4, BOX_W, 0.5, y_out, fontsize=8)
        arrow(ax, (cx, OUT_Y + 0.25 + BOX_H), (cx, PRED_Y + 0.4), text="softmax", fontsize=6.5)
        if t + 1 < len(dec_x):
            arrow(ax, (x + BOX_W, RNN_Y + 0.3), (dec_x[t + 1], RNN_Y + 0.3))
            arrow(ax, (x + BOX_W, OUT_Y + 0.55), (dec_x[t + 1] + 0.15, RNN_Y + BOX_H),
                  color=PATH, ls="--", lw=1.1)
            ax.patches[-1].set_gid(INPUT_FEEDING_GID)  # the arrow just drawn
    label(ax, dec_x[0], height - 0.3, "LSTM decoder, o_t fed into the next step (dashed)",
          fontsize=9, weight="bold", ha="left")
    label(ax, enc_x[0], height - 0.3, "bidirectional LSTM encoder", fontsize=9, weight="bold",
          ha="left")
    return fig
