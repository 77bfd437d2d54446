"""nbgrader's feedback without the hidden tests, and nbgrader's CSV export.

Plain ``generate_feedback`` shows the hidden tests twice: in the test cell's source and in
the traceback of a failed test (nbgrader issues #917 and #1363). Here the feedback runs
:class:`HideTestCode` on the outputs, then nbgrader's own ``ClearHiddenTests`` on the source:
a failed test keeps its exception's name and message (the hint the test gives), and loses
the traceback lines that quote the test's code; any output that quotes hidden-test code is
redacted.
"""

from __future__ import annotations

import re
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

_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)
REDACTED = "[hidden test code removed by the grader]"


def hidden_lines(notebook: NotebookNode) -> set[str]:
    r"""The lines of hidden-test code in ``notebook`` that are long enough to recognise.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> src = "check()\n### BEGIN HIDDEN TESTS\nassert secret(1) == 2\n### END HIDDEN TESTS"
    >>> sorted(hidden_lines(new_notebook(cells=[new_code_cell(src)])))
    ['assert secret(1) == 2']
    """
    found = set()
    for cell in notebook.cells:
        for body in _HIDDEN.findall(cell.source):
            found |= {line.strip() for line in body.splitlines() if len(line.strip()) >= 12}
    return found


def redact(text: str, secret: set[str]) -> str:
    r"""``text`` with every line that contains a hidden-test line replaced.

    Examples
    --------
    >>> redact("ok\n  assert secret(1) == 2  \n", {"assert secret(1) == 2"})
    'ok\n[hidden test code removed by the grader]\n'
    """
    if not secret or not text:
        return text
    lines = text.split("\n")
    return "\n".join(REDACTED if any(s in line for s in secret) else line for line in lines)


class HideTestCode(NbGraderPreprocessor):
    """Keep hidden tests out of the feedback's outputs.

    An error in a test cell keeps one line: its name and message (the hint). Any output of
    any cell that quotes a line of hidden-test code (a learner cell can print the kernel's
    input history, ``In``, after the tests ran) has that line replaced. Run it before
    nbgrader's ``ClearHiddenTests``, which then removes the hidden tests from the source.

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

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        self._secret = hidden_lines(nb)
        return super().preprocess(nb, resources)

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict, cell_index: int
    ) -> tuple[NotebookNode, dict]:
        secret = getattr(self, "_secret", set())
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                if is_test_cell(cell):
                    output.traceback = [f"{output.ename}: {output.evalue}"]
                output.evalue = redact(output.evalue, secret)
                output.traceback = [redact(line, secret) for line in output.traceback]
            elif output.get("output_type") == "stream":
                output.text = redact(output.text, secret)
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str) and mime.startswith("text/"):
                    output.data[mime] = redact(value, secret)
        return cell, resources


def feedback_api(course) -> NbGraderAPI:
    """An NbGraderAPI whose ``generate_feedback`` hides the hidden tests."""
    ensure_alembic_on_path()
    config = course.config.copy()
    config.CourseDirectory.db_url = course.db_url
    config.GenerateFeedback.preprocessors = [
        GetGrades,
        HideTestCode,
        ClearHiddenTests,
        CSSHTMLHeaderPreprocessor,
    ]
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def make_feedback(course, assignment: str) -> None:
    """Run nbgrader's ``generate_feedback`` for every graded learner of ``assignment``."""
    result = feedback_api(course).generate_feedback(assignment, force=True)
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
