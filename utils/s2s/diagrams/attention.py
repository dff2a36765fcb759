"""Bahdanau and Luong attention decoders: one time step each, side by side.

Chapter 4 builds both decoders. The picture follows the data through one step of each, from
the query to the logits, and makes the one difference that matters for speed visible: the
Bahdanau RNN reads the context c_t (which needs the previous state s_{t-1}), so steps run one
after another; the Luong RNN never reads c_t, so under teacher forcing one RNN call over the
whole target computes every h_t, and attention then runs for all steps at once -- unless
input feeding (dashed) sends the attentional state back into the RNN."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch

from .canvas import COLORS, arrow, box, canvas, label

INPUT_FEEDING_GID = "input_feeding"  # gid of the dashed input-feeding line, for tests

# Layout, in data units (the canvas grid).
ROW0 = 1.75         # bottom edge of the lowest row (the encoder outputs); captions below
PITCH = 1.0         # distance between rows
BOX_H = 0.55
H_PITCH = 1.0       # distance between encoder-output boxes h_1..h_S
H_W = 0.8
MAX_SHOWN = 5       # longer sources are drawn h_1 h_2 ... h_{S-1} h_S
B_MAIN_X = 2.4      # left edge of the attention column inside the Bahdanau panel
L_MAIN_X = 4.4      # ... and inside the Luong panel
CAT_W, EMB_W = 2.7, 1.9  # Bahdanau's [embed; c] box and the embed(y) box beside it
PANEL_GAP = 0.5     # blank space between the two panels
MAX_WIDTH_IN = 12.5  # the figure never gets wider than this many inches
PATH = COLORS["highlight"]  # the dependency that keeps a decoder sequential


def attention_data_flow(*, source_len: int = 4, input_feeding: bool = True) -> Figure:
    """One decoder step of Bahdanau (left) and of Luong (right) attention, data flowing up.

    Bahdanau: s_{t-1} (query) -> scores with h_1..h_S -> softmax alpha -> c_t ->
    [embed(y_{t-1}); c_t] -> RNN -> s_t -> output layer -> logits; the chain from s_{t-1}
    to the RNN's input is drawn in COLORS["highlight"].
    Luong: embed(y_{t-1}) -> RNN -> h_t (query) -> scores -> alpha -> c_t ->
    h~_t = tanh(W_c[c_t; h_t]) -> output layer -> logits.
    source_len: how many encoder outputs h_j to draw (>= 1).
    input_feeding: draw Luong's dashed arrow h~_t -> the next step's RNN input (a Line2D
    with gid INPUT_FEEDING_GID). A caption under each panel says which decoder can run the
    RNN over all target positions at once.

    Raises ValueError naming source_len when it is not an int >= 1."""
    if isinstance(source_len, bool) or not isinstance(source_len, int) or source_len < 1:
        raise ValueError(f"source_len must be an int >= 1, got {source_len!r}")

    main_w = max(min(source_len, MAX_SHOWN) * H_PITCH - (H_PITCH - H_W), 3.8)
    b_w = B_MAIN_X + main_w / 2 + CAT_W / 2 + 0.35 + EMB_W + 0.2  # embed(y) sticks out
    l_w = L_MAIN_X + main_w + 0.8
    width = b_w + PANEL_GAP + l_w
    height = ROW0 + 8 * PITCH + BOX_H + 0.9
    fig, ax = canvas(width, height, size=min(0.8, MAX_WIDTH_IN / width))
    _bahdanau(ax, 0.0, source_len, main_w)
    right = b_w + PANEL_GAP
    ax.plot([right - PANEL_GAP / 2] * 2, [0.1, height - 0.1], color=COLORS["muted"], lw=1.5)
    _luong(ax, right, source_len, main_w, input_feeding)
    return fig


def _row(k: int) -> float:
    """Bottom edge of row k (row 0 holds the encoder outputs)."""
    return ROW0 + k * PITCH


def _mid(k: int) -> float:
    """Vertical centre of row k."""
    return _row(k) + BOX_H / 2


def _encoder_outputs(ax: Axes, x0: float, source_len: int, main_w: float) -> list[float]:
    """The row h_1..h_S centred in the main column starting at x0; returns the centres of
    the boxes drawn. Past MAX_SHOWN positions the middle ones become an ellipsis."""
    if source_len <= MAX_SHOWN:
        names: list[int | None] = list(range(1, source_len + 1))
    else:
        names = [1, 2, None, source_len - 1, source_len]
    span = len(names) * H_PITCH - (H_PITCH - H_W)
    first = x0 + (main_w - span) / 2
    xs = []
    for j, name in enumerate(names):
        x = first + j * H_PITCH
        if name is None:
            label(ax, x + H_W / 2, _mid(0), r"$\cdots$", fontsize=12)
            continue
        sub = "S" if name == source_len and source_len > MAX_SHOWN else str(name)
        cx, _ = box(ax, x, _row(0), H_W, BOX_H, f"$h_{{{sub}}}$", color=COLORS["encoder"])
        xs.append(cx)
    label(ax, x0 + main_w / 2, _row(0) - 0.22, "encoder outputs", fontsize=8.5,
          color="#3d6e99")
    return xs


def _attention(ax: Axes, x0: float, main_w: float, first_row: int, query: str, *,
               source_len: int, colour: str) -> None:
    """Scores, softmax and context in the main column: rows first_row .. first_row + 2,
    fed by the encoder outputs (row 0) and, for the values, by a lane on the right."""
    xs = _encoder_outputs(ax, x0, source_len, main_w)
    r_score, r_alpha, r_ctx = first_row, first_row + 1, first_row + 2
    box(ax, x0, _row(r_score), main_w, BOX_H, f"$e_j$ = score({query}, $h_j$)",
        color=COLORS["context"])
    for x in xs:
        arrow(ax, (x, _row(0) + BOX_H), (x, _row(r_score)))
    box(ax, x0, _row(r_alpha), main_w, BOX_H, r"$\alpha_j = \mathrm{softmax}_j(e_j)$",
        color=COLORS["context"])
    box(ax, x0, _row(r_ctx), main_w, BOX_H, r"$c_t = \Sigma_j\, \alpha_j h_j$",
        color=COLORS["context"])
    cx = x0 + main_w / 2
    arrow(ax, (cx, _row(r_score) + BOX_H), (cx, _row(r_alpha)), color=colour)
    arrow(ax, (cx, _row(r_alpha) + BOX_H), (cx, _row(r_ctx)), color=colour)
    # The values h_j reach the weighted sum by a lane to the right of the column.
    lane = x0 + main_w + 0.3
    last = xs[-1] + H_W / 2
    _route(ax, [(last, _mid(0)), (lane, _mid(0)), (lane, _mid(r_ctx)),
                (x0 + main_w, _mid(r_ctx))], color="#3d6e99")
    label(ax, lane + 0.15, (_mid(0) + _mid(r_score)) / 2, "values", fontsize=8,
          color="#3d6e99", rotation=90)


def _bahdanau(ax: Axes, ox: float, source_len: int, main_w: float) -> None:
    """The Bahdanau panel, its left edge at ox."""
    x0 = ox + B_MAIN_X
    cx = x0 + main_w / 2
    label(ax, ox + 0.1, _row(8) + BOX_H + 0.45, "Bahdanau: attention before the RNN",
          fontsize=11.5, ha="left", weight="bold")
    _attention(ax, x0, main_w, 1, "$s_{t-1}$", source_len=source_len, colour=PATH)

    # [embed(y_{t-1}); c_t] -> RNN; the embedding comes in from the right.
    cat_w = CAT_W
    box(ax, cx - cat_w / 2, _row(4), cat_w, BOX_H, r"[embed($y_{t-1}$); $c_t$]",
        color=COLORS["decoder"])
    arrow(ax, (cx, _row(3) + BOX_H), (cx, _row(4)), color=PATH)
    emb_x, emb_w = cx + cat_w / 2 + 0.35, EMB_W
    box(ax, emb_x, _row(4), emb_w, BOX_H, r"embed($y_{t-1}$)", color=COLORS["token"])
    arrow(ax, (emb_x, _mid(4)), (cx + cat_w / 2, _mid(4)))
    w = 2.0
    box(ax, cx - w / 2, _row(5), w, BOX_H, "RNN", color=COLORS["decoder"])
    arrow(ax, (cx, _row(4) + BOX_H), (cx, _row(5)), color=PATH)

    # s_{t-1} is the RNN's state and, down a lane on the left, the attention query.
    s_x, s_w = ox + 0.3, 1.5
    box(ax, s_x, _row(5), s_w, BOX_H, "$s_{t-1}$", color=COLORS["decoder"], lw=1.5,
        edge=PATH)
    label(ax, s_x + s_w / 2, _row(5) + BOX_H + 0.2, "previous state", fontsize=8.5)
    arrow(ax, (s_x + s_w, _mid(5)), (cx - w / 2, _mid(5)))
    lane = s_x + s_w / 2
    _route(ax, [(lane, _row(5)), (lane, _mid(1)), (x0, _mid(1))], color=PATH)
    label(ax, lane + 0.2, (_mid(1) + _mid(5)) / 2, "query", fontsize=8.5, color=PATH,
          rotation=90)

    _head(ax, cx, 5, "$s_t$")
    _caption(ax, ox, "Sequential, even with teacher forcing: the RNN's input needs $c_t$,\n"
                     "and $c_t$ needs $s_{t-1}$ (red path), so step t waits for step t\u22121.")


def _luong(ax: Axes, ox: float, source_len: int, main_w: float, input_feeding: bool) -> None:
    """The Luong panel, its left edge at ox."""
    x0 = ox + L_MAIN_X
    label(ax, ox + 0.1, _row(8) + BOX_H + 0.45, "Luong: RNN first, attention after",
          fontsize=11.5, ha="left", weight="bold")
    _attention(ax, x0, main_w, 2, "$h_t$", source_len=source_len, colour=COLORS["edge"])

    # embed(y_{t-1}) -> RNN -> h_t in a column left of the attention.
    left, w = ox + 1.5, 1.9
    lx = left + w / 2
    box(ax, left, _row(0), w, BOX_H, r"embed($y_{t-1}$)", color=COLORS["token"])
    box(ax, left, _row(1), w, BOX_H, "RNN", color=COLORS["decoder"])
    box(ax, left, _row(2), w, BOX_H, "$h_t$", color=COLORS["decoder"])
    arrow(ax, (lx, _row(0) + BOX_H), (lx, _row(1)))
    arrow(ax, (lx, _row(1) + BOX_H), (lx, _row(2)))
    arrow(ax, (left + w, _mid(2)), (x0, _mid(2)))
    label(ax, (left + w + x0) / 2, _row(2) + BOX_H + 0.12, "query", fontsize=8.5)
    arrow(ax, (ox + 0.55, _mid(1) + 0.1), (left, _mid(1) + 0.1))
    label(ax, ox + 0.95, _row(1) + BOX_H + 0.17, "$h_{t-1}$", fontsize=9)

    # The attentional state h~_t combines c_t and h_t, then the output layer.
    comb_x, comb_w = left, x0 + main_w - left
    box(ax, comb_x, _row(5), comb_w, BOX_H, r"$\tilde h_t = \tanh(W_c[c_t; h_t])$",
        color=COLORS["decoder"])
    arrow(ax, (x0 + main_w / 2, _row(4) + BOX_H), (x0 + main_w / 2, _row(5)))
    arrow(ax, (lx, _row(2) + BOX_H), (lx, _row(5)))
    _head(ax, comb_x + comb_w / 2, 5, None)

    if input_feeding:
        lane = ox + 0.2
        _route(ax, [(comb_x, _mid(5)), (lane, _mid(5)), (lane, _mid(1) - 0.12),
                    (left, _mid(1) - 0.12)], color=PATH, ls="--", gid=INPUT_FEEDING_GID)
        label(ax, lane + 0.22, (_mid(1) + _mid(5)) / 2 + 0.2, "input feeding (to step t+1)",
              fontsize=8.5, color=PATH, rotation=90)
    text = ("Parallel under teacher forcing: the RNN reads embed($y_{t-1}$) and $h_{t-1}$,\n"
            "never $c_t$; one RNN call gives every $h_t$, then attention runs for all t.")
    if input_feeding:
        text += ("\nWith input feeding (dashed) the RNN also reads $\\tilde h_{t-1}$:\n"
                 "that needs step t\u22121's attention, so it is sequential again.")
    _caption(ax, ox, text)


def _head(ax: Axes, cx: float, below: int, state: str | None) -> None:
    """Above row `below`: an optional state box, then the output layer and the logits."""
    k = below + 1
    if state is not None:
        box(ax, cx - 0.75, _row(k), 1.5, BOX_H, state, color=COLORS["decoder"])
        arrow(ax, (cx, _row(k - 1) + BOX_H), (cx, _row(k)))
        arrow(ax, (cx + 0.75, _mid(k)), (cx + 1.9, _mid(k)))
        label(ax, cx + 1.95, _mid(k), "to step t+1", fontsize=8.5, ha="left")
        k += 1
    box(ax, cx - 1.0, _row(k), 2.0, BOX_H, "output layer", color=COLORS["decoder"])
    arrow(ax, (cx, _row(k - 1) + BOX_H), (cx, _row(k)))
    box(ax, cx - 1.0, _row(k + 1), 2.0, BOX_H, "logits", color=COLORS["token"])
    arrow(ax, (cx, _row(k) + BOX_H), (cx, _row(k + 1)))


def _caption(ax: Axes, ox: float, text: str) -> None:
    """Explanatory lines under a panel."""
    label(ax, ox + 0.1, _row(0) - 0.5, text, fontsize=9.5, ha="left", va="top")


def _route(ax: Axes, points: Sequence[tuple[float, float]], *, color: str = COLORS["edge"],
           lw: float = 1.2, ls: str = "-", gid: str | None = None) -> None:
    """A polyline through `points` with an arrowhead on its last point. The line keeps its
    style (e.g. dashed) while the head stays solid; `gid` tags the line for lookup."""
    (xa, ya), (xb, yb) = points[-2], points[-1]
    length = ((xb - xa) ** 2 + (yb - ya) ** 2) ** 0.5
    head = min(0.2, length / 2)
    hx, hy = xb - (xb - xa) * head / length, yb - (yb - ya) * head / length
    xs = [p[0] for p in points[:-1]] + [hx]
    ys = [p[1] for p in points[:-1]] + [hy]
    ax.add_line(Line2D(xs, ys, color=color, lw=lw, ls=ls, gid=gid,
                       solid_joinstyle="miter"))
    ax.add_patch(FancyArrowPatch((hx, hy), (xb, yb), arrowstyle="-|>", mutation_scale=12,
                                 color=color, lw=lw, shrinkA=0, shrinkB=2))
