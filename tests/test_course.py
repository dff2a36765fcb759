"""The repository's own consistency: course.toml vs chapters/ and README.md, jupytext pairs,
ruff, environment, and the chapter runner's time budgets (tools/).

Each check is also run on a broken copy, to show that the test command would fail."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import nbformat
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import colab
import run_chapters
from course import (
    LONG_CELL_TAG,
    MAX_CODE_LINES,
    MIN_PROSE_SHARE,
    README_BEGIN,
    README_END,
    ROOT,
    book_problems,
    chapters,
    figures,
    long_code_cells,
    pair_problems,
    progress_snapshots,
    prose_share,
    readme_problems,
    release,
    write_readme,
)

PY = sys.executable


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """A copy of the files the checks read: course.toml, chapters/, pyproject.toml, a utils file."""
    for name in ("course.toml", "pyproject.toml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "chapters", tmp_path / "chapters",
                    ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    (tmp_path / "utils").mkdir()
    shutil.copy(ROOT / "utils" / "s2s" / "runtime.py", tmp_path / "utils" / "runtime.py")
    return tmp_path


def run_check_script(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run([PY, str(ROOT / "tools/check_pairs.py"), str(root)],
                          capture_output=True, text=True)


def test_book_lists_exactly_the_chapters():
    assert book_problems(ROOT) == []
    assert [c.file for c in chapters()][0] == "01_encoder_decoder"


def test_every_pair_is_in_sync():
    assert pair_problems(ROOT / "chapters") == []


def test_clean_copy_passes_the_check_script(repo_copy):
    result = run_check_script(repo_copy)
    assert result.returncode == 0, result.stdout


def test_deleted_chapter_fails(repo_copy):
    (repo_copy / "chapters" / "01_encoder_decoder.ipynb").unlink()
    result = run_check_script(repo_copy)
    assert result.returncode == 1
    assert "listed in course.toml but does not exist" in result.stdout


def test_unlisted_chapter_fails(repo_copy):
    for ext in ("ipynb", "py"):
        shutil.copy(repo_copy / "chapters" / f"01_encoder_decoder.{ext}",
                    repo_copy / "chapters" / f"99_extra.{ext}")
    result = run_check_script(repo_copy)
    assert result.returncode == 1
    assert "99_extra.ipynb exists but is not listed" in result.stdout


def test_desynced_pair_fails(repo_copy):
    py = repo_copy / "chapters" / "01_encoder_decoder.py"
    py.write_text(py.read_text().replace("V = 14", "V = 15", 1))
    result = run_check_script(repo_copy)
    assert result.returncode == 1
    assert "disagree" in result.stdout and "jupytext --sync" in result.stdout


def test_pair_with_different_nbgrader_metadata_fails(repo_copy):
    """Points changed in the .py twin only: same sources, different homework metadata."""
    py = repo_copy / "chapters" / "01_encoder_decoder.py"
    text = py.read_text()
    assert '"points": 2' in text
    py.write_text(text.replace('"points": 2', '"points": 5', 1))
    result = run_check_script(repo_copy)
    assert result.returncode == 1
    assert "disagree" in result.stdout


def test_missing_twin_fails(repo_copy):
    (repo_copy / "chapters" / "01_encoder_decoder.py").unlink()
    result = run_check_script(repo_copy)
    assert result.returncode == 1
    assert "has no jupytext twin" in result.stdout


def test_ruff_passes_on_the_repo_and_fails_on_an_error(repo_copy):
    targets = ["utils", "tests", "tools", "benchmarks", "chapters"]
    clean = subprocess.run([PY, "-m", "ruff", "check", *targets], cwd=ROOT,
                           capture_output=True, text=True)
    assert clean.returncode == 0, clean.stdout
    bad = repo_copy / "utils" / "runtime.py"
    bad.write_text("import json\n" + bad.read_text())  # an unused import, out of order
    broken = subprocess.run([PY, "-m", "ruff", "check", "utils", "chapters"], cwd=repo_copy,
                            capture_output=True, text=True)
    assert broken.returncode == 1
    assert "F401" in broken.stdout


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _constraints() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    return pins


def test_environment_yml_installs_what_pyproject_declares():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    project = _pyproject()["project"]
    assert env["channels"] == ["conda-forge"]
    conda_deps = [d for d in env["dependencies"] if isinstance(d, str)]
    pip_section = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    # conda supplies only the interpreter and pip; every library comes from pyproject.toml
    assert sorted(d.split("=")[0] for d in conda_deps) == ["pip", "python"]
    python = next(d for d in conda_deps if d.startswith("python="))
    version = python.split("=")[1]
    assert Requirement(f"python{project['requires-python']}").specifier.contains(version + ".0")
    assert "-e .[dev]" in pip_section
    assert "dev" in project["optional-dependencies"]
    assert "-c constraints.txt" in pip_section


def test_constraints_pin_every_declared_dependency_within_its_range():
    project = _pyproject()["project"]
    pins = _constraints()
    declared = project["dependencies"] + project["optional-dependencies"]["dev"]
    for spec in declared:
        req = Requirement(spec)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is in pyproject.toml but not pinned in constraints.txt"
        assert req.specifier.contains(pins[name]), f"{req.name}=={pins[name]} is outside {req}"


def test_badges_and_install_cells_come_from_pyproject():
    """Every chapter's Colab badge and install cell, and the README's links, are what
    tools/colab.py generates from pyproject.toml (the one place of the address)."""
    assert colab.problems(ROOT) == []
    for chapter in chapters():
        source = (ROOT / "chapters" / f"{chapter.file}.py").read_text()
        assert "%pip" not in source, "call pip through subprocess (STYLE.md §3)"


def test_readme_chapter_table_is_generated_from_course_toml():
    """README.md's chapter table is what `python tools/course.py readme --write` generates, and
    the README stays a newcomer's page: short, with the test command CI runs (.ci/run)."""
    assert readme_problems(ROOT) == []
    readme = (ROOT / "README.md").read_text()
    for n, chapter in enumerate(chapters(), 1):
        row = next((line for line in readme.splitlines()
                    if f"(chapters/{chapter.file}.ipynb)" in line), None)
        assert row is not None, f"README's chapter table has no row for {chapter.file}"
        assert row.startswith(f"| {n} | [{chapter.title}]")
    begin, end = readme.index(README_BEGIN), readme.index(README_END)
    hand_written = readme[:begin].count("\n") + readme[end:].count("\n")
    assert hand_written <= 115, (f"README.md has {hand_written} lines besides its chapter block: "
                                 "it is a newcomer's page; move details to the guides it links")
    assert "make test" in readme and "make lab" in readme


