"""Per-sandbox cgroups without a kernel: both hierarchies on fake trees, the shell that enters
a kernel's cgroup, what the counters say. (The batch test checks the real thing, cgroup v1
on this machine: a fork bomb, a memory bomb that forks, and the disk fillers.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from autograder import cgroups
from autograder.records import Limits
from autograder.sandbox import Sandbox

LIMITS = Limits(memory_bytes=2**30, max_processes=64, cpu_share=0.5)


def _own() -> dict[str, str]:
    return cgroups.own_paths(Path("/proc/self/cgroup").read_text())


def _v2_tree(root: Path, controllers: str = "cpuset cpu io memory pids") -> Path:
    here = root / _own().get("", "/").lstrip("/")
    here.mkdir(parents=True, exist_ok=True)
    (root / "cgroup.controllers").write_text(controllers)
    (here / "cgroup.controllers").write_text(controllers)
    (here / "cgroup.subtree_control").write_text("")
    return here


def test_cgroup_v2_gets_a_run_folder_with_its_controllers(tmp_path):
    here = _v2_tree(tmp_path)
    groups = cgroups.setup("run-1", LIMITS, root=tmp_path)
    assert groups.version == "v2" and groups.describe() == "cgroup v2"
    assert groups.bases == (str(here / "run-1"),)
    assert (here / "cgroup.subtree_control").read_text() == "+memory +pids +cpu"
    assert "0:memory.max=1073741824" in groups.settings
    assert "0:cpu.max=50000 100000" in groups.settings


def test_cgroup_v2_without_the_controllers_says_why(tmp_path):
    _v2_tree(tmp_path, controllers="cpu io")
    groups = cgroups.setup("run-1", LIMITS, root=tmp_path)
    assert groups.version == "none" and "memory, pids controller(s)" in groups.reason
    assert groups.describe().endswith("per-process limits only")


def test_cgroup_v1_gets_one_folder_per_controller(tmp_path):
    for controller in cgroups.V1_CONTROLLERS:
        (tmp_path / controller).mkdir()
        (tmp_path / controller / "cgroup.procs").write_text("")
    groups = cgroups.setup("run-1", LIMITS, root=tmp_path)
    assert groups.version == "v1"
    own = _own()
    assert groups.bases == tuple(
        str(tmp_path / c / own.get(c, "/").lstrip("/") / "run-1") for c in cgroups.V1_CONTROLLERS
    )
    assert all(Path(base).is_dir() for base in groups.bases)
    assert "1:pids.max=64" in groups.settings


def test_no_hierarchy_says_why(tmp_path):
    groups = cgroups.setup("run-1", LIMITS, root=tmp_path)
    assert groups.version == "none" and str(tmp_path) in groups.reason


def test_the_worker_makes_the_kernel_cgroup_sets_limits_and_enters(tmp_path):
    groups = cgroups.CgroupSet("v1", (str(tmp_path / "memory"), str(tmp_path / "pids")))
    settings = ("0:memory.limit_in_bytes=123", "1:pids.max=7")
    cgroups.enter(cgroups.worker_leaf(groups, 42), settings, 4321)
    assert (tmp_path / "memory" / "w-42" / "memory.limit_in_bytes").read_text() == "123\n"
    assert (tmp_path / "pids" / "w-42" / "pids.max").read_text() == "7\n"
    for base in groups.bases:
        assert (Path(base) / "w-42" / "cgroup.procs").read_text().strip() == "4321"


def test_the_kernel_does_not_start_outside_its_cgroup(tmp_path):
    (tmp_path / "file").write_text("")
    leaf = cgroups.Leaf("v1", (str(tmp_path / "file" / "w-1"),))  # cannot mkdir under a file
    with pytest.raises(OSError):
        cgroups.enter(leaf, (), 1)


def test_the_sandbox_caps_tmp(tmp_path):
    box = Sandbox(tmp_bytes=5 * 2**20)
    argv = box.wrap(["python"], tmp_path / "work")
    assert argv[argv.index("--size") + 1 : argv.index("--size") + 4] == [
        str(5 * 2**20),
        "--tmpfs",
        "/tmp",
    ]
    assert Sandbox().wrap(["python"], tmp_path)[0].endswith("bwrap")


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_events_read_what_the_cgroup_hit(tmp_path, version):
    if version == "v1":
        (tmp_path / "m").mkdir()
        (tmp_path / "p").mkdir()
        (tmp_path / "m" / "memory.oom_control").write_text(
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"
        )
        (tmp_path / "m" / "memory.failcnt").write_text("17\n")
        (tmp_path / "m" / "memory.max_usage_in_bytes").write_text("99\n")
        (tmp_path / "p" / "pids.events").write_text("max 5\n")
        leaf = cgroups.Leaf("v1", (str(tmp_path / "m"), str(tmp_path / "p")))
    else:
        (tmp_path / "memory.events").write_text("low 0\nhigh 0\nmax 17\noom 3\noom_kill 3\n")
        (tmp_path / "memory.peak").write_text("99\n")
        (tmp_path / "pids.events").write_text("max 5\n")
        leaf = cgroups.Leaf("v2", (str(tmp_path),))
    hit = cgroups.events(leaf)
    assert hit == {"oom_kill": 3, "memory_failcnt": 17, "memory_peak": 99, "pids_max": 5}
    kinds = [kind for kind, _ in cgroups.flags(hit, LIMITS)]
    assert kinds == ["memory", "processes"]
