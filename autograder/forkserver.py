"""The worker's side of the fork server: start the pre-imported parent, fork a kernel from it.

A :class:`ForkServer` is a grading worker's long-lived :mod:`autograder.zygote`, started once
inside the worker's sandbox (:meth:`~autograder.sandbox.Sandbox.wrap`, with the worker's
folder ``box`` writable and the warmed home). :meth:`ForkServer.spawn` asks it for one
kernel and returns a :class:`ForkedKernel`, the handle jupyter_client's provisioner holds in
place of a ``Popen`` (:class:`autograder.provisioner.SandboxProvisioner`).

Before the forked kernel may run anything, it connects to a *hello* socket of the worker's:
its process id comes from the socket's peer credentials (so it cannot be lied about), the
worker opens a pidfd on it and puts it in the kernel's cgroup, and only then lets it go on.
The kernel is process 1 of its own PID namespace: killing it through the pidfd ends every
process it started, with or without a cgroup, whatever its code did to itself.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

#: What the parent imports before it forks anything: what a graded notebook uses, so that a
#: kernel costs a fork instead of these imports.
PRELOAD = (
    "numpy",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib.animation",
    "IPython",
    "ipykernel.kernelapp",
    "ipykernel.ipkernel",
    "ipykernel.zmqshell",
    "ipykernel.iostream",
    "ipykernel.comm",
    "ipykernel.debugger",
    "jupyter_client.session",
    "zmq",
    # what every kernel imported anyway while it started and ran the exercise
    "faulthandler",
    "tornado.platform.asyncio",
    "IPython.core.completerlib",
    "IPython.core.debugger",
    "IPython.core.logger",
    "IPython.core.oinspect",
    "IPython.extensions.storemagic",
    "IPython.utils.wildcard",
    "gdcourse",
    "gdcourse.checks",
    "gdcourse.descent",
    "gdcourse.functions",
    "gdcourse.scripts",
)
#: Seconds the parent may take to import :data:`PRELOAD`, and a child to say hello.
START_TIMEOUT = 120.0
HELLO_TIMEOUT = 30.0


class ForkFailed(RuntimeError):
    """The fork server could not give a kernel (it died, or a child never said hello)."""


def zygote_source() -> str:
    """The source of :mod:`autograder.zygote`, run with ``python -I -c`` in the sandbox.

    Examples
    --------
    >>> "def serve" in zygote_source()
    True
    """
    return (Path(__file__).with_name("zygote.py")).read_text(encoding="utf-8")


def peer_pid(conn: socket.socket) -> int:
    """The process id of the other end of a unix socket, as the kernel saw it connect."""
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _, _ = struct.unpack("3i", creds)
    return pid


@dataclass
class ForkedKernel:
    """A forked kernel, seen through a pidfd: the ``Popen``-like object a provisioner holds.

    ``pid`` is the kernel's process id in the worker's PID namespace (it is process 1 of its
    own: when it ends, every process it started is killed).
    """

    pid: int
    pidfd: int
    returncode: int | None = None
    stdin = stdout = stderr = None

    def poll(self) -> int | None:
        if self.returncode is None and select.select([self.pidfd], [], [], 0)[0]:
            self.returncode = 0
            os.close(self.pidfd)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if self.returncode is None:
            ready = select.select([self.pidfd], [], [], timeout)[0]
            if not ready:
                raise subprocess.TimeoutExpired(f"kernel {self.pid}", timeout or 0)
            self.poll()
        return self.returncode or 0

    def send_signal(self, signum: int) -> None:
        if self.returncode is None:
            try:
                signal.pidfd_send_signal(self.pidfd, signum)
            except ProcessLookupError:
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)


class ForkServer:
    """A grading worker's pre-imported parent of kernels.

    Parameters
    ----------
    argv : list of str
        The command that starts :mod:`autograder.zygote` in the worker's sandbox.
    hello_dir : Path
        A folder of the worker's, visible in the sandbox, for the hello sockets.
    admit : callable, optional
        Called with a kernel's process id before it may go on (the worker puts it in the
        kernel's cgroup there); if it raises, the kernel is killed and the error raised.
    log : Path, optional
        Where the parent's stderr goes (and a child's, until its kernel starts).

    Attributes
    ----------
    start_cpu : float
        CPU seconds the parent spent on its imports, not yet claimed by :meth:`claim_cpu`.
    """

    def __init__(
        self,
        argv: list[str],
        hello_dir: Path,
        admit: Callable[[int], None] | None = None,
        log: Path | None = None,
    ) -> None:
        self.argv = argv
        self.hello_dir = Path(hello_dir)
        self.admit = admit or (lambda pid: None)
        self.log = log
        self.process: subprocess.Popen | None = None
        self.start_cpu = 0.0
        self.spawned = 0
        self.starts = 0

    def _start(self) -> None:
        with open(self.log or os.devnull, "ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                start_new_session=True,
            )
        self.starts += 1
        ready = self._reply(START_TIMEOUT)
        if "ready" not in ready:
            raise ForkFailed(f"the fork server did not start: {ready}")
        self.start_cpu += float(ready.get("cpu", 0.0))

    def _reply(self, timeout: float) -> dict:
        stdout = self.process.stdout
        if not select.select([stdout], [], [], timeout)[0]:
            self.close()
            raise ForkFailed(f"the fork server did not answer in {timeout:g} s")
        line = stdout.readline()
        if not line:
            code = self.process.wait()
            raise ForkFailed(f"the fork server exited ({code}); see {self.log}")
        return json.loads(line)

    def claim_cpu(self) -> float:
        """The parent's start-up CPU seconds not yet counted, counted now (by the first
        kernel after each start)."""
        cpu, self.start_cpu = self.start_cpu, 0.0
        return cpu

    def spawn(self, request: dict) -> ForkedKernel:
        """Fork one kernel for ``request`` (see :func:`autograder.zygote.child`); start the
        parent first if it is not running (the first time, or after it died)."""
        if self.process is None or self.process.poll() is not None:
            self._start()
        self.spawned += 1
        path = self.hello_dir / f".hello-{self.spawned}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
            listener.bind(str(path))
            try:
                listener.listen(1)
                listener.settimeout(HELLO_TIMEOUT)
                line = json.dumps({**request, "hello": str(path)}) + "\n"
                self.process.stdin.write(line.encode())
                self.process.stdin.flush()
                forked = self._reply(HELLO_TIMEOUT)
                try:
                    conn, _ = listener.accept()
                except TimeoutError as error:
                    raise ForkFailed(f"the kernel of child {forked} never said hello") from error
            finally:
                path.unlink(missing_ok=True)
        with conn:
            pid = peer_pid(conn)
            kernel = ForkedKernel(pid, os.pidfd_open(pid))
            try:
                self.admit(pid)
            except BaseException:
                kernel.kill()
                raise
            conn.sendall(b"g")
        return kernel

    def close(self) -> None:
        """Stop the parent (kernels it forked live in namespaces of their own: stop them
        first)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream:
                stream.close()


def zygote_command(preload: tuple[str, ...] = PRELOAD) -> list[str]:
    """The command line of the parent (to run in the sandbox: see
    :meth:`~autograder.sandbox.Sandbox.parent`).

    Examples
    --------
    >>> zygote_command(("numpy",))[1:3], zygote_command(("numpy",))[-1]
    (['-I', '-c'], '["numpy"]')
    """
    return [sys.executable, "-I", "-c", zygote_source(), json.dumps(list(preload))]