def test_a_readme_that_drifts_from_course_toml_is_caught(repo_copy):
    shutil.copy(ROOT / "README.md", repo_copy / "README.md")
    assert readme_problems(repo_copy) == []
    toml = repo_copy / "course.toml"
    toml.write_text(toml.read_text().replace('title = "Beam search"', 'title = "Beams"', 1))
    found = readme_problems(repo_copy)
    assert len(found) == 1 and "'| 5 | [Beam search]" in found[0], found
    assert "tools/course.py readme --write" in found[0]
    assert write_readme(repo_copy) is True
    assert readme_problems(repo_copy) == []
    assert "| 5 | [Beams](chapters/05_beam_search.ipynb)" in (repo_copy / "README.md").read_text()
    readme = repo_copy / "README.md"
    readme.write_text(readme.read_text().replace(README_BEGIN, "<!-- chapters -->"))
    assert "no chapter block" in readme_problems(repo_copy)[0]


def test_a_chapter_that_disagrees_with_pyproject_is_reported(repo_copy):
    for name in ("README.md", "jupytext.toml"):
        shutil.copy(ROOT / name, repo_copy / name)
    py = repo_copy / "chapters" / "02_data.py"
    repository, tag = release(ROOT)
    pinned = py.read_text()
    unpinned = pinned.replace(f'"--branch", "{tag}",', "", 1)  # a clone of the default branch
    assert unpinned != pinned
    py.write_text(unpinned)
    readme = repo_copy / "README.md"
    readme.write_text(readme.read_text().replace(f"/blob/{tag}/chapters/05_beam", "/blob/main/"
                                                 "chapters/05_beam", 1))
    found = colab.problems(repo_copy)
    assert len(found) == 2
    assert "02_data.py: its install cell differs" in found[0]
    assert found[1].startswith("README.md line") and "05_beam_search" in found[1]
    assert colab.write(repo_copy) == ["chapters/02_data.py", "README.md"]
    assert colab.problems(repo_copy) == []


# ---------------------------------------------------------------------------------------------
# The shape of every chapter: half prose at least, short code cells, a real figure


def _notebook(*cells) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def _image_output(metadata: dict | None = None) -> nbformat.NotebookNode:
    return nbformat.v4.new_output("display_data", data={"image/png": "iVBORw0KGgo="},
                                  metadata=metadata or {})


@pytest.mark.parametrize("chapter", chapters(), ids=lambda c: c.file)
def test_every_chapter_is_at_least_half_prose(chapter):
    share = prose_share(nbformat.read(chapter.notebook(), as_version=4))
    assert share >= MIN_PROSE_SHARE, (
        f"{chapter.file}: prose is {share:.1%} of the characters, below {MIN_PROSE_SHARE:.0%}: "
        "explain more before each cell, or move code into the library")


