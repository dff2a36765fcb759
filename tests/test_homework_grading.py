"""Grading an instructor can trust: what the homework tooling does with submissions that are
not as expected, on a one-chapter toy course (one coding exercise with a hidden test, one
written answer, one experiment), so that each case costs a second of nbgrader instead of a
chapter's execution.

The folder scans run in `make unit`; the rest is marked `homework` and runs nbgrader's own
generate_assignment, autograde and generate_feedback (through tools/assignments.py):

- a student who deletes the test cell (and an answer cell) is graded on the test put back —
  0 for wrong code — and the CSV names the cells; one who edits a test cell to pass is graded
  on the restored test; one whose notebook crashes early is scored, the first error in the CSV;
- stray and misnamed files, and a student folder named badly, are reported per student while
  everyone else is graded (exit status 1); a notebook of a chapter not graded in this run is
  skipped;
- a submission with a timestamp after the due date is flagged late (nbgrader's own layout,
  SUBMISSIONS/<student>/<chapter>/ with timestamp.txt);
- the student's own outputs of an experiment are kept beside the autograder's run;
- grading one student again keeps the other students' rows, and a manual grade entered in the
  gradebook, intact, and does not execute their notebooks again;
- `scores` refreshes the CSV after manual grading; `feedback` shows no hidden test;
- a notebook past the time limit is stopped with its kernel, and reported."""

from __future__ import annotations

import contextlib
import csv
import html
import io
import re
import zipfile
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

import assignments
import scores
import submissions

TOY, OTHER = "90_toy", "80_other"
HIDDEN = 'assert double(-3) == -6, "double(-3) is wrong"'
VISIBLE = "assert double(2) == 4"
DUE, LATE = "2030-01-01 12:00:00 UTC", "2030-01-02 12:00:00 UTC"


def _meta(gid: str, points: float = 0) -> dict:
    role = gid.rsplit("_", 1)[1]
    solution, grade, locked = {"task": (False, False, True), "solution": (True, False, False),
                               "tests": (False, True, True), "answer": (True, True, False)}[role]
    m = {"grade_id": gid, "schema_version": 3, "task": False, "solution": solution,
         "grade": grade, "locked": locked}
    if grade:
        m["points"] = points
    return {"nbgrader": m}


def toy_notebook():
    cells = [
        new_markdown_cell("# A toy chapter"),
        new_code_cell('print("toy 1.0 | profile: ci | device: cpu")'),
        new_code_cell("import math"),
        new_markdown_cell("**Exercise 1.** Write `double(x)`.", metadata=_meta("ex1_code_task")),
        new_code_cell("def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
                      "    ### END SOLUTION", metadata=_meta("ex1_code_solution")),
        new_code_cell(f"{VISIBLE}\n### BEGIN HIDDEN TESTS\n{HIDDEN}\n### END HIDDEN TESTS",
                      metadata=_meta("ex1_code_tests", 2)),
        new_markdown_cell("**Exercise 2.** Why?", metadata=_meta("ex2_concept_task")),
        new_markdown_cell("Because.", metadata=_meta("ex2_concept_answer", 1)),
        new_markdown_cell("**Exercise 3.** Sum.", metadata=_meta("ex3_experiment_task")),
        new_code_cell("### BEGIN SOLUTION\nresult = sum(range(5))\n### END SOLUTION\n"
                      "print(f'result: {result}')", metadata=_meta("ex3_experiment_solution")),
        new_code_cell("assert isinstance(result, int)", metadata=_meta("ex3_experiment_tests", 1)),
        new_markdown_cell("It is 10.", metadata=_meta("ex3_experiment_answer", 1)),
    ]
    nb = new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    return nb


def make_course(root: Path) -> Path:
    """A course root (course.toml, pyproject.toml, chapters/) with the toy and one more."""
    (root / "chapters").mkdir(parents=True)
    (root / "course.toml").write_text("".join(
        f'[[chapters]]\nfile = "{c}"\ntitle = "{c}"\nlearn = "-"\nci_budget_s = 10\n\n'
        for c in (OTHER, TOY)))
    (root / "pyproject.toml").write_text(
        '[project]\nname = "toy"\nversion = "1.0"\n'
        '[project.urls]\nRepository = "https://github.com/example/toy"\n')
    nbformat.write(toy_notebook(), root / "chapters" / f"{TOY}.ipynb")
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), root / "chapters" / f"{OTHER}.ipynb")
    return root


def cell(nb, gid: str):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == gid)


def drop(nb, *gids: str):
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in gids]
    return nb


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = assignments.main(list(argv))
    return status, out.getvalue(), err.getvalue()


