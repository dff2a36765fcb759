"""Primitives for the course's diagrams: a blank canvas, boxes, arrows and labels.

Coordinates are in data units of an axis with equal aspect and no ticks, so a diagram is
laid out on a grid of the author's choosing (e.g. 0..12 by 0..5)."""

from __future__ import annotations

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

# One palette for every diagram: what each colour means is the same in every chapter.
COLORS = {
    "encoder": "#cfe2f3",   # light blue
    "decoder": "#fce5cd",   # light orange
    "context": "#d9ead3",   # light green: the context vector / attention
    "token": "#f3f3f3",     # light grey: input and output tokens
    "pad": "#ffffff",       # white: padding
    "muted": "#eeeeee",     # pruned / inactive
    "edge": "#333333",
    "highlight": "#cc0000",
}


def canvas(width: float, height: float, *, size: float = 0.8,
           title: str = "") -> tuple[Figure, Axes]:
    """A figure whose axis spans [0, width] x [0, height] with equal aspect and no ticks.

    size: inches per data unit."""
    if width <= 0 or height <= 0:
        raise ValueError(f"canvas width and height must be > 0, got {width} x {height}")
    fig, ax = plt.subplots(figsize=(width * size, height * size))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return fig, ax


def box(ax: Axes, x: float, y: float, w: float, h: float, text: str = "", *,
        color: str = COLORS["token"], edge: str = COLORS["edge"], fontsize: float = 10,
        lw: float = 1.0, ls: str = "-", alpha: float = 1.0,
        textcolor: str = "black") -> tuple[float, float]:
    """A rounded box with its lower-left corner at (x, y), text centred. Returns the centre."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.08",
                                facecolor=color, edgecolor=edge, lw=lw, ls=ls, alpha=alpha))
    cx, cy = x + w / 2, y + h / 2
    if text:
        ax.text(cx, cy, text, ha="center", va="center", fontsize=fontsize, color=textcolor,
                alpha=alpha)
    return cx, cy


def arrow(ax: Axes, start: tuple[float, float], end: tuple[float, float], *,
          color: str = COLORS["edge"], lw: float = 1.2, ls: str = "-", rad: float = 0.0,
          text: str = "", fontsize: float = 9, alpha: float = 1.0) -> None:
    """An arrow from start to end (optionally curved by `rad`), with an optional label at
    its middle."""
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12,
                                 color=color, lw=lw, ls=ls, alpha=alpha,
                                 connectionstyle=f"arc3,rad={rad}", shrinkA=2, shrinkB=2))
    if text:
        mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
        ax.text(mx, my, text, ha="center", va="center", fontsize=fontsize, color=color,
                backgroundcolor="white", alpha=alpha)


def label(ax: Axes, x: float, y: float, text: str, *, fontsize: float = 10,
          ha: str = "center", va: str = "center", **style: object) -> None:
    """Free text at (x, y)."""
    ax.text(x, y, text, ha=ha, va=va, fontsize=fontsize, **style)
