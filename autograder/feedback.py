"""nbgrader's feedback without the hidden tests, and nbgrader's CSV export.

Plain ``generate_feedback`` shows the hidden tests twice: in the test cell's source and in
the traceback of a failed test (nbgrader issues #917 and #1363). Here the feedback runs
nbgrader's own ``ClearHiddenTests`` on the source and :class:`HideTestCode` on the outputs:
a failed test keeps its exception's name and message (the hint the test gives), and loses
the traceback lines that quote the test's code.
"""

from __future__ import annotations

from pathlib import Path

from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.plugins.export import CsvExportPlugin
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor

from autograder.coursedir import CourseError, ensure_alembic_on_path
from autograder.execution import is_test_cell


class HideTestCode(NbGraderPreprocessor):
    """Replace the traceback of every error in a test cell with one line: name and message.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_output
    >>> meta = {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}}
    >>> cell = new_code_cell("secret()", metadata=meta)
    >>> cell.outputs = [new_output("error", ename="AssertionError", evalue="went uphill",
    ...                            traceback=["----> 3 assert abs(got - want) < 1e-9", "..."])]
    >>> HideTestCode().preprocess_cell(cell, {}, 0)[0].outputs[0].traceback
    ['AssertionError: went uphill']
    """

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict, cell_index: int
    ) -> tuple[NotebookNode, dict]:
        if is_test_cell(cell):
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output.traceback = [f"{output.ename}: {output.evalue}"]
        return cell, resources


def make_feedback(course, assignment: str) -> None:
    """Run nbgrader's ``generate_feedback`` for every graded learner of ``assignment``."""
    ensure_alembic_on_path()
    config = course.config.copy()
    config.CourseDirectory.db_url = course.db_url
    config.GenerateFeedback.preprocessors = [
        GetGrades,
        ClearHiddenTests,
        HideTestCode,
        CSSHTMLHeaderPreprocessor,
    ]
    api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
    result = api.generate_feedback(assignment, force=True)
    if not result["success"]:
        lines = (result.get("error") or result.get("log") or "").strip().splitlines()
        raise CourseError(
            f"{course.root}: nbgrader generate_feedback {assignment} failed: "
            + (lines[-1] if lines else "no message")
        )


def export_grades(course, target: Path) -> Path:
    """nbgrader's CSV export of the gradebook (one row per student and assignment)."""
    plugin = CsvExportPlugin(to=str(target))
    with Gradebook(course.db_url, course.course_id) as gb:
        plugin.export(gb)
    return target
