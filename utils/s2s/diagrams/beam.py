"""The search tree of a beam search, drawn from a record of what each step did (chapter 5).

The record is plain data, so any search can produce it: one list per decoding step of the
candidates that step scored, each `(tokens, p, status)`:

- `tokens`: the candidate's output so far, ending with the token this step added (a candidate
  that ends the output ends with "<eos>");
- `p`: its probability, the product of the model's next-token probabilities along the way;
- `status`: "kept" (in the beam for the next step), "pruned" (scored, then dropped) or
  "finished" (it ended with <eos> and was set aside as a complete output).

Every candidate extends a candidate the step before kept (or the empty output, at the first
step). The tree grows left to right, one column per step; kept candidates are solid orange,
pruned ones grey and dashed, finished ones green with a thick edge, the chosen output red."""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from s2s.diagrams.canvas import COLORS, arrow, box, canvas, label

STATUSES = ("kept", "pruned", "finished")
PRUNED_EDGE = "#999999"
PRUNED_TEXT = "#777777"

Candidate = tuple[Sequence[str], float, str]

# layout, in data units
_W, _H = 2.5, 0.62  # a node box
_DX, _DY = 3.3, 0.8  # column and row pitch
_MARGIN = 0.5


def _check(steps: Sequence[Sequence[Candidate]],
           best: Sequence[str] | None) -> list[list[tuple[tuple[str, ...], float, str]]]:
    """The record as tuples, or ValueError naming the argument and the bad entry."""
    if isinstance(steps, str | bytes) or not isinstance(steps, Sequence) or not steps:
        raise ValueError("steps must be a non-empty list of steps, each a list of "
                         "(tokens, p, status)")
    clean: list[list[tuple[tuple[str, ...], float, str]]] = []
    kept_before: set[tuple[str, ...]] = {()}
    for t, step in enumerate(steps):
        if isinstance(step, str | bytes) or not isinstance(step, Sequence) or not step:
            raise ValueError(f"steps[{t}] must be a non-empty list of (tokens, p, status)")
        row, seen = [], set()
        for i, cand in enumerate(step):
            where = f"steps[{t}][{i}]"
            if not isinstance(cand, Sequence) or len(cand) != 3:
                raise ValueError(f"{where} must be a (tokens, p, status) triple, got {cand!r}")
            tokens, p, status = cand
            if isinstance(tokens, str) or not isinstance(tokens, Sequence) or not tokens \
                    or not all(isinstance(tok, str) for tok in tokens):
                raise ValueError(f"{where}: tokens must be a non-empty list of strings, "
                                 f"got {tokens!r}")
            tokens = tuple(tokens)
            if status not in STATUSES:
                raise ValueError(f"{where}: status must be one of {STATUSES}, got {status!r}")
            if not isinstance(p, int | float) or not 0.0 <= p <= 1.0:
                raise ValueError(f"{where}: p must be a probability in [0, 1], got {p!r}")
            if t == 0 and len(tokens) != 1:
                raise ValueError(f"{where}: {' '.join(tokens)!r} is not one token: the first "
                                 "step extends the empty output")
            if tokens[:-1] not in kept_before:
                raise ValueError(f"{where}: {' '.join(tokens)!r} extends "
                                 f"{' '.join(tokens[:-1])!r}, which step {t - 1} did not keep")
            if tokens in seen:
                raise ValueError(f"{where}: {' '.join(tokens)!r} appears twice in step {t}")
            seen.add(tokens)
            row.append((tokens, float(p), status))
        clean.append(row)
        kept_before = {tokens for tokens, _, status in row if status == "kept"}
    if best is not None:
        finished = {tokens for row in clean for tokens, _, status in row if status == "finished"}
        if isinstance(best, str) or tuple(best) not in finished:
            raise ValueError(f"best must be the tokens of a finished candidate, got {best!r}")
    return clean


