"""The course's nbgrader settings, and the preprocessors it adds to nbgrader's own.

`tools/assignments.py` writes an `nbgrader_config.py` into the course folder (build/homework/)
that calls `configure`, so nbgrader run from that folder (the command line, or the formgrader in
JupyterLab for the written answers) always sees these settings. The instructor's guide is
homework/README.md.

What the course changes in nbgrader's three pipelines:

- generate_assignment: ClearExerciseOutputs instead of ClearOutput (the chapter's figures stay).
- autograde: a test or answer cell the student deleted is put back (`add_missing_cells`, with
  RestoreMissingCells mending where nbgrader 0.9 puts it), so it is graded instead of waiting
  for a manual grade; locked cells the student edited are restored by nbgrader's own
  OverwriteCells. KeepSubmittedOutputs copies what the student's experiment cells printed into
  a note under them, since autograding re-runs them at another profile.
- generate_feedback: ClearHiddenTests and HideTestTracebacks, so the feedback a student gets
  shows neither the hidden tests nor the lines of them that a traceback quotes."""

from __future__ import annotations

import re
import uuid

from nbformat.v4 import new_markdown_cell
from nbgrader.converters import Autograde, GenerateAssignment, GenerateFeedback
from nbgrader.preprocessors import (
    ClearHiddenTests,
    ClearOutput,
    GetGrades,
    NbGraderPreprocessor,
    OverwriteCells,
)
from nbgrader.utils import is_grade, is_solution

COURSE_ID = "s2s-course"

# A chapter's training cells run for minutes at the `cpu` profile; nbgrader's default is 30 s.
# tools/assignments.py lowers it for one run when the whole-notebook limit is shorter.
CELL_TIMEOUT_S = 1800

# The first line of a cell nbgrader put back (a comment in a code cell). A put-back answer
# cell gets no such line: it must stay identical to the released stub, which nbgrader then
# scores 0 like any unanswered cell.
MISSING_CELL_NOTE = "This cell was deleted from the submission; the autograder put it back.\n\n"

# The code cells of an experiment exercise, in tools/assignments.py's grade_id convention
# (ex<N>_experiment_solution / ex<N>_experiment_tests).
EXPERIMENT_CODE = re.compile(r"^ex[1-9][0-9]*_experiment_(solution|tests)$")

# Marks the notes KeepSubmittedOutputs adds, in the note cell's metadata.
SUBMITTED_OUTPUTS_KEY = "s2s_submitted_outputs_of"
PROFILE_LINE = re.compile(r"^.*\bprofile: *\w+.*$", re.M)
NOTE_TEXT_LIMIT = 4000


def _grade_id(cell) -> str | None:
    return cell.metadata.get("nbgrader", {}).get("grade_id")


