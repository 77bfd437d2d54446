"""Start every graded kernel in its sandbox through jupyter_client's kernel provisioner seam.

:func:`write_kernelspec` writes a kernelspec whose command line is fixed by absolute path
(``python -I -m ipykernel_launcher``: isolated mode, so the work folder, ``PYTHON*`` variables
and the user site are never on the import path) and whose metadata names
:class:`SandboxProvisioner` with the sandbox's settings. jupyter_client finds the provisioner by
its entry point (``jupyter_client.kernel_provisioners`` in ``pyproject.toml``). Its
:meth:`~SandboxProvisioner.launch_kernel` does not start a process: it asks the worker's fork
server (:class:`~autograder.forkserver.ForkServer`, held by the :class:`ForkedKernelManager`)
for a fresh fork of the pre-imported parent, with ipykernel's arguments from that command
line, in the kernel's work folder (the ``cwd`` nbclient starts it in).
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import sys
from pathlib import Path
from queue import Empty
from typing import Any

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Any as AnyTrait
from traitlets import Dict, DottedObjectName

from autograder.forkserver import ForkServer
from autograder.sandbox import Sandbox

#: The kernelspec's name, and the provisioner's entry-point name.
KERNEL_NAME = "autograder-sandbox"
#: What the kernel's command line adds after ``-f {connection_file}``: no history file, and
#: the work folder (where a learner may hand in a helper module) at the *end* of the import
#: path, after every installed package, so a handed-in ``numpy.py`` never shadows numpy.
KERNEL_OPTIONS = [
    "--HistoryManager.enabled=False",
    "--IPKernelApp.ignore_cwd=True",
    "--IPKernelApp.exec_lines=__import__('sys').path.append('')",
]


class SandboxProvisioner(LocalProvisioner):
    """A local provisioner whose kernels are forks of the worker's pre-imported parent.

    ``sandbox`` holds the :class:`~autograder.sandbox.Sandbox`'s fields (from the kernelspec's
    provisioner config); the fork server is the kernel manager's (:class:`ForkedKernelManager`).
    """

    sandbox = Dict(help="the Sandbox's fields").tag(config=True)

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = await super().pre_launch(**kwargs)
        box = sandbox_from_dict(self.sandbox)
        connection_file = self.parent.connection_file if self.parent else ""
        if connection_file and os.path.exists(connection_file) and os.geteuid() == 0:
            # jupyter_client writes it 0600 for its own user: the kernel runs as another one
            os.chown(connection_file, box.kernel_uid(), box.kernel_gid())
        kwargs.pop("env", None)  # the sandbox sets the kernel's whole environment
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        server: ForkServer | None = getattr(self.parent, "fork_server", None)
        if server is None:
            raise RuntimeError("a sandboxed kernel needs a ForkedKernelManager's fork server")
        box = sandbox_from_dict(self.sandbox)
        workdir = Path(kwargs.get("cwd") or os.getcwd())
        argv = list(cmd[cmd.index("ipykernel_launcher") + 1 :])
        # in this thread, not a helper thread: a fork server (re)started here runs under
        # bubblewrap's --die-with-parent, which watches the thread that started it
        self.process = server.spawn(box.kernel_request(workdir, argv))
        self.pid, self.pgid, self.cwd = self.process.pid, None, workdir
        await self._until_bound()
        return self.connection_info

    async def _until_bound(self, timeout: float = 60.0) -> None:
        """Wait until the kernel has made its sockets, so the client's first connection
        succeeds (ZeroMQ would otherwise retry only every 100 ms)."""
        info = self.connection_info
        if info.get("transport") != "ipc":
            return
        ports = [v for k, v in info.items() if k.endswith("_port")]
        paths = [Path(f"{info['ip']}-{port}") for port in ports]
        deadline = asyncio.get_running_loop().time() + timeout
        while not all(path.exists() for path in paths):
            if self.process.poll() is not None or asyncio.get_running_loop().time() > deadline:
                return  # the client's own wait says the kernel died or timed out
            await asyncio.sleep(0.005)

    async def kill(self, restart: bool = False) -> None:
        """Kill the kernel and wait (up to 5 s) until it is gone: the manager's wait that
        follows would otherwise find it still exiting and sleep 0.1 s, on every hand-in."""
        await super().kill(restart=restart)
        process = self.process
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 5.0
        while process is not None and process.poll() is None and loop.time() < deadline:
            await asyncio.sleep(0.001)

    async def wait(self) -> int | None:
        # the parent's own wait polls every 100 ms; a forked kernel exits in a few
        process = self.process
        while process is not None and process.poll() is None:
            await asyncio.sleep(0.01)
        return await super().wait()


class ReadyClient(AsyncKernelClient):
    """jupyter_client's asynchronous client, whose wait for a new kernel does not idle.

    The inherited ``wait_for_ready`` ends by waiting 0.2 s for IOPub to fall silent, on every
    kernel start; this one drains what IOPub already holds instead. A kernel is ready when it
    has answered ``kernel_info`` on the shell channel and IOPub carries its messages.
    """

    async def wait_for_ready(self, timeout: float | None = None) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if timeout is not None else float("inf"))
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:
                    await self.iopub_channel.get_msg(timeout=0.5)
                except Empty:
                    pass  # IOPub not connected yet: ask again
                else:
                    break  # (the kernel is this installation's ipykernel: same protocol)
            if not await self.is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if loop.time() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        while await self.iopub_channel.msg_ready():
            await self.iopub_channel.get_msg(timeout=0)


class ForkedKernelManager(AsyncKernelManager):
    """A kernel manager that holds the fork server its provisioner forks kernels from."""

    fork_server = AnyTrait(None, allow_none=True, help="the worker's ForkServer")
    client_class = DottedObjectName("autograder.provisioner.ReadyClient")


def sandbox_from_dict(fields: dict) -> Sandbox:
    """A :class:`Sandbox` from its fields as JSON gave them back (lists become tuples).

    Examples
    --------
    >>> box = Sandbox(readable=("/opt",), uid=7)
    >>> sandbox_from_dict(json.loads(json.dumps(dataclasses.asdict(box)))) == box
    True
    """
    known = {f.name for f in dataclasses.fields(Sandbox)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in fields.items() if k in known}
    return Sandbox(**values)


def write_kernelspec(folder: Path, box: Sandbox) -> Path:
    """Write the sandboxed kernelspec under ``folder/kernels/``; return that ``kernels`` folder.

    Examples
    --------
    >>> import tempfile
    >>> kernels = write_kernelspec(Path(tempfile.mkdtemp()), Sandbox())
    >>> spec = json.loads((kernels / KERNEL_NAME / "kernel.json").read_text())
    >>> spec["argv"][1:4], spec["metadata"]["kernel_provisioner"]["provisioner_name"]
    (['-I', '-m', 'ipykernel_launcher'], 'autograder-sandbox')
    """
    kernels = Path(folder) / "kernels"
    spec_dir = kernels / KERNEL_NAME
    spec_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [
            os.path.abspath(sys.executable),
            "-I",
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
            *KERNEL_OPTIONS,
        ],
        "display_name": "Python 3 (graded, sandboxed)",
        "language": "python",
        "interrupt_mode": "message",  # a signal to bubblewrap would not reach the kernel
        "metadata": {
            "kernel_provisioner": {
                "provisioner_name": KERNEL_NAME,
                "config": {"sandbox": dataclasses.asdict(box)},
            }
        },
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return kernels


def kernel_manager(kernels: Path, workdir: Path, server: ForkServer) -> ForkedKernelManager:
    """A kernel manager for the sandboxed kernelspec in ``kernels`` whose kernels ``server``
    forks, talking over ``ipc`` through sockets in ``workdir`` (the kernel has no network)."""
    return ForkedKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]),
        transport="ipc",
        ip=str(workdir / ".kernel"),
        connection_file=str(workdir / ".kernel.json"),
        fork_server=server,
    )
