"""Homework with nbgrader: student versions of the chapters, and autograding of submissions.

    python tools/assignments.py list [--chapters 01_encoder_decoder ...]
    python tools/assignments.py release [--chapters 01_encoder_decoder ...]
    python tools/assignments.py autograde SUBMISSIONS [--chapters ...] [--csv FILE]

(`make release` and `make autograde SUBMISSIONS=dir` call these; the instructor's guide is
homework/README.md.) Each chapter is one
nbgrader assignment, named after the notebook. The nbgrader course folder (its `source/`,
`release/`, `submitted/`, `autograded/` and `gradebook.db`) is `build/homework/`, not committed.

release    copies every chapter into `build/homework/source/<chapter>/`, runs nbgrader's
           `generate_assignment` (solutions replaced by a stub, hidden tests removed, the
           outputs of exercise cells cleared; every other output kept) and copies each student
           notebook to `release/<chapter>.ipynb`.
autograde  takes `SUBMISSIONS/<student>/<chapter>.ipynb`, releases those chapters again (so the
           gradebook holds the current tests), runs nbgrader's `autograde` — which executes each
           notebook, with the hidden tests put back — at the `ci` profile unless `--profile`
           says otherwise, and writes one CSV row per student, chapter and graded cell
           (default `build/homework/scores.csv`). Written answers are left for the instructor:
           their rows say `needs manual grade` until graded in nbgrader's formgrader.

A notebook that cannot be graded (not a notebook, or nbgrader fails on it) is reported by
name, with nbgrader's reason, after every other submission is graded; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from course import ROOT
from course import chapters as course_chapters
from s2s.profiles import PROFILE_NAMES

HERE = Path(__file__).resolve().parent
COURSE_DIR = ROOT / "build" / "homework"
RELEASE_DIR = ROOT / "release"
STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class HomeworkError(Exception):
    """A bad argument or submission folder; the message says what to do."""


# The course's convention for nbgrader's grade_id: ex<N>_<kind>_<role>. kind: code (a coding
# exercise: solution cell, then a test cell with visible and hidden tests), concept (a question
# answered in words, graded by hand) or experiment (run something, report a number, explain
# it: a solution cell, its test cell and a written report). role: task (the locked
# instructions), solution, tests (autograded), answer (a written answer, graded by hand).
GRADE_ID = re.compile(r"^ex(?P<n>[1-9][0-9]*)_(?P<kind>code|concept|experiment)_"
                      r"(?P<role>task|solution|tests|answer)$")
KINDS = {"code": "coding", "concept": "written answer", "experiment": "experiment"}


@dataclass
class Exercise:
    number: int
    kind: str  # a key of KINDS
    roles: dict[str, int]  # role -> index of its cell in the notebook
    points: dict[str, float]  # role (tests / answer) -> points


def exercises(nb) -> list[Exercise]:
    """The exercises of a notebook (an nbformat node), read from its cells' nbgrader metadata.

    Raises HomeworkError when a grade_id does not follow the convention above, is used twice,
    or one exercise number carries two kinds."""
    found: dict[int, Exercise] = {}
    seen: set[str] = set()
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader")
        if not meta:
            continue
        gid = meta.get("grade_id", "")
        m = GRADE_ID.match(gid)
        if not m:
            raise HomeworkError(f"cell {index}: grade_id {gid!r} does not read "
                                "ex<N>_<code|concept|experiment>_<task|solution|tests|answer>")
        if gid in seen:
            raise HomeworkError(f"cell {index}: grade_id {gid!r} is used twice")
        seen.add(gid)
        n, kind, role = int(m["n"]), m["kind"], m["role"]
        ex = found.setdefault(n, Exercise(n, kind, {}, {}))
        if ex.kind != kind:
            raise HomeworkError(f"cell {index}: exercise {n} is both {ex.kind} and {kind}")
        ex.roles[role] = index
        if meta.get("grade"):
            ex.points[role] = float(meta.get("points", 0))
    return [found[n] for n in sorted(found)]


def select_chapters(requested: list[str] | None, root: Path = ROOT) -> list[str]:
    """The requested chapter stems in course.toml's order (all of them when none is)."""
    known = [c.file for c in course_chapters(root)]
    if not requested:
        return known
    unknown = [c for c in requested if c not in known]
    if unknown:
        raise HomeworkError(f"--chapters: unknown chapter(s) {', '.join(unknown)}; the course has "
                            f"{', '.join(known)}")
    return [c for c in known if c in requested]


