"""The course's nbgrader settings, and the one preprocessor it adds to nbgrader's own.

`tools/assignments.py` writes an `nbgrader_config.py` into the course folder (build/homework/)
that calls `configure`, so nbgrader run from that folder (the command line, or the formgrader in
JupyterLab for the written answers) always sees these settings. The instructor's guide is
homework/README.md."""

from __future__ import annotations

from nbgrader.converters import GenerateAssignment
from nbgrader.preprocessors import ClearOutput, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution

COURSE_ID = "s2s-course"

# A chapter's training cells run for minutes at the `cpu` profile; nbgrader's default is 30 s.
CELL_TIMEOUT_S = 1800


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


def release_preprocessors() -> list[type]:
    """nbgrader's generate_assignment pipeline with ClearOutput replaced by ours."""
    default = GenerateAssignment.class_traits()["preprocessors"].default()
    return [ClearExerciseOutputs if p is ClearOutput else p for p in default]


def configure(c) -> None:
    """Fill an nbgrader config object `c` (what `get_config()` returns in nbgrader_config.py)."""
    c.CourseDirectory.course_id = COURSE_ID
    c.GenerateAssignment.preprocessors = release_preprocessors()
    c.Execute.timeout = CELL_TIMEOUT_S
    c.ClearSolutions.text_stub = "YOUR ANSWER HERE"
