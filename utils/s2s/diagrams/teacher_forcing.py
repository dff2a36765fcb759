"""Teacher forcing against free running: the same unrolled decoder, fed two ways.

Chapter 3 trains with teacher forcing (every step reads the TRUE previous token) and decodes
by free running (every step reads the model's OWN previous output). Drawn one above the
other, the picture shows where the two differ and why a single wrong word at inference
conditions everything after it (exposure bias)."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .canvas import COLORS, arrow, box, canvas, label

BOS, EOS = "<bos>", "<eos>"

# Layout, in data units (the canvas grid). One column per decoder step.
X0 = 3.3            # centre of the first step's column
STEP = 2.4          # distance between columns
CELL_W, CELL_H = 1.5, 0.8
TOK_W, TOK_H = 1.1, 0.55
PANEL_H = 6.1       # height of one panel; the free-running panel is the lower one
MAX_WIDTH_IN = 12.5  # the figure never gets wider than this many inches

# Row heights inside a panel, measured from the panel's bottom.
BUS_Y = 0.25        # the line that carries c to every step
IN_Y = 0.6          # input tokens (bottom edge)
CELL_Y = 1.65       # RNN cells
OUT_Y = 2.95        # outputs
TGT_Y = 4.3         # targets (teacher forcing) / the exposure-bias note (free running)
TITLE_Y = 5.55


def teacher_forcing_vs_free_running(
        target: Sequence[str] = ("j'ai", "froid", "."),
        predicted: Sequence[str] = ("j'ai", "chaud", "."),
) -> Figure:
    """Two rows of the same unrolled decoder: teacher forcing on top, free running below.

    target: the reference translation y_1..y_T (without <bos>/<eos>); words of up to about
    eight characters fit their boxes.
    predicted: what the model outputs when it reads its own words, same length as target;
    the words that differ from target are drawn in COLORS["highlight"] and every later
    step is marked as conditioned on the mistake. Both rows run T + 1 steps and end at
    <eos>; the encoder's context vector c (small box at the left) initialises the state
    and feeds every step.

    Raises ValueError (naming the argument) when target or predicted is empty or their
    lengths differ."""
    target, predicted = tuple(target), tuple(predicted)
    if not target:
        raise ValueError("target must hold at least one token")
    if not predicted:
        raise ValueError("predicted must hold at least one token")
    if len(predicted) != len(target):
        raise ValueError(f"predicted must have the same length as target: "
                         f"got {len(predicted)} and {len(target)}")

    steps = len(target) + 1
    width = X0 + (steps - 1) * STEP + CELL_W / 2 + 0.3
    height = 2 * PANEL_H + 0.2
    fig, ax = canvas(width, height, size=min(0.8, MAX_WIDTH_IN / width))

    # Top: teacher forcing. Inputs are the true previous tokens, a loss at every output.
    top = PANEL_H + 0.2
    true_out = (*target, EOS)
    _decoder_row(ax, top, inputs=(BOS, *target), outputs=[f"$\\hat y_{{{t + 1}}}$"
                                                          for t in range(steps)])
    for t, word in enumerate(true_out):
        x = _col(t)
        box(ax, x - TOK_W / 2, top + TGT_Y, TOK_W, TOK_H, word, color=COLORS["token"])
        _loss_link(ax, x, top + OUT_Y + TOK_H, top + TGT_Y, t + 1)
    label(ax, _col(0) - TOK_W / 2 - 0.15, top + TGT_Y + TOK_H / 2, "true\nnext", fontsize=9,
          ha="right")
    label(ax, 0.15, top + TITLE_Y,
          "Teacher forcing (training): step t reads the TRUE previous token $y_{t-1}$;\n"
          f"a loss at every position: $\\ell_1 + \\dots + \\ell_{{{steps}}}$",
          fontsize=11, ha="left", weight="bold")
    ax.plot([0.1, width - 0.1], [PANEL_H + 0.1] * 2, color=COLORS["muted"], lw=1.5)

    # Bottom: free running. Each input is the previous OUTPUT, mistakes included.
    wrong = [p != t for p, t in zip(predicted, target, strict=True)]
    first_wrong = wrong.index(True) if any(wrong) else None
    out_words = (*predicted, EOS)
    out_wrong = (*wrong, False)
    in_wrong = (False, *wrong)
    # A cell is conditioned on the mistake once a wrong word has been fed into it.
    tainted = [first_wrong is not None and t > first_wrong for t in range(steps)]
    _decoder_row(ax, 0.0, inputs=(BOS, *predicted), outputs=out_words,
                 wrong_in=in_wrong, wrong_out=out_wrong, tainted=tainted)
    for t in range(steps - 1):
        colour = COLORS["highlight"] if out_wrong[t] else COLORS["edge"]
        arrow(ax, (_col(t) + 0.45, OUT_Y), (_col(t + 1) - 0.45, IN_Y + TOK_H), color=colour,
              lw=1.6 if out_wrong[t] else 1.0)
    for t, (bad, truth) in enumerate(zip(wrong, target, strict=True)):
        if bad:
            label(ax, _col(t), OUT_Y + TOK_H + 0.3, f"(true: {truth})", fontsize=9,
                  color=COLORS["highlight"])
    label(ax, 0.15, TITLE_Y,
          "Free running (inference): step t reads the model's OWN previous output",
          fontsize=11, ha="left", weight="bold")
    if first_wrong is not None:
        note = (f"One wrong word (\u201c{predicted[first_wrong]}\u201d) is fed back: every "
                "later step (red outline) is conditioned on it.\nExposure bias: teacher "
                "forcing never showed the model its own mistakes.")
    else:
        note = ("Here every output is right, so free running reads the same inputs as "
                "teacher forcing.\nOne wrong word would be fed back and condition every "
                "later step (exposure bias).")
    label(ax, 0.15, TGT_Y + 0.35, note, fontsize=9.5, ha="left", color=COLORS["highlight"])
    return fig


def _col(t: int) -> float:
    """The x of step t's column centre."""
    return X0 + t * STEP


