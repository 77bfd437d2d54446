"""The class grader with a PostgreSQL gradebook (nbgrader's ``db_url``), on a real server.

The test installs Debian's PostgreSQL if it is missing (autograder/system_deps.sh), starts a
throw-away cluster on 127.0.0.1 as the ``postgres`` user, grades the LMS-style corpus (zips,
one with a ``../`` member, one that is not a zip) into it, and stops the server.
"""

from __future__ import annotations

import glob
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
import pytest

from autograder.grading import Course, grade_class
from autograder.records import Limits
from tests.corpus.cases import (
    EXERCISE,
    auto_scores,
    ensure_system_deps,
    write_zip_corpus,
)
from tests.notebook_tools import REPO


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def as_postgres(*argv: str) -> None:
    done = subprocess.run(
        ["runuser", "-u", "postgres", "--", *argv], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr or done.stdout


@pytest.fixture(scope="module")
def postgres_url():
    ensure_system_deps(REPO)
    bindir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="grade-pg-"))
    shutil.chown(base, "postgres")
    data, port = base / "data", free_port()
    as_postgres(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"),
                "-w", "start")  # fmt: skip
    try:
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{port}/postgres") as db:
            db.autocommit = True
            db.execute("CREATE DATABASE gradebook")
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/gradebook"
    finally:
        as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def pg_run(tmp_path_factory, courses, postgres_url) -> dict:
    root = courses.course(tmp_path_factory.mktemp("grade-pg"))
    expected = write_zip_corpus(root / "lms", root / "course")
    course = Course(root, postgres_url)
    result = grade_class(
        root / "lms",
        course,
        root / "reports",
        assignment=EXERCISE,
        limits=Limits(cell_timeout=10, notebook_timeout=60),
        progress=False,
    )
    return {"root": root, "course": course, "result": result, "expected": expected}


def test_grades_land_in_postgresql(pg_run, postgres_url):
    for student, (passes, _flags) in pg_run["expected"].items():
        got = auto_scores(postgres_url, student, EXERCISE)
        assert {k for k, v in got.items() if v} == passes, student
    assert not (pg_run["root"] / "gradebook.db").exists(), "nothing went to a SQLite file"
    with psycopg.connect(postgres_url.replace("+psycopg", "")) as db:
        (count,) = db.execute("select count(*) from submitted_assignment").fetchone()
    assert count == len(pg_run["expected"])


def test_zip_problems_are_flagged(pg_run):
    outcomes = {o.student: o for o in pg_run["result"].outcomes}
    for student, (_passes, flags) in pg_run["expected"].items():
        assert flags <= {kind for kind, _ in outcomes[student].flags}, student
    assert any("../escaped.txt" in detail for _, detail in outcomes["zara"].flags)
    assert not (pg_run["root"] / "escaped.txt").exists()
    assert not (pg_run["root"].parent / "escaped.txt").exists()


def test_feedback_and_csv_from_postgresql(pg_run):
    root, result = pg_run["root"], pg_run["result"]
    # another gradebook's autograded notebooks and feedback go into its --out folder
    assert result.dirs.feedback == root / "reports" / "feedback"
    assert (result.dirs.feedback / "zara" / EXERCISE / f"{EXERCISE}.html").exists()
    assert (result.dirs.autograded / "zara" / EXERCISE / f"{EXERCISE}.ipynb").exists()
    assert not (root / "feedback").exists() and not (root / "autograded").exists()
    assert "zara" in pg_run["result"].csv.read_text()
