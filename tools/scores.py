"""The scores CSV, written from nbgrader's gradebook and what each autograding run reported.

The gradebook (build/homework/gradebook.db) holds every score, the manual grades entered in
the formgrader included. `reports.json` beside it holds what the gradebook does not: whether
the last autograding run of each submission graded it (or why not), and each student's stray
files. `export` writes one CSV from both, for every submission either of them knows: a re-run
for some students rewrites their rows and keeps everybody else's, and running it after grading
by hand (`make scores`) refreshes the scores.

Rows (COLUMNS): one per graded cell (`cell` is its grade_id; `graded_by` tests or hand), one
`total` per student and chapter (the sum, less nbgrader's late penalty, with the first error
in the notebook, the cells the student deleted or edited, and how late it was), and one per
stray file (`chapter` empty, `cell` the file's name)."""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

COLUMNS = ["student", "chapter", "cell", "graded_by", "score", "max_score", "status",
           "seconds_late", "note"]
TOTAL = "total"
REPORTS = "reports.json"
ERROR_TEXT_LIMIT = 200


@dataclass(frozen=True)
class Row:
    student: str
    chapter: str
    cell: str  # a grade_id, TOTAL, or a stray file's name
    graded_by: str  # "tests", "hand", or "" (totals and strays)
    score: float | None
    max_score: float | None
    status: str
    seconds_late: float | None = None
    note: str = ""


@contextlib.contextmanager
def gradebook(course: Path):
    """nbgrader's gradebook of the course folder. Creating it runs nbgrader's `alembic`
    command, which a venv not activated would not find: the interpreter's bin folder goes
    first on PATH meanwhile."""
    from nbgrader.api import Gradebook

    from nbgrader_settings import COURSE_ID

    path = os.environ.get("PATH", "")
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), path])
    try:
        with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gb:
            yield gb
    finally:
        os.environ["PATH"] = path


# ---------------------------------------------------------------------------------------------
# reports.json: {"submissions": {"<student>/<chapter>": {"graded": bool, "reason": str,
#                                                        "log": str}},
#                "strays": {"<student>": [{"name": str, "reason": str}]}}

def load_reports(course: Path) -> dict:
    path = course / REPORTS
    reports = json.loads(path.read_text()) if path.exists() else {}
    return {"submissions": reports.get("submissions", {}), "strays": reports.get("strays", {})}