def write_config(course: Path) -> None:
    """The course folder's nbgrader_config.py, pointing at tools/nbgrader_settings.py.

    The settings are applied here first: nbgrader only warns about a config file that fails
    to load, and would go on with its defaults (releasing, say, without the outputs)."""
    from traitlets.config import Config

    from nbgrader_settings import configure

    configure(Config())
    course.mkdir(parents=True, exist_ok=True)
    (course / "nbgrader_config.py").write_text(
        "# Written by tools/assignments.py: edit tools/nbgrader_settings.py, not this copy.\n"
        "import sys\n"
        f"sys.path.insert(0, {str(HERE)!r})\n"
        "from nbgrader_settings import configure\n"
        "\n"
        "configure(get_config())  # noqa: F821 (nbgrader defines get_config)\n"
        f"c = get_config()  # noqa: F821\nc.CourseDirectory.root = {str(course)!r}\n")


def nbgrader(course: Path, *args: str, env: dict[str, str] | None = None
             ) -> subprocess.CompletedProcess:
    """Runs nbgrader's own command line in the course folder; output is captured.

    The interpreter's own bin folder goes first on PATH: nbgrader runs `alembic` (its
    database migrations) as a command, which a venv not activated would not find."""
    env = dict(os.environ if env is None else env)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                          capture_output=True, text=True)


def release(chapters: list[str], course: Path = COURSE_DIR, out: Path | None = RELEASE_DIR,
            root: Path = ROOT) -> dict[str, Path]:
    """Student versions of `chapters` by nbgrader's generate_assignment; returns their paths."""
    write_config(course)
    made = {}
    for chapter in chapters:
        source = course / "source" / chapter
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / "chapters" / f"{chapter}.ipynb", source / f"{chapter}.ipynb")
        done = nbgrader(course, "generate_assignment", chapter, "--force")
        student = course / "release" / chapter / f"{chapter}.ipynb"
        if done.returncode != 0 or not student.exists():
            raise HomeworkError(f"nbgrader generate_assignment failed for {chapter}:\n"
                                f"{done.stdout}{done.stderr}")
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy2(student, out / f"{chapter}.ipynb")
            student = out / f"{chapter}.ipynb"
        made[chapter] = student
    return made


@dataclass(frozen=True)
class Submission:
    student: str
    chapter: str
    path: Path


def find_submissions(folder: Path, chapters: list[str]) -> tuple[list[Submission], list[str]]:
    """`folder/<student>/<chapter>.ipynb` for the given chapters; returns the submissions and
    notes on what was left out (other files). Raises HomeworkError on a layout it cannot read."""
    if not folder.is_dir():
        raise HomeworkError(f"SUBMISSIONS: {folder} is not a folder; pass a folder that holds one "
                            "folder per student, each with that student's chapter notebooks")
    found, notes, problems = [], [], []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            notes.append(f"ignored hidden entry {entry.name}")
        elif entry.is_file():
            problems.append(f"{entry.name} lies directly in {folder}: put each student's "
                            f"notebooks in a folder named after the student, e.g. "
                            f"{folder}/<student>/{chapters[0]}.ipynb")
        elif not STUDENT_ID.match(entry.name):
            problems.append(f"student folder {entry.name!r}: use letters, digits, '_', '.' or "
                            "'-' only (it becomes the student's id in the gradebook)")
        else:
            if not any(nb.suffix == ".ipynb" for nb in entry.iterdir()):
                notes.append(f"student folder {entry.name} holds no notebook: nothing to grade")
            for nb in sorted(entry.iterdir()):
                if nb.name.startswith("."):
                    notes.append(f"ignored hidden entry {entry.name}/{nb.name}")
                elif nb.suffix != ".ipynb":
                    notes.append(f"ignored {entry.name}/{nb.name}: not a notebook")
                elif nb.stem not in chapters:
                    problems.append(f"{entry.name}/{nb.name}: not one of the graded chapters "
                                    f"({', '.join(c + '.ipynb' for c in chapters)})")
                else:
                    found.append(Submission(entry.name, nb.stem, nb))
    if problems:
        raise HomeworkError("SUBMISSIONS: " + "\n  ".join(["cannot grade this folder:", *problems]))
    if not found:
        raise HomeworkError(f"SUBMISSIONS: no notebooks in {folder}; expected "
                            f"{folder}/<student>/<chapter>.ipynb with chapter one of "
                            f"{', '.join(chapters)}")
    return found, notes


