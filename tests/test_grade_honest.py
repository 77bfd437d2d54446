"""Honest work scores the same with the trusted runner as with plain ``nbgrader autograde``.

The honest class of :data:`tests.corpus.cases.HONEST_CLASS` (numpy calls, loops, lists,
tuples, helpers, prints, ints, text, extra cells, a few honest mistakes) is graded twice: by
plain serial ``nbgrader autograde`` in a course of its own, and by the class grader in the
corpus's one class run. Every per-cell score must agree.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.corpus.cases import HONEST_CLASS, auto_scores, make_course, write_corpus
from tests.notebook_tools import REPO


@pytest.fixture(scope="module")
def plain_nbgrader(tmp_path_factory) -> str:
    root = make_course(tmp_path_factory.mktemp("honest-plain"), REPO, keep_gradebook=True)
    write_corpus(root, root / "submitted", root / "course", cases=HONEST_CLASS)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    config = root / "autograder" / "nbgrader_config.py"
    for assignment in sorted({case.assignment for case in HONEST_CLASS.values()}):
        done = subprocess.run(
            [sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
             f"--NbGrader.config_file={config}"],
            cwd=root, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
    return f"sqlite:///{root / 'gradebook.db'}"


def test_the_honest_class_is_big_and_varied():
    assert len(HONEST_CLASS) >= 30
    assert len({case.assignment for case in HONEST_CLASS.values()}) == 2


@pytest.mark.parametrize("student", sorted(HONEST_CLASS))
def test_every_cell_scores_as_plain_nbgrader(plain_nbgrader, corpus_run, student):
    assignment = HONEST_CLASS[student].assignment
    plain = auto_scores(plain_nbgrader, student, assignment)
    trusted = auto_scores(corpus_run["course"].db_url, student, assignment)
    assert plain, f"{student}: plain nbgrader graded no test cell"
    assert trusted == plain, f"{student}: the trusted runner disagrees with plain nbgrader"


def test_the_honest_class_is_not_all_full_marks(plain_nbgrader):
    """The comparison means something only if some honest answers lose points somewhere."""
    totals = [
        sum(v or 0 for v in auto_scores(plain_nbgrader, s, c.assignment).values())
        for s, c in HONEST_CLASS.items()
    ]
    assert min(totals) < max(totals)
