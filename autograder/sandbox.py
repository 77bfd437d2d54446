"""Run each learner's kernel in a throw-away sandbox: bubblewrap, an unprivileged user, limits.

A graded kernel sees only what it needs to run the course's code: the system's ``/usr``,
``/lib``, ``/bin`` and ``/etc``, the Python installation, the virtual environment and the
course's helper package, all read-only; and one private, writable folder that holds the
learner's own files. The course root (``solutions/``, the gradebook, ``submitted/``), the
submissions folder, other learners' work folders and every home directory are simply not
there. The kernel runs as ``nobody`` with no capabilities, in its own PID, IPC, UTS and
network namespaces (no network at all: it talks to the grader over ZeroMQ's ``ipc``
transport, unix sockets in the private folder), with a cap on its address space.

Nothing is graded unprotected: :func:`require_sandbox` raises :class:`SandboxError` with the
reason when bubblewrap is missing or cannot start, and the grader stops before any kernel runs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from autograder.coursedir import CourseError

#: The unprivileged user and group of the sandbox check (``nobody`` / ``nogroup`` on Debian).
#: Each grading worker runs its kernels under a user id of its own (see :func:`worker_uid`),
#: so that per-user limits (processes) of one learner's kernel cannot starve another's.
SANDBOX_UID = 65534
SANDBOX_GID = 65534


def worker_uid(pid: int) -> int:
    """The user id a grading worker's kernels run as: unused by any account, one per worker.

    Examples
    --------
    >>> worker_uid(4242)
    1004242
    """
    return 1_000_000 + pid


#: Read-only system folders visible in the sandbox (those that exist on this machine).
SYSTEM_DIRS = ("/usr", "/bin", "/lib", "/lib64", "/etc", "/sbin")
#: Where the grader's fresh home folder appears inside the sandbox.
HOME_IN_SANDBOX = "/home/grader"
#: A folder where a forked kernel builds its fresh home (and carries its work folder over a
#: fresh ``/tmp``) before moving them to their places.
STAGING = "/run/autograder"
#: Variables the kernel keeps from the grader's environment; every other one is dropped.
PASSED_ENV = ("PATH", "LANG", "LC_ALL", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


class SandboxError(CourseError):
    """The sandbox cannot be set up here: nothing may be graded unprotected."""


@dataclass(frozen=True)
class Sandbox:
    """What a sandboxed kernel may read, and the limits it runs under.

    Parameters
    ----------
    readable : tuple of str
        Folders bound read-only at their own path (besides :data:`SYSTEM_DIRS`).
    memory_bytes : int
        Cap on the kernel's address space (``RLIMIT_AS``): a memory bomb gets ``MemoryError``
        or dies, and the grader goes on.
    file_bytes : int
        Largest file the kernel may write (``RLIMIT_FSIZE``).
    max_processes : int
        Processes and threads the sandbox user may have at once (``RLIMIT_NPROC``, counted
        over every kernel, since all run as ``nobody``): a fork bomb stops there.

    Examples
    --------
    >>> box = Sandbox(readable=("/opt/venv",), memory_bytes=2**30)
    >>> argv = box.wrap(["python", "-m", "ipykernel_launcher"], Path("/tmp/work"))
    >>> argv[0].endswith("bwrap"), "--unshare-net" in argv, argv[-3:]
    (True, True, ['python', '-m', 'ipykernel_launcher'])
    >>> argv[argv.index("--bind") + 1:argv.index("--bind") + 3]
    ['/tmp/work', '/tmp/work']
    """

    readable: tuple[str, ...] = ()
    memory_bytes: int = 2 * 2**30
    file_bytes: int = 512 * 2**20
    max_processes: int = 512
    # the limits of the whole sandbox (autograder/cgroups.py): the run's cgroup folders and
    # what each kernel's cgroup gets, and the bytes of /tmp and of the work folder
    cgroup_bases: tuple[str, ...] = ()
    cgroup_settings: tuple[str, ...] = ()
    tmp_bytes: int = 0
    work_bytes: int = 0
    uid: int = SANDBOX_UID
    #: Not root: bubblewrap makes a user namespace, and the kernels keep the grader's user id.
    userns: bool = field(default_factory=lambda: os.geteuid() != 0)
    bwrap: str = field(default_factory=lambda: shutil.which("bwrap") or "bwrap")
    setpriv: str = field(default_factory=lambda: shutil.which("setpriv") or "setpriv")

    def _namespaces(self) -> list[str]:
        """bubblewrap's namespace options: a user namespace of its own when not root."""
        user = ["--unshare-user"] if self.userns else []
        return [
            *user,
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--die-with-parent",
            "--new-session",
        ]

    def _mounts(self, binds: list[tuple[str, str]], chdir: str, home_dir: str) -> list[str]:
        """The sandbox's file system: the system and :attr:`readable` read-only, ``binds``
        writable, a fresh ``/tmp``; and its environment (``HOME`` is ``home_dir``)."""
        mounts: list[str] = ["--tmpfs", "/", "--dev", "/dev", "--proc", "/proc"]
        size = ["--size", str(self.tmp_bytes)] if self.tmp_bytes else []
        mounts += ["--perms", "1777", *size, "--tmpfs", "/tmp"]
        made: set[str] = set()
        visible = [d for d in SYSTEM_DIRS if os.path.exists(d)] + list(self.readable)
        for path in [*visible, *(target for _, target in binds)]:
            for parent in reversed(Path(path).parents):
                name = str(parent)
                if name != "/" and name not in made:
                    made.add(name)
                    mounts += ["--perms", "0755", "--dir", name]
        for path in visible:
            # /lib64 and friends are symlinks on merged-/usr systems: recreate them as links;
            # any other link (a .venv linked from elsewhere) is bound as what it points to
            if path in SYSTEM_DIRS and os.path.islink(path):
                mounts += ["--symlink", os.readlink(path), path]
            else:
                mounts += ["--ro-bind", path, path]
        for source, target in binds:
            mounts += ["--bind", source, target]
        mounts += ["--chdir", chdir]
        env = {
            "HOME": home_dir,
            "IPYTHONDIR": f"{home_dir}/.ipython",
            "MPLCONFIGDIR": f"{home_dir}/.matplotlib",
            "MPLBACKEND": "agg",
            "OPENBLAS_NUM_THREADS": "1",
            "OMP_NUM_THREADS": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        env |= {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
        mounts += ["--clearenv"]
        for key, value in sorted(env.items()):
            mounts += ["--setenv", key, value]
        return mounts

    def wrap(self, argv: list[str], workdir: Path, home: Path | None = None) -> list[str]:
        """The command line that runs ``argv`` inside the sandbox with ``workdir`` writable.

        ``home``, if given, is a fresh folder of the grader's (never one the learner's files
        were put in), bound at :data:`HOME_IN_SANDBOX` as ``HOME``, where IPython and
        matplotlib keep their files; without it ``HOME`` is an empty folder in ``/tmp``.
        """
        binds = [(str(workdir), str(workdir))]
        if home is not None:
            binds.append((str(home), HOME_IN_SANDBOX))
        home_dir = HOME_IN_SANDBOX if home is not None else "/tmp/home"
        drop = (
            []
            if self.userns
            else [
                self.setpriv,
                f"--reuid={self.uid}",
                f"--regid={SANDBOX_GID}",
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--",
            ]
        )
        return [
            self.bwrap,
            *self._namespaces(),
            *self._mounts(binds, str(workdir), home_dir),
            *("--remount-ro", "/"),
            "--",
            "prlimit",
            f"--as={self.memory_bytes}",
            "--core=0",
            f"--fsize={self.file_bytes}",
            f"--nproc={self.max_processes}",
            "--",
            *drop,
            *argv,
        ]

    def parent(self, argv: list[str], box: Path, home: Path) -> list[str]:
        """The command line of a worker's fork server (:mod:`autograder.zygote`) in the sandbox.

        ``box`` (the worker's folder, where each kernel's work folder is made) is writable and
        ``home`` (the worker's copy of the warmed home) is :data:`HOME_IN_SANDBOX`. The parent
        keeps its capabilities (in the sandbox's namespaces only) to give each forked kernel
        namespaces of its own; each kernel drops them before it runs anything.

        Examples
        --------
        >>> argv = Sandbox(userns=True).parent(["python"], Path("/b"), Path("/h"))
        >>> "--unshare-user" in argv, argv[argv.index("--cap-add") + 1], argv[-1]
        (True, 'ALL', 'python')
        """
        binds = [(str(box), str(box)), (str(home), HOME_IN_SANDBOX)]
        return [
            self.bwrap,
            *self._namespaces(),
            "--cap-add",
            "ALL",
            *self._mounts(binds, str(box), HOME_IN_SANDBOX),
            *("--dir", f"{STAGING}/home", "--dir", f"{STAGING}/work"),
            *(
                arg
                for i, _ in enumerate(self.under_tmp())
                for arg in ("--dir", f"{STAGING}/keep-{i}")
            ),
            *("--remount-ro", "/", "--remount-ro", "/dev"),
            "--",
            *argv,
        ]

    def kernel_request(self, workdir: Path, argv: list[str]) -> dict:
        """What the fork server needs to make one kernel (see :mod:`autograder.zygote`)."""
        return {
            "workdir": str(workdir),
            "argv": argv,
            "home": HOME_IN_SANDBOX,
            "staging": STAGING,
            "keep": self.under_tmp(),
            "uid": self.kernel_uid(),
            "gid": self.kernel_gid(),
            "tmp_bytes": self.tmp_bytes,
            "memory_bytes": self.memory_bytes,
            "file_bytes": self.file_bytes,
            # with a cgroup, its pids limit (which counts what it refuses, for the report) is
            # the one a fork bomb meets; the per-user limit stays just above it as a backstop
            "max_processes": self.max_processes + (16 if self.cgroup_bases else 0),
        }

    def under_tmp(self) -> list[str]:
        """The read-only folders shown under ``/tmp`` (a course cloned there), which each
        kernel carries over to its fresh ``/tmp``.

        Examples
        --------
        >>> Sandbox(readable=("/opt/venv", "/tmp/course/.venv")).under_tmp()
        ['/tmp/course/.venv']
        """
        return [path for path in self.readable if Path(path).is_relative_to("/tmp")]

    def kernel_uid(self) -> int:
        """The user id a kernel runs as: :attr:`uid` as root, the grader's own otherwise."""
        return os.getuid() if self.userns else self.uid

    def kernel_gid(self) -> int:
        return os.getgid() if self.userns else SANDBOX_GID


#: What ``python -I`` prints: where the course's helper package would be imported from.
FIND_GDCOURSE = (
    "import importlib.util as u; s = u.find_spec('gdcourse'); print(s.origin if s else '')"
)


def default_sandbox(memory_bytes: int = 2 * 2**30) -> Sandbox:
    """The sandbox for this Python: its installation, its venv and the course's helper package.

    Examples
    --------
    >>> box = default_sandbox()
    >>> sys.base_prefix in box.readable and sys.prefix in box.readable
    True
    """
    readable = {sys.base_prefix, sys.prefix}
    # where a kernel (``python -I``: no current folder on its path) finds the course's package
    found = subprocess.run(
        [sys.executable, "-I", "-c", FIND_GDCOURSE], capture_output=True, text=True, check=False
    ).stdout.strip()
    if found:
        readable.add(str(Path(found).resolve().parent))
    # drop folders already inside another visible one
    kept = sorted(readable)
    kept = [p for p in kept if not any(p != q and p.startswith(q + os.sep) for q in kept)]
    return Sandbox(readable=tuple(kept), memory_bytes=memory_bytes)


def prepare_workdir(workdir: Path, uid: int = SANDBOX_UID, size_bytes: int = 0) -> None:
    """Create ``workdir`` empty and owned by the sandbox user, so the kernel can write in it.

    With ``size_bytes`` (and root), the folder is a tmpfs of that size: what the kernel
    writes there is capped (a full disk is "No space left on device") and counted in its
    cgroup's memory. :func:`release_mounts` unmounts it.
    """
    if os.path.ismount(workdir):
        subprocess.run(["umount", "-l", str(workdir)], check=False, capture_output=True)
    remove_tree(workdir)
    workdir.mkdir(parents=True)
    if size_bytes and os.geteuid() == 0:
        options = f"size={size_bytes},mode=0700,nosuid,nodev"
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "autograder-work", str(workdir)],
            check=True,
            capture_output=True,
        )
    if os.geteuid() == 0:
        os.chown(workdir, uid, SANDBOX_GID)


