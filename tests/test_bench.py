"""The benchmark scripts that GRADING.md quotes still run (tiny N: a smoke test, no timing)."""

from __future__ import annotations

import subprocess
import sys

from tests.corpus.cases import ensure_system_deps
from tests.notebook_tools import REPO


def run(*argv: str) -> str:
    done = subprocess.run(
        [sys.executable, *argv], cwd=REPO, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_call_roundtrip_prints_both_ways_side_by_side():
    out = run("bench/call_roundtrip.py", "-n", "20")
    assert "execute_request per call" in out and "direct channel, 3-arrays" in out


def test_grade_bench_prints_every_way_and_the_runners_share():
    ensure_system_deps(REPO)
    out = run("bench/grade_bench.py", "-n", "2", "--scaling", "3")
    expected = [
        "nbgrader autograde (serial)", "autograder grade --no-feedback", "floor",
        "autograder grade (feedback)", "with feedback pages",
        "of which the trusted test runner", "CPU per submission / floor",
        "same per-cell scores as nbgrader: 2 of 2", "class of     3, grade --no-feedback",
    ]  # fmt: skip
    for line in expected:
        assert line in out, out


def test_compare_checkouts_prints_both_and_the_ratio():
    ensure_system_deps(REPO)
    out = run("bench/compare_checkouts.py", str(REPO), "-n", "2", "--rounds", "1")
    for line in ("round 1 this", "round 1 other", "mean this", "mean other", "this / other"):
        assert line in out, out
