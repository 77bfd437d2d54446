"""A grading run killed halfway, then started again: nothing lost, nothing counted twice."""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from nbgrader.api import Gradebook, SubmittedAssignment

from tests.corpus.cases import (
    CASES,
    auto_scores,
    ensure_system_deps,
    make_course,
    tree_hashes,
    write_corpus,
)
from tests.notebook_tools import REPO

QUICK = [
    "correct",
    "blank",
    "adds_gradient",
    "ignores_rate",
    "returns_step",
    "returns_none",
    "gradient_correct",
    "gradient_blank",
]


def grade_command(root: Path) -> list[str]:
    return [
        sys.executable, "-m", "autograder", "--root", str(root), "grade",
        str(root / "submitted"), "--workers", "1", "--no-progress",
        "--cell-timeout", "10", "--timeout", "60",
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory) -> dict:
    ensure_system_deps(REPO)  # bubblewrap: without it the grader refuses to run
    root = make_course(tmp_path_factory.mktemp("grade-resume"), REPO)
    write_corpus(root, root / "submitted", root / "course", QUICK)
    before = tree_hashes(root / "submitted")
    journal = root / "reports" / "journal.jsonl"
    first = subprocess.Popen(
        grade_command(root), cwd=REPO, env=env(), start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and first.poll() is None:
        if journal.exists() and len(journal.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    assert first.poll() is None, "the first run ended before it could be killed"
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)
    done_before = len(journal.read_text().splitlines())
    second = subprocess.run(
        grade_command(root), cwd=REPO, env=env(), capture_output=True, text=True, timeout=300
    )
    return {
        "root": root,
        "done_before": done_before,
        "second": second,
        "before": before,
        "after": tree_hashes(root / "submitted"),
    }


def test_the_first_run_was_killed_halfway(killed_and_resumed):
    assert 3 <= killed_and_resumed["done_before"] < len(QUICK)


def test_the_second_run_grades_only_the_rest(killed_and_resumed):
    second = killed_and_resumed["second"]
    assert second.returncode == 0, second.stderr[-3000:]
    match = re.search(r"graded (\d+) submissions, (\d+) already graded", second.stdout)
    assert match, second.stdout
    graded, skipped = int(match[1]), int(match[2])
    assert skipped == killed_and_resumed["done_before"]
    assert graded + skipped == len(QUICK)


def test_every_grade_is_there_once_and_right(killed_and_resumed):
    root = killed_and_resumed["root"]
    url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url, "gradient-descent") as gb:
        rows = [(s.student.id, s.assignment.name) for s in gb.db.query(SubmittedAssignment)]
    assert sorted(rows) == sorted((s, CASES[s].assignment) for s in QUICK)
    for student in QUICK:
        case = CASES[student]
        got = auto_scores(url, student, case.assignment)
        assert {k for k, v in got.items() if v} == case.passes, student
        assert all(v is not None for v in got.values()), student
    with open(root / "reports" / "grades.csv", newline="") as handle:
        pairs = [(r["student_id"], r["assignment"]) for r in csv.DictReader(handle)]
    assert len(pairs) == len(set(pairs))


def test_submissions_untouched_by_the_kill(killed_and_resumed):
    assert killed_and_resumed["after"] == killed_and_resumed["before"]