def beam_tree(steps: Sequence[Sequence[Candidate]], *, best: Sequence[str] | None = None,
              title: str = "", size: float = 0.55) -> Figure:
    """Draw a beam search's tree from its record (see the module docstring for `steps`).

    best: the tokens of the finished candidate the search returned, outlined in red (None:
    none). size: inches per data unit. Returns the Figure; raises ValueError, naming the
    argument, for a record that is not a tree of kept candidates."""
    if not isinstance(size, int | float) or size <= 0:
        raise ValueError(f"size must be a number > 0 (inches per unit), got {size!r}")
    clean = _check(steps, best)
    best_tokens = tuple(best) if best is not None else None
    rows = max(len(row) for row in clean)
    width = _MARGIN * 2 + _W + _DX * len(clean)
    height = _MARGIN + 0.9 + rows * _DY + 0.6  # legend band + nodes + step labels
    fig, ax = canvas(width, height, size=size, title=title)
    top = height - 0.6 - _DY / 2  # centre of the first row

    def centre_y(i: int, n: int) -> float:
        return top - (rows - n) * _DY / 2 - i * _DY  # a column of n nodes, centred

    anchor = {(): (_MARGIN + _W, centre_y(0, 1))}  # right edge of each kept node, by tokens
    box(ax, _MARGIN, centre_y(0, 1) - _H / 2, _W, _H, "<bos>\np = 1", fontsize=8.5,
        color=COLORS["token"])
    order = {(): 0}
    for t, row in enumerate(clean):
        x = _MARGIN + _DX * (t + 1)
        label(ax, x + _W / 2, height - 0.3, f"step {t + 1}", fontsize=9, color="#555555")
        row = sorted(row, key=lambda c: (order[c[0][:-1]], -c[1]))  # by parent, best first
        next_anchor, next_order = {}, {}
        for i, (tokens, p, status) in enumerate(row):
            y = centre_y(i, len(row))
            style = _style(status, tokens == best_tokens)
            box(ax, x, y - _H / 2, _W, _H, f"{' '.join(tokens)}\np = {p:.3f}", fontsize=8.5,
                **style["box"])
            arrow(ax, anchor[tokens[:-1]], (x, y), **style["arrow"])
            if status == "kept":
                next_anchor[tokens] = (x + _W, y)
                next_order[tokens] = i
        anchor, order = next_anchor, next_order
    _legend(ax, _MARGIN, _MARGIN + 0.3, best_tokens is not None)
    return fig


def _style(status: str, is_best: bool) -> dict[str, dict]:
    """Box and arrow keyword arguments for a candidate."""
    if status == "pruned":
        return {"box": {"color": COLORS["muted"], "edge": PRUNED_EDGE, "ls": "--",
                        "textcolor": PRUNED_TEXT},
                "arrow": {"color": PRUNED_EDGE, "ls": "--", "lw": 0.8}}
    if status == "finished":
        edge = COLORS["highlight"] if is_best else COLORS["edge"]
        return {"box": {"color": COLORS["context"], "edge": edge, "lw": 2.6 if is_best else 2.0},
                "arrow": {"color": COLORS["edge"], "lw": 1.2}}
    return {"box": {"color": COLORS["decoder"]}, "arrow": {"color": COLORS["edge"], "lw": 1.2}}


def _legend(ax, x: float, y: float, with_best: bool) -> None:
    """One small box per status, in a row."""
    entries = [("kept in the beam", _style("kept", False)["box"]),
               ("pruned", _style("pruned", False)["box"]),
               ("finished (<eos>)", _style("finished", False)["box"])]
    if with_best:
        entries.append(("returned", _style("finished", True)["box"]))
    for name, style in entries:
        box(ax, x, y - 0.18, 0.5, 0.36, **style)
        label(ax, x + 0.65, y, name, fontsize=8.5, ha="left")
        x += 0.65 + 0.14 * len(name) + 0.6
