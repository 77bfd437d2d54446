"""Every graded kernel is a fresh fork of the worker's pre-imported parent, clean of its own
hand-in and of every learner before it (issue 9, item 6; issue 12).

One fork server (:func:`autograder.worker.start_fork_server`) forks every kernel of this
module, as one grading worker would. A kernel must not import files handed in beside the
notebook, must find its home writable with matplotlib's warmed caches, must run with no
privilege in namespaces of its own; and what one learner leaves behind (files in every
writable place, a process, an abstract socket, shared memory, keys in the user's keyrings
(its persistent one included), changed modules) must be gone
for the next learner on the same worker.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyter_core.utils import run_sync

from autograder.provisioner import KERNEL_OPTIONS, kernel_manager, write_kernelspec
from autograder.sandbox import (
    default_sandbox,
    fresh_workdir,
    release_mounts,
    require_sandbox,
    warm_home,
    worker_uid,
)
from autograder.worker import start_fork_server
from tests.corpus.cases import ensure_system_deps
from tests.notebook_tools import REPO

PROBE = """
import json, os, sys, matplotlib, numpy
status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines())
print(json.dumps({
    "home": os.environ["HOME"],
    "home_writable": os.access(os.environ["HOME"], os.W_OK),
    "ipythondir": os.environ["IPYTHONDIR"],
    "cachedir": matplotlib.get_cachedir(),
    "path": sys.path,
    "cwd": os.getcwd(),
    "cheated": "CHEATED" in os.environ or hasattr(__builtins__, "cheated"),
    "pid": os.getpid(),
    "uid": os.getuid(),
    "caps": status["CapEff"].strip(),
    "no_new_privs": status["NoNewPrivs"].strip(),
    "processes": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
    "interfaces": sorted(os.listdir("/sys/class/net")) if os.path.isdir("/sys/class/net") else [],
    "random": float(numpy.random.rand()),
}))
"""

#: What a hostile learner leaves behind: a file in every place it can write, a process that
#: goes on writing them, an abstract socket, shared memory, and changed modules.
PLANT = r"""
import builtins, ctypes, json, os, socket, subprocess, sys, numpy
places = ["/tmp", "/dev/shm", os.environ["HOME"], ".", "..", "/run/autograder",
          "/run/autograder/home", "/run/autograder/work", "/", "/home", "/dev"]
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl(1, 0, 0, 0, 0)  # no parent-death signal: outlive the grader's waiting child
libc.syscall(248, b"user", b"left-behind", b"secret", 6, -4)  # add_key to the user keyring
# and to the user's persistent keyring (keyctl(KEYCTL_GET_PERSISTENT), kept for days)
libc.syscall(248, b"user", b"left-behind", b"secret", 6, libc.syscall(250, 22, -1, -3))
os.makedirs("trap/inner")  # read-only folders, to trap the worker's clean-up
open("trap/inner/f", "w").write("x")
os.chmod("trap/inner", 0o500)
os.chmod("trap", 0o500)
written = []
for place in places:
    try:
        with open(os.path.join(place, "left-behind"), "w") as f:
            f.write("x")
        written.append(place)
    except OSError:
        pass
startup = os.path.join(os.environ["IPYTHONDIR"], "profile_default", "startup")
os.makedirs(startup, exist_ok=True)
open(os.path.join(startup, "00-left.py"), "w").write("import builtins; builtins.LEFT = 1\n")
keeper = (
    "import os, time\n"
    "while True:\n"
    "    for p in %r:\n"
    "        try: open(os.path.join(p, 'left-behind'), 'w').write('x')\n"
    "        except OSError: pass\n"
    "    time.sleep(0.02)\n"
) % (places,)
subprocess.Popen([sys.executable, "-c", keeper], start_new_session=True)
listener = socket.socket(socket.AF_UNIX)
listener.bind("\0autograder-left-behind")
listener.listen()
shm = libc.shmget(0x5EED, 4096, 0o1666)
builtins.LEFT = 1
numpy.LEFT = 1
print(json.dumps(written))
"""

READ = r"""
import builtins, ctypes, glob, json, os, socket, sys, numpy
found = []
for pattern in ["/tmp/**", "/dev/shm/**", os.environ["HOME"] + "/**", "./**", "../**",
                "/run/**", "/left-behind", "/home/**"]:
    found += [p for p in glob.glob(pattern, recursive=True) if "left" in p]
probe = socket.socket(socket.AF_UNIX)
try:
    probe.connect("\0autograder-left-behind")
    found.append("abstract socket")
except OSError:
    pass
libc = ctypes.CDLL(None)
if libc.shmget(0x5EED, 0, 0) != -1:
    found.append("SysV shared memory")
if libc.syscall(250, 10, -4, b"user", b"left-behind", 0) > 0:  # keyctl(KEYCTL_SEARCH)
    found.append("a key in the user keyring")
if libc.syscall(250, 10, libc.syscall(250, 22, -1, -3), b"user", b"left-behind", 0) > 0:
    found.append("a key in the user's persistent keyring")
found += [p for p in os.listdir("..") if p != "work"]  # the worker's folder stays hidden
found += [p for p in os.listdir("/dev") if "left" in p]
if hasattr(builtins, "LEFT") or hasattr(numpy, "LEFT"):
    found.append("a changed module")