class ClearExerciseOutputs(NbGraderPreprocessor):
    """Clears the outputs of solution and test cells only.

    nbgrader's own ClearOutput empties every cell. A chapter's other outputs are the
    textbook — the figures, the training curves, the tables that took half an hour to
    compute — so the student version keeps them; only what an exercise cell printed (its
    answer) goes."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and (is_solution(cell) or is_grade(cell)):
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
        return cell, resources


def output_text(output) -> str:
    """What one code-cell output shows, as text (a figure is named, not drawn)."""
    if output.output_type == "stream":
        return output.text
    if output.output_type == "error":
        return f"{output.ename}: {output.evalue}\n"
    data = output.get("data", {})
    if "text/plain" in data and not any(k.startswith("image/") for k in data):
        return data["text/plain"] + "\n"
    kinds = ", ".join(sorted(data)) or "no data"
    return f"[a {output.output_type} output ({kinds}): see the submitted notebook]\n"


class KeepSubmittedOutputs(NbGraderPreprocessor):
    """Puts what the student's experiment cells printed in a Markdown note under each of them.

    Runs first in autograde's sanitize step, before ClearOutput empties the outputs. The
    autograder executes the notebook again at its own profile (`ci` unless told otherwise), so
    an experiment's numbers differ from those the student reported; the note keeps the
    student's numbers, and the profile line their notebook printed, beside the new run — in the
    autograded notebook the formgrader shows, and in the feedback."""

    def preprocess(self, nb, resources):
        shown = "\n".join(output_text(o) for c in nb.cells if c.cell_type == "code"
                          for o in c.get("outputs", []))
        profile = PROFILE_LINE.search(shown)
        where = f"`{profile.group(0).strip()}`" if profile else "no profile line found"
        cells = []
        for cell in nb.cells:
            cells.append(cell)
            gid = _grade_id(cell)
            if cell.cell_type != "code" or not gid or not EXPERIMENT_CODE.match(gid):
                continue
            text = "".join(output_text(o) for o in cell.get("outputs", []))
            if not text and not is_solution(cell):
                continue
            if len(text) > NOTE_TEXT_LIMIT:
                text = text[:NOTE_TEXT_LIMIT] + "\n[... cut]\n"
            body = (f"```text\n{text.rstrip()}\n```" if text.strip()
                    else "*(no output: the cell was not run before submitting)*")
            note = new_markdown_cell(
                f"**As submitted** — what `{gid}` printed in the student's own run "
                f"(their notebook's profile line: {where}); the cell above shows the "
                f"autograder's run.\n\n{body}")
            note.metadata[SUBMITTED_OUTPUTS_KEY] = gid
            cells.append(note)
        nb.cells = cells
        return nb, resources


class RestoreMissingCells(OverwriteCells):
    """nbgrader's OverwriteCells, putting a deleted grade cell back after the nearest cell
    before it that the submission still has.

    nbgrader 0.9's add_missing_grade_cells looks only among solution and grade cells for the
    one before, and fails with a KeyError when it is a task cell (every written answer here
    follows its task) or was deleted too."""

    def missing_cell_transform(self, source_cell, max_score, is_solution=False, is_task=False):
        cell = super().missing_cell_transform(source_cell, max_score, is_solution, is_task)
        if is_solution:  # an answer cell: keep the stub exact, so it scores 0 unanswered
            cell.source = source_cell.source
        return cell

    def preprocess(self, nb, resources):
        nb, resources = super().preprocess(nb, resources)
        if (nb.nbformat, nb.nbformat_minor) >= (4, 5):  # cells have ids: give the new ones one
            for cell in nb.cells:
                cell.setdefault("id", uuid.uuid4().hex[:8])
        return nb, resources

    def add_missing_grade_cells(self, nb, resources):
        source_nb = self.gradebook.find_notebook(self.notebook_id, self.assignment_id)
        order = [c.name for c in source_nb.source_cells]
        source = {c.name: c for c in source_nb.source_cells}
        solutions = {c.name for c in source_nb.solution_cells}
        for grade_cell in source_nb.grade_cells:
            present = {_grade_id(c): i for i, c in enumerate(nb.cells) if _grade_id(c)}
            if grade_cell.name in present:
                continue
            self.log.warning("Missing grade cell %s: putting it back", grade_cell.name)
            cell = self.missing_cell_transform(source[grade_cell.name], grade_cell.max_score,
                                               is_solution=grade_cell.name in solutions)
            before = order[:order.index(grade_cell.name)]
            kept = [present[name] for name in before if name in present]
            nb.cells.insert(max(kept) + 1 if kept else 0, cell)
        return nb, resources


class HideTestTracebacks(NbGraderPreprocessor):
    """In test cells with hidden tests, an error shows only its type and message.

    A traceback quotes the lines around the failing one, hidden tests included; the
    message (the assert's text) is what the student is meant to read."""

    begin = ClearHiddenTests.begin_test_delimeter.default_value

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code" and is_grade(cell) and self.begin in cell.source:
            for output in cell.outputs:
                if output.output_type == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


def release_preprocessors() -> list[type]:
    """nbgrader's generate_assignment pipeline with ClearOutput replaced by ours."""
    default = GenerateAssignment.class_traits()["preprocessors"].default()
    return [ClearExerciseOutputs if p is ClearOutput else p for p in default]


def sanitize_preprocessors() -> list[type]:
    """nbgrader's autograde sanitize step, keeping the experiments' outputs first (before
    ClearOutput) and putting deleted cells back where they were."""
    default = Autograde.class_traits()["sanitize_preprocessors"].default()
    return [KeepSubmittedOutputs] + [RestoreMissingCells if p is OverwriteCells else p
                                     for p in default]


def feedback_preprocessors() -> list[type]:
    """nbgrader's generate_feedback pipeline, hiding the hidden tests after GetGrades."""
    default = GenerateFeedback.class_traits()["preprocessors"].default()
    at = default.index(GetGrades) + 1
    return [*default[:at], HideTestTracebacks, ClearHiddenTests, *default[at:]]


def configure(c) -> None:
    """Fill an nbgrader config object `c` (what `get_config()` returns in nbgrader_config.py)."""
    c.CourseDirectory.course_id = COURSE_ID
    c.GenerateAssignment.preprocessors = release_preprocessors()
    c.Autograde.sanitize_preprocessors = sanitize_preprocessors()
    c.OverwriteCells.add_missing_cells = True
    c.OverwriteCells.missing_cell_notification = MISSING_CELL_NOTE
    c.GenerateFeedback.preprocessors = feedback_preprocessors()
    c.Execute.timeout = CELL_TIMEOUT_S
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
