"""The single writer keeps one gradebook open for a run; a save that fails leaves nothing
behind for the next learner's save (no kernels here: the writer alone)."""

from __future__ import annotations

import pytest
from nbgrader.api import Gradebook, Student

from autograder import grading
from autograder.grading import Course, Pool, run_dirs
from autograder.records import Outcome
from tests.corpus.cases import EXERCISE


@pytest.fixture
def pool(tmp_path, courses):
    root = courses.course(tmp_path / "course", keep_gradebook=True, assignments=(EXERCISE,))
    course = Course(root)
    dirs = run_dirs(course, root / "reports")
    writer = Pool(None, course, dirs, tmp_path / "journal.jsonl", None, None)
    yield writer
    writer.close()


def handed_in(pool: Pool, student: str) -> Outcome:
    release = pool.course.root / "course" / EXERCISE / f"{EXERCISE}.ipynb"
    return Outcome(student, EXERCISE, EXERCISE, "digest", graded=release.read_text())


def saved(pool: Pool, student: str) -> bool:
    with Gradebook(pool.course.db_url, pool.course.course_id) as gb:
        return bool(gb.find_submission_notebook(EXERCISE, EXERCISE, student).grades)


def test_one_gradebook_serves_every_save(pool):
    first = pool.save(handed_in(pool, "ada"))
    kept = pool.gradebook
    second = pool.save(handed_in(pool, "bo"))
    assert not first.flags and not second.flags
    assert kept is not None and pool.gradebook is kept
    assert saved(pool, "ada") and saved(pool, "bo")


def test_a_failed_save_leaves_a_clean_gradebook_for_the_next(pool, monkeypatch):
    save = grading.save_outcome

    def dirty_then_fail(course, outcome, dirs, gradebook=None):
        if outcome.student == "eve":
            gradebook.db.add(Student(id=None))  # a row no flush can write, left pending
            raise RuntimeError("the save broke half-way (made by the test)")
        return save(course, outcome, dirs, gradebook)

    monkeypatch.setattr(grading, "save_outcome", dirty_then_fail)
    failed = pool.save(handed_in(pool, "eve"))
    assert failed.graded is None and failed.flags[0][0] == "grader"
    after = pool.save(handed_in(pool, "ada"))
    assert not after.flags, after.flags
    assert saved(pool, "ada")