others = [p for p in os.listdir("/proc") if p.isdigit() and int(p) != os.getpid()]
found += [open(f"/proc/{p}/cmdline").read() for p in others if "while True" in
          open(f"/proc/{p}/cmdline").read()]
print(json.dumps(found))
"""


def keepers() -> list[int]:
    """Processes on this machine running the planter's keeper (whatever their user)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            if b"left-behind" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def fork(tmp_path_factory) -> Iterator:
    """A function that runs code in a fresh forked kernel (with files handed in) and
    returns what it printed; and the fork server's sandbox."""
    ensure_system_deps(REPO)
    base = tmp_path_factory.mktemp("forked")
    base.chmod(0o711)
    scratch = Path(tempfile.mkdtemp(prefix="autograder-", dir=base))
    scratch.chmod(0o711)
    box = dataclasses.replace(default_sandbox(), uid=worker_uid(os.getpid()))  # as a worker's
    require_sandbox(box, scratch)
    server = start_fork_server(box, scratch, str(warm_home(box, scratch / "template")))
    kernels = write_kernelspec(scratch / "spec", box)
    workdir = scratch / f"box-{os.getpid()}" / "work"

    def run(code: str, files: dict[str, str] | None = None) -> str:
        fresh_workdir(workdir, box.kernel_uid(), box.work_bytes)
        for name, text in (files or {}).items():
            target = workdir / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            if os.geteuid() == 0:
                os.chown(target, box.kernel_uid(), box.kernel_gid())
        km = kernel_manager(kernels, workdir, server)
        run_sync(km.start_kernel)(cwd=str(workdir))
        kc = km.blocking_client()
        kc.start_channels()
        printed: list[str] = []

        def keep(msg: dict) -> None:
            if msg["header"]["msg_type"] == "stream":
                printed.append(msg["content"]["text"])
            elif msg["header"]["msg_type"] == "error":
                printed.append("\n".join(msg["content"]["traceback"]))

        try:
            kc.wait_for_ready(timeout=60)
            kc.execute_interactive(code, timeout=60, output_hook=keep)
        finally:
            kc.stop_channels()
            run_sync(km.shutdown_kernel)(now=True)
            km.context.destroy(linger=0)
        return "".join(printed)

    run.box = box
    yield run
    server.close()
    release_mounts(scratch)


@pytest.fixture(scope="module")
def probe(fork) -> dict:
    cheat = "import builtins; builtins.cheated = True\n"
    site = f".local/lib/python3.{__import__('sys').version_info.minor}/site-packages"
    files = {
        "json.py": "raise SystemExit('the work folder was imported')\n",
        "sitecustomize.py": cheat,
        f"{site}/cheat.pth": cheat,
        "numpy.py": "raise SystemExit('a handed-in numpy.py was imported')\n",
    }
    printed = fork(PROBE, files)
    return json.loads(printed.strip().splitlines()[-1])


def test_the_kernel_command_is_isolated_python_by_absolute_path():
    spec_dir = write_kernelspec(Path(tempfile.mkdtemp()), default_sandbox())
    argv = json.loads((spec_dir / "autograder-sandbox" / "kernel.json").read_text())["argv"]
    assert Path(argv[0]).is_absolute() and argv[1] == "-I"
    assert (
        argv[2:4] == ["-m", "ipykernel_launcher"] and argv[-len(KERNEL_OPTIONS) :] == KERNEL_OPTIONS
    )


def test_handed_in_files_are_never_imported(probe):
    assert probe["path"][-1] == "", "the work folder goes last on the import path"
    assert probe["cwd"] not in probe["path"] and "" not in probe["path"][:-1]
    assert not probe["cheated"], "sitecustomize.py or a user-site .pth from the hand-in ran"


def test_home_is_the_graders_fresh_folder_with_warm_caches(probe):
    assert probe["home"] == "/home/grader" and probe["home_writable"]
    assert not probe["home"].startswith(probe["cwd"])
    assert probe["ipythondir"].startswith(probe["home"])
    assert probe["cachedir"] == "/home/grader/.matplotlib", "matplotlib fell back to a temp cache"


def test_the_kernel_has_no_privilege_and_namespaces_of_its_own(probe, fork):
    assert probe["uid"] == fork.box.kernel_uid() and probe["caps"] == "0000000000000000"
    assert probe["no_new_privs"] == "1"
    assert probe["pid"] == 1, "the kernel is process 1 of a PID namespace of its own"
    assert probe["processes"] == [1], "no other process is visible"
    assert probe["interfaces"] in ([], ["lo"]), "no network"


def test_each_fork_gets_its_own_random_state(fork, probe):
    again = json.loads(fork(PROBE).strip().splitlines()[-1])
    assert again["random"] != probe["random"]


def test_nothing_a_learner_leaves_reaches_the_next_learner(fork):
    written = json.loads(fork(PLANT).strip().splitlines()[-1])
    assert "/tmp" in written and "." in written, f"the planter could not write at all: {written}"
    deadline = time.monotonic() + 10  # the planter's process dies with its PID namespace
    while (left := keepers()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"a process the learner started outlived its kernel: {left}"
    found = json.loads(fork(READ).strip().splitlines()[-1])
    assert found == [], f"the next learner found what the last one left: {found}"
