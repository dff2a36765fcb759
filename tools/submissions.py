"""What a folder of homework submissions holds: the notebooks to grade and the files that
are not (tools/assignments.py grades the first and reports the second, student by student).

Two layouts, which may be mixed:

    SUBMISSIONS/<student>/<chapter>.ipynb              (+ <student>/timestamp.txt)
    SUBMISSIONS/<student>/<chapter>/<chapter>.ipynb    (+ <student>/<chapter>/timestamp.txt)

The second is nbgrader's own `submitted/` layout. `timestamp.txt` holds when the student
submitted (nbgrader's format, e.g. `2025-03-01 17:05:00 UTC`); with a due date on the chapter's
assignment, nbgrader marks the submission late. A file that is neither is a stray: reported
for its student, with what to do, while everything else is graded."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
TIMESTAMP = "timestamp.txt"
# What browsers and file managers append to a downloaded copy: "name (1)", "name-Copy1",
# "name copy 2".
COPY_SUFFIX = re.compile(r"(\s*\(\d+\)|-Copy\d+|\s+copy(\s+\d+)?)$", re.I)


@dataclass(frozen=True)
class Submission:
    student: str
    chapter: str
    path: Path  # the notebook
    timestamp: Path | None  # its timestamp.txt, if the student has one


@dataclass(frozen=True)
class Stray:
    """A file or folder that will not be graded. student is "" for one directly in
    SUBMISSIONS; name is its path relative to the student's folder."""

    student: str
    name: str
    reason: str


@dataclass
class Scan:
    submissions: list[Submission]
    strays: list[Stray]
    skipped: list[str]  # other chapters of the course, left for a run that grades them
    students: list[str]  # every student folder scanned (a valid id or not)


def _notebook_stray(student: str, name: str, stem: str, graded: list[str], course: list[str]
                    ) -> Stray:
    chapter = COPY_SUFFIX.sub("", stem)
    if chapter in course:
        return Stray(student, name, f"a copy named like {chapter}.ipynb: rename it to "
                                    f"{chapter}.ipynb to grade it")
    return Stray(student, name, "not a chapter of the course: the graded notebooks are "
                                + ", ".join(c + ".ipynb" for c in graded))


def _scan_student(folder: Path, graded: list[str], course: list[str], scan: Scan) -> None:
    student = folder.name
    flat_timestamp = folder / TIMESTAMP if (folder / TIMESTAMP).is_file() else None
    for entry in sorted(folder.iterdir()):
        name = entry.name
        if name.startswith(".") or name == TIMESTAMP:
            continue
        if entry.is_dir():
            if name in graded and (entry / f"{name}.ipynb").is_file():
                stamp = entry / TIMESTAMP
                scan.submissions.append(Submission(student, name, entry / f"{name}.ipynb",
                                                   stamp if stamp.is_file() else None))
                others = [p.name for p in sorted(entry.iterdir()) if not p.name.startswith(".")
                          and p.name not in (f"{name}.ipynb", TIMESTAMP)]
                for other in others:
                    scan.strays.append(Stray(student, f"{name}/{other}", "not graded: only "
                                             f"{name}.ipynb and {TIMESTAMP} are read here"))
            elif name in course and name not in graded:
                scan.skipped.append(f"{student}/{name}/")
            else:
                scan.strays.append(Stray(student, name + "/", "a folder that is not a graded "
                                         f"chapter's ({', '.join(graded)})"))
        elif entry.suffix != ".ipynb":
            scan.strays.append(Stray(student, name, "not a notebook"))
        elif entry.stem in graded:
            scan.submissions.append(Submission(student, entry.stem, entry, flat_timestamp))
        elif entry.stem in course:
            scan.skipped.append(f"{student}/{name}")
        else:
            scan.strays.append(_notebook_stray(student, name, entry.stem, graded, course))


def scan(folder: Path, graded: list[str], course: list[str],
         students: list[str] | None = None) -> Scan:
    """The submissions in `folder` for the `graded` chapters, and what will not be graded.

    course: every chapter of the course (a notebook of one not graded now is skipped, not
    stray). students: only these student folders (all when None). Two submissions of one
    chapter by one student (both layouts) are both strays."""
    result = Scan([], [], [], [])
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if students is not None and entry.name not in students:
            continue
        if not entry.is_dir():
            result.strays.append(Stray("", entry.name, "lies directly in the submissions "
                                       "folder: put it in its student's folder"))
        elif not STUDENT_ID.match(entry.name):
            result.students.append(entry.name)
            result.strays.append(Stray(entry.name, "", "the student folder's name is not an id: "
                                       "use letters, digits, '_', '.' or '-' only (it becomes "
                                       "the student's id in the gradebook)"))
        else:
            result.students.append(entry.name)
            _scan_student(entry, graded, course, result)
    twice = {(s.student, s.chapter) for s in result.submissions
             if sum((t.student, t.chapter) == (s.student, s.chapter)
                    for t in result.submissions) > 1}
    for sub in (s for s in result.submissions if (s.student, s.chapter) in twice):
        result.strays.append(Stray(sub.student, str(sub.path.relative_to(folder / sub.student)),
                                   f"{sub.chapter} is submitted twice (flat and in a folder): "
                                   "keep one"))
    result.submissions = [s for s in result.submissions if (s.student, s.chapter) not in twice]
    return result


def unreadable(path: Path) -> str | None:
    """Why `path` is not a notebook nbgrader can read, or None."""
    import nbformat

    try:
        nbformat.validate(nbformat.read(path, as_version=4))
    except (OSError, ValueError, json.JSONDecodeError, nbformat.ValidationError) as err:
        first = (str(err).splitlines() or [""])[0]
        return f"not a readable notebook ({type(err).__name__}: {first})"
    return None