def _decoder_row(ax: Axes, base: float, *, inputs: Sequence[str], outputs: Sequence[str],
                 wrong_in: Sequence[bool] | None = None,
                 wrong_out: Sequence[bool] | None = None,
                 tainted: Sequence[bool] | None = None) -> None:
    """One unrolled decoder whose panel starts at height `base`: the context box c, the bus
    that brings c to every step, and per step an input token, an RNN cell and an output."""
    steps = len(inputs)
    wrong_in = wrong_in or [False] * steps
    wrong_out = wrong_out or [False] * steps
    tainted = tainted or [False] * steps
    red = COLORS["highlight"]

    # The context vector: initial state of the first cell, and an input of every cell.
    cx0, cw = 0.3, 1.2
    cy = base + CELL_Y
    box(ax, cx0, cy, cw, CELL_H, "c", color=COLORS["context"], fontsize=12)
    label(ax, cx0 + cw / 2, cy + CELL_H + 0.3, "context\n(encoder)", fontsize=8.5)
    arrow(ax, (cx0 + cw, cy + CELL_H / 2), (_col(0) - CELL_W / 2, cy + CELL_H / 2),
          text="$s_0$", fontsize=9)
    bus_x = cx0 + cw / 2
    bus_y = base + BUS_Y
    tap_dx = CELL_W / 2 - 0.1  # c enters each cell near its right edge, beside the input
    ax.plot([bus_x, bus_x, _col(steps - 1) + tap_dx], [cy, bus_y, bus_y],
            color="#6aa84f", lw=1.3, zorder=1)
    label(ax, bus_x + 0.1, bus_y + 0.22, "c at every step", fontsize=8, ha="left",
          color="#38761d")

    for t in range(steps):
        x = _col(t)
        in_colour = red if wrong_in[t] else "black"
        box(ax, x - TOK_W / 2, base + IN_Y, TOK_W, TOK_H, inputs[t], textcolor=in_colour,
            edge=red if wrong_in[t] else COLORS["edge"], lw=2 if wrong_in[t] else 1)
        box(ax, x - CELL_W / 2, cy, CELL_W, CELL_H, "RNN", color=COLORS["decoder"],
            edge=red if tainted[t] else COLORS["edge"], lw=2 if tainted[t] else 1,
            ls="--" if tainted[t] else "-")
        out_colour = red if wrong_out[t] else "black"
        box(ax, x - TOK_W / 2, base + OUT_Y, TOK_W, TOK_H, outputs[t], textcolor=out_colour,
            edge=red if wrong_out[t] else COLORS["edge"], lw=2 if wrong_out[t] else 1)
        arrow(ax, (x, base + IN_Y + TOK_H), (x, cy))
        arrow(ax, (x, cy + CELL_H), (x, base + OUT_Y))
        arrow(ax, (x + tap_dx, bus_y), (x + tap_dx, cy), color="#6aa84f", lw=1.0)
        if t + 1 < steps:
            arrow(ax, (x + CELL_W / 2, cy + CELL_H / 2),
                  (_col(t + 1) - CELL_W / 2, cy + CELL_H / 2))


def _loss_link(ax: Axes, x: float, y0: float, y1: float, t: int) -> None:
    """A dotted line between an output and its target, labelled with the loss term l_t."""
    ax.plot([x, x], [y0 + 0.03, y1 - 0.03], color=COLORS["highlight"], lw=1, ls=":")
    label(ax, x, (y0 + y1) / 2, f"$\\ell_{{{t}}}$", fontsize=10, color=COLORS["highlight"],
          backgroundcolor="white")
