"""The homework cells of every chapter, and the student release nbgrader makes of them.

The release test runs nbgrader's own generate_assignment (through tools/assignments.py) on
every chapter; the autograding test is tests/test_homework_autograde.py."""

from __future__ import annotations

import json
import re

import jupytext
import nbformat
import pytest

import assignments
from assignments import HomeworkError, exercises
from course import ROOT, chapters

CHAPTERS = [c.file for c in chapters(ROOT)]
SOLUTION = re.compile(r"### BEGIN SOLUTION\n(.*?)### END SOLUTION", re.S)
HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.S)


def notebook(chapter: str):
    return nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)


def meta(cell) -> dict:
    return cell.metadata.get("nbgrader", {})


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_three_kinds_of_exercises_with_points(chapter):
    found = exercises(notebook(chapter))
    kinds = {ex.kind for ex in found}
    assert len(found) >= 3, f"{chapter}: {len(found)} exercises"
    assert kinds == {"code", "concept", "experiment"}, f"{chapter}: kinds {kinds}"
    for ex in found:
        assert "task" in ex.roles, f"{chapter} exercise {ex.number}: no locked task cell"
        assert sum(ex.points.values()) > 0, f"{chapter} exercise {ex.number}: no points"
        if ex.kind == "code":
            assert {"solution", "tests"} <= set(ex.roles), (chapter, ex)
        if ex.kind == "concept":
            assert "answer" in ex.roles, (chapter, ex)
        if ex.kind == "experiment":
            assert "answer" in ex.roles, f"{chapter} exercise {ex.number}: nothing to report"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_cells_are_what_nbgrader_expects(chapter):
    nb = notebook(chapter)
    for index, cell in enumerate(nb.cells):
        m, text = meta(cell), cell.source
        where = f"{chapter} cell {index} ({m.get('grade_id', 'no nbgrader metadata')})"
        has_solution, has_hidden = "### BEGIN SOLUTION" in text, "### BEGIN HIDDEN" in text
        if not m:
            assert not (has_solution or has_hidden), f"{where}: markers outside exercise cells"
            continue
        assert m["schema_version"] == 3 and not m["task"], where
        role = m["grade_id"].rsplit("_", 1)[1]
        expected = {  # (cell type, solution, grade, locked)
            "task": ("markdown", False, False, True),
            "solution": ("code", True, False, False),
            "tests": ("code", False, True, True),
            "answer": ("markdown", True, True, False),
        }[role]
        assert (cell.cell_type, m["solution"], m["grade"], m["locked"]) == expected, where
        if m["grade"]:
            assert m["points"] > 0, where
        if role == "solution":
            assert has_solution and "### END SOLUTION" in text, f"{where}: no solution region"
        else:
            assert not has_solution, f"{where}: a solution region outside a solution cell"
        if has_hidden:
            assert role == "tests", f"{where}: hidden tests outside a test cell"
        if role == "tests":
            # A test that does not call the student's code would score points on a blank
            # release; the autograding test checks that on real submissions.
            assert "assert" in text, where


def test_exercise_numbering_is_checked():
    nb = notebook(CHAPTERS[0])
    bad = next(c for c in nb.cells if meta(c))
    bad.metadata["nbgrader"] = {**meta(bad), "grade_id": "question one"}
    with pytest.raises(HomeworkError, match="does not read ex<N>"):
        exercises(nb)
    nb = notebook(CHAPTERS[0])
    cells = [c for c in nb.cells if meta(c)]
    cells[1].metadata["nbgrader"] = {**meta(cells[1]), "grade_id": meta(cells[0])["grade_id"]}
    with pytest.raises(HomeworkError, match="used twice"):
        exercises(nb)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_metadata_survives_the_jupytext_round_trip(chapter):
    """.py -> notebook -> .py gives the same text, and the .py twin carries the metadata."""
    py_text = (ROOT / "chapters" / f"{chapter}.py").read_text()
    from_py = jupytext.reads(py_text, fmt="py:percent")
    config = jupytext.config.load_jupytext_configuration_file(str(ROOT / "jupytext.toml"))
    back = jupytext.writes(from_py, fmt="py:percent", config=config)
    assert back == py_text
    ours = [meta(c) for c in notebook(chapter).cells if meta(c)]
    theirs = [meta(c) for c in from_py.cells if meta(c)]
    assert ours and ours == theirs


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """Student versions of every chapter, made by nbgrader's generate_assignment."""
    course = tmp_path_factory.mktemp("course")
    out = tmp_path_factory.mktemp("release")
    return assignments.release(CHAPTERS, course, out)


def secrets(nb) -> list[str]:
    """The text a student must not see: solution regions, whole solution cells of written
    answers, and hidden tests, split into lines; lines that also occur elsewhere in the
    chapter (a bare `return out`, say) are left out, since they give nothing away."""
    regions = []
    for cell in nb.cells:
        m = meta(cell)
        if m.get("solution") and cell.cell_type == "markdown":
            regions.append(cell.source)
        regions += SOLUTION.findall(cell.source) + HIDDEN.findall(cell.source)
    public = "\n".join(SOLUTION.sub("", HIDDEN.sub("", c.source)) for c in nb.cells
                       if not (meta(c).get("solution") and c.cell_type == "markdown"))
    lines = {line.strip() for region in regions for line in region.splitlines()}
    return sorted(line for line in lines if len(line) > 12 and line not in public)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_keeps_no_solution_and_no_hidden_test(released, chapter):
    source = notebook(chapter)
    student_path = released[chapter]
    student = nbformat.read(student_path, as_version=4)
    text = student_path.read_text()  # sources and outputs, as JSON
    flat = "\n".join(c.source for c in student.cells) + json.dumps(
        [c.get("outputs", []) for c in student.cells])
    hidden = secrets(source)
    assert len(hidden) >= 5, f"{chapter}: the secret lines were not found"
    leaked = [line for line in hidden if line in flat or json.dumps(line)[1:-1] in text]
    assert not leaked, f"{chapter}: the student version shows {leaked[:3]}"
    assert "### BEGIN" not in text
    for cell in student.cells:
        m = meta(cell)
        if m.get("solution") and cell.cell_type == "code":
            assert "raise NotImplementedError()" in cell.source
            assert cell.outputs == [] and cell.execution_count is None
        if m.get("solution") and cell.cell_type == "markdown":
            assert cell.source.strip() == "YOUR ANSWER HERE"
        if m.get("grade") and cell.cell_type == "code":
            assert cell.outputs == []


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_keeps_the_chapter_outputs(released, chapter):
    """Only exercise cells lose their outputs: the figures and tables of the chapter stay."""
    source = notebook(chapter)
    student = nbformat.read(released[chapter], as_version=4)
    assert len(student.cells) == len(source.cells)
    for before, after in zip(source.cells, student.cells, strict=True):
        if before.cell_type == "code" and not meta(before):
            assert after.source == before.source
            assert after.outputs == before.outputs
    assert sum(bool(c.get("outputs")) for c in student.cells) > 0


def test_bad_arguments_name_the_argument(tmp_path):
    with pytest.raises(HomeworkError, match="--chapters: unknown chapter"):
        assignments.select_chapters(["09_nope"])
    assert assignments.select_chapters([CHAPTERS[2], CHAPTERS[0]]) == [CHAPTERS[0], CHAPTERS[2]]
    with pytest.raises(HomeworkError, match="--profile must be one of"):
        assignments.autograde(tmp_path, CHAPTERS, tmp_path / "course", profile="fast")
