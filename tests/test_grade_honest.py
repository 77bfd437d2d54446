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

from tests.corpus.cases import HONEST_CLASS, auto_scores, write_corpus


@pytest.fixture(scope="module")
def plain_nbgrader(tmp_path_factory, courses) -> dict[str, str]:
    """Student -> the URL of the plain-nbgrader gradebook that graded them.

    The class is split in two courses graded at the same time (one ``nbgrader`` process per
    core): plain nbgrader is serial, and two gradebooks keep SQLite's writers apart.
    """
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    students = sorted(HONEST_CLASS)
    runs, where = [], {}
    for half in (0, 1):
        root = courses.course(tmp_path_factory.mktemp(f"honest-plain-{half}"), True)
        cases = {s: HONEST_CLASS[s] for s in students[half::2]}
        write_corpus(root, root / "submitted", root / "course", cases=cases)
        config = root / "autograder" / "nbgrader_config.py"
        script = " && ".join(
            f"{sys.executable} -m nbgrader autograde {a} --force --NbGrader.config_file={config}"
            for a in sorted({c.assignment for c in cases.values()})
        )
        runs.append(
            subprocess.Popen(["bash", "-c", script], cwd=root, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        )  # fmt: skip
        where |= dict.fromkeys(cases, f"sqlite:///{root / 'gradebook.db'}")
    for run in runs:
        _, err = run.communicate(timeout=1200)
        assert run.returncode == 0, err[-3000:]
    return where


def test_the_honest_class_is_big_and_varied():
    assert len(HONEST_CLASS) >= 30
    assert len({case.assignment for case in HONEST_CLASS.values()}) == 2


@pytest.mark.parametrize("student", sorted(HONEST_CLASS))
def test_every_cell_scores_as_plain_nbgrader(plain_nbgrader, corpus_run, student):
    assignment = HONEST_CLASS[student].assignment
    plain = auto_scores(plain_nbgrader[student], student, assignment)
    trusted = auto_scores(corpus_run["course"].db_url, student, assignment)
    assert plain, f"{student}: plain nbgrader graded no test cell"
    assert trusted == plain, f"{student}: the trusted runner disagrees with plain nbgrader"


def test_the_honest_class_is_not_all_full_marks(plain_nbgrader):
    """The comparison means something only if some honest answers lose points somewhere."""
    totals = [
        sum(v or 0 for v in auto_scores(plain_nbgrader[s], s, c.assignment).values())
        for s, c in HONEST_CLASS.items()
    ]
    assert min(totals) < max(totals)
