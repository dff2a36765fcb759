"""The course's own checks: the book manifest against chapters/, and the jupytext pairs.

Used by the test command (`make test`) through check_pairs.py and run_chapters.py, and by the
unit tests, which run them on broken copies to show that they fail."""

from __future__ import annotations

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


def load_book(root: Path = ROOT) -> dict:
    with open(root / "book.toml", "rb") as f:
        return tomllib.load(f)


def chapters(root: Path = ROOT) -> list[Chapter]:
    """The chapters listed in book.toml, in order."""
    return [Chapter(**c) for c in load_book(root)["course"]["chapters"]]


def book_problems(root: Path = ROOT) -> list[str]:
    """What disagrees between book.toml's chapter list and chapters/*.ipynb (empty = fine)."""
    listed = [c.file for c in chapters(root)]
    on_disk = sorted(p.stem for p in (root / "chapters").glob("*.ipynb"))
    problems = [f"book.toml lists {name!r} twice" for name in set(listed) if listed.count(name) > 1]
    problems += [
        f"chapters/{name}.ipynb is listed in book.toml but does not exist"
        for name in listed
        if name not in on_disk
    ]
    problems += [
        f"chapters/{name}.ipynb exists but is not listed in book.toml [[course.chapters]]"
        for name in on_disk
        if name not in listed
    ]
    return problems


def _cells(nb) -> list[tuple[str, str, tuple[str, ...]]]:
    return [
        (c.cell_type, c.source.strip(), tuple(c.metadata.get("tags", ()))) for c in nb.cells
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