def save_reports(course: Path, reports: dict) -> None:
    (course / REPORTS).write_text(json.dumps(reports, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# What a submission's notebooks say

def _read(path: Path):
    import nbformat

    return nbformat.read(path, as_version=4) if path.exists() else None


def _gid(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


def _first_line(text: str) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= ERROR_TEXT_LIMIT else line[:ERROR_TEXT_LIMIT] + "..."


def first_error(nb) -> str | None:
    """The first error in an autograded notebook: the cell (grade_id, or its number among the
    code cells) and the exception, or a test cell's output on stderr, which nbgrader scores 0
    as if it had failed."""
    code = 0
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        code += 1
        label = _gid(cell) or f"code cell {code}"
        for out in cell.outputs:
            if out.output_type == "error":
                message = _first_line(out.evalue)
                return f"{label}: {out.ename}" + (f": {message}" if message else "")
            if (out.output_type == "stream" and out.name == "stderr"
                    and cell.metadata.get("nbgrader", {}).get("grade")):
                return f"{label}: wrote to stderr, which nbgrader scores 0: {_first_line(out.text)}"
    return None


def cell_changes(submitted, released, sources: dict[str, str] | None = None) -> dict[str, str]:
    """grade_id -> what the student did to that exercise cell of the release: deleted it, or
    edited a locked one (a task or a test cell). Autograding put back deleted test and answer
    cells and restored the locked ones. sources: the gradebook's text of the cells (a test
    cell with its hidden tests), also taken as unchanged."""
    mine = {}
    for cell in submitted.cells:
        mine.setdefault(_gid(cell), cell)
    notes = {}
    for cell in released.cells:
        gid, meta = _gid(cell), cell.metadata.get("nbgrader", {})
        if not gid:
            continue
        if gid not in mine:
            notes[gid] = ("deleted by the student; put back and graded" if meta.get("grade")
                          else "deleted by the student")
        elif meta.get("locked") and (mine[gid].cell_type != cell.cell_type or mine[gid].source
                                     not in (cell.source, (sources or {}).get(gid))):
            notes[gid] = "edited by the student; restored before grading"
    return notes


# ---------------------------------------------------------------------------------------------
# Rows from the gradebook

def _cell_row(student: str, chapter: str, grade, note: str) -> Row:
    by_hand = grade.cell_type == "markdown"
    score = grade.score
    if grade.manual_score is not None:
        status = "graded by hand"
        if grade.needs_manual_grade:
            note = "; ".join(filter(None, [note, "autograded again after the manual grade: "
                                                 "review it in the formgrader"]))
    elif grade.needs_manual_grade or grade.auto_score is None:
        status, score = "needs manual grade", None
    elif by_hand:
        status = "graded: unanswered"  # nbgrader scores an unchanged answer cell 0
    else:
        status = "graded"
    return Row(student, chapter, grade.name, "hand" if by_hand else "tests", score,
               float(grade.max_score), status, None, note)


def _when(ts) -> str:
    return ts.strftime("%Y-%m-%d %H:%M UTC")


def submission_rows(course: Path, gb, student: str, chapter: str) -> list[Row]:
    """The cell rows and the total row of one submission the gradebook holds."""
    sub = gb.find_submission(chapter, student)
    nb = gb.find_submission_notebook(chapter, chapter, student)
    submitted = _read(course / "submitted" / student / chapter / f"{chapter}.ipynb")
    released = _read(course / "release" / chapter / f"{chapter}.ipynb")
    autograded = _read(course / "autograded" / student / chapter / f"{chapter}.ipynb")
    sources = {c.name: c.source for c in gb.find_notebook(chapter, chapter).source_cells}
    changes = cell_changes(submitted, released, sources) if submitted and released else {}
    order = [_gid(c) for c in released.cells if _gid(c)] if released else []
    grades = sorted(nb.grades, key=lambda g: (order.index(g.name) if g.name in order
                                              else len(order), g.name))
    rows = [_cell_row(student, chapter, g, changes.get(g.name, "")) for g in grades]
    pending = sum(r.max_score for r in rows if r.score is None)
    penalty = nb.late_submission_penalty or 0.0
    late = sub.total_seconds_late
    error = first_error(autograded) if autograded else None
    notes = [f"first error: {error}" if error else "",
             "; ".join(f"{gid} {what}" for gid, what in changes.items()),
             f"late: submitted {_when(sub.timestamp)}, due {_when(sub.duedate)}" if late else "",
             f"late penalty {penalty:g}" if penalty else ""]
    rows.append(Row(student, chapter, TOTAL, "", sum(r.score or 0.0 for r in rows) - penalty,
                    sum(r.max_score for r in rows),
                    f"needs manual grade ({pending:g} point{'s' * (pending != 1)})" if pending
                    else "graded",
                    late or None, "; ".join(n for n in notes if n)))
    return rows


def export(course: Path) -> list[Row]:
    """Every row the CSV holds: all submissions in the gradebook or in reports.json, then
    the stray files."""
    reports = load_reports(course)
    rows: list[Row] = []
    with gradebook(course) as gb:
        known = {(s.student.id, a.name) for a in gb.assignments for s in a.submissions}
        reported = {tuple(key.split("/", 1)) for key in reports["submissions"]}
        for student, chapter in sorted(known | reported):
            report = reports["submissions"].get(f"{student}/{chapter}", {"graded": True})
            if report["graded"] and (student, chapter) in known:
                rows += submission_rows(course, gb, student, chapter)
                continue
            reason = report.get("reason") or "nbgrader recorded no submission"
            note = ("the gradebook keeps the scores of an earlier run"
                    if (student, chapter) in known else "")
            rows.append(Row(student, chapter, TOTAL, "", None, None, f"not graded: {reason}",
                            None, note))
    for student, strays in sorted(reports["strays"].items()):
        rows += [Row(student, "", s["name"], "", None, None, f"not graded: {s['reason']}")
                 for s in strays]
    return rows


def _number(x: float | None) -> str:
    return "" if x is None else f"{x:g}"


def write_csv(rows: list[Row], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(COLUMNS)
        for r in rows:
            writer.writerow([r.student, r.chapter, r.cell, r.graded_by, _number(r.score),
                             _number(r.max_score), r.status, _number(r.seconds_late), r.note])


def summary(rows: list[Row], keys: set[tuple[str, str]] | None = None) -> list[str]:
    """One line per total row (of the submissions in `keys`, or all)."""
    lines = []
    for r in rows:
        if r.cell == TOTAL and (keys is None or (r.student, r.chapter) in keys):
            score = "" if r.score is None else f"{r.score:g}/{r.max_score:g}"
            lines.append(f"{r.student:16} {r.chapter:22} {score:>9}  {r.status}")
    return lines