@pytest.mark.parametrize("chapter", chapters(), ids=lambda c: c.file)
def test_every_chapter_has_a_figure_that_is_not_a_progress_plot(chapter):
    nb = nbformat.read(chapter.notebook(), as_version=4)
    assert figures(nb), f"{chapter.file}: no figure other than training-progress snapshots"
    assert progress_snapshots(nb) == [], (
        f"{chapter.file}: cells {progress_snapshots(nb)} still show a live progress plot")
    widgets = [i for i, cell in enumerate(nb.cells) for out in cell.get("outputs", [])
               if "application/vnd.jupyter.widget-view+json" in out.get("data", {})]
    assert widgets == [], (f"{chapter.file}: cells {widgets} store a widget (a progress bar "
                           "frozen at its first state, since the widget's state is not saved)")


@pytest.mark.parametrize("chapter", chapters(), ids=lambda c: c.file)
def test_code_cells_are_short_unless_tagged(chapter):
    long = long_code_cells(nbformat.read(chapter.notebook(), as_version=4))
    assert long == [], (f"{chapter.file}: code cells (index, lines) {long} exceed "
                        f"{MAX_CODE_LINES} lines: split them, or tag one '{LONG_CELL_TAG}' and "
                        "say why in the markdown above it")


def test_shape_checks_fail_on_bad_notebooks():
    code_only = _notebook(nbformat.v4.new_code_cell("x = 1\n" * 25))
    assert prose_share(code_only) == 0.0
    assert long_code_cells(code_only) == [(0, 25)]
    code_only.cells[0].metadata["tags"] = [LONG_CELL_TAG]
    assert long_code_cells(code_only) == []
    half = _notebook(nbformat.v4.new_markdown_cell("ab"), nbformat.v4.new_code_cell("cd"))
    assert prose_share(half) == 0.5
    progress = nbformat.v4.new_code_cell("fit(...)")
    progress.outputs = [_image_output({"s2s_progress": True})]
    figure = nbformat.v4.new_code_cell("plt.show()")
    figure.outputs = [_image_output()]
    assert figures(_notebook(progress)) == [] and progress_snapshots(_notebook(progress)) == [0]
    assert figures(_notebook(progress, figure)) == [1]


# ---------------------------------------------------------------------------------------------
# The chapter runner (tools/run_chapters.py): strict, quiet kernels and enforced ci budgets


def test_over_budget_names_the_chapter_its_time_and_its_budget():
    budgets = {"01_encoder_decoder": 60.0, "03_rnn_seq2seq": 120.0}
    assert run_chapters.BUDGET_MARGIN == 1.5
    assert run_chapters.over_budget({"01_encoder_decoder": 89.9, "03_rnn_seq2seq": 180.0},
                                    budgets) == []  # over the budget, within the margin
    assert run_chapters.over_budget({"99_unbudgeted": 1e6}, budgets) == []
    found = run_chapters.over_budget({"01_encoder_decoder": 90.5, "03_rnn_seq2seq": 100.0},
                                     budgets)
    assert len(found) == 1
    assert found[0].startswith("01_encoder_decoder took 90.5 s")
    assert "budget of 60 s" in found[0] and "at most 90 s" in found[0]
    assert run_chapters.over_budget({"03_rnn_seq2seq": 130.0}, budgets, margin=1.0) != []


def _fake_pytest(seconds: dict[str, float], seen: dict):
    """pytest.main as the runner calls it: records the environment the kernels would inherit
    and the notebooks asked for, and reports `seconds` as the chapters' wall times."""
    def main(args, plugins):
        seen.update({k: run_chapters.os.environ.get(k) for k in ("S2S_STRICT", "S2S_QUIET")},
                    notebooks=[a for a in args if a.endswith(".ipynb")])
        plugins[0].seconds.update(seconds)
        return 0
    return main


def test_runner_exports_strict_and_quiet_and_fails_a_chapter_over_budget(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)  # the runner moves to the repository root
    for name, value in (("S2S_PROFILE", "ci"), ("S2S_STRICT", "0"), ("S2S_QUIET", "0")):
        monkeypatch.setenv(name, value)
    seen: dict = {}
    budget = {c.file: c.ci_budget_s for c in chapters()}["02_data"]
    monkeypatch.setattr(run_chapters.pytest, "main",
                        _fake_pytest({"02_data": 1.6 * budget}, seen))
    assert run_chapters.main(["--chapters", "02_data"]) == 1
    assert seen == {"S2S_STRICT": "1", "S2S_QUIET": "1", "notebooks": ["chapters/02_data.ipynb"]}
    out = capsys.readouterr().out
    assert f"FAIL: 02_data took {1.6 * budget:.1f} s" in out and f"{budget:g} s" in out
    monkeypatch.setattr(run_chapters.pytest, "main", _fake_pytest({"02_data": budget}, seen))
    assert run_chapters.main(["--chapters", "02_data"]) == 0
    monkeypatch.setenv("S2S_PROFILE", "cpu")  # budgets are for the ci profile only
    monkeypatch.setattr(run_chapters.pytest, "main",
                        _fake_pytest({"02_data": 10 * budget}, seen))
    assert run_chapters.main(["--chapters", "02_data"]) == 0
    assert run_chapters.main(["--chapters", "99_nope"]) == 2
