"""A control group per sandbox: memory (forked children and tmpfs pages included), processes
and a CPU share for everything one learner's kernel starts.

``RLIMIT_AS`` and ``RLIMIT_NPROC`` are per process and per user: a kernel that forks, or fills
its RAM-backed ``/tmp``, gets past them. A cgroup counts every process of the sandbox and
every page they touch. :func:`setup` makes one folder for the run under the grader's own
cgroup, in whichever hierarchy the host has:

- **cgroup v1** (separate ``memory``, ``pids`` and ``cpu`` hierarchies under
  ``/sys/fs/cgroup/<controller>``, as on this project's machine, without systemd), or
- **cgroup v2** (one unified hierarchy at ``/sys/fs/cgroup``, e.g. delegated by systemd: the
  grader enables the ``memory``, ``pids`` and ``cpu`` controllers for its children).

Each kernel gets a cgroup of its own, ``w-<worker pid>`` under the run's folder: the worker
creates it, writes the limits and moves the forked kernel in (:func:`enter`) before the
kernel may run anything, so every process it starts is inside. After
each submission the worker reads what the cgroup hit (:func:`events`), kills what is left and
removes it (:func:`clear`). Where neither hierarchy can be used (not root, no controllers, a
v2 cgroup that cannot delegate), :func:`setup` says why and the sandbox keeps its
per-process limits only (address space, processes of its user, file size); the
report says which was used.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from autograder.records import Limits

ROOT = Path("/sys/fs/cgroup")
#: The v1 controllers the sandbox is limited by, in the order of ``CgroupSet.bases``.
V1_CONTROLLERS = ("memory", "pids", "cpu")
CPU_PERIOD = 100_000


@dataclass(frozen=True)
class CgroupSet:
    """The run's cgroup folders (one per v1 controller, or one v2 folder), or why none.

    Examples
    --------
    >>> CgroupSet("none", reason="not root").describe()
    'none (not root): per-process limits only'
    >>> CgroupSet("v1", ("/sys/fs/cgroup/memory/x", "/sys/fs/cgroup/pids/x")).describe()
    'cgroup v1'
    """

    version: str
    bases: tuple[str, ...] = ()
    settings: tuple[str, ...] = ()
    reason: str = ""

    def describe(self) -> str:
        if self.version == "none":
            return f"none ({self.reason}): per-process limits only"
        return f"cgroup {self.version}"


@dataclass(frozen=True)
class Leaf:
    """One kernel's cgroup: its folder in each hierarchy."""

    version: str
    dirs: tuple[str, ...] = ()


def own_paths(text: str) -> dict[str, str]:
    """Controller (``""`` for v2) -> this process's cgroup path, from ``/proc/self/cgroup``.

    Examples
    --------
    >>> own_paths("4:memory:/a/b\\n8:pids:/\\n1:cpu,cpuacct:/c\\n0::/d")
    {'memory': '/a/b', 'pids': '/', 'cpu': '/c', 'cpuacct': '/c', '': '/d'}
    """
    paths = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            for name in parts[1].split(",") if parts[1] else [""]:
                paths[name] = parts[2]
    return paths


def settings_for(version: str, limits: Limits) -> tuple[str, ...]:
    """The files each kernel's cgroup gets, as ``"<base index>:<file>=<value>"``.

    Examples
    --------
    >>> settings_for("v2", Limits(memory_bytes=2**30, max_processes=64, cpu_share=0.5))
    ('0:memory.max=1073741824', '0:memory.swap.max=0', '0:pids.max=64', '0:cpu.max=50000 100000')
    """
    memory, pids = limits.memory_bytes, limits.max_processes
    quota = max(1000, int(limits.cpu_share * CPU_PERIOD))
    if version == "v2":
        return (
            f"0:memory.max={memory}",
            "0:memory.swap.max=0",
            f"0:pids.max={pids}",
            f"0:cpu.max={quota} {CPU_PERIOD}",
        )
    return (
        f"0:memory.limit_in_bytes={memory}",
        f"1:pids.max={pids}",
        f"2:cpu.cfs_period_us={CPU_PERIOD}",
        f"2:cpu.cfs_quota_us={quota}",
    )


