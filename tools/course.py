"""The course's description and its consistency checks: the one module that reads course.toml.

course.toml lists the chapters in order (file, title, what you learn, the `ci` time budget);
pyproject.toml holds the repository's address and the version, whose tag "v" + version is the
release a chapter's Colab badge opens. Every tool (the chapter runner, the book, the Colab cells,
the homework) and every test reads them through this module.

    python tools/course.py readme            print README.md's chapter block
    python tools/course.py readme --check    exit 1 when README.md's block differs from it
    python tools/course.py readme --write    rewrite README.md's block

The checks (`book_problems`, `pair_problems`, `readme_problems`) return what disagrees, empty
when all is well; `make pairs` (check_pairs.py) and the unit tests run them, the tests also on
broken copies to show that they fail."""

from __future__ import annotations

import json
import sys
import textwrap
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


# ---------------------------------------------------------------------------------------------
# The release (pyproject.toml) and where a chapter opens on Colab

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"


def release(root: Path = ROOT) -> tuple[str, str]:
    """(repository address, release tag) from pyproject.toml: the tag is "v" + version."""
    with open(root / "pyproject.toml", "rb") as f:
        project = tomllib.load(f)["project"]
    return project["urls"]["Repository"], f"v{project['version']}"


def colab_url(stem: str, root: Path = ROOT) -> str:
    """The chapter `stem` on Colab, at the release tag."""
    repository, tag = release(root)
    path = repository.removeprefix("https://github.com/")
    return f"https://colab.research.google.com/github/{path}/blob/{tag}/chapters/{stem}.ipynb"


def badge(stem: str, root: Path = ROOT) -> str:
    """The Colab badge at the top of a chapter (inline Markdown)."""
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_url(stem, root)})"


# ---------------------------------------------------------------------------------------------
# README.md's chapter block, generated from course.toml and pyproject.toml

README_BEGIN = ("<!-- chapters: generated from course.toml by `python tools/course.py readme "
                "--write`; edit course.toml, not this block -->")
README_END = "<!-- end of chapters -->"
README_WIDTH = 100


def readme_block(root: Path = ROOT) -> str:
    """The chapter table (title, Colab badge, `ci` budget), then what each chapter teaches (a
    list numbered as the table), then the badges' link definitions, between the two markers."""
    listed = chapters(root)
    lines = [README_BEGIN, "| # | chapter | open | `ci` budget |", "|---|---|---|---|"]
    for n, c in enumerate(listed, 1):
        lines.append(f"| {n} | [{c.title}](chapters/{c.file}.ipynb) | "
                     f"[![Open In Colab][colab-badge]][colab-{n}] | {c.ci_budget_s:g} s |")
    lines.append("")  # what each chapter teaches, numbered as in the table
    for n, c in enumerate(listed, 1):
        lines.append(textwrap.fill(f"{c.learn}.", width=README_WIDTH, initial_indent=f"{n}. ",
                                   subsequent_indent="   ", break_on_hyphens=False))
    lines += ["", f"[colab-badge]: {BADGE_IMAGE}"]
    lines += [f"[colab-{n}]: {colab_url(c.file, root)}" for n, c in enumerate(listed, 1)]
    return "\n".join([*lines, README_END])


def _readme_span(text: str) -> tuple[int, int] | None:
    """Start and end of the chapter block in README.md's text (None without both markers)."""
    start = text.find(README_BEGIN)
    end = text.find(README_END, max(start, 0))
    if start < 0 or end < 0:
        return None
    return start, end + len(README_END)


def readme_problems(root: Path = ROOT) -> list[str]:
    """What README.md's chapter block says that course.toml and pyproject.toml do not."""
    text = (root / "README.md").read_text()
    span = _readme_span(text)
    if span is None:
        return [f"README.md: no chapter block (the lines {README_BEGIN!r} ... {README_END!r})"]
    found, wanted = text[span[0]:span[1]].split("\n"), readme_block(root).split("\n")
    if found == wanted:
        return []
    first = next((i for i, (a, b) in enumerate(zip(found, wanted, strict=False)) if a != b),
                 min(len(found), len(wanted)))
    line = text[:span[0]].count("\n") + first + 1
    return [f"README.md line {line}: the chapter block differs from what course.toml and "
            f"pyproject.toml generate ({found[first] if first < len(found) else 'nothing'!r} "
            f"instead of {wanted[first] if first < len(wanted) else 'nothing'!r}): run "
            "`python tools/course.py readme --write`"]


def write_readme(root: Path = ROOT) -> bool:
    """Rewrites README.md's chapter block; returns whether the file changed."""
    path = root / "README.md"
    text = path.read_text()
    span = _readme_span(text)
    if span is None:
        raise SystemExit(readme_problems(root)[0])
    new = text[:span[0]] + readme_block(root) + text[span[1]:]
    if new != text:
        path.write_text(new)
    return new != text


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


def main(argv: list[str]) -> int:
    if argv[:1] != ["readme"] or len(argv) > 2 or argv[1:] not in ([], ["--check"], ["--write"]):
        print(__doc__)
        return 2
    if argv[1:] == ["--write"]:
        print("README.md: chapter block rewritten" if write_readme() else "nothing to change")
        return 0
    if argv[1:] == ["--check"]:
        found = readme_problems()
        print("\n".join(found) or "ok: README.md's chapter block matches course.toml")
        return 1 if found else 0
    print(readme_block())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
