"""The learner's kernel starts clean of its own hand-in (issue 9, item 6).

A sandboxed Python started as the grader starts kernels (``python -I``, the grader's fresh
home) must not import files handed in beside the notebook, must not run an IPython startup
file or a user-site ``.pth`` from the work folder, and must find its home writable with
matplotlib's warmed caches in it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.provisioner import KERNEL_OPTIONS, home_for, write_kernelspec
from autograder.sandbox import default_sandbox, hand_over, prepare_workdir, warm_home
from tests.corpus.cases import ensure_system_deps
from tests.notebook_tools import REPO

PROBE = """
import json, os, sys
import matplotlib
print(json.dumps({
    "home": os.environ["HOME"],
    "home_writable": os.access(os.environ["HOME"], os.W_OK),
    "ipythondir": os.environ["IPYTHONDIR"],
    "cachedir": matplotlib.get_cachedir(),
    "path": sys.path,
    "cheated": "CHEATED" in os.environ or hasattr(__builtins__, "cheated"),
}))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory) -> dict:
    ensure_system_deps(REPO)
    box = default_sandbox()
    base = tmp_path_factory.mktemp("kernel-start")
    base.chmod(0o755)
    template = warm_home(box, base / "template")
    workdir = base / "work"
    prepare_workdir(workdir, box.uid)
    cheat = "import builtins; builtins.cheated = True\n"
    (workdir / "json.py").write_text("raise SystemExit('the work folder was imported')\n")
    (workdir / "sitecustomize.py").write_text(cheat)
    site = workdir / ".local" / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
    (site / "site-packages").mkdir(parents=True)
    (site / "site-packages" / "cheat.pth").write_text(cheat)
    hand_over(workdir, box.uid)
    home = home_for(workdir)
    import shutil

    shutil.copytree(template, home)
    hand_over(home, box.uid)
    spec = json.loads(
        (write_kernelspec(base, box) / "autograder-sandbox" / "kernel.json").read_text()
    )
    python = spec["argv"][:2]  # the kernelspec's own interpreter and its -I
    done = subprocess.run(
        box.wrap([*python, "-c", PROBE], workdir, home=home),
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]) | {"workdir": str(workdir)}


def test_the_kernel_command_is_isolated_python_by_absolute_path():
    spec_dir = write_kernelspec(Path(__import__("tempfile").mkdtemp()), default_sandbox())
    argv = json.loads((spec_dir / "autograder-sandbox" / "kernel.json").read_text())["argv"]
    assert Path(argv[0]).is_absolute() and argv[1] == "-I"
    assert (
        argv[2:4] == ["-m", "ipykernel_launcher"] and argv[-len(KERNEL_OPTIONS) :] == KERNEL_OPTIONS
    )


def test_handed_in_files_are_never_imported(probe):
    assert probe["workdir"] not in probe["path"] and "" not in probe["path"]
    assert not probe["cheated"], "sitecustomize.py or a user-site .pth from the hand-in ran"


def test_home_is_the_graders_fresh_folder_with_warm_caches(probe):
    assert probe["home"] == "/home/grader" and probe["home_writable"]
    assert not probe["home"].startswith(probe["workdir"])
    assert probe["ipythondir"].startswith(probe["home"])
    assert probe["cachedir"] == "/home/grader/.matplotlib", "matplotlib fell back to a temp cache"
