"""Autograding for real: nbgrader's own ``autograde`` and SQLite gradebook on crafted submissions.

Temporary course directories are built for the module (one per assignment, graded at the same
time): the sources, the course's nbgrader configuration, a release generated from them, and
one submission per student below. nbgrader grades them all once; each test then asserts one
student's scores from the gradebook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook

from tests.notebook_tools import SOLUTIONS, grade_cells, read, with_answers

EXERCISE = "04_exercise"
GRADIENT = "02_the_gradient"
UPDATE_TESTS = ["test_update_numbers", "test_update_arrays", "test_update_converges"]

CORRECT_UPDATE = (
    "def gradient_descent_update(x, gradx, learning_rate):\n    return x - learning_rate * gradx\n"
)
WRONG_SIGN = (
    "def gradient_descent_update(x, gradx, learning_rate):\n    return x + learning_rate * gradx\n"
)


def rate(value: float) -> str:
    return f"def choose_learning_rate():\n    return {value}\n"


# student -> assignment -> answers by grade_id (None: hand in the solution notebook itself)
SUBMISSIONS: dict[str, dict[str, dict[str, str] | None]] = {
    "solution": {EXERCISE: None, GRADIENT: None},
    "untouched": {EXERCISE: {}, GRADIENT: {}},
    "wrong_sign": {
        EXERCISE: {"gradient_descent_update": WRONG_SIGN, "choose_learning_rate": rate(0.1)}
    },
    "rate_too_large": {
        EXERCISE: {"gradient_descent_update": CORRECT_UPDATE, "choose_learning_rate": rate(1.5)}
    },
    "rate_too_small": {
        EXERCISE: {"gradient_descent_update": CORRECT_UPDATE, "choose_learning_rate": rate(0.001)}
    },
}


def nbgrader(course: Path, *args: str) -> subprocess.Popen:
    """Start an nbgrader command in ``course`` with its configuration."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    config = course / "autograder" / "nbgrader_config.py"
    return subprocess.Popen(
        [sys.executable, "-m", "nbgrader", *args, f"--NbGrader.config_file={config}"],
        cwd=course,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.fixture(scope="module")
def gradebooks(tmp_path_factory, courses) -> dict[str, Path]:
    """Assignment -> the gradebook nbgrader autograded it into.

    Each assignment is graded in a course of its own (the sources, the configuration, the
    release nbgrader generated from them, and the gradebook that knows the assignments:
    tests/corpus/cases.py, make_course), both at the same time: plain nbgrader is serial, and
    two gradebooks keep SQLite's writers apart.
    """
    runs = {}
    for assignment in (GRADIENT, EXERCISE):
        course = courses.course(tmp_path_factory.mktemp(f"course-{assignment}"), True)
        name = f"{assignment}.ipynb"
        for student, assignments in SUBMISSIONS.items():
            if assignment not in assignments:
                continue
            answers = assignments[assignment]
            if answers is None:
                notebook = read(course / "solutions" / assignment / name)
            else:
                notebook = with_answers(read(course / "course" / assignment / name), answers)
            target = course / "submitted" / student / assignment / name
            target.parent.mkdir(parents=True)
            nbformat.write(notebook, target)
        runs[assignment] = (course, nbgrader(course, "autograde", assignment))
    for _course, run in runs.values():
        _, err = run.communicate(timeout=600)
        assert run.returncode == 0, err[-3000:]
    return {assignment: course / "gradebook.db" for assignment, (course, _) in runs.items()}


def scores(gradebook: Path, student: str, assignment: str) -> dict[str, float]:
    """Score of every autograded (code test) cell of a student's notebook."""
    tests = max_points(assignment)
    with Gradebook(f"sqlite:///{gradebook}") as gb:
        submission = gb.find_submission_notebook(assignment, assignment, student)
        return {grade.name: grade.score for grade in submission.grades if grade.name in tests}


def max_points(assignment: str) -> dict[str, float]:
    cells = grade_cells(read(SOLUTIONS / assignment / f"{assignment}.ipynb"))
    return {
        grade_id: cell.metadata.nbgrader["points"]
        for grade_id, cell in cells.items()
        if cell.metadata.nbgrader["grade"] and cell.cell_type == "code"
    }


@pytest.mark.parametrize("assignment", [EXERCISE, GRADIENT])
def test_solution_gets_full_marks(gradebooks: dict[str, Path], assignment: str):
    assert scores(gradebooks[assignment], "solution", assignment) == max_points(assignment)


@pytest.mark.parametrize("assignment", [EXERCISE, GRADIENT])
def test_untouched_release_gets_nothing(gradebooks: dict[str, Path], assignment: str):
    got = scores(gradebooks[assignment], "untouched", assignment)
    assert set(got) == set(max_points(assignment))
    assert all(score == 0 for score in got.values()), got


def test_wrong_sign_fails_every_update_test(gradebooks: dict[str, Path]):
    got = scores(gradebooks[EXERCISE], "wrong_sign", EXERCISE)
    assert {name: got[name] for name in UPDATE_TESTS} == dict.fromkeys(UPDATE_TESTS, 0)
    assert got["test_learning_rate"] == 1, "the learning-rate answer is graded on its own"


@pytest.mark.parametrize("student", ["rate_too_large", "rate_too_small"])
def test_bad_learning_rate_gets_nothing_for_it(gradebooks: dict[str, Path], student: str):
    got = scores(gradebooks[EXERCISE], student, EXERCISE)
    assert got["test_learning_rate"] == 0
    assert all(got[name] == 1 for name in UPDATE_TESTS), "the update itself is right"


def test_written_answer_waits_for_manual_grading(gradebooks: dict[str, Path]):
    with Gradebook(f"sqlite:///{gradebooks[EXERCISE]}") as gb:
        notebook = gb.find_submission_notebook(EXERCISE, EXERCISE, "solution")
        assert notebook.needs_manual_grade
        grade = gb.find_grade("why_not_global_minimum", EXERCISE, EXERCISE, "solution")
        assert grade.auto_score is None and grade.max_score == 2
        untouched = gb.find_grade("why_not_global_minimum", EXERCISE, EXERCISE, "untouched")
        assert untouched.score == 0, "an answer left as the stub scores 0 without a grader"
