"""A grading worker grades hundreds of hand-ins in one process: each must leave nothing behind.

nbclient leaves a kernel it was handed running and its client connected; the worker stops
both. Before it did, every hand-in left three threads, eleven open files and a few MiB in the
worker, so a class of 1,000 ran a worker out of threads and memory.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from autograder.grading import Course, instructor_files, register_assignments, release_texts
from autograder.pipeline import worker_config
from autograder.records import Limits, Submission
from autograder.sandbox import default_sandbox, release_mounts, require_sandbox, warm_home
from autograder.worker import WorkerSetup, grade, init_worker
from tests.corpus.cases import CASES, EXERCISE, ensure_system_deps, read_releases
from tests.notebook_tools import REPO


def open_threads_and_files() -> tuple[int, int]:
    return len(os.listdir("/proc/self/task")), len(os.listdir("/proc/self/fd"))


def test_grading_leaves_no_thread_or_open_file_behind(tmp_path, courses):
    ensure_system_deps(REPO)
    root = courses.course(tmp_path / "course")
    course = Course(root)
    scratch = Path(tempfile.mkdtemp(prefix="autograder-", dir=tmp_path))
    (scratch / "pid").write_text(str(os.getpid()))
    os.chmod(tmp_path, 0o711)
    os.chmod(scratch, 0o711)
    box = default_sandbox()
    require_sandbox(box, scratch)
    template = register_assignments(course, [EXERCISE], scratch)
    init_worker(
        WorkerSetup(
            str(scratch),
            str(template),
            release_texts(scratch, course, [EXERCISE]),
            instructor_files(course, [EXERCISE]),
            box,
            Limits(),
            course.pipeline,
            worker_config(course.config, course.pipeline, Limits()),
            str(warm_home(box, scratch / "home")),
            sources={EXERCISE: {EXERCISE: str(course.source / EXERCISE / f"{EXERCISE}.ipynb")}},
        )
    )
    data = CASES["correct"].build({"root": root, "release": read_releases(root / "course")})
    first = grade(Submission("first", EXERCISE, EXERCISE, data))
    assert all(t["passed"] for t in first.tests.values()), first.flags
    before = open_threads_and_files()
    for i in range(3):
        grade(Submission(f"next{i}", EXERCISE, EXERCISE, data))
    assert open_threads_and_files() == before
    from autograder import worker

    server = worker._STATE["fork_server"]
    server.close()
    release_mounts(scratch)
    assert (server.starts, server.spawned) == (1, 4), "one fork server forked every kernel"
