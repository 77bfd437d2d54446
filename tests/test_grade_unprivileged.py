"""Grading without root (issue 13, item 1): a teaching assistant's ordinary account.

The test makes an ordinary user, gives it a copy of the repository (its tracked files, as a
clone has them, with this environment as its ``.venv``) and five hand-ins, and runs the
README's class-grading block as written, with bash, as that user, without sudo. bubblewrap then
makes a user namespace; the guarantees hold: every score is the one the hand-in deserves, a
spy sees neither the course, the gradebook nor other learners' work, a memory bomb meets its
limit, and the report says that the limits are per process (no cgroup without root).
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest

from tests.corpus.cases import (
    CASES,
    EXERCISE,
    auto_scores,
    ensure_system_deps,
    write_corpus,
)
from tests.notebook_tools import REPO
from tests.test_readme_commands import venv_is_devs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="makes a user account: needs root")

USER = "autograder-ta"
#: A few cases whose scores and flags say the sandbox held: honest, blank, a spy, a memory bomb.
PICKED = ("correct", "blank", "spy", "memory_bomb", "os_exit")


def ensure_user(name: str) -> pwd.struct_passwd:
    """The account ``name``, made (system account, no home, no login) if it is missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


def open_path_to(paths: list[Path]) -> list[tuple[Path, int]]:
    """Let everyone traverse each folder on the way to ``paths`` (this machine's Python may
    live under ``/root``, as it would not on a TA's machine); returns what to restore."""
    changed = []
    for path in paths:
        for folder in [*reversed(path.resolve().parents), path.resolve()]:
            mode = folder.stat().st_mode
            if folder.is_dir() and not mode & stat.S_IXOTH:
                folder.chmod(mode | stat.S_IXOTH)
                changed.append((folder, mode))
    return changed


def readme_block() -> str:
    """The README's fenced block that grades a class with ``python -m autograder grade``."""
    blocks = re.findall(r"^```\n(.*?)^```", (REPO / "README.md").read_text(), re.S | re.M)
    found = [b for b in blocks if "-m autograder grade SUBMISSIONS_DIR" in b]
    assert len(found) == 1, "README.md: one block grades a class"
    return found[0]


def copy_of_repository(target: Path) -> Path:
    """The repository's tracked files as they are now (what a clone of this commit holds),
    with this environment linked in as ``.venv`` (what ``./dev env`` made once)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, (n.decode() for n in listed)):
        source, copy = REPO / name, target / name
        if source.is_file():
            copy.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy)
    (target / ".venv").symlink_to(sys.prefix)
    return target


@pytest.fixture(scope="module")
def unprivileged_run(tmp_path_factory) -> Iterator[dict]:
    ensure_system_deps(REPO)
    if not venv_is_devs():
        pytest.skip("not run from ./dev's .venv: ./dev env would install a new one")
    account = ensure_user(USER)
    base = tmp_path_factory.mktemp("unprivileged")
    root = copy_of_repository(base / "repo")
    submitted = base / "submitted"
    cases = write_corpus(root, submitted, root / "course", only=list(PICKED))
    home = base / "home"
    home.mkdir()
    for folder, dirs, files in os.walk(base):
        for name in [folder, *(os.path.join(folder, f) for f in dirs + files)]:
            os.chown(name, account.pw_uid, account.pw_gid, follow_symlinks=False)
    script = readme_block().replace("SUBMISSIONS_DIR", str(submitted))
    restore = open_path_to([Path(sys.executable), Path(sys.prefix), base])
    try:
        env = {"PATH": os.environ["PATH"], "HOME": str(home), "LANG": "C.UTF-8"}
        done = subprocess.run(
            [
                "setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}",
                "--clear-groups", "--", "bash", "-c", "set -euo pipefail\n" + script,
            ],
            cwd=root, env=env, capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
    finally:
        for folder, mode in reversed(restore):
            folder.chmod(mode)
    yield {"root": root, "cases": cases, "done": done, "uid": account.pw_uid}


def test_an_ordinary_user_grades_the_class(unprivileged_run):
    done = unprivileged_run["done"]
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((unprivileged_run["root"] / "reports" / "report.json").read_text())
    assert "none (not root)" in json.dumps(report), "the report says which limits were used"


@pytest.mark.parametrize("student", PICKED)
def test_scores_are_deserved_without_root(unprivileged_run, student):
    root = unprivileged_run["root"]
    got = auto_scores(f"sqlite:///{root / 'gradebook.db'}", student, EXERCISE)
    passes = CASES[student].passes
    assert {k for k, v in got.items() if v} == passes, got


def test_the_spy_sees_nothing_without_root(unprivileged_run):
    root = unprivileged_run["root"]
    graded = root / "autograded" / "spy" / EXERCISE / f"{EXERCISE}.ipynb"
    outputs = " ".join(
        str(o.get("text", "")) + str(o.get("evalue", ""))
        for c in nbformat.read(graded, as_version=4).cells
        for o in c.get("outputs", [])
    )
    assert "SPY-REPORT []" in outputs, outputs[-2000:]
