"""The encoder–decoder and its context vector (chapter 1).

One row per example: the source tokens feed an unrolled encoder RNN, whose last state is the
context vector c; a decoder RNN starts from c, reads c again at every step, and is fed `<bos>`
then each previous output until it writes `<eos>`. Several rows of different source lengths
are right-aligned on their c, which is drawn as the same column of cells in every row: the
picture of the fixed-size bottleneck."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .canvas import COLORS, arrow, box, canvas, label

BOS, EOS = "<bos>", "<eos>"

# Layout, in data units. One column per RNN step.
STEP = 2.0            # distance between two columns
CELL_W, CELL_H = 1.6, 0.75
TOK_W, TOK_H = 1.3, 0.55
TOK_FONT = 8.5        # token text; `<bos>` must fit in TOK_W
LEFT = 1.3            # room for the row's side labels
C_GAP = 2.0           # from the last encoder column to c, and from c to the first decoder column
C_CELL = 0.3          # side of one cell of the drawn context vector
MAX_CONTEXT = 8       # more cells than this would not fit in a row
MAX_WIDTH_IN = 13.0   # the figure never gets wider than this many inches

# Heights inside a row, from the row's bottom.
BUS_Y = 0.15          # the line that carries c to every decoder step
IN_Y = 0.4            # source tokens / decoder inputs (bottom edge)
CELL_Y = 1.45         # RNN cells
OUT_Y = 2.7           # decoder outputs
TITLE_Y = 3.75        # the row's title
ROW_H = 4.3
GREEN = "#6aa84f"


def encoder_decoder(
        examples: Sequence[tuple[Sequence[str], Sequence[str]]] = (
            (("i", "am", "cold", "."), ("j'ai", "froid", ".")),),
        *, context_size: int = 6, context_label: str = "c",
) -> Figure:
    """Draw one encoder–decoder row per (source tokens, target tokens) example.

    The encoder reads the source; its last state is the context vector, drawn as a column of
    `context_size` cells labelled `context_label` (the same column in every row, whatever the
    source length); the decoder is fed `<bos>` y_1 .. y_m and writes y_1 .. y_m `<eos>`.

    Raises ValueError (naming the argument) when examples is empty, an example is not a pair
    of non-empty token sequences, or context_size is not in 1..8."""
    examples = [(tuple(src), tuple(tgt)) for src, tgt in _pairs(examples)]
    if not 1 <= context_size <= MAX_CONTEXT:
        raise ValueError(f"context_size must be in 1..{MAX_CONTEXT}, got {context_size}")

    n_max = max(len(src) for src, _ in examples)
    m_max = max(len(tgt) for _, tgt in examples) + 1  # decoder steps: the target plus <eos>
    x_c = LEFT + (n_max - 1) * STEP + CELL_W / 2 + C_GAP  # centre of the context column
    x_dec = x_c + C_GAP + CELL_W / 2  # centre of the first decoder column
    width = x_dec + (m_max - 1) * STEP + CELL_W / 2 + 0.4
    note_h = 0.8 if len(examples) > 1 else 0.0
    height = len(examples) * ROW_H + note_h
    fig, ax = canvas(width, height, size=min(0.6, MAX_WIDTH_IN / width))

    for row, (src, tgt) in enumerate(examples):
        base = height - (row + 1) * ROW_H
        enc_x = [x_c - C_GAP - CELL_W / 2 - (len(src) - 1 - i) * STEP for i in range(len(src))]
        _encoder(ax, base, src, enc_x)
        _context(ax, base, x_c, context_size, context_label, from_x=enc_x[-1] + CELL_W / 2)
        _decoder(ax, base, tgt, [x_dec + t * STEP for t in range(len(tgt) + 1)], x_c)
        label(ax, 0.15, base + TITLE_Y,
              f"{len(src)} source token{'s' * (len(src) != 1)} \u2192 "
              f"{len(tgt)} target token{'s' * (len(tgt) != 1)} + <eos>",
              fontsize=10, ha="left", weight="bold")
        if row + 1 < len(examples):
            ax.plot([0.1, width - 0.1], [base + 0.02] * 2, color=COLORS["muted"], lw=1.5)
    if note_h:
        label(ax, x_c, note_h / 2,
              "the context vector has the same size in every row, however long the source is",
              fontsize=10, color="#38761d")
    return fig


def _pairs(examples) -> list:
    examples = list(examples)
    if not examples:
        raise ValueError("examples must hold at least one (source, target) pair")
    for i, example in enumerate(examples):
        if len(example) != 2:
            raise ValueError(f"examples[{i}] must be a (source tokens, target tokens) pair")
        src, tgt = example
        if isinstance(src, str) or isinstance(tgt, str):
            raise ValueError(f"examples[{i}] must hold token sequences, not strings")
        if len(src) == 0 or len(tgt) == 0:
            raise ValueError(f"examples[{i}] has an empty source or target")
    return examples


def _encoder(ax: Axes, base: float, src: Sequence[str], xs: Sequence[float]) -> None:
    """Source tokens under an unrolled encoder RNN, states passed left to right."""
    cy = base + CELL_Y
    for i, (x, token) in enumerate(zip(xs, src, strict=True)):
        box(ax, x - TOK_W / 2, base + IN_Y, TOK_W, TOK_H, token, fontsize=TOK_FONT)
        box(ax, x - CELL_W / 2, cy, CELL_W, CELL_H, "RNN", color=COLORS["encoder"], fontsize=9)
        arrow(ax, (x, base + IN_Y + TOK_H), (x, cy))
        if i + 1 < len(xs):
            arrow(ax, (x + CELL_W / 2, cy + CELL_H / 2), (xs[i + 1] - CELL_W / 2, cy + CELL_H / 2))
    label(ax, (xs[0] + xs[-1]) / 2, base + OUT_Y + TOK_H / 2, "encoder", fontsize=10,
          color="#1f4e79", style="italic")


def _context(ax: Axes, base: float, x: float, size: int, text: str, *, from_x: float) -> None:
    """The context vector: a column of `size` cells centred on the RNN row."""
    mid = base + CELL_Y + CELL_H / 2
    bottom = mid - size * C_CELL / 2
    for k in range(size):
        box(ax, x - C_CELL / 2, bottom + k * C_CELL, C_CELL, C_CELL, color=COLORS["context"],
            lw=0.8)
    arrow(ax, (from_x, mid), (x - C_CELL / 2 - 0.05, mid), text="last\nstate", fontsize=7.5)
    label(ax, x, bottom + size * C_CELL + 0.3, text, fontsize=11, color="#38761d",
          weight="bold")


def _decoder(ax: Axes, base: float, tgt: Sequence[str], xs: Sequence[float],
             x_c: float) -> None:
    """Decoder steps: inputs <bos> y1 .. ym, outputs y1 .. ym <eos>, c at every step."""
    cy = base + CELL_Y
    mid = cy + CELL_H / 2
    inputs, outputs = (BOS, *tgt), (*tgt, EOS)
    # c is the first state (a straight arrow) and an input of every step (the green bus).
    arrow(ax, (x_c + C_CELL / 2 + 0.05, mid), (xs[0] - CELL_W / 2, mid))
    tap_dx = CELL_W / 2 - 0.08  # beside the input token
    bus_y = base + BUS_Y
    ax.plot([x_c, x_c, xs[-1] + tap_dx], [mid, bus_y, bus_y], color=GREEN, lw=1.2,
            zorder=0.5)  # behind the cells of c
    for t, x in enumerate(xs):
        box(ax, x - TOK_W / 2, base + IN_Y, TOK_W, TOK_H, inputs[t], fontsize=TOK_FONT)
        box(ax, x - CELL_W / 2, cy, CELL_W, CELL_H, "RNN", color=COLORS["decoder"], fontsize=9)
        box(ax, x - TOK_W / 2, base + OUT_Y, TOK_W, TOK_H, outputs[t], fontsize=TOK_FONT)
        arrow(ax, (x, base + IN_Y + TOK_H), (x, cy))
        arrow(ax, (x, cy + CELL_H), (x, base + OUT_Y))
        arrow(ax, (x + tap_dx, bus_y), (x + tap_dx, cy), color=GREEN, lw=0.9)
        if t + 1 < len(xs):
            arrow(ax, (x + CELL_W / 2, mid), (xs[t + 1] - CELL_W / 2, mid))
    label(ax, xs[-1] + CELL_W / 2, base + OUT_Y + TOK_H + 0.35,
          "decoder: fed <bos>, then each output", fontsize=10, color="#7f4f00",
          style="italic", ha="right")