def read_csv(path: Path) -> dict[tuple[str, str, str], dict]:
    with open(path) as f:
        return {(r["student"], r["chapter"], r["cell"]): r for r in csv.DictReader(f)}


def text_of(html_text: str) -> str:
    """An HTML page's text (pygments splits code into spans)."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))


# ---------------------------------------------------------------------------------------------
# Reading a submissions folder (no nbgrader)

def test_stray_and_misnamed_files_are_reported_per_student(tmp_path):
    course = [OTHER, TOY]
    (tmp_path / "alice").mkdir()
    for name in (f"{TOY}.ipynb", f"{TOY} (1).ipynb", f"{OTHER}.ipynb", "notes.txt",
                 "homework1.ipynb", ".DS_Store"):
        (tmp_path / "alice" / name).write_text("{}")
    (tmp_path / "bob" / TOY).mkdir(parents=True)
    (tmp_path / "bob" / TOY / f"{TOY}.ipynb").write_text("{}")
    (tmp_path / "bob" / TOY / "timestamp.txt").write_text(LATE)
    (tmp_path / "bad name").mkdir()
    (tmp_path / "grades.xlsx").write_text("")
    found = submissions.scan(tmp_path, [TOY], course)
    assert [(s.student, s.chapter, s.timestamp is not None) for s in found.submissions] == [
        ("alice", TOY, False), ("bob", TOY, True)]
    strays = {(s.student, s.name): s.reason for s in found.strays}
    assert set(strays) == {("alice", f"{TOY} (1).ipynb"), ("alice", "notes.txt"),
                           ("alice", "homework1.ipynb"), ("bad name", ""), ("", "grades.xlsx")}
    assert f"rename it to {TOY}.ipynb" in strays["alice", f"{TOY} (1).ipynb"]
    assert f"{TOY}.ipynb" in strays["alice", "homework1.ipynb"]  # the names it would accept
    assert found.skipped == [f"alice/{OTHER}.ipynb"]
    assert found.students == ["alice", "bad name", "bob"]
    only = submissions.scan(tmp_path, [TOY], course, students=["bob"])
    assert [s.student for s in only.submissions] == ["bob"] and not only.strays


def test_unreadable_notebooks_are_named(tmp_path):
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "b.txt").write_text("not json")
    assert "not a readable notebook" in submissions.unreadable(tmp_path / "a.ipynb")
    assert "not a readable notebook" in submissions.unreadable(tmp_path / "b.txt")
    nbformat.write(toy_notebook(), tmp_path / "c.ipynb")
    assert submissions.unreadable(tmp_path / "c.ipynb") is None


def test_usage_errors_exit_2_before_grading(tmp_path):
    root = make_course(tmp_path / "root")
    common = ["--course-dir", str(tmp_path / "course"), "--root", str(root)]
    status, _, err = run("autograde", str(tmp_path / "missing"), *common)
    assert status == 2 and "is not a folder" in err
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / f"{TOY}.ipynb").write_text("{}")
    status, _, err = run("autograde", str(tmp_path / "subs"), *common)
    assert status == 2 and "no student folder" in err
    (tmp_path / "subs" / "alice").mkdir()
    status, _, err = run("autograde", str(tmp_path / "subs"), "--student", "zoe", *common)
    assert status == 2 and "--student: no folder zoe" in err
    status, _, err = run("autograde", str(tmp_path / "subs"), "--time-limit", "0", *common)
    assert status == 2 and "--time-limit" in err
    (tmp_path / "subs" / f"{TOY}.ipynb").unlink()
    status, _, err = run("autograde", str(tmp_path / "subs"), *common)
    assert status == 2 and "no notebooks" in err
    status, _, err = run("due", "someday", "--chapters", TOY, *common)
    assert status == 2 and "due date 'someday'" in err
    assert not (tmp_path / "course" / "gradebook.db").exists()


# ---------------------------------------------------------------------------------------------
# Grading the toy course with nbgrader

@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    """The toy course released, a due date set, and one autograde run over a class in which
    every student does something else."""
    tmp = tmp_path_factory.mktemp("toy")
    root, course, subs = make_course(tmp / "root"), tmp / "course", tmp / "submissions"
    common = ["--course-dir", str(course), "--root", str(root)]
    assert run("due", DUE, "--chapters", TOY, *common)[0] == 0
    status, out, _ = run("release", "--chapters", TOY, "--out", str(tmp / "release"), *common)
    assert status == 0, out
    student = nbformat.read(tmp / "release" / f"{TOY}.ipynb", as_version=4)
    source = toy_notebook()

    def submit(name: str, nb, file: str = f"{TOY}.ipynb") -> None:
        (subs / name / file).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, subs / name / file)

    complete = toy_notebook()  # as the student ran it, at the cpu profile, in nbgrader's
    complete.cells[1].outputs = [new_output("stream", text="toy 1.0 | profile: cpu\n")]
    cell(complete, "ex3_experiment_solution").outputs = [new_output("stream", text="result: 99\n")]
    submit("complete", complete, f"{TOY}/{TOY}.ipynb")  # layout, submitted a day late
    (subs / "complete" / TOY / "timestamp.txt").write_text(LATE)
    deleted = drop(nbformat.from_dict(student), "ex1_code_tests", "ex2_concept_answer")
    cell(deleted, "ex1_code_solution").source = "def double(x):\n    return x + 2"
    submit("deleted", deleted)
    edited = nbformat.from_dict(student)
    cell(edited, "ex1_code_tests").source = "pass  # the tests are fine"
    submit("edited", edited)
    crash = toy_notebook()
    crash.cells[2].source = "import toy_module_that_is_not_there"
    submit("crash", crash)
    submit("stray", source)
    submit("stray", source, f"{TOY} (1).ipynb")
    submit("stray", source, f"{OTHER}.ipynb")
    (subs / "stray" / "notes.txt").write_text("my notes")
    submit("bad name", source)
    status, out, err = run("autograde", str(subs), "--chapters", TOY, *common)
    return {"status": status, "out": out, "err": err, "rows": read_csv(course / "scores.csv"),
            "course": course, "subs": subs, "common": common, "release": tmp / "release",
            "root": root}


def autograded(toy, student: str):
    return nbformat.read(toy["course"] / "autograded" / student / TOY / f"{TOY}.ipynb",
                         as_version=4)


@pytest.mark.homework
def test_release_is_zipped_for_handing_out(toy):
    zipped = toy["release"] / "student-notebooks-v1.0.zip"
    with zipfile.ZipFile(zipped) as z:
        assert z.namelist() == [f"{TOY}.ipynb"]
        assert "BEGIN SOLUTION" not in z.read(f"{TOY}.ipynb").decode()


@pytest.mark.homework
def test_strays_are_reported_and_everyone_else_is_graded(toy):
    rows, err = toy["rows"], toy["err"]
    assert toy["status"] == 1
    for student in ("complete", "deleted", "edited", "crash", "stray"):
        assert rows[student, TOY, scores.TOTAL]["status"].startswith(
            ("graded", "needs manual grade")), student
    assert rows["stray", TOY, "ex1_code_tests"]["score"] == "2"
    for name in (f"{TOY} (1).ipynb", "notes.txt"):
        assert rows["stray", "", name]["status"].startswith("not graded"), name
        assert f"stray/{name}" in err
    assert f"rename it to {TOY}.ipynb" in rows["stray", "", f"{TOY} (1).ipynb"]["status"]
    assert "not an id" in rows["bad name", "", ""]["status"] and "bad name" in err
    assert ("stray", OTHER, scores.TOTAL) not in rows
    assert f"skipped stray/{OTHER}.ipynb" in toy["out"]
    assert (toy["course"] / "logs" / TOY / "complete.log").read_text().strip()


@pytest.mark.homework
def test_deleted_cells_are_put_back_graded_and_named(toy):
    rows = toy["rows"]
    tests, answer = rows["deleted", TOY, "ex1_code_tests"], rows["deleted", TOY,
                                                                 "ex2_concept_answer"]
    assert (tests["score"], tests["status"]) == ("0", "graded")  # x + 2: the hidden test fails
    assert "deleted by the student" in tests["note"]
    assert (answer["score"], answer["status"]) == ("0", "graded: unanswered")
    assert "deleted by the student" in answer["note"]
    assert "ex1_code_tests deleted" in rows["deleted", TOY, scores.TOTAL]["note"]
    assert HIDDEN in cell(autograded(toy, "deleted"), "ex1_code_tests").source


@pytest.mark.homework
def test_an_edited_test_cell_is_restored(toy):
    row = toy["rows"]["edited", TOY, "ex1_code_tests"]
    assert row["score"] == "0" and "edited by the student; restored" in row["note"]
    assert VISIBLE in cell(autograded(toy, "edited"), "ex1_code_tests").source
    assert "edited" not in toy["rows"]["complete", TOY, "ex1_code_tests"]["note"]


@pytest.mark.homework
def test_an_early_crash_is_scored_and_named(toy):
    rows = toy["rows"]
    total = rows["crash", TOY, scores.TOTAL]
    assert "first error: code cell 2: ModuleNotFoundError: No module named " \
           "'toy_module_that_is_not_there'" in total["note"]
    assert rows["crash", TOY, "ex1_code_tests"]["score"] == "2"
    assert "first error" not in rows["complete", TOY, scores.TOTAL]["note"]
    assert "first error: ex1_code_tests: NotImplementedError" in rows["edited", TOY,
                                                                       scores.TOTAL]["note"]


@pytest.mark.homework
def test_late_submission_is_flagged(toy):
    total = toy["rows"]["complete", TOY, scores.TOTAL]
    assert total["seconds_late"] == "86400"
    assert "late: submitted 2030-01-02 12:00 UTC, due 2030-01-01 12:00 UTC" in total["note"]
    assert toy["rows"]["crash", TOY, scores.TOTAL]["seconds_late"] == ""
    assert f"complete/{TOY}: 86400 s late" in toy["out"]


@pytest.mark.homework
def test_experiment_outputs_of_the_student_are_kept(toy):
    nb = autograded(toy, "complete")
    index = nb.cells.index(cell(nb, "ex3_experiment_solution"))
    ran, note = nb.cells[index], nb.cells[index + 1]
    assert "result: 10" in ran.outputs[0].text  # the autograder's run
    assert note.cell_type == "markdown" and "result: 99" in note.source
    assert "profile: cpu" in note.source


@pytest.mark.homework
def test_feedback_has_no_hidden_test(toy):
    status, out, _ = run("feedback", "--chapters", TOY, "--student", "deleted", *toy["common"])
    assert status == 0, out
    page = toy["course"] / "feedback" / "deleted" / TOY / f"{TOY}.html"
    assert str(page) in out
    text = text_of(page.read_text())
    assert VISIBLE in text and "AssertionError" in text  # the student sees the test failed
    assert "double(-3) == -6" not in text and "HIDDEN TESTS" not in text


@pytest.mark.homework
def test_rerun_for_one_student_keeps_the_others_and_manual_grades(toy):
    from nbgrader.api import Gradebook

    from nbgrader_settings import COURSE_ID

    course = toy["course"]
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        for student in ("complete", "stray"):  # as the formgrader saves a manual grade
            gb.find_grade("ex2_concept_answer", TOY, TOY, student).manual_score = 1.0
        gb.db.commit()
    status, _, _ = run("scores", *toy["common"])
    rows = read_csv(course / "scores.csv")
    assert status == 0
    for student in ("complete", "stray"):
        row = rows[student, TOY, "ex2_concept_answer"]
        assert (row["score"], row["status"]) == ("1", "graded by hand"), row
    others = {p: p.stat().st_mtime_ns for p in course.glob(f"autograded/*/{TOY}/{TOY}.ipynb")
              if p.parts[-3] != "complete"}
    status, out, _ = run("autograde", str(toy["subs"]), "--chapters", TOY, "--student",
                         "complete", *toy["common"])
    assert status == 0, out
    again = read_csv(course / "scores.csv")
    assert {p: p.stat().st_mtime_ns for p in others} == others  # not executed again
    assert set(again) == set(rows)
    for key, row in rows.items():
        if key[0] != "complete":
            assert again[key] == row, key
    kept = again["complete", TOY, "ex2_concept_answer"]
    assert (kept["score"], kept["status"]) == ("1", "graded by hand")
    assert "review it in the formgrader" in kept["note"]


@pytest.mark.homework
def test_a_notebook_past_the_time_limit_is_stopped_and_reported(toy, tmp_path):
    slow = toy_notebook()
    for index in (2, 4, 9):
        slow.cells[index].source = "import time\ntime.sleep(60)"
    (tmp_path / "slow").mkdir()
    nbformat.write(slow, tmp_path / "slow" / f"{TOY}.ipynb")
    status, _, err = run("autograde", str(tmp_path), "--chapters", TOY, "--time-limit", "3",
                         "--csv", str(tmp_path / "scores.csv"), *toy["common"])
    assert status == 1
    assert "slow/90_toy.ipynb: ran past the time limit of 3 s" in err
    row = read_csv(tmp_path / "scores.csv")["slow", TOY, scores.TOTAL]
    assert row["status"].startswith("not graded: ran past the time limit")
    left = [p for p in psutil.Process().children(recursive=True)
            if "ipykernel" in " ".join(p.cmdline())]
    assert not left, left
