"""Tests of the tests: nbgrader's validator passes every source notebook and fails every
untouched release notebook that has tests.

``nbgrader validate`` exits 0 even when validation fails (see the toolchain notes), so this
uses :class:`nbgrader.validator.Validator`, which returns the failures as data. The
notebooks run in a throw-away copy of the course. That every known wrong implementation
fails the hidden tests is checked on the graded corpus (tests/test_grade_corpus.py).
"""

from __future__ import annotations

import pytest
from nbgrader.validator import Validator

from autograder.coursedir import source_assignments
from tests.notebook_tools import REPO, grade_cells, read

ASSIGNMENTS = source_assignments(REPO)


def graded(assignment: str) -> bool:
    notebook = read(REPO / "solutions" / assignment / f"{assignment}.ipynb")
    return any(c.metadata.nbgrader.get("grade") for c in grade_cells(notebook).values())


@pytest.fixture(scope="module")
def course(tmp_path_factory, courses):
    return courses.course(tmp_path_factory.mktemp("validate"), assignments=tuple(ASSIGNMENTS))


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_source_notebook_validates(course, assignment):
    results = Validator().validate(str(course / "solutions" / assignment / f"{assignment}.ipynb"))
    assert not results.get("failed") and not results.get("type_changed"), results


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if graded(a)])
def test_untouched_release_fails_validation(course, assignment):
    results = Validator().validate(str(course / "course" / assignment / f"{assignment}.ipynb"))
    assert results.get("failed"), f"the untouched release of {assignment} passed validation"


def test_which_assignments_have_tests():
    # the two lessons without graded cells cannot fail validation: say so explicitly
    assert [a for a in ASSIGNMENTS if graded(a)] == ["02_the_gradient", "04_exercise"]
