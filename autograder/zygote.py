"""The pre-imported parent of a worker's kernels: it runs inside the sandbox and forks one
fresh kernel per submission.

Starting a kernel from nothing costs about a second of CPU, nearly all of it importing
IPython, ipykernel, numpy and matplotlib; the learner's code takes milliseconds. So each
grading worker starts this program once, inside bubblewrap (see
:class:`autograder.forkserver.ForkServer`): it imports those modules, never starts a thread,
never opens a socket and never runs a learner's code, then waits for requests on its stdin.
For each request it forks a child that gives the kernel a sandbox of its own before any
learner code runs:

1. the child unshares new mount, PID, network, IPC and UTS namespaces and forks the kernel,
   which is process 1 of its PID namespace: when the kernel ends, everything it started dies;
2. the kernel connects to the worker's *hello* socket, so the worker learns its process id
   (``SO_PEERCRED``), holds a pidfd on it (to end it, and its namespace, whatever it does) and
   puts it in the kernel's cgroup; then it waits for the worker's go;
3. the kernel mounts a fresh ``/proc``, ``/tmp``, ``/dev/shm`` and home folder (a copy of the
   warmed one), hides the worker's folder but for its own work folder, sets its resource
   limits, gives up every privilege (root: the sandbox's user id; in a user namespace: every
   capability), gets keyrings of its own and starts ipykernel.

This file is run by source (``python -I -c``), not imported from the package, because the
sandbox shows the kernel none of the grader's code: it uses only the standard library and
the modules it preloads.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import platform
import resource
import shutil
import signal
import socket
import sys
import threading

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_MOVE = 1, 2, 4, 32, 4096, 8192
MS_REC, MS_PRIVATE = 16384, 1 << 18
PR_SET_PDEATHSIG, PR_CAPBSET_DROP = 1, 24
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4
#: keyctl(2)'s system call number by machine, and what is asked of it.
KEYCTL = {"x86_64": 250, "aarch64": 219}
KEYCTL_JOIN_SESSION_KEYRING, KEYCTL_CLEAR, KEYCTL_UNLINK, KEYCTL_GET_PERSISTENT = 1, 7, 9, 22
KEY_SPEC_SESSION_KEYRING, KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING = -3, -4, -5
#: Exit codes of a child that could not set up its sandbox (the worker reports them).
SETUP_FAILED = 97

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def mount(source: str, target: str, fstype: str | None, flags: int = 0, data: str = "") -> None:
    """``mount(2)``."""
    _check(
        _libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        ),
        f"mount {target}",
    )


def unshare(flags: int) -> None:
    """``unshare(2)`` (``os.unshare`` is new in Python 3.12)."""
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def preload(modules: list[str]) -> None:
    """Import ``modules`` (a missing one is skipped) and check that none started a thread."""
    import importlib

    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if threading.active_count() != 1:
        raise SystemExit("autograder zygote: a preloaded module started a thread")


def warm_tracebacks() -> None:
    """Format one traceback as IPython does, without a shell (which is each kernel's own).

    The first traceback a kernel shows imports stack_data, executing and pygments and builds
    pygments' lexer: about 0.1 s of CPU that every learner with an error would pay again.
    """
    try:
        from IPython.core import ultratb

        try:
            raise NotImplementedError("warming up")
        except NotImplementedError:
            formatter = ultratb.AutoFormattedTB(mode="Context", theme_name="linux")
            formatter.structured_traceback(*sys.exc_info())
    except Exception:  # another IPython: each kernel pays for its first traceback
        pass


def drop_privileges(uid: int, gid: int) -> None:
    """Become ``uid``/``gid`` with no capability left, for good.

    As root this is a change of user (which clears every capability); in a user namespace,
    where the id stays, the capabilities are cleared explicitly: the bounding set, the
    ambient set, then effective, permitted and inheritable.
    """
    last = int(open("/proc/sys/kernel/cap_last_cap").read())
    for cap in range(last + 1):
        _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    if os.getuid() != uid or os.getgid() != gid:
        os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(uid, uid, uid)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this thread
    data = (ctypes.c_uint32 * 6)()
    _check(_libc.capset(header, data), "capset")
    status = open("/proc/self/status").read()
    caps = {line.split(":")[0]: line.split()[1] for line in status.splitlines() if "Cap" in line}
    if any(int(caps[k], 16) for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb")):
        raise OSError(f"capabilities left: {caps}")


def build_sandbox(request: dict) -> None:
    """Inside the new namespaces: fresh ``/proc``, ``/tmp``, ``/dev/shm`` and home, limits."""
    mount("none", "/", None, MS_REC | MS_PRIVATE)
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV)
    size = request["tmp_bytes"]
    sized = f",size={size}" if size else ""
    # a fresh /tmp, and a fresh empty folder over the worker's box (which holds the work
    # folder, the hello sockets and, without root, belongs to the kernel's own user): only
    # the work folder is carried over
    workdir, carry = request["workdir"], request["staging"] + "/work"
    box = os.path.dirname(workdir)
    mount(workdir, carry, None, MS_BIND)
    # read-only folders the sandbox shows under /tmp (a course cloned there) are carried over
    # too, into small read-only tmpfs folders of their own (so no learner file lands beside)
    kept = [(path, f"{request['staging']}/keep-{i}") for i, path in enumerate(request["keep"])]
    for path, aside in kept:
        mount(path, aside, None, MS_BIND | MS_REC)
    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777{sized}")
    tops = sorted({"/tmp/" + path.split("/")[2] for path, _ in kept})
    for top in tops:
        os.makedirs(top)
        mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
    for path, aside in kept:
        os.makedirs(path, exist_ok=True)
        mount(aside, path, None, MS_MOVE)
        mount("none", path, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    os.makedirs(box, exist_ok=True)
    mount("tmpfs", box, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k")
    os.makedirs(workdir)
    mount(carry, workdir, None, MS_MOVE)
    for top in tops:
        mount("none", top, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    mount("tmpfs", "/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV, f"mode=1777{sized}")
    home, fresh = request["home"], request["staging"] + "/home"
    mount("tmpfs", fresh, "tmpfs", MS_NOSUID | MS_NODEV, f"mode=0700{sized}")
    shutil.copytree(home, fresh, symlinks=True, dirs_exist_ok=True)
    for root, dirs, files in os.walk(fresh):
        for name in [root, *(os.path.join(root, n) for n in dirs + files)]:
            os.chown(name, request["uid"], request["gid"], follow_symlinks=False)
    mount(fresh, home, None, MS_MOVE)
    for limit, value in (
        (resource.RLIMIT_AS, request["memory_bytes"]),
        (resource.RLIMIT_FSIZE, request["file_bytes"]),
        (resource.RLIMIT_NPROC, request["max_processes"]),
        (resource.RLIMIT_CORE, 0),
    ):
        resource.setrlimit(limit, (value, value))
    os.chdir(request["workdir"])


def say_hello(path: str) -> None:
    """Connect to the worker's hello socket and wait for its go: the worker learns this
    process's id from the socket (it holds a pidfd on it: killing it ends the whole PID
    namespace, whatever the learner's code does) and puts it in the kernel's cgroup."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as hello:
        hello.settimeout(60)
        hello.connect(path)
        if hello.recv(1) != b"g":
            raise SystemExit(SETUP_FAILED)


def fresh_keyrings() -> None:
    """A new session keyring, and the user's keyrings emptied: keys are kept per user id
    (and the grader's session keyring would be inherited), not per namespace, so a key one
    learner added would otherwise wait there for the next kernel of the same user. That
    includes the user's persistent keyring, which the system keeps for days."""
    number = KEYCTL.get(platform.machine())
    if number is None:
        return
    _libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None)
    # only a keyring this process holds may be emptied: hold it through the new session one
    persistent = _libc.syscall(number, KEYCTL_GET_PERSISTENT, -1, KEY_SPEC_SESSION_KEYRING)
    if persistent > 0:
        _libc.syscall(number, KEYCTL_CLEAR, persistent)
        _libc.syscall(number, KEYCTL_UNLINK, persistent, KEY_SPEC_SESSION_KEYRING)
    for keyring in (KEY_SPEC_USER_KEYRING, KEY_SPEC_USER_SESSION_KEYRING):
        _libc.syscall(number, KEYCTL_CLEAR, keyring)