def shared_folder(folder: Path) -> None:
    """Make ``folder`` (a worker's ``box``) a small tmpfs whose later mounts propagate into
    sandboxes started before them (as root; a no-op otherwise).

    The fork server's sandbox is started once, but every kernel's work folder is a new tmpfs
    mounted under ``folder`` on the host (:func:`prepare_workdir`): a shared mount point is
    what makes each new one visible in the running sandbox (bubblewrap keeps a slave copy).
    :func:`release_mounts` unmounts it.
    """
    folder.mkdir(mode=0o755, exist_ok=True)
    if os.geteuid() != 0:
        return
    for argv in (
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0755,nosuid,nodev", "autograder-box"],
        ["mount", "--make-shared"],
    ):
        subprocess.run([*argv, str(folder)], check=True, capture_output=True)


def fresh_workdir(workdir: Path, uid: int = SANDBOX_UID, size_bytes: int = 0) -> None:
    """Empty the folder around ``workdir`` (the worker's ``box``, which the fork server and
    every kernel see), then make ``workdir`` afresh (see :func:`prepare_workdir`).

    Without root the kernel runs as the grader's own user and could write beside its work
    folder: nothing it left there may reach the next learner.
    """
    box = workdir.parent
    release_mounts(box)
    for entry in box.iterdir() if box.is_dir() else ():
        if entry.is_dir() and not entry.is_symlink():
            remove_tree(entry)
        else:
            entry.unlink(missing_ok=True)
    prepare_workdir(workdir, uid, size_bytes)


