"""The grader's scratch folder is open to the sandbox's user, and private in what it holds.

A run's scratch folder (``/tmp/autograder-*``) is ``0711``, so that a kernel's user can reach
its work folder inside. Any local account (a learner with a terminal on the grading host) can
then open whatever inside is readable, by its name: the copy of the instructor's sources
(solutions and hidden tests) and the workers' template gradebook (a copy of the real one:
every learner's grades, the hidden tests' source) must not be.
"""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from pathlib import Path

import pytest

from autograder import grading
from autograder.grading import Course, register_assignments
from tests.corpus.cases import EXERCISE


def open_to_others(path: Path, top: Path) -> bool:
    """Whether a user who is neither the owner nor in the group can read ``path``, given
    that they can reach ``top`` (``/tmp`` is open to all)."""
    folder = path.parent
    while True:
        if not folder.stat().st_mode & stat.S_IXOTH:
            return False
        if folder == top:
            break
        folder = folder.parent
    return bool(path.stat().st_mode & stat.S_IROTH)


@pytest.mark.parametrize("gradebook", ["sqlite file", "another database"])
def test_a_local_account_can_read_nothing_secret_in_the_scratch_folder(
    tmp_path, courses, gradebook, monkeypatch
):
    root = courses.course(tmp_path / "course", keep_gradebook=True)
    course = Course(root)
    if gradebook == "another database":  # (PostgreSQL...): the template is a second nbgrader run
        monkeypatch.setattr(grading, "sqlite_file", lambda url: None)
    scratch = Path(tempfile.mkdtemp(prefix="autograder-", dir=tmp_path))
    os.chmod(scratch, 0o711)  # as grade_class makes it
    template = register_assignments(course, [EXERCISE], scratch)
    shutil.copy(template, scratch / "worker-1.db")  # as each worker copies it (init_worker)
    readable = [p for p in scratch.rglob("*") if p.is_file() and open_to_others(p, scratch)]
    secret = [
        p.relative_to(scratch).as_posix()
        for p in readable
        if p.read_bytes().startswith(b"SQLite format 3")
        or b"BEGIN HIDDEN TESTS" in p.read_bytes()
        or b"BEGIN SOLUTION" in p.read_bytes()
    ]
    assert template.stat().st_size > 0
    assert secret == [], f"any local account can read {secret}"
