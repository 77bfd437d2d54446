"""Start every graded kernel in its sandbox through jupyter_client's kernel provisioner seam.

:func:`write_kernelspec` writes a kernelspec whose command line is fixed by absolute path
(``python -I -m ipykernel_launcher``: isolated mode, so the work folder, ``PYTHON*`` variables
and the user site are never on the import path) and whose metadata names
:class:`SandboxProvisioner` with the sandbox's settings. jupyter_client finds the provisioner by
its entry point (``jupyter_client.kernel_provisioners`` in ``pyproject.toml``) and calls its
:meth:`~SandboxProvisioner.pre_launch`, which wraps the command in bubblewrap with the kernel's
work folder (the ``cwd`` nbclient starts it in) and a fresh home folder of the grader's own.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from traitlets import Dict, Unicode

from autograder.sandbox import SANDBOX_GID, Sandbox, hand_over, prepare_workdir

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


def home_for(workdir: Path) -> Path:
    """The fresh home folder that goes with a kernel's work folder (beside it, never in it).

    Examples
    --------
    >>> home_for(Path("/tmp/x/work-1"))
    PosixPath('/tmp/x/work-1.home')
    """
    return workdir.with_name(workdir.name + ".home")


class SandboxProvisioner(LocalProvisioner):
    """A local provisioner that runs the kernel inside a :class:`~autograder.sandbox.Sandbox`.

    ``sandbox`` holds the sandbox's fields (from the kernelspec's provisioner config) and
    ``home_template`` a warmed home folder that each kernel gets a fresh copy of.
    """

    sandbox = Dict(help="the Sandbox's fields").tag(config=True)
    home_template = Unicode("", help="a warmed home folder copied for each kernel").tag(config=True)

    async def pre_launch(self, **kwargs: Any) -> dict[str, Any]:
        kwargs = await super().pre_launch(**kwargs)
        box = sandbox_from_dict(self.sandbox)
        workdir = Path(kwargs.get("cwd") or os.getcwd())
        home = home_for(workdir)
        # empty, and a tmpfs of the sandbox's disk quota like the work folder (limits part)
        prepare_workdir(home, box.uid, box.work_bytes)
        if self.home_template:
            shutil.copytree(self.home_template, home, symlinks=True, dirs_exist_ok=True)
        hand_over(home, box.uid)
        connection_file = self.parent.connection_file if self.parent else ""
        if connection_file and os.path.exists(connection_file):
            # jupyter_client writes it 0600 for its own user: the kernel runs as another one
            os.chown(connection_file, box.uid, SANDBOX_GID)
        kwargs["cmd"] = box.wrap(list(kwargs["cmd"]), workdir, home=home)
        kwargs.pop("env", None)  # the sandbox sets the kernel's whole environment
        return kwargs

    async def launch_kernel(self, cmd: list[str], **kwargs: Any) -> Any:
        # the kernel's own stdout/stderr (banners, crash dumps) are not the grader's
        kwargs.update(stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kwargs.update(stdin=subprocess.DEVNULL)
        return await super().launch_kernel(cmd, **kwargs)


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


def write_kernelspec(folder: Path, box: Sandbox, home_template: str = "") -> Path:
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
                "config": {"sandbox": dataclasses.asdict(box), "home_template": home_template},
            }
        },
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    return kernels


def kernel_manager(kernels: Path, workdir: Path) -> AsyncKernelManager:
    """A kernel manager for the sandboxed kernelspec in ``kernels``, talking over ``ipc``
    through sockets in ``workdir`` (the kernel has no network)."""
    return AsyncKernelManager(
        kernel_name=KERNEL_NAME,
        kernel_spec_manager=KernelSpecManager(kernel_dirs=[str(kernels)]),
        transport="ipc",
        ip=str(workdir / ".kernel"),
        connection_file=str(workdir / ".kernel.json"),
    )