def setup(name: str, limits: Limits, root: Path = ROOT) -> CgroupSet:
    """Make the run's cgroup folder ``name`` under the grader's own cgroup; never raises.

    Returns a :class:`CgroupSet` of version ``v1`` or ``v2``, or ``none`` with the reason.
    """
    if os.geteuid() != 0:
        return CgroupSet("none", reason="not root")
    try:
        own = own_paths(Path("/proc/self/cgroup").read_text())
    except OSError as error:
        return CgroupSet("none", reason=f"/proc/self/cgroup: {error.strerror}")
    v1 = all((root / c / "cgroup.procs").exists() for c in V1_CONTROLLERS)
    unified = root / "cgroup.controllers"
    try:
        if v1:
            bases = tuple(
                str(root / c / own.get(c, "/").lstrip("/") / name) for c in V1_CONTROLLERS
            )
            for base in bases:
                os.makedirs(base, exist_ok=True)
            return CgroupSet("v1", bases, settings_for("v1", limits))
        if unified.exists():
            return _setup_v2(root, own.get("", "/"), name, limits)
    except OSError as error:
        return CgroupSet("none", reason=f"cannot create a cgroup: {error}")
    return CgroupSet("none", reason=f"no memory, pids and cpu controllers under {root}")


def _setup_v2(root: Path, own: str, name: str, limits: Limits) -> CgroupSet:
    """A v2 folder for the run with the memory, pids and cpu controllers for its children."""
    here = root / own.lstrip("/")
    wanted = {"memory", "pids", "cpu"}
    available = set((here / "cgroup.controllers").read_text().split())
    if not wanted <= available:
        missing = ", ".join(sorted(wanted - available))
        return CgroupSet("none", reason=f"cgroup v2 at {here} lacks the {missing} controller(s)")
    base = here / name
    base.mkdir(exist_ok=True)
    try:
        try:
            (here / "cgroup.subtree_control").write_text("+memory +pids +cpu")
        except OSError:
            # v2 gives controllers only to cgroups without processes of their own: move the
            # grader into a leaf beside the run's folder (a delegated scope holds only it)
            grader = here / "autograder-grader"
            grader.mkdir(exist_ok=True)
            (grader / "cgroup.procs").write_text(str(os.getpid()))
            (here / "cgroup.subtree_control").write_text("+memory +pids +cpu")
        (base / "cgroup.subtree_control").write_text("+memory +pids +cpu")
    except OSError as error:
        base.rmdir()
        return CgroupSet(
            "none",
            reason=f"cgroup v2: cannot delegate controllers under {here} ({error.strerror}); "
            "run the grader in a cgroup of its own, e.g. systemd-run --scope -p Delegate=yes",
        )
    return CgroupSet("v2", (str(base),), settings_for("v2", limits))


def worker_leaf(groups: CgroupSet, pid: int) -> Leaf:
    """The cgroup of the kernels a worker process ``pid`` starts (one at a time).

    Examples
    --------
    >>> worker_leaf(CgroupSet("v1", ("/m/run", "/p/run")), 42).dirs
    ('/m/run/w-42', '/p/run/w-42')
    """
    return Leaf(groups.version, tuple(f"{base}/w-{pid}" for base in groups.bases))


def enter(leaf: Leaf, settings: tuple[str, ...], pid: int) -> None:
    """Make the kernel's cgroup ``leaf``, write its limits and move process ``pid`` into it.

    The worker calls it for each forked kernel before the kernel may run anything (see
    :class:`autograder.forkserver.ForkServer`), so every process the kernel starts is inside.
    Raises ``OSError`` if any step fails: the kernel is then not started.

    Examples
    --------
    >>> import tempfile
    >>> base = Path(tempfile.mkdtemp())
    >>> leaf = worker_leaf(CgroupSet("v1", (str(base),)), 7)
    >>> enter(leaf, ("0:pids.max=4",), 4242)
    >>> (base / "w-7" / "pids.max").read_text(), (base / "w-7" / "cgroup.procs").read_text()
    ('4\\n', '4242\\n')
    """
    for folder in leaf.dirs:
        os.makedirs(folder, exist_ok=True)
    for setting in settings:
        index, rest = setting.split(":", 1)
        file, value = rest.split("=", 1)
        Path(leaf.dirs[int(index)], file).write_text(value + "\n")
    for folder in leaf.dirs:
        Path(folder, "cgroup.procs").write_text(f"{pid}\n")


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _field(text: str, name: str) -> int:
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == name and parts[1].isdigit():
            return int(parts[1])
    return 0


