"""Every chapter's Colab badge and install cell, generated from one place.

The one place is pyproject.toml: `[project.urls] Repository` is the repository's address and
`[project] version` the release; its tag is "v" + version (read by tools/course.py). A
chapter's badge opens the notebook at that tag, and its install cell installs the package at
that tag — the code a learner runs is the code the notebook was executed with, whatever lands
on main later. README.md's chapter table links to the same addresses (tools/course.py
generates it).

    python tools/colab.py          rewrite every badge, install cell and the README's table
    python tools/colab.py --check  list what disagrees (the tests call `problems`)

Releasing a new version: see CONTRIBUTING.md (bump `version` in pyproject.toml, run this
script, commit, and tag that commit `v<version>`)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from course import ROOT, badge, chapters, readme_problems, release, write_readme

BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\(https://colab\.research\.google\.com/"
                   r"github/[^)]*\)")
INSTALL_MARK = 'if "google.colab" in sys.modules'


def install_cell(root: Path = ROOT) -> str:
    """The first code cell of every chapter. On Colab it clones the repository at the release
    tag (into ~/s2s-course, once), installs the package from that clone with Colab's torch
    pinned by a constraint so that pip can never replace it, works from the clone's chapters/
    folder (where the committed experiment results the chapters cite are found), and prints what
    it installed; anywhere else it does nothing (make lab installed the package)."""
    repository, tag = release(root)
    return f'''import os
import subprocess
import sys

{INSTALL_MARK}:  # the course at its release; Colab's torch is kept
    from importlib.metadata import version

    course = os.path.expanduser("~/s2s-course")
    if not os.path.isdir(course):  # the repository at the release: package and results
        subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", "{tag}",
                        "{repository}", course], check=True)
    with open("/tmp/keep-torch.txt", "w") as f:  # a pip constraint: torch stays as it is
        f.write(f"torch=={{version('torch')}}\\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-c", "/tmp/keep-torch.txt",
                    course], check=True)
    os.chdir(os.path.join(course, "chapters"))  # cite() finds results/ from here
    print(f"installed s2s-course {{version('s2s-course')}} ({tag}), "
          f"torch {{version('torch')}} kept")'''


def _install_span(text: str) -> tuple[int, int] | None:
    """Start and end (in a py:percent file) of the body of the cell holding the install code."""
    mark = text.find(INSTALL_MARK)
    if mark < 0:
        return None
    start = text.rfind("# %%", 0, mark)
    start = text.index("\n", start) + 1
    end = text.find("\n# %%", mark)
    end = len(text) if end < 0 else end
    while text[end - 1] == "\n":
        end -= 1
    return start, end


def problems(root: Path = ROOT) -> list[str]:
    """What disagrees with pyproject.toml: badges, install cells, the README's table (empty =
    fine)."""
    found = []
    cell = install_cell(root)
    for chapter in chapters(root):
        stem = chapter.file
        text = (root / "chapters" / f"{stem}.py").read_text()
        badges = BADGE.findall(text)
        if badges != [badge(stem, root)]:
            found.append(f"chapters/{stem}.py: its Colab badge is not {badge(stem, root)}")
        span = _install_span(text)
        if span is None or text[span[0]:span[1]] != cell:
            found.append(f"chapters/{stem}.py: its install cell differs from the generated one")
    return found + readme_problems(root)


def _literal(text: str) -> str:
    """`text` as a re.sub replacement that inserts it verbatim."""
    return text.replace("\\", "\\\\")


def write(root: Path = ROOT) -> list[str]:
    """Rewrites what `problems` lists and syncs the notebooks; returns the files changed."""
    changed = []
    cell = install_cell(root)
    for chapter in chapters(root):
        stem = chapter.file
        path = root / "chapters" / f"{stem}.py"
        text = path.read_text()
        new = BADGE.sub(_literal(badge(stem, root)), text)
        span = _install_span(new)
        if span is None:
            raise SystemExit(f"{path}: no install cell (a code cell with {INSTALL_MARK!r})")
        new = new[:span[0]] + cell + new[span[1]:]
        if new != text:
            path.write_text(new)
            subprocess.run([sys.executable, "-m", "jupytext", "--sync", str(path)], check=True,
                           capture_output=True)
            changed.append(str(path.relative_to(root)))
    if write_readme(root):
        changed.append("README.md")
    return changed


def main(argv: list[str]) -> int:
    if argv == ["--check"]:
        found = problems()
        print("\n".join(found) or "ok: every badge, install cell and README link matches "
              "pyproject.toml")
        return 1 if found else 0
    if argv:
        print(__doc__)
        return 2
    print("\n".join(write()) or "nothing to change")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
