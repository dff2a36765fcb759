"""Homework with nbgrader: student versions of the chapters, autograding, feedback and scores.

    python tools/assignments.py list       [--chapters 01_encoder_decoder ...]
    python tools/assignments.py release    [--chapters ...] [--out DIR]
    python tools/assignments.py due DATE   --chapters ...
    python tools/assignments.py autograde  SUBMISSIONS [--chapters ...] [--student ...]
                                           [--profile ci] [--time-limit S] [--csv FILE]
    python tools/assignments.py scores     [--csv FILE]
    python tools/assignments.py feedback   [--chapters ...] [--student ...]

(`make release`, `make due`, `make autograde`, `make scores` and `make feedback` call these; the
instructor's guide is homework/README.md.) Each chapter is one nbgrader assignment, named after
the notebook. The nbgrader course folder (its `source/`, `release/`, `submitted/`,
`autograded/`, `feedback/` and `gradebook.db`, and the course's `logs/`, `reports.json` and
`scores.csv`) is `build/homework/`, not committed.

release    runs nbgrader's `generate_assignment` on each chapter (solutions replaced by a stub,
           hidden tests removed, the outputs of exercise cells cleared, every other output
           kept) and copies the student notebooks to `release/<chapter>.ipynb`, zipped too.
due        sets the chapters' due date in the gradebook, as nbgrader's `db assignment add` does.
autograde  reads SUBMISSIONS (tools/submissions.py), releases those chapters again if they
           or the settings changed (so the gradebook holds the current tests) and runs
           nbgrader's `autograde` on each submission (tools/autograde_worker.py) — hidden
           tests put back, deleted test cells put back, edited ones restored, the notebook
           executed at the `ci` profile unless `--profile` says otherwise, within
           `--time-limit` seconds — keeping nbgrader's log of each in
           `logs/<chapter>/<student>.log`. Other students' grades, manual ones included, are
           not touched. Then it writes the CSV (tools/scores.py) for every submission graded so
           far.
scores     writes the CSV again from the gradebook: after grading by hand in the formgrader.
feedback   runs nbgrader's `generate_feedback`: `feedback/<student>/<chapter>/<chapter>.html`,
           without the hidden tests.

Exit status: 0 when every submission was graded; 1 when some submission or file could not be
(each is named on stderr and in the CSV, after every other one is graded); 2 on a usage error
(a bad argument or a folder with nothing to grade), before anything is graded.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import grading
import scores
import submissions
from course import ROOT
from course import chapters as course_chapters
from course import release as course_release

HERE = Path(__file__).resolve().parent
COURSE_DIR = ROOT / "build" / "homework"
RELEASE_DIR = ROOT / "release"
# The wall-clock limit on autograding one notebook: a chapter takes 1-2 minutes at the `ci`
# profile. Each cell gets at most half of it (nbgrader interrupts the cell and scores its
# tests 0), so a notebook with one endless cell is still graded.
TIME_LIMIT_S = 3600


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


def nbgrader(course: Path, *args: str, log: Path) -> int:
    """Runs nbgrader's own command line in the course folder, its output written to `log`;
    returns its exit status.

    The interpreter's own bin folder goes first on PATH: nbgrader runs `alembic` (its
    database migrations) as a command, which a venv not activated would not find."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "w") as out:
        return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                              stdout=out, stderr=subprocess.STDOUT).returncode


def _release_stamp(chapter: str, root: Path) -> str:
    """What a chapter's release is made from: the notebook and the course's nbgrader settings."""
    digest = hashlib.sha256((root / "chapters" / f"{chapter}.ipynb").read_bytes())
    digest.update((HERE / "nbgrader_settings.py").read_bytes())
    return digest.hexdigest()


def _in_gradebook(course: Path, chapter: str) -> bool:
    from nbgrader.api import MissingEntry

    if not (course / "gradebook.db").exists():
        return False
    with scores.gradebook(course) as gb:
        try:
            gb.find_notebook(chapter, chapter)
        except MissingEntry:
            return False
    return True