def events(leaf: Leaf) -> dict[str, int]:
    """What the kernel's cgroup hit: processes killed for memory, forks refused, peak bytes.

    Examples
    --------
    >>> events(Leaf("none"))
    {}
    """
    if leaf.version == "v1":
        memory, pids = leaf.dirs[0], leaf.dirs[1]
        return {
            "oom_kill": _field(_read(f"{memory}/memory.oom_control"), "oom_kill"),
            "memory_failcnt": int(_read(f"{memory}/memory.failcnt").strip() or 0),
            "memory_peak": int(_read(f"{memory}/memory.max_usage_in_bytes").strip() or 0),
            "pids_max": _field(_read(f"{pids}/pids.events"), "max"),
        }
    if leaf.version == "v2":
        base = leaf.dirs[0]
        mem = _read(f"{base}/memory.events")
        return {
            "oom_kill": _field(mem, "oom_kill"),
            "memory_failcnt": _field(mem, "max"),
            "memory_peak": int(_read(f"{base}/memory.peak").strip() or 0),
            "pids_max": _field(_read(f"{base}/pids.events"), "max"),
        }
    return {}


def flags(hit: dict[str, int], limits: Limits) -> list[list[str]]:
    """Report flags for the limits a sandbox hit.

    Examples
    --------
    >>> flags({"oom_kill": 2, "pids_max": 0}, Limits(memory_bytes=2**30))
    ... # doctest: +NORMALIZE_WHITESPACE
    [['memory', 'the sandbox hit its memory limit (1 GiB, forked processes and /tmp
      included): 2 processes killed']]
    >>> flags({"oom_kill": 0, "pids_max": 5}, Limits(max_processes=64))
    [['processes', 'the sandbox hit its limit of 64 processes and threads: 5 forks refused']]
    """
    out = []
    if hit.get("oom_kill"):
        out.append(
            [
                "memory",
                f"the sandbox hit its memory limit ({limits.memory_bytes / 2**30:g} GiB, forked "
                f"processes and /tmp included): {hit['oom_kill']} processes killed",
            ]
        )
    if hit.get("pids_max"):
        out.append(
            [
                "processes",
                f"the sandbox hit its limit of {limits.max_processes} processes and threads: "
                f"{hit['pids_max']} forks refused",
            ]
        )
    return out


def clear(leaf: Leaf, wait: float = 10.0) -> None:
    """Kill whatever is left in the kernel's cgroup and remove it (a fresh one, with fresh
    counters, is made for the next kernel)."""
    deadline = time.monotonic() + wait
    for folder in leaf.dirs:
        if not os.path.isdir(folder):
            continue
        while time.monotonic() < deadline:
            pids = [int(p) for p in _read(f"{folder}/cgroup.procs").split()]
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.05)
        try:
            os.rmdir(folder)
        except OSError:
            pass


def teardown(groups: CgroupSet) -> None:
    """Remove the run's cgroup folders (killing anything left in them)."""
    for base in groups.bases:
        if not os.path.isdir(base):
            continue
        for child in sorted(Path(base).glob("w-*")):
            clear(Leaf(groups.version, (str(child),)))
        try:
            os.rmdir(base)
        except OSError:
            pass


def teardown_stale(name: str, root: Path = ROOT) -> None:
    """Remove the cgroup folders of a killed run (its scratch folder's ``name``)."""
    try:
        own = own_paths(Path("/proc/self/cgroup").read_text())
    except OSError:
        return
    bases = [root / c / own.get(c, "/").lstrip("/") / name for c in V1_CONTROLLERS]
    bases.append(root / own.get("", "/").lstrip("/") / name)
    for base in bases:
        if base.is_dir():
            teardown(CgroupSet("stale", (str(base),)))


def limit_sandbox(box, groups: CgroupSet, limits: Limits):
    """``box`` (a :class:`~autograder.sandbox.Sandbox`) with the run's cgroup and the disk
    and process limits of ``limits``."""
    import dataclasses

    return dataclasses.replace(
        box,
        cgroup_bases=groups.bases,
        cgroup_settings=groups.settings,
        tmp_bytes=limits.disk_bytes,
        work_bytes=limits.disk_bytes,
        max_processes=limits.max_processes,
    )
