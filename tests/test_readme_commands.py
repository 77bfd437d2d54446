"""The plain-nbgrader commands of README.md and GRADING.md run as written on a fresh course.

The README's instructor block (``./dev env`` ... ``nbgrader export``) and GRADING.md's due-date
block are taken from the documents themselves, and GRADING.md's late-penalty setting is added
to the course's ``nbgrader_config.py``; then both blocks run with bash, unchanged, in a fresh
copy of the course (no gradebook yet) holding two hand-ins in ``submitted/``, one on time and
one late. The grades must come out (the late one with its penalty), and every file the
commands wrote or changed must be one that git ignores.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.corpus.cases import CORRECT, EXERCISE, OK_RATE, answered
from tests.notebook_tools import REPO

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.DOTALL | re.MULTILINE)
HANDINS = {"ada": "2026-12-17 09:30:00 UTC", "bob": "2026-12-19 08:00:00 UTC"}


def block(document: Path, needle: str, language: str = "") -> str:
    """The one fenced block of ``document`` (in ``language``) that contains ``needle``."""
    found = [
        body
        for lang, body in FENCE.findall(document.read_text(encoding="utf-8"))
        if needle in body and lang == language
    ]
    assert len(found) == 1, f"{document}: {len(found)} blocks contain {needle!r}"
    return found[0]


README_BLOCK = block(REPO / "README.md", "nbgrader autograde 04_exercise")
DUE_BLOCK = block(REPO / "autograder" / "GRADING.md", "nbgrader db assignment add")
PENALTY = block(REPO / "autograder" / "GRADING.md", "LateSubmissionPlugin", "python")


def venv_is_devs() -> bool:
    """Whether this Python is ``./dev``'s ``.venv`` with its install stamp (``./dev env`` then
    installs nothing; under conda, say, it would start a pip install)."""
    data = (REPO / "requirements.txt").read_bytes() + (REPO / "pyproject.toml").read_bytes()
    stamp = f".installed-{hashlib.sha256(data).hexdigest()[:16]}"
    return (Path(sys.prefix) / stamp).exists()


def tree(root: Path) -> dict[str, str]:
    """SHA-256 of every file under ``root`` (``.venv``, a link to this environment, left out)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and not p.relative_to(root).parts[0] == ".venv"
    }


def run(script: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "JUPYTER_CONFIG_PATH")}
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


@pytest.fixture(scope="module")
def fresh(tmp_path_factory, courses) -> dict:
    """A fresh course (as a clone has it: no gradebook, no .venv of its own), with the
    README's tools and two hand-ins; then GRADING.md's and the README's commands run."""
    if not venv_is_devs():
        pytest.skip("not run from ./dev's .venv: ./dev env would install a new one")
    root = courses.course(tmp_path_factory.mktemp("readme"), assignments=(EXERCISE,))
    for name in ("dev", "requirements.txt", "pyproject.toml"):
        shutil.copy2(REPO / name, root / name)
    (root / ".venv").symlink_to(sys.prefix)  # what ./dev env made once, before
    with open(root / "autograder" / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write("\n" + PENALTY)
    release = nbformat.read(root / "course" / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    for student, stamp in HANDINS.items():
        folder = root / "submitted" / student / EXERCISE
        folder.mkdir(parents=True)
        notebook = answered(release, {"gradient_descent_update": CORRECT, **OK_RATE})
        nbformat.write(notebook, folder / f"{EXERCISE}.ipynb")
        (folder / "timestamp.txt").write_text(stamp)
    before = tree(root)
    due = run(DUE_BLOCK, root)
    assert due.returncode == 0, due.stderr[-3000:]
    done = run(README_BLOCK, root)
    assert done.returncode == 0, done.stderr[-3000:]
    return {"root": root, "before": before, "after": tree(root), "log": done.stderr}


def test_the_blocks_are_the_plain_nbgrader_path():
    assert "sudo" not in README_BLOCK + DUE_BLOCK
    assert "nbgrader generate_assignment 04_exercise --force" in README_BLOCK
    assert "--duedate=" in DUE_BLOCK


def test_the_readme_commands_grade_and_export(fresh):
    with open(fresh["root"] / "reports" / "grades.csv", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert set(rows) == set(HANDINS), rows
    ada, bob = rows["ada"], rows["bob"]
    assert float(ada["raw_score"]) == 4.0 and float(ada["late_submission_penalty"]) == 0.0
    assert float(bob["raw_score"]) == 4.0 and float(bob["late_submission_penalty"]) == 4.0
    assert float(bob["score"]) == 0.0, "penalty_method 'zero': the late hand-in scores 0"
    for student in HANDINS:
        page = fresh["root"] / "feedback" / student / EXERCISE / f"{EXERCISE}.html"
        assert page.is_file(), page


def test_every_file_the_commands_wrote_is_git_ignored(fresh):
    changed = sorted(
        path for path, digest in fresh["after"].items() if fresh["before"].get(path) != digest
    )
    assert "reports/grades.csv" in changed and "gradebook.db" in changed
    ignored = subprocess.run(
        ["git", "check-ignore", "--no-index", "--stdin"],
        cwd=REPO,
        input="\n".join(changed),
        capture_output=True,
        text=True,
    ).stdout.split()
    tracked = [path for path in changed if path not in ignored]
    assert not tracked, f"the README's commands wrote paths git would commit: {tracked}"


def test_the_release_is_unchanged(fresh):
    """``generate_assignment --force`` rewrites course/, byte for byte what was there."""
    release = {p: d for p, d in fresh["before"].items() if p.startswith("course/")}
    assert release and all(fresh["after"].get(p) == d for p, d in release.items())


def test_a_plain_nbgrader_export_is_git_ignored_wherever_it_runs():
    """``nbgrader export`` without ``--to`` writes ``grades.csv`` in the folder it runs in."""
    for path in ("autograder/grades.csv", "grades.csv", "reports/grades.csv"):
        done = subprocess.run(["git", "check-ignore", "--no-index", "-q", path], cwd=REPO)
        assert done.returncode == 0, f"{path} is not git-ignored"