def release(chapters: list[str], course: Path = COURSE_DIR, out: Path | None = RELEASE_DIR,
            root: Path = ROOT, force: bool = True) -> dict[str, Path]:
    """Student versions of `chapters` by nbgrader's generate_assignment; returns their paths.

    With `out`, the notebooks are copied there and zipped together into
    `out/student-notebooks-<release tag>.zip`, the file to hand out. Without `force`, a
    chapter released from the same notebook and settings before is not released again."""
    write_config(course)
    made = {}
    for chapter in chapters:
        student = course / "release" / chapter / f"{chapter}.ipynb"
        stamp = course / "logs" / "release" / f"{chapter}.stamp"
        fresh = _release_stamp(chapter, root)
        if (force or not student.exists() or not stamp.exists() or stamp.read_text() != fresh
                or not _in_gradebook(course, chapter)):
            source = course / "source" / chapter
            source.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / "chapters" / f"{chapter}.ipynb", source / f"{chapter}.ipynb")
            log = course / "logs" / "release" / f"{chapter}.log"
            status = nbgrader(course, "generate_assignment", chapter, "--force", log=log)
            if status != 0 or not student.exists():
                raise HomeworkError(f"nbgrader generate_assignment failed for {chapter} "
                                    f"(log: {log}):\n{log.read_text()}")
            stamp.write_text(fresh)
        if out is not None:
            out.mkdir(parents=True, exist_ok=True)
            shutil.copy2(student, out / f"{chapter}.ipynb")
            student = out / f"{chapter}.ipynb"
        made[chapter] = student
    if out is not None and made:
        with zipfile.ZipFile(zip_path(out, root), "w", zipfile.ZIP_DEFLATED) as z:
            for path in made.values():
                z.write(path, path.name)
    return made


def zip_path(out: Path, root: Path = ROOT) -> Path:
    return out / f"student-notebooks-{course_release(root)[1]}.zip"


def set_due_date(chapters: list[str], due: str, course: Path = COURSE_DIR) -> None:
    """The due date of `chapters` in the gradebook (e.g. "2025-03-01 17:00 Europe/Paris"), set
    as nbgrader's `db assignment add --duedate` sets it; a release or autograde later keeps
    it."""
    from nbgrader.utils import parse_utc

    try:
        parse_utc(due)
    except (ValueError, OverflowError) as err:
        raise HomeworkError(f"due date {due!r}: {err}; write it as e.g. "
                            "'2025-03-01 17:00 Europe/Paris' or '2025-03-01 16:00 UTC'") from None
    write_config(course)
    with scores.gradebook(course) as gb:
        for chapter in chapters:
            gb.update_or_create_assignment(chapter, duedate=due)


@dataclass
class Graded:
    """What one autograde run did."""

    rows: list[scores.Row]
    keys: set[tuple[str, str]]  # (student, chapter) of the submissions it read
    problems: list[str] = field(default_factory=list)  # what it could not grade, and why
    notes: list[str] = field(default_factory=list)  # graded, but worth a look