def remove_tree(folder: Path) -> None:
    """Remove ``folder``, even where a kernel running as the grader's own user made its
    folders read-only (``chmod 500``) to trap the clean-up.

    Examples
    --------
    >>> import tempfile
    >>> trap = Path(tempfile.mkdtemp()) / "trap"
    >>> (trap / "inner").mkdir(parents=True)
    >>> (trap / "inner" / "f").write_text("x")
    1
    >>> (trap / "inner").chmod(0o500); trap.chmod(0o500)
    >>> remove_tree(trap); trap.exists()
    False
    """

    def unlock(function, path, _info) -> None:
        parent = os.path.dirname(path)
        for name in (parent, path):
            try:
                os.chmod(name, 0o700, follow_symlinks=False)
            except (OSError, NotImplementedError):
                pass
        function(path)

    if folder.exists() or folder.is_symlink():
        shutil.rmtree(folder, onerror=unlock)


def release_mounts(folder: Path) -> list[str]:
    """Unmount every work-folder (and box) tmpfs under ``folder``; returns them.

    Examples
    --------
    >>> release_mounts(Path("/no/such/folder"))
    []
    """
    prefix = str(Path(folder).resolve()) + os.sep
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) > 2 and parts[0] in ("autograder-work", "autograder-box"):
            target = parts[1].replace("\\040", " ")
            if target.startswith(prefix):
                found.append(target)
    for target in sorted(found, reverse=True):
        subprocess.run(["umount", "-l", target], check=False, capture_output=True)
    return found


