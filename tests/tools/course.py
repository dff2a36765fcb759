"""The course's own checks: the book manifest against chapters/, and the jupytext pairs.

Used by the test command (`make test`) through check_pairs.py and run_chapters.py, and by the
unit tests, which run them on broken copies to show that they fail."""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Chapter:
    file: str
    title: str
    learn: str
    ci_budget_s: float

    def notebook(self, root: Path = ROOT) -> Path:
        return root / "chapters" / f"{self.file}.ipynb"


def load_course(root: Path = ROOT) -> dict:
    with open(root / "course.toml", "rb") as f:
        return tomllib.load(f)


def chapters(root: Path = ROOT) -> list[Chapter]:
    """The chapters listed in course.toml, in order."""
    return [Chapter(**c) for c in load_course(root)["chapters"]]


def book_problems(root: Path = ROOT) -> list[str]:
    """What disagrees between course.toml's chapter list and chapters/*.ipynb (empty = fine)."""
    listed = [c.file for c in chapters(root)]
    on_disk = sorted(p.stem for p in (root / "chapters").glob("*.ipynb"))
    problems = [f"course.toml lists {name!r} twice" for name in set(listed)
                if listed.count(name) > 1]
    problems += [
        f"chapters/{name}.ipynb is listed in course.toml but does not exist"
        for name in listed
        if name not in on_disk
    ]
    problems += [
        f"chapters/{name}.ipynb exists but is not listed in course.toml [[chapters]]"
        for name in on_disk
        if name not in listed
    ]
    return problems


def _cells(nb) -> list[tuple[str, str, tuple[str, ...], str]]:
    """What the two twins must agree on: each cell's type, source, tags and nbgrader metadata
    (the homework cells; jupytext.toml keeps both in the .py twin)."""
    return [
        (c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ())),
         json.dumps(c.metadata.get("nbgrader", {}), sort_keys=True))
        for c in nb.cells
    ]


def pair_problems(chapter_dir: Path) -> list[str]:
    """Notebooks whose py:percent twin is missing or says something else (empty = fine)."""
    import jupytext

    problems = []
    notebooks = {p.stem: p for p in chapter_dir.glob("*.ipynb")}
    scripts = {p.stem: p for p in chapter_dir.glob("*.py")}
    for stem in sorted(notebooks.keys() - scripts.keys()):
        problems.append(f"{notebooks[stem]} has no jupytext twin {stem}.py")
    for stem in sorted(scripts.keys() - notebooks.keys()):
        problems.append(f"{scripts[stem]} has no notebook twin {stem}.ipynb")
    for stem in sorted(notebooks.keys() & scripts.keys()):
        nb_cells = _cells(jupytext.read(notebooks[stem]))
        py_cells = _cells(jupytext.read(scripts[stem]))
        if nb_cells != py_cells:
            first = next(
                (i for i, (a, b) in enumerate(zip(nb_cells, py_cells, strict=False)) if a != b),
                min(len(nb_cells), len(py_cells)),
            )
            problems.append(
                f"{stem}.ipynb and {stem}.py disagree (from cell {first}): "
                f"run `jupytext --sync {notebooks[stem]}` after editing either"
            )
    return problems


# ---------------------------------------------------------------------------------------------
# The shape of a chapter: prose share, code-cell length, figures

MIN_PROSE_SHARE = 0.5
MAX_CODE_LINES = 20
LONG_CELL_TAG = "long"  # a code cell that is long on purpose; the markdown above says why
PROGRESS_KEY = "s2s_progress"  # metadata s2s.train.LivePlot puts on its progress snapshots


def prose_share(nb) -> float:
    """Markdown characters / (markdown + code characters) of a notebook's cells."""
    chars = {"markdown": 0, "code": 0}
    for cell in nb.cells:
        if cell.cell_type in chars:
            chars[cell.cell_type] += len(cell.source)
    return chars["markdown"] / max(chars["markdown"] + chars["code"], 1)


def long_code_cells(nb, limit: int = MAX_CODE_LINES) -> list[tuple[int, int]]:
    """(cell index, lines) of code cells over `limit` lines that are not tagged `long`."""
    return [(i, len(c.source.splitlines())) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and len(c.source.splitlines()) > limit
            and LONG_CELL_TAG not in c.metadata.get("tags", ())]


def figures(nb) -> list[int]:
    """Indices of code cells with an image output that is not a training-progress snapshot."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", ()):
            data = out.get("data", {})
            if any(k.startswith("image/") for k in data) and \
                    not out.get("metadata", {}).get(PROGRESS_KEY):
                found.append(i)
                break
    return found


def progress_snapshots(nb) -> list[int]:
    """Indices of code cells that still show a live progress plot (should be none)."""
    return [i for i, cell in enumerate(nb.cells) for out in cell.get("outputs", ())
            if out.get("metadata", {}).get(PROGRESS_KEY)]
