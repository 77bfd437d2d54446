"""Grading runs killed at random points, then started again: nothing lost, nothing counted
twice, and a hand-in changed between runs is graded again.

Three runs of the command on one class: the first is killed (SIGKILL to its process group)
after a random number of saves; a hand-in is then changed; the second and the third are killed
at a random point of a random phase (setting up, grading, or writing feedback and the report);
a fourth runs to the end; a fifth finds nothing left to grade. The random seed is in every message.
"""

from __future__ import annotations

import csv
import json
import os
import random
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
#: Between the first and the second run, the first learner the first run graded hands in
#: again: the notebook of their swap (so their grade must change).
SWAP = {
    "correct": "blank",
    "gradient_correct": "gradient_blank",
    "gradient_blank": "gradient_correct",
}
SEED = int(os.environ.get("RESUME_SEED", random.SystemRandom().randrange(10**6)))


def grade_command(root: Path) -> list[str]:
    return [
        sys.executable, "-m", "autograder", "--root", str(root), "grade",
        str(root / "submitted"), "--workers", "1", "--no-progress",
        "--cell-timeout", "20", "--timeout", "120",
    ]  # fmt: skip


def env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def journal_lines(journal: Path) -> int:
    return len(journal.read_text().splitlines()) if journal.exists() else 0


def run_and_kill(root: Path, until, what: str) -> str:
    """Start the command, kill its process group when ``until()`` is true; say where."""
    journal = root / "reports" / "journal.jsonl"
    run = subprocess.Popen(
        grade_command(root), cwd=REPO, env=env(), start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and run.poll() is None and not until():
        time.sleep(0.05)
    ended = run.poll() is not None
    if not ended:
        os.killpg(run.pid, signal.SIGKILL)
    run.wait(timeout=60)
    how = "ended before the kill" if ended else "killed"
    return f"{what}: {how} at {journal_lines(journal)} lines"


def kill_point(rng: random.Random, phase: str, root: Path):
    """When to kill a run: a random time into its set-up, a few saves into its grading, or
    its first feedback page (grading over, feedback under way)."""
    journal, pages, start = root / "reports" / "journal.jsonl", root / "feedback", time.time()
    if phase == "setup":
        delay = rng.uniform(0.5, 6.0)
        return lambda: time.time() - start > delay
    if phase == "grading":
        more = journal_lines(journal) + rng.randint(1, 3)
        return lambda: journal_lines(journal) >= more
    return lambda: any(p.stat().st_mtime > start for p in pages.rglob("*.html"))


@pytest.fixture(scope="module")
def killed_and_resumed(tmp_path_factory, courses) -> dict:
    ensure_system_deps(REPO)  # bubblewrap: without it the grader refuses to run
    rng = random.Random(SEED)
    root = courses.course(tmp_path_factory.mktemp("grade-resume"))
    write_corpus(root, root / "submitted", root / "course", QUICK)
    journal = root / "reports" / "journal.jsonl"
    story = [f"seed {SEED}"]
    first_kill = rng.randint(1, 3)
    story.append(run_and_kill(root, lambda: journal_lines(journal) >= first_kill, "run 1"))
    # a learner the first run graded hands in again (a notebook that scores otherwise)
    changed = json.loads(journal.read_text().splitlines()[0])["student"]
    swap = SWAP.get(changed, "correct")
    assignment = CASES[changed].assignment
    (root / "submitted" / changed / assignment / f"{assignment}.ipynb").write_bytes(
        (root / "submitted" / swap / assignment / f"{assignment}.ipynb").read_bytes()
    )
    story.append(f"{changed} handed in {swap}'s notebook")
    before = tree_hashes(root / "submitted")
    for run in (2, 3):  # two more kills, each at a random point of a random phase
        phase = rng.choice(["setup", "grading", "feedback"])
        story.append(run_and_kill(root, kill_point(rng, phase, root), f"run {run} ({phase})"))
    last = subprocess.run(
        grade_command(root), cwd=REPO, env=env(), capture_output=True, text=True, timeout=600
    )
    again = subprocess.run(
        grade_command(root), cwd=REPO, env=env(), capture_output=True, text=True, timeout=600
    )
    return {
        "root": root,
        "changed": (changed, swap),
        "story": "; ".join(story),
        "last": last,
        "again": again,
        "before": before,
        "after": tree_hashes(root / "submitted"),
    }


def test_the_last_runs_finish(killed_and_resumed):
    for name in ("last", "again"):
        run = killed_and_resumed[name]
        assert run.returncode == 0, f"{killed_and_resumed['story']}: {run.stderr[-3000:]}"


def test_nothing_is_left_for_another_run(killed_and_resumed):
    again = killed_and_resumed["again"].stdout
    match = re.search(r"graded (\d+) submissions, (\d+) already graded", again)
    assert match, again
    assert (int(match[1]), int(match[2])) == (0, len(QUICK)), killed_and_resumed["story"]


def test_every_grade_is_there_once_and_right(killed_and_resumed):
    root, story = killed_and_resumed["root"], killed_and_resumed["story"]
    url = f"sqlite:///{root / 'gradebook.db'}"
    with Gradebook(url, "gradient-descent") as gb:
        rows = [(s.student.id, s.assignment.name) for s in gb.db.query(SubmittedAssignment)]
    assert sorted(rows) == sorted((s, CASES[s].assignment) for s in QUICK), story
    for student in QUICK:
        case = CASES[student]
        changed, swap = killed_and_resumed["changed"]
        want = CASES[swap].passes if student == changed else case.passes
        got = auto_scores(url, student, case.assignment)
        assert {k for k, v in got.items() if v} == want, f"{student}: {story}"
        assert all(v is not None for v in got.values()), f"{student}: {story}"
    with open(root / "reports" / "grades.csv", newline="") as handle:
        pairs = [(r["student_id"], r["assignment"]) for r in csv.DictReader(handle)]
    assert len(pairs) == len(set(pairs)), story  # nobody counted twice
    assert {(s, CASES[s].assignment) for s in QUICK} <= set(pairs), story


def test_the_changed_hand_in_was_graded_again(killed_and_resumed):
    root = killed_and_resumed["root"]
    lines = [json.loads(x) for x in (root / "reports" / "journal.jsonl").read_text().splitlines()]
    report = json.loads((root / "reports" / "report.json").read_text())
    changed, _swap = killed_and_resumed["changed"]
    assert [r["student"] for r in report["students"]].count(changed) == 1
    digests = [x["digest"] for x in lines if x["student"] == changed]
    assert len(set(digests)) == 2, killed_and_resumed["story"]  # graded before and after
    assert sorted(m["entry"] for m in report["manifest"]) == sorted(QUICK)


def test_submissions_untouched_by_the_kills(killed_and_resumed):
    assert killed_and_resumed["after"] == killed_and_resumed["before"]


def test_the_first_run_was_killed_halfway(killed_and_resumed):
    assert "run 1: killed" in killed_and_resumed["story"], killed_and_resumed["story"]
