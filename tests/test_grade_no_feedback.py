"""``grade --no-feedback``: grades, grades.csv and the report without feedback pages (as
``nbgrader autograde`` makes none); a later run writes the pages without grading again, and a
hand-in graded again without feedback loses its old page (it would show the old grade)."""

from __future__ import annotations

import csv

import pytest

from tests.corpus.cases import CASES, EXERCISE, write_corpus
from tests.test_grade_cli import finish, start_cli


def grade(root, *extra: str):
    done = finish(start_cli(
        "--root", str(root), "grade", str(root / "submitted"), "--workers", "1", "--no-progress",
        *extra,
    ))  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def course(tmp_path_factory, courses):
    root = courses.course(tmp_path_factory.mktemp("no-feedback") / "course")
    write_corpus(root, root / "submitted", root / "course", {"correct": CASES["correct"]})
    return root


def page(root):
    return root / "feedback" / "correct" / EXERCISE / f"{EXERCISE}.html"


def test_no_pages_but_grades_csv_and_report(course):
    out = grade(course, "--no-feedback")
    assert "graded 1 submissions" in out and "none (--no-feedback)" in out
    assert not page(course).exists()
    with open(course / "reports" / "grades.csv", newline="") as rows:
        assert [row["student_id"] for row in csv.DictReader(rows)] == ["correct"]
    assert (course / "reports" / "report.html").exists()


def test_a_later_run_writes_the_pages_without_grading(course):
    out = grade(course)
    assert "graded 0 submissions, 1 already graded" in out
    assert "Score: " in page(course).read_text()


def test_graded_again_without_feedback_drops_the_old_page(course):
    grade(course, "--no-feedback", "--regrade-all")
    assert not page(course).exists()