def autograde(folder: Path, chapters: list[str], course: Path = COURSE_DIR,
              csv_path: Path | None = None, profile: str = "ci",
              students: list[str] | None = None, time_limit: float = TIME_LIMIT_S,
              root: Path = ROOT) -> Graded:
    """Grades the submissions in `folder` (of `students` only, when given) for `chapters`."""
    from s2s.profiles import PROFILE_NAMES  # (imports torch: only here)

    if profile not in PROFILE_NAMES:
        raise HomeworkError(f"--profile must be one of {', '.join(PROFILE_NAMES)}, "
                            f"got {profile!r}")
    if not time_limit > 0:
        raise HomeworkError(f"--time-limit must be a positive number of seconds, got {time_limit}")
    if not folder.is_dir():
        raise HomeworkError(f"SUBMISSIONS: {folder} is not a folder; pass a folder that holds one "
                            "folder per student, each with that student's chapter notebooks")
    found = submissions.scan(folder, chapters, [c.file for c in course_chapters(root)],
                             students)
    missing = sorted(set(students or []) - set(found.students))
    if missing:
        raise HomeworkError(f"--student: no folder {', '.join(missing)} in {folder}")
    if not found.students:
        raise HomeworkError(f"SUBMISSIONS: no student folder in {folder}; expected "
                            f"{folder}/<student>/<chapter>.ipynb with chapter one of "
                            f"{', '.join(chapters)}")
    if not found.submissions and not found.strays:
        raise HomeworkError(f"SUBMISSIONS: no notebooks in {folder}; expected "
                            f"{folder}/<student>/<chapter>.ipynb with chapter one of "
                            f"{', '.join(chapters)}")
    for skipped in found.skipped:
        print(f"skipped {skipped}: its chapter is not graded in this run (--chapters)")
    for student in found.students:
        if not any(s.student == student for s in found.submissions + found.strays):
            print(f"{student}: none of the graded chapters ({', '.join(chapters)})")
    outcomes: dict[tuple[str, str], str | None] = {}
    ready = []
    for sub in found.submissions:
        outcomes[sub.student, sub.chapter] = submissions.unreadable(sub.path)
        if outcomes[sub.student, sub.chapter] is None:
            ready.append(sub)
    if ready:
        release([c for c in chapters if any(s.chapter == c for s in ready)], course, None, root,
                force=False)
    for sub in ready:
        grading.copy_in(sub, course)
    env = {**os.environ, "S2S_PROFILE": profile, "S2S_QUIET": "1"}
    outcomes.update(grading.grade_all(ready, course, env, time_limit))

    _record(course, outcomes, found)
    rows = scores.export(course)
    scores.write_csv(rows, csv_path or course / "scores.csv")
    result = Graded(rows, set(outcomes))
    result.problems = [f"{s}/{c}.ipynb: {why}" for (s, c), why in outcomes.items() if why]
    result.problems += [f"{s.student + '/' if s.student else ''}{s.name}: {s.reason}"
                        for s in found.strays]
    for r in rows:
        if (r.student, r.chapter) in result.keys and r.cell != scores.TOTAL and r.note:
            result.notes.append(f"{r.student}/{r.chapter} {r.cell}: {r.note}")
        if (r.student, r.chapter) in result.keys and r.seconds_late:
            result.notes.append(f"{r.student}/{r.chapter}: {r.seconds_late:g} s late")
    return result


def _record(course: Path, outcomes: dict[tuple[str, str], str | None],
            found: submissions.Scan) -> None:
    """This run's outcomes, and the strays of the students it read, into reports.json."""
    reports = scores.load_reports(course)
    for (student, chapter), reason in outcomes.items():
        reports["submissions"][f"{student}/{chapter}"] = {
            "graded": reason is None, "reason": reason or "",
            "log": str(grading.log_path(course, chapter, student).relative_to(course))}
    for student in found.students:
        mine = [{"name": s.name, "reason": s.reason} for s in found.strays if s.student == student]
        reports["strays"].pop(student, None)
        if mine:
            reports["strays"][student] = mine
    scores.save_reports(course, reports)