def unreadable(path: Path) -> str | None:
    """Why `path` is not a notebook nbgrader can read, or None."""
    import nbformat

    try:
        nbformat.validate(nbformat.read(path, as_version=4))
    except (OSError, ValueError, json.JSONDecodeError, nbformat.ValidationError) as err:
        return f"not a readable notebook ({type(err).__name__}: {str(err).splitlines()[0]})"
    return None


@dataclass(frozen=True)
class Row:
    student: str
    chapter: str
    cell: str
    graded_by: str  # "tests" (autograded) or "hand" (a written answer)
    score: float | None
    max_score: float
    status: str


def gradebook_rows(course: Path, graded: list[Submission]) -> list[Row]:
    from nbgrader.api import Gradebook, MissingEntry

    from nbgrader_settings import COURSE_ID

    rows = []
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
        for sub in graded:
            try:
                nb = gb.find_submission_notebook(sub.chapter, sub.chapter, sub.student)
            except MissingEntry:
                rows.append(Row(sub.student, sub.chapter, "", "", None, 0.0,
                                "not graded: nbgrader recorded no submission"))
                continue
            for grade in sorted(nb.grades, key=lambda g: g.name):
                by_hand = grade.cell_type == "markdown"
                if grade.needs_manual_grade:
                    status = "needs manual grade"
                else:
                    status = "graded"
                rows.append(Row(sub.student, sub.chapter, grade.name,
                                "hand" if by_hand else "tests", grade.score
                                if not grade.needs_manual_grade else None,
                                float(grade.max_score), status))
    return rows


def autograde(folder: Path, chapters: list[str], course: Path = COURSE_DIR,
              csv_path: Path | None = None, profile: str = "ci") -> tuple[list[Row], list[str]]:
    """Grades `folder`; returns the CSV rows and the submissions that could not be graded."""
    if profile not in PROFILE_NAMES:
        raise HomeworkError(f"--profile must be one of {', '.join(PROFILE_NAMES)}, "
                            f"got {profile!r}")
    submissions, notes = find_submissions(folder, chapters)
    for note in notes:
        print(note)
    failures, graded = [], []
    for sub in submissions:
        reason = unreadable(sub.path)
        if reason:
            failures.append(f"{sub.student}/{sub.chapter}.ipynb: {reason}")
        else:
            graded.append(sub)
    release(sorted({s.chapter for s in graded}, key=chapters.index), course, out=None)
    env = {**os.environ, "S2S_PROFILE": profile, "S2S_QUIET": "1"}
    for chapter in sorted({s.chapter for s in graded}, key=chapters.index):
        for sub in (s for s in graded if s.chapter == chapter):
            target = course / "submitted" / sub.student / chapter
            if target.exists():
                shutil.rmtree(target)
            target.mkdir(parents=True)
            shutil.copy2(sub.path, target / f"{chapter}.ipynb")
        done = nbgrader(course, "autograde", chapter, "--force", env=env)
        if done.returncode != 0:
            failures.append(f"nbgrader autograde {chapter} reported errors:\n"
                            f"{_errors(done.stdout + done.stderr)}")
    rows = gradebook_rows(course, graded)
    failures += [f"{r.student}/{r.chapter}.ipynb: {r.status}" for r in rows
                 if r.status.startswith("not graded")]
    write_csv(rows, csv_path or course / "scores.csv")
    return rows, failures