def hand_over(path: Path, uid: int = SANDBOX_UID) -> None:
    """Give ``path`` (a file or a whole tree) to the sandbox user (as root; otherwise the
    kernel runs as the grader's own user and the tree is already its)."""
    if os.geteuid() != 0:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, SANDBOX_GID)
        for name in dirs + files:
            os.chown(os.path.join(root, name), uid, SANDBOX_GID, follow_symlinks=False)


def require_sandbox(box: Sandbox, scratch: Path) -> None:
    """Check that ``box`` really isolates a kernel here, or raise :class:`SandboxError`.

    It starts the fork server's program in the sandbox in its probe mode, which builds a
    kernel's sandbox exactly as for a graded kernel (:mod:`autograder.zygote`) and then
    checks that it runs as the kernel's user with no capability, that it can write in its
    work folder only, and that it cannot see ``scratch`` (where the grader keeps its secrets).
    """
    for tool in (box.bwrap,):
        if shutil.which(tool) is None:
            raise SandboxError(
                f"{tool}: not installed, so learner code cannot be isolated; install Debian's "
                "bubblewrap (`bash autograder/system_deps.sh` as root, or ask your admin)"
            )
    from autograder.forkserver import zygote_source

    folder = scratch / "sandbox-probe"
    workdir = folder / "work"
    home = scratch / "sandbox-probe-home"
    for made in (folder, home):
        made.mkdir(mode=0o755, exist_ok=True)
    prepare_workdir(workdir, box.kernel_uid())
    secret = scratch / "sandbox-secret"
    secret.write_text("hidden")
    code = (
        "import os, sys\n"
        f"assert os.getuid() == {box.kernel_uid()}, f'uid {{os.getuid()}}'\n"
        "caps = open('/proc/self/status').read().split('CapEff:')[1].split()[0]\n"
        "assert int(caps, 16) == 0, 'capabilities left: ' + caps\n"
        f"assert not os.path.exists({str(secret)!r}), 'the grader\\'s folder is visible'\n"
        "open('ok', 'w').write('ok')\n"
        "try:\n    open('/usr/sandbox-write-test', 'w')\nexcept OSError:\n    pass\n"
        "else:\n    sys.exit('a system folder is writable')\n"
    )
    request = {**box.kernel_request(workdir, []), "probe": code}
    argv = [sys.executable, "-I", "-c", zygote_source(), "--probe", json.dumps(request)]
    try:
        done = subprocess.run(
            box.parent(argv, folder, home),
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        ok = (workdir / "ok").exists()
    finally:
        release_mounts(folder)
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(home, ignore_errors=True)
        secret.unlink()
    if done.returncode != 0 or not ok:
        reason = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SandboxError(f"{box.bwrap}: the sandbox does not start here: {reason}{_hint(box)}")


def _hint(box: Sandbox) -> str:
    """How to get a working sandbox, when not root: user namespaces must be allowed."""
    if not box.userns:
        return ""
    return (
        " (grading without root needs unprivileged user namespaces: "
        "`sysctl kernel.unprivileged_userns_clone=1` and `sysctl user.max_user_namespaces=10000` "
        "as root, or grade as root)"
    )


def warm_home(box: Sandbox, folder: Path) -> Path:
    """A home folder with matplotlib's and fontconfig's caches built, made once per run.

    Each kernel gets a fresh copy of it as its home (see :meth:`Sandbox.wrap`); the copy saves
    it rebuilding the font caches (about a second of CPU per submission).
    """
    prepare_workdir(folder, box.uid)
    code = "import matplotlib.pyplot, IPython"
    subprocess.run(
        box.wrap([sys.executable, "-I", "-c", code], folder, home=folder),
        capture_output=True,
        check=False,
        timeout=120,
    )
    return folder
