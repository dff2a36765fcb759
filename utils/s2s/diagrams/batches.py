"""A padded batch and its mask (chapter 2).

A batch is a rectangle and sentences are not: every row is padded with `<pad>` up to the
longest row, and the mask `ids != <pad>` marks the real tokens with 1 and the padding with 0.
Panels side by side (say a random batch and a length-bucketed one) show how much of each
rectangle is padding."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .canvas import COLORS, box, canvas, label

# Layout, in data units: one column per position, one row per sentence.
CELL_W, CELL_H = 1.4, 0.6
PAD_CELL = 0.08        # the blank margin around each box inside its grid cell
PANEL_GAP = 1.6        # between two panels side by side
ROW_GAP = 0.6          # between two panels one under the other
LEFT = 1.3             # room for the row labels of a panel
TITLE_H = 1.1          # room for a panel's title above its token grid
MASK_GAP = 1.0         # between the token grid and the mask grid
MAX_TOKEN_CHARS = 7    # longer tokens are cut to this many characters, ending in "…"
CHAR_EM = 0.65         # a character's width as a share of the font size (a wide estimate)
MAX_WIDTH_IN = 13.0    # the figure never gets wider than this many inches
MAX_SIZE = 0.55        # inches per data unit, at most
MIN_SIZE = 0.45        # below this, panels go one under the other instead of side by side
PAD_EDGE = "#999999"

Row = Sequence[str] | int


def padded_batches(panels: Mapping[str, Sequence[Row]], *, pad: str = "<pad>") -> Figure:
    """Draw each batch of `panels` (title -> rows) padded to its longest row, with its mask.

    A row is a sequence of token strings, or an int n for n unnamed tokens. Real tokens are
    grey boxes, padding is a white dashed box marked `pad`; under each batch its mask holds 1
    for a real token and 0 for padding, and the panel's title says what share is real. Panels
    stand side by side when they fit at a legible size, otherwise one under the other.

    Raises ValueError (naming the argument) when panels is empty, a panel has no rows, or a
    row is empty (length 0)."""
    batches = {title: _rows(title, rows) for title, rows in _panels(panels).items()}
    widths = {title: LEFT + max(map(len, rows)) * CELL_W for title, rows in batches.items()}
    heights = {title: TITLE_H + 2 * len(rows) * CELL_H + MASK_GAP for title, rows in
               batches.items()}
    # Side by side when that keeps the boxes legible, else one panel under the other.
    in_a_row = sum(widths.values()) + PANEL_GAP * (len(batches) - 1) <= MAX_WIDTH_IN / MIN_SIZE
    if in_a_row:
        width = sum(widths.values()) + PANEL_GAP * (len(batches) - 1) + 0.3
        height = max(heights.values()) + 0.2
    else:
        width = max(widths.values()) + 0.3
        height = sum(heights.values()) + ROW_GAP * (len(batches) - 1) + 0.2
    size = min(MAX_SIZE, MAX_WIDTH_IN / width)  # inches per data unit
    fig, ax = canvas(width, height, size=size)

    # One font size for every token, small enough for the longest token to fit in its box.
    longest = max(len(t) for rows in batches.values() for row in rows for t in row)
    box_pt = (CELL_W - 2 * PAD_CELL) * size * 72
    fontsize = min(9.0, box_pt / (CHAR_EM * longest + 1.0))
    x0, top = 0.0, height
    for title, rows in batches.items():
        _panel(ax, x0, top, title, rows, max(map(len, rows)), pad, fontsize)
        if in_a_row:
            x0 += widths[title] + PANEL_GAP
        else:
            top -= heights[title] + ROW_GAP
    return fig


def _panels(panels) -> dict:
    if not isinstance(panels, Mapping) or not panels:
        raise ValueError("panels must be a non-empty mapping of title -> rows")
    return dict(panels)


def _rows(title: str, rows: Sequence[Row]) -> list[list[str]]:
    """Rows as token lists (an int n becomes n unnamed tokens), checked."""
    if isinstance(rows, str) or len(rows) == 0:
        raise ValueError(f"panels[{title!r}] must hold at least one row")
    out = []
    for i, row in enumerate(rows):
        tokens = [""] * row if isinstance(row, int) else [str(t) for t in row]
        if isinstance(row, str) or len(tokens) == 0:
            raise ValueError(f"panels[{title!r}][{i}] must be a non-empty token sequence or a "
                             f"length >= 1, got {row!r}")
        out.append([_short(t) for t in tokens])
    return out


def _short(token: str) -> str:
    return token if len(token) <= MAX_TOKEN_CHARS else token[:MAX_TOKEN_CHARS - 1] + "\u2026"


def _panel(ax: Axes, x0: float, top: float, title: str, rows: list[list[str]], width: int,
           pad: str, fontsize: float) -> None:
    """One batch (B rows x width columns) and its mask below it, starting at x0."""
    real = sum(map(len, rows))
    slots = len(rows) * width
    label(ax, x0 + 0.1, top - 0.35, f"{title}: {len(rows)} \u00d7 {width}", fontsize=11,
          ha="left", weight="bold")
    label(ax, x0 + 0.1, top - 0.8, f"{real} of {slots} slots are real tokens "
          f"({real / slots:.0%})", fontsize=9.5, ha="left")
    grid_top = top - TITLE_H
    mask_top = grid_top - len(rows) * CELL_H - MASK_GAP
    label(ax, x0 + LEFT - 0.15, grid_top - len(rows) * CELL_H / 2, "batch", fontsize=9,
          ha="right", rotation=90)
    label(ax, x0 + LEFT - 0.15, mask_top - len(rows) * CELL_H / 2, "mask", fontsize=9,
          ha="right", rotation=90)
    label(ax, x0 + LEFT, mask_top + 0.3, f"mask = (token != {pad}): 1 real, 0 padding",
          fontsize=9, ha="left", color="#444444")
    for r, row in enumerate(rows):
        for c in range(width):
            x = x0 + LEFT + c * CELL_W + PAD_CELL
            w, h = CELL_W - 2 * PAD_CELL, CELL_H - 2 * PAD_CELL
            is_real = c < len(row)
            y = grid_top - (r + 1) * CELL_H + PAD_CELL
            if is_real:
                box(ax, x, y, w, h, row[c], fontsize=fontsize)
            else:
                box(ax, x, y, w, h, "pad", color=COLORS["pad"], edge=PAD_EDGE, ls="--",
                    fontsize=min(fontsize, 7.5), textcolor=PAD_EDGE)
            y = mask_top - (r + 1) * CELL_H + PAD_CELL
            box(ax, x, y, w, h, "1" if is_real else "0",
                color=COLORS["token"] if is_real else COLORS["pad"],
                edge=COLORS["edge"] if is_real else PAD_EDGE, ls="-" if is_real else "--",
                fontsize=9, textcolor="black" if is_real else PAD_EDGE)
