"""Start and stop a JupyterLab server on a temporary copy of the course, for browser tests.

The server listens on a free loopback port with a random token, keeps its settings, workspaces
and runtime files inside the temporary folder, and never reaches out to the internet (no news,
no update check). It serves a *copy* of ``course/``, so autosave can never touch the release.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# As `./dev lab` starts it: the server runs inside the course folder (so a new terminal starts
# there) and terminals run a non-login shell (so the venv stays first on PATH).
TERMINAL_SETTING = 'shell_command=["/bin/bash"]'

# JupyterLab settings for the test: render every cell (no windowing), so that each output is in
# the page and can be counted, terminals readable as text, and never ask about news.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    # xterm.js then mirrors the terminal's rows as text in the page, where the test reads them.
    "@jupyterlab/terminal-extension/plugin": {"screenReaderMode": True},
    "@jupyterlab/apputils-extension/notification": {
        "checkForUpdates": False,
        "fetchNews": "false",
    },
}


@dataclass(frozen=True)
class LabServer:
    """A running JupyterLab server.

    Attributes
    ----------
    url : str
        Base URL, e.g. ``http://127.0.0.1:8899/``.
    token : str
        The server's authentication token.
    root : pathlib.Path
        The folder it serves (the temporary copy of the course).
    log : pathlib.Path
        The file that receives the server's output.
    """

    url: str
    token: str
    root: Path
    log: Path

    def notebook_url(self, relative: str) -> str:
        """The address that opens ``relative`` (a path under ``root``) in JupyterLab.

        Examples
        --------
        >>> LabServer("http://127.0.0.1:1/", "t", Path("."), Path("l")).notebook_url("a/b.ipynb")
        'http://127.0.0.1:1/lab/tree/a/b.ipynb?reset&token=t'
        """
        return f"{self.url}lab/tree/{relative}?reset&token={self.token}"

    def api(self, method: str, path: str) -> object:
        """Call the server's REST API and return the decoded JSON (``None`` if empty)."""
        request = urllib.request.Request(
            f"{self.url}api/{path}",
            method=method,
            headers={"Authorization": f"token {self.token}"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shutdown_kernels(self) -> None:
        """Shut down every kernel the server runs (each opened notebook starts one)."""
        for kernel in self.api("GET", "kernels") or []:
            self.api("DELETE", f"kernels/{kernel['id']}")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Examples
    --------
    >>> 1024 <= free_port() <= 65535
    True
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_settings(settings_dir: Path) -> None:
    """Write :data:`LAB_SETTINGS` as JupyterLab user settings into ``settings_dir``.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     write_settings(Path(folder))
    ...     (Path(folder) / "@jupyterlab/notebook-extension/tracker.jupyterlab-settings").exists()
    True
    """
    for plugin, values in LAB_SETTINGS.items():
        package, name = plugin.rsplit("/", 1)
        target = settings_dir / package / f"{name}.jupyterlab-settings"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(values, indent=2))


def lab_command(root: Path, home: Path, port: int, token: str) -> list[str]:
    """The ``jupyter lab`` command line that serves ``root`` on ``port``.

    Examples
    --------
    >>> command = lab_command(Path("/c"), Path("/h"), 8899, "secret")
    >>> "--ServerApp.port=8899" in command and "--no-browser" in command
    True
    """
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.news_url=",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--LabApp.user_settings_dir={home / 'settings'}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        f"--ServerApp.terminado_settings={TERMINAL_SETTING}",
    ]
    if os.name == "posix" and os.geteuid() == 0:
        command.append("--allow-root")
    return command


def _answers(server: LabServer) -> bool:
    try:
        server.api("GET", "status")
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False
    return True


def wait_until_up(server: LabServer, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Wait until ``server`` answers its REST API; raise with its log if it does not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"JupyterLab exited ({process.returncode}):\n{server.log.read_text()[-3000:]}"
            )
        if _answers(server):
            return
        time.sleep(0.25)
    log = server.log.read_text()[-3000:]
    raise TimeoutError(f"JupyterLab did not answer in {timeout} s:\n{log}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextmanager
def running_lab(course: Path, workdir: Path) -> Iterator[LabServer]:
    """Serve a copy of ``course`` with JupyterLab inside ``workdir``; stop it on exit.

    Parameters
    ----------
    course : pathlib.Path
        The folder to copy and serve (``course/`` of the repository).
    workdir : pathlib.Path
        An empty temporary folder for the copy, settings and logs.

    Examples
    --------
    Not run as a doctest (it starts a server)::

        with running_lab(COURSE, tmp_path) as lab:
            page.goto(lab.notebook_url("04_exercise/04_exercise.ipynb"))
    """
    root = workdir / "course"
    shutil.copytree(course, root, ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
    home = workdir / "jupyter"
    write_settings(home / "settings")
    port, token = free_port(), secrets.token_hex(16)
    server = LabServer(f"http://127.0.0.1:{port}/", token, root, workdir / "jupyterlab.log")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(home / "runtime"))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    with server.log.open("w") as log:
        process = subprocess.Popen(
            lab_command(root, home, port, token),
            cwd=root,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        try:
            wait_until_up(server, process)
            yield server
        finally:
            _stop(process)
