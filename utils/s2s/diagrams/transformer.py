"""The Transformer's encoder and decoder layers (chapter 9), post-norm or pre-norm.

Left, one encoder layer: the source's embeddings plus positions go through self-attention
and the feed-forward network; right, one decoder layer: masked self-attention over the target
so far, cross-attention whose keys and values are the encoder's outputs (the arrow across),
the feed-forward network, then the linear layer to the logits. Every sublayer sits in a
residual connection (the line that goes around it, drawn in red):

    post-norm (Vaswani et al. 2017):  x = LayerNorm(x + sublayer(x))     one "Add & Norm" box
    pre-norm:                         x = x + sublayer(LayerNorm(x))     "LayerNorm", then "+"

and pre-norm adds one LayerNorm after each stack. "x N" marks that a stack repeats the layer."""

from __future__ import annotations

from matplotlib.figure import Figure

from .canvas import COLORS, arrow, box, canvas, label

RESIDUAL_GID = "residual"  # gid of the arrow that closes each residual connection, for tests
CROSS_GID = "cross"  # gid of the arrow carrying the encoder's outputs to cross-attention
BOX_W, BOX_H, GAP = 3.4, 0.55, 0.38
PLUS_W = 0.6
ENC_X, DEC_X = 1.0, 7.2
BOTTOM = 0.4
IN_H = 0.85  # the embedding boxes: two lines of text
SKIP = 0.45  # how far left of its boxes a residual line runs


def _residual(ax, x: float, branch_y: float, join_y: float, join_x: float) -> None:
    """The skip line of one sublayer: from the branch point (on the stack's axis at
    `branch_y`) left, up, and into the box that adds it at (join_x, join_y)."""
    cx, left = x + BOX_W / 2, x - SKIP
    ax.plot([cx, left, left], [branch_y, branch_y, join_y], color=COLORS["highlight"], lw=1.1)
    arrow(ax, (left, join_y), (join_x, join_y), color=COLORS["highlight"], lw=1.1)
    ax.patches[-1].set_gid(RESIDUAL_GID)


def _stack(ax, x: float, y: float, sublayers: list[tuple[str, str]],
           norm_first: bool) -> tuple[float, dict[str, float]]:
    """Draw the sublayers upward from y (the top of the box below). Returns (the top of the
    last box drawn, each sublayer's box centre height by name)."""
    cx, centres = x + BOX_W / 2, {}
    for name, colour in sublayers:
        branch = y + GAP / 2
        if norm_first:
            box(ax, x, y + GAP, BOX_W, BOX_H, "LayerNorm", color=COLORS["muted"], fontsize=8)
            arrow(ax, (cx, y), (cx, y + GAP))
            y += GAP + BOX_H
        arrow(ax, (cx, y), (cx, y + GAP))
        box(ax, x, y + GAP, BOX_W, BOX_H, name, color=colour, fontsize=8.5)
        centres[name] = y + GAP + BOX_H / 2
        y += GAP + BOX_H
        arrow(ax, (cx, y), (cx, y + GAP))
        if norm_first:
            px = cx - PLUS_W / 2
            box(ax, px, y + GAP, PLUS_W, BOX_H, "+", color="white", fontsize=10)
            _residual(ax, x, branch, y + GAP + BOX_H / 2, px)
        else:
            box(ax, x, y + GAP, BOX_W, BOX_H, "Add & Norm", color=COLORS["muted"], fontsize=8)
            _residual(ax, x, branch, y + GAP + BOX_H / 2, x)
        y += GAP + BOX_H
    if norm_first:  # the stack's final LayerNorm
        arrow(ax, (cx, y), (cx, y + GAP))
        box(ax, x, y + GAP, BOX_W, BOX_H, "final LayerNorm",
            color=COLORS["muted"], fontsize=7.5)
        y += GAP + BOX_H
    return y, centres


def transformer_layers(norm_first: bool = False) -> Figure:
    """Draw one encoder layer and one decoder layer, with the LayerNorms after each residual
    sum (post-norm, `norm_first=False`) or before each sublayer (pre-norm).

    Raises ValueError naming `norm_first` when it is not a bool."""
    if not isinstance(norm_first, bool):
        raise ValueError(f"norm_first must be True (pre-norm) or False (post-norm), got "
                         f"{norm_first!r}")
    per_sublayer = 3 if norm_first else 2
    height = BOTTOM + IN_H + (3 * per_sublayer + 1 + norm_first) * (GAP + BOX_H) + 1.2
    fig, ax = canvas(DEC_X + BOX_W + 1.2, height, size=0.55)

    box(ax, ENC_X, BOTTOM, BOX_W, IN_H, "source embeddings\n+ positions", fontsize=7.5)
    enc_top, _ = _stack(ax, ENC_X, BOTTOM + IN_H, [("self-attention", COLORS["encoder"]),
                                                    ("feed-forward", COLORS["encoder"])],
                        norm_first)
    box(ax, DEC_X, BOTTOM, BOX_W, IN_H, "target embeddings\n+ positions", fontsize=7.5)
    dec_top, centres = _stack(ax, DEC_X, BOTTOM + IN_H, [
        ("masked self-attention", COLORS["decoder"]),
        ("cross-attention", COLORS["context"]),
        ("feed-forward", COLORS["decoder"])], norm_first)
    arrow(ax, (DEC_X + BOX_W / 2, dec_top), (DEC_X + BOX_W / 2, dec_top + GAP))
    box(ax, DEC_X, dec_top + GAP, BOX_W, BOX_H, "Linear -> logits", fontsize=8)

    # the encoder's outputs: up out of its stack, across, into every cross-attention
    out_y = enc_top + GAP
    ecx = ENC_X + BOX_W / 2
    ax.plot([ecx, ecx], [enc_top, out_y], color=COLORS["edge"], lw=1.2)
    mid = (ENC_X + BOX_W + DEC_X) / 2
    cross_y = centres["cross-attention"]
    ax.plot([ecx, mid, mid], [out_y, out_y, cross_y], color=COLORS["edge"], lw=1.2)
    arrow(ax, (mid, cross_y), (DEC_X, cross_y), lw=1.2)
    ax.patches[-1].set_gid(CROSS_GID)
    label(ax, (ecx + mid) / 2, out_y + 0.4, "encoder outputs\n(keys and values)", fontsize=7.5)
    for x, name in ((ENC_X, "encoder layer (x N)"), (DEC_X, "decoder layer (x N)")):
        label(ax, x + BOX_W / 2, height - 0.35, name, fontsize=9, weight="bold")
    ax.set_title("pre-norm: x + f(LayerNorm(x))" if norm_first else
                 "post-norm: LayerNorm(x + f(x))", fontsize=10)
    return fig
