"""Autograding with nbgrader's own generate_assignment and autograde, end to end.

Marked `homework`: `make test` runs it beside the chapters (`make homework-beside`), by when
the `ci` models it needs are in the cache. Autograding executes every submitted notebook, so
it grades two of the chapters that execute fastest at the `ci` profile, 02 and 05 (about 30 and
15 s here); the others (01 took 37 s, and `make test` keeps under 10 minutes) are released and
checked by tests/test_homework.py and executed with their hidden tests by nbval, but not
autograded here.
Submissions, all at the `ci` profile:

- `complete`: the chapters as committed (with solutions), for 02 and 05: full marks on
  every autograded cell;
- `blank`: the student release unchanged, for 02 and 05: 0 on every autograded cell, the
  written answers 0 as well (nbgrader scores an unchanged answer cell 0), and no crash;
- `one_solved`: chapter 05's release with exercise 1's solution put back: exactly that
  exercise's points;
- `broken`: a file named like a chapter that is not a notebook: reported by name, on stderr
  and in the CSV, after the others are graded, with exit status 1.

Autograding runs every submission in one worker process (tools/autograde_worker.py), and the
release made here is not made again by autograde (the chapter has not changed). What
submissions that delete, edit or crash do, stray files, re-runs, feedback, late submissions
and the time limit are tested on a toy course by tests/test_homework_grading.py."""

from __future__ import annotations

import contextlib
import csv
import io
from collections import defaultdict

import nbformat
import pytest

import assignments
import scores
from assignments import exercises
from course import ROOT

pytestmark = pytest.mark.homework
GRADED = ["02_data", "05_beam_search"]


def source(chapter: str):
    return nbformat.read(ROOT / "chapters" / f"{chapter}.ipynb", as_version=4)


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    subs = tmp_path_factory.mktemp("submissions")
    released = assignments.release(GRADED, course, tmp_path_factory.mktemp("release"))
    for chapter in GRADED:
        (subs / "complete").mkdir(exist_ok=True)
        nbformat.write(source(chapter), subs / "complete" / f"{chapter}.ipynb")
    for chapter in ("02_data", "05_beam_search"):
        (subs / "blank").mkdir(exist_ok=True)
        (subs / "blank" / f"{chapter}.ipynb").write_bytes(released[chapter].read_bytes())
    # one_solved: the release of chapter 5 with exercise 1's solution cell from the source
    student = nbformat.read(released["05_beam_search"], as_version=4)
    ex1 = exercises(source("05_beam_search"))[0]
    index = ex1.roles["solution"]
    student.cells[index].source = source("05_beam_search").cells[index].source
    (subs / "one_solved").mkdir()
    nbformat.write(student, subs / "one_solved" / "05_beam_search.ipynb")
    (subs / "broken").mkdir()
    (subs / "broken" / "02_data.ipynb").write_text("{ this is not a notebook")
    scores = course / "scores.csv"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        status = assignments.main(["autograde", str(subs), "--chapters", *GRADED,
                                   "--course-dir", str(course), "--csv", str(scores)])
    with open(scores) as f:
        rows = list(csv.DictReader(f))
    table = defaultdict(dict)
    for row in rows:
        table[row["student"], row["chapter"]][row["cell"]] = row
    return status, table, ex1, err.getvalue()


def test_exit_status_reports_the_broken_submission(graded):
    status, table, _, err = graded
    assert status == 1
    assert "broken/02_data.ipynb: not a readable notebook" in err
    assert set(table["broken", "02_data"]) == {scores.TOTAL}
    assert table["broken", "02_data"][scores.TOTAL]["status"].startswith(
        "not graded: not a readable notebook")


def test_complete_submissions_score_full_marks(graded):
    _, table, _, _ = graded
    for chapter in GRADED:
        cells = table["complete", chapter]
        tests = {k: r for k, r in cells.items() if r["graded_by"] == "tests"}
        expected = {f"ex{e.number}_{e.kind}_tests" for e in exercises(source(chapter))
                    if "tests" in e.points}
        assert set(tests) == expected, chapter
        for name, row in tests.items():
            assert row["score"] == row["max_score"], f"{chapter} {name}: {row}"
        for row in cells.values():
            if row["graded_by"] == "hand":
                assert row["status"] == "needs manual grade" and row["score"] == ""
        total = cells[scores.TOTAL]
        assert total["status"].startswith("needs manual grade") and not total["note"], total
        assert float(total["score"]) == sum(float(r["score"]) for r in tests.values())


def test_blank_release_scores_zero(graded):
    _, table, _, _ = graded
    for chapter in ("02_data", "05_beam_search"):
        cells = table["blank", chapter]
        assert cells, chapter
        for name, row in cells.items():
            assert row["status"].startswith("graded") and float(row["score"]) == 0, f"{name}: {row}"
        assert "NotImplementedError" in cells[scores.TOTAL]["note"]  # the first error


def test_one_solved_exercise_scores_exactly_its_points(graded):
    _, table, ex1, _ = graded
    cells = table["one_solved", "05_beam_search"]
    auto = {k: float(r["score"]) for k, r in cells.items() if r["graded_by"] == "tests"}
    assert auto[f"ex1_{ex1.kind}_tests"] == ex1.points["tests"] > 0
    assert sum(auto.values()) == ex1.points["tests"]
