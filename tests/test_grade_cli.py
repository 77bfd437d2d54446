"""``python -m autograder grade``: bad input gets one line naming the problem, exit 1."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.__main__ import main
from autograder.intake import find_submissions
from tests.corpus.cases import EXERCISE, write_zip_corpus
from tests.notebook_tools import COURSE, REPO


def run_cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [sys.executable, "-m", "autograder", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    ("make", "args", "message"),
    [
        (lambda tmp: tmp / "nowhere", [], "no such folder"),
        (lambda tmp: tmp, [], "empty folder"),
        (lambda tmp: (tmp / "a.txt").write_text("x") and tmp / "a.txt", [], "not a folder"),
        (lambda tmp: tmp, ["--assignment", "99_nope"], "99_nope: unknown assignment"),
        (lambda tmp: (tmp / "ada.ipynb").write_text("{}") and tmp, [], "--assignment"),
    ],
    ids=["wrong-path", "empty", "file", "unknown-assignment", "flat-without-assignment"],
)
def test_bad_input_is_one_line_and_exit_1(tmp_path, make, args, message):
    target = make(tmp_path)
    done = run_cli("grade", str(target), *args, "--out", str(tmp_path / "out"))
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--regrade", "nobody"], "--regrade nobody: no hand-in of that student"),
        (["--max-processes", "2"], "--max-processes"),
    ],
    ids=["regrade-unknown", "too-few-processes"],
)
def test_bad_regrade_and_limits_are_one_line(tmp_path, args, message):
    (tmp_path / "subs").mkdir()
    (tmp_path / "subs" / "ada.ipynb").write_text("{}")
    out = tmp_path / "out"
    done = run_cli("grade", str(tmp_path / "subs"), "--assignment", EXERCISE, "--out", str(out),
                   *args)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert not out.exists(), "nothing written before the error"


def test_nothing_to_grade_says_why(tmp_path):
    (tmp_path / "bad!name.ipynb").write_text("{}")
    done = run_cli("grade", str(tmp_path), "--assignment", EXERCISE, "--out", str(tmp_path / "o"))
    assert done.returncode == 1
    assert "nothing to grade" in done.stderr and "not a usable student id" in done.stderr


def test_bad_option_exits_non_zero(tmp_path, capsys):
    assert main(["grade", str(tmp_path), "--workers", "0"]) == 1
    assert "--workers 0" in capsys.readouterr().err


def test_zip_layout_keeps_escaping_members_out(tmp_path):
    expected = write_zip_corpus(tmp_path / "lms", COURSE)
    found = {
        s.student: s for s in find_submissions(tmp_path / "lms", {EXERCISE: [EXERCISE]}, EXERCISE)
    }
    assert set(found) == set(expected)
    assert found["zara"].data is not None and "data.csv" in found["zara"].extras
    assert not any(".." in name for name in found["zara"].extras)
    assert any("../escaped.txt" in p for p in found["zara"].problems)
    assert found["broken"].data is None and "not a readable zip" in found["broken"].problems[0]


def test_no_sandbox_no_grading(tmp_path):
    from autograder.sandbox import Sandbox, SandboxError, require_sandbox

    missing = Sandbox(bwrap=str(tmp_path / "no-bwrap"))
    with pytest.raises(SandboxError, match="no-bwrap: not installed"):
        require_sandbox(missing, tmp_path)
    broken = Sandbox(bwrap="false")  # exists, but starts nothing
    with pytest.raises(SandboxError, match="the sandbox does not start here"):
        require_sandbox(broken, tmp_path)