def _errors(log: str) -> str:
    lines = [line for line in log.splitlines() if "[ERROR]" in line or "Error" in line]
    return "\n".join(lines[-20:]) or log[-2000:]


def write_csv(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["student", "chapter", "cell", "graded_by", "score", "max_score",
                         "status"])
        for r in rows:
            writer.writerow([r.student, r.chapter, r.cell, r.graded_by,
                             "" if r.score is None else f"{r.score:g}", f"{r.max_score:g}",
                             r.status])


def summary(rows: list[Row]) -> list[str]:
    """One line per student and chapter: tests score, and the points left to grade by hand."""
    lines = []
    keys = sorted({(r.student, r.chapter) for r in rows if r.cell})
    for student, chapter in keys:
        mine = [r for r in rows if (r.student, r.chapter) == (student, chapter) and r.cell]
        tests = [r for r in mine if r.graded_by == "tests"]
        hand = [r for r in mine if r.score is None]
        got = sum(r.score or 0.0 for r in tests)
        lines.append(f"{student:16} {chapter:22} tests {got:g}/{sum(r.max_score for r in tests):g}"
                     f"  by hand: {sum(r.max_score for r in hand):g} points to grade")
    return lines


def exercise_table(chapters: list[str], root: Path = ROOT) -> list[str]:
    """One line per exercise: chapter, number, kind, points by tests and by hand."""
    import nbformat

    lines = []
    for chapter in chapters:
        nb = nbformat.read(root / "chapters" / f"{chapter}.ipynb", as_version=4)
        for ex in exercises(nb):
            lines.append(f"{chapter:22} exercise {ex.number}  {KINDS[ex.kind]:15}"
                         f"tests {ex.points.get('tests', 0):g}  by hand "
                         f"{ex.points.get('answer', 0):g}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    lst = sub.add_parser("list", help="the exercises of each chapter, their kinds and points")
    lst.add_argument("--chapters", nargs="+", help="chapter stems (default: all in course.toml)")
    rel = sub.add_parser("release", help="student versions of the chapters")
    rel.add_argument("--chapters", nargs="+", help="chapter stems (default: all in course.toml)")
    rel.add_argument("--out", type=Path, default=RELEASE_DIR, help="folder for the notebooks")
    grade = sub.add_parser("autograde", help="grade SUBMISSIONS/<student>/<chapter>.ipynb")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--chapters", nargs="+", help="chapter stems (default: all in course.toml)")
    grade.add_argument("--csv", type=Path, help="scores file (default build/homework/scores.csv)")
    grade.add_argument("--profile", default="ci", help="S2S_PROFILE while grading (default ci)")
    for p in (lst, rel, grade):
        p.add_argument("--course-dir", type=Path, default=COURSE_DIR,
                       help="nbgrader's course folder (default build/homework)")
    args = parser.parse_args(argv)
    try:
        chapters = select_chapters(args.chapters)
        course = args.course_dir.resolve()
        if args.command == "list":
            print("\n".join(exercise_table(chapters)))
            return 0
        if args.command == "release":
            for chapter, path in release(chapters, course, args.out.resolve()).items():
                print(f"{chapter}: {path}")
            return 0
        rows, failures = autograde(args.submissions.resolve(), chapters, course,
                                   args.csv.resolve() if args.csv else None, args.profile)
    except HomeworkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print("\n".join(summary(rows)))
    print(f"scores: {(args.csv or course / 'scores.csv')}")
    if failures:
        print("could not grade:\n  " + "\n  ".join(failures), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
