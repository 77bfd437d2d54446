"""Fixtures shared by the grader's test modules: one class run grades the whole corpus."""

from __future__ import annotations

import pytest

from autograder.grading import Course, grade_class
from autograder.records import Limits
from tests.corpus.cases import (
    CASES,
    HONEST_CLASS,
    CourseTemplates,
    ensure_system_deps,
    tree_hashes,
    write_corpus,
)
from tests.notebook_tools import REPO


@pytest.fixture(scope="session")
def courses(tmp_path_factory) -> CourseTemplates:
    """Throw-away courses for the session: nbgrader generates each release once."""
    return CourseTemplates(tmp_path_factory.mktemp("course-templates"), REPO)


@pytest.fixture(scope="session")
def corpus_run(tmp_path_factory, courses) -> dict:
    ensure_system_deps(REPO)  # bubblewrap: without it the grader refuses to run
    root = courses.course(tmp_path_factory.mktemp("grade-corpus"))
    submitted = root / "submitted"
    cases = write_corpus(root, submitted, root / "course", cases={**CASES, **HONEST_CLASS})
    other = root / "course"  # the release, which learner code must not change either
    before = {"submitted": tree_hashes(submitted), "course": tree_hashes(other)}
    course = Course(root)
    result = grade_class(
        submitted,
        course,
        root / "reports",
        # a learner cell may take long on a slow machine; a test's calls take milliseconds, so a
        # short test budget keeps the cases that hang on purpose cheap
        limits=Limits(cell_timeout=10, notebook_timeout=60, test_timeout=4.0),
        progress=False,
    )
    after = {"submitted": tree_hashes(submitted), "course": tree_hashes(other)}
    outcomes = {o.student: o for o in result.outcomes}
    return {
        "root": root,
        "course": course,
        "cases": cases,
        "result": result,
        "outcomes": outcomes,
        "before": before,
        "after": after,
    }
