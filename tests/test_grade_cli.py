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


def start_cli(*args: str) -> subprocess.Popen:
    """Start ``python -m autograder ARGS`` as a user would, from the repository."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.Popen(
        [sys.executable, "-m", "autograder", *args],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(run: subprocess.Popen) -> subprocess.CompletedProcess:
    out, err = run.communicate(timeout=120)
    return subprocess.CompletedProcess(run.args, run.returncode, out, err)


#: id -> (what to make in an empty folder and grade, more options, what the error must say)
BAD_INPUT = {
    "wrong-path": (lambda tmp: tmp / "nowhere", [], "no such folder"),
    "empty": (lambda tmp: tmp, [], "empty folder"),
    "file": (lambda tmp: (tmp / "a.txt").write_text("x") and tmp / "a.txt", [], "not a folder"),
    "unknown-assignment": (
        lambda tmp: tmp,
        ["--assignment", "99_nope"],
        "99_nope: unknown assignment",
    ),
    "flat-without-assignment": (
        lambda tmp: (tmp / "ada.ipynb").write_text("{}") and tmp,
        [],
        "--assignment",
    ),
}
#: id -> (more options for a folder holding one notebook, what the error must say)
BAD_OPTIONS = {
    "regrade-unknown": (["--regrade", "nobody"], "--regrade nobody: no hand-in of that student"),
    "too-few-processes": (["--max-processes", "2"], "--max-processes"),
}


@pytest.fixture(scope="module")
def cli_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Every command of this module's tests, each in a folder of its own, run at the same
    time (each spends seconds importing nbgrader): id -> (the finished command, its folder)."""
    started = {}
    for name, (make, args, _) in BAD_INPUT.items():
        tmp = tmp_path_factory.mktemp(name)
        target = make(tmp)
        started[name] = tmp, start_cli("grade", str(target), *args, "--out", str(tmp / "out"))
    for name, (args, _) in BAD_OPTIONS.items():
        tmp = tmp_path_factory.mktemp(name)
        (tmp / "subs").mkdir()
        (tmp / "subs" / "ada.ipynb").write_text("{}")
        started[name] = (
            tmp,
            start_cli(
                "grade",
                str(tmp / "subs"),
                "--assignment",
                EXERCISE,
                "--out",
                str(tmp / "out"),
                *args,
            ),
        )
    tmp = tmp_path_factory.mktemp("nothing-to-grade")
    (tmp / "bad!name.ipynb").write_text("{}")
    started["nothing-to-grade"] = (
        tmp,
        start_cli("grade", str(tmp), "--assignment", EXERCISE, "--out", str(tmp / "o")),
    )
    return {name: (finish(run), tmp) for name, (tmp, run) in started.items()}


@pytest.mark.parametrize("case", BAD_INPUT)
def test_bad_input_is_one_line_and_exit_1(cli_runs, case):
    done, _ = cli_runs[case]
    message = BAD_INPUT[case][2]
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert message in lines[0]


@pytest.mark.parametrize("case", BAD_OPTIONS)
def test_bad_regrade_and_limits_are_one_line(cli_runs, case):
    done, tmp = cli_runs[case]
    message = BAD_OPTIONS[case][1]
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert not (tmp / "out").exists(), "nothing written before the error"


def test_nothing_to_grade_says_why(cli_runs):
    done, _ = cli_runs["nothing-to-grade"]
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