def feedback(chapters: list[str], course: Path = COURSE_DIR,
             students: list[str] | None = None) -> tuple[list[Path], list[str]]:
    """nbgrader's generate_feedback for the autograded submissions of `chapters` (of
    `students`, when given); returns the HTML files and what failed."""
    write_config(course)
    made, failed = [], []
    for chapter in chapters:
        graded = sorted(p.parent.name for p in course.glob(f"autograded/*/{chapter}"))
        failed += [f"{s}/{chapter}: not autograded" for s in students or [] if s not in graded]
        wanted = [s for s in graded if students is None or s in students]
        if not wanted:
            continue
        runs = [("*", wanted)] if students is None else [(s, [s]) for s in wanted]
        for pattern, whom in runs:
            name = "all" if pattern == "*" else pattern
            log = course / "logs" / "feedback" / chapter / f"{name}.log"
            nbgrader(course, "generate_feedback", chapter, "--student", pattern, "--force",
                     log=log)
            for student in whom:
                page = course / "feedback" / student / chapter / f"{chapter}.html"
                if page.exists():
                    made.append(page)
                else:
                    failed.append(f"{student}/{chapter}: {grading.log_errors(log)} "
                                  f"(log: {log.relative_to(course)})")
    return made, failed


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    chapters_help = "chapter stems (default: all in course.toml)"
    lst = sub.add_parser("list", help="the exercises of each chapter, their kinds and points")
    rel = sub.add_parser("release", help="student versions of the chapters")
    rel.add_argument("--out", type=Path, default=RELEASE_DIR, help="folder for the notebooks")
    due = sub.add_parser("due", help="set the due date of chapters")
    due.add_argument("date", help="e.g. '2025-03-01 17:00 Europe/Paris'")
    grade = sub.add_parser("autograde", help="grade SUBMISSIONS/<student>/<chapter>.ipynb")
    grade.add_argument("submissions", type=Path)
    grade.add_argument("--profile", default="ci", help="S2S_PROFILE while grading (default ci)")
    grade.add_argument("--time-limit", type=float, default=TIME_LIMIT_S,
                       help=f"seconds for one notebook (default {TIME_LIMIT_S})")
    sco = sub.add_parser("scores", help="write the scores CSV again from the gradebook")
    fb = sub.add_parser("feedback", help="HTML feedback per student, without hidden tests")
    for p in (grade, sco):
        p.add_argument("--csv", type=Path, help="scores file (default build/homework/scores.csv)")
    for p in (grade, fb):
        p.add_argument("--student", nargs="+", help="only these students (default: all)")
    for p in (lst, rel, due, grade, fb):
        p.add_argument("--chapters", nargs="+", required=p is due, help=chapters_help)
    for p in (lst, rel, due, grade, sco, fb):
        p.add_argument("--course-dir", type=Path, default=COURSE_DIR,
                       help="nbgrader's course folder (default build/homework)")
        p.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    return parser


def _run(args) -> int:
    course = args.course_dir.resolve()
    chapters = select_chapters(getattr(args, "chapters", None), args.root)
    if args.command == "list":
        print("\n".join(exercise_table(chapters, args.root)))
    elif args.command == "release":
        for chapter, path in release(chapters, course, args.out.resolve(), args.root).items():
            print(f"{chapter}: {path}")
        print(f"to hand out: {zip_path(args.out.resolve(), args.root)}")
    elif args.command == "due":
        set_due_date(chapters, args.date, course)
        print(f"due {args.date}: {', '.join(chapters)}")
    elif args.command == "feedback":
        made, failed = feedback(chapters, course, args.student)
        print("\n".join(str(p) for p in made) or "no autograded submission: nothing to do")
        if failed:
            print("no feedback for:\n  " + "\n  ".join(failed), file=sys.stderr)
            return 1
    elif args.command == "scores":
        if not (course / "gradebook.db").exists():
            raise HomeworkError(f"no gradebook in {course}: run make autograde first")
        rows = scores.export(course)
        scores.write_csv(rows, (args.csv or course / "scores.csv").resolve())
        print("\n".join(scores.summary(rows)))
        print(f"scores: {(args.csv or course / 'scores.csv')}")
    else:
        done = autograde(args.submissions.resolve(), chapters, course,
                         args.csv.resolve() if args.csv else None, args.profile, args.student,
                         args.time_limit, args.root)
        print("\n".join(scores.summary(done.rows, done.keys)))
        if done.notes:
            print("to look at:\n  " + "\n  ".join(done.notes))
        print(f"scores: {(args.csv or course / 'scores.csv')}")
        if done.problems:
            print("could not grade:\n  " + "\n  ".join(done.problems), file=sys.stderr)
            return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except HomeworkError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