def enter_sandbox(request: dict) -> None:
    """Process 1 of the kernel's PID namespace: be admitted by the worker, build its sandbox
    and give up privileges."""
    if "hello" in request:
        say_hello(request["hello"])
    build_sandbox(request)
    drop_privileges(request["uid"], request["gid"])
    fresh_keyrings()
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)  # dies with its waiting parent
    numpy = sys.modules.get("numpy")
    if numpy is not None:  # a fork shares its parent's random state: give each kernel its own
        numpy.random.seed()


def run_kernel(request: dict) -> None:
    """Become ipykernel, with the arguments of the kernelspec's command line."""
    os.dup2(os.open(os.devnull, os.O_RDWR), 2)  # the learner's stderr is not the worker's log
    sys.argv = ["ipykernel_launcher", *request["argv"]]
    from ipykernel import kernelapp

    kernelapp.launch_new_instance()


def run_probe(request: dict) -> None:
    """Run the sandbox check's code (see :func:`autograder.sandbox.require_sandbox`)."""
    exec(compile(request["probe"], "<sandbox probe>", "exec"), {"__name__": "__probe__"})


def child(request: dict) -> int:
    """The forked child: unshare, fork the kernel and wait for it."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1):  # stderr stays the worker's log until the kernel starts
        os.dup2(null, fd)
    os.closerange(3, 1024)
    unshare(CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS)
    kernel = os.fork()
    if kernel == 0:
        code = 0
        try:
            enter_sandbox(request)
            (run_probe if "probe" in request else run_kernel)(request)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 1
        except BaseException:
            import traceback

            traceback.print_exc()
            code = SETUP_FAILED
        os._exit(code)
    _, status = os.waitpid(kernel, 0)
    return os.waitstatus_to_exitcode(status) & 0xFF


def serve(stdin, stdout) -> None:
    """Fork a child for every request line on ``stdin``; say its process id on ``stdout``."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    for line in stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = SETUP_FAILED
            try:
                code = child(request)
            finally:
                os._exit(code)
        stdout.write(json.dumps({"pid": pid}) + "\n")
        stdout.flush()


def main() -> None:
    """``zygote.py PRELOAD_JSON``: serve; ``zygote.py --probe REQUEST_JSON``: check the
    sandbox once (the exit code is the probe's)."""
    if sys.argv[1:2] == ["--probe"]:
        sys.stdout.flush()
        sys.exit(child(json.loads(sys.argv[2])))
    modules = json.loads(sys.argv[1]) if len(sys.argv) > 1 else []
    preload(modules)
    warm_tracebacks()
    if threading.active_count() != 1:
        raise SystemExit("autograder zygote: warming up started a thread")
    # the collector would write to every preloaded object in each fork, copying its page:
    # move them out of its sight (each kernel still collects what it makes itself)
    gc.collect()
    gc.freeze()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    ready = sorted(m for m in modules if m in sys.modules)
    sys.stdout.write(json.dumps({"ready": ready, "cpu": usage.ru_utime + usage.ru_stime}) + "\n")
    sys.stdout.flush()
    serve(sys.stdin, sys.stdout)


if __name__ == "__main__":
    main()
