"""Autograde one submission in a worker process: nbgrader's preprocessors, a sandboxed
kernel for the learner's cells, and the trusted runner for the tests.

A worker is one process of the pool. :func:`init_worker` gives it a private copy of the
template gradebook (which holds the source cells nbgrader's ``OverwriteCells`` restores from),
open for the worker's life (see :mod:`autograder.nbgrader_steps`),
a private work folder, a kernelspec whose provisioner starts each kernel in its sandbox
(:mod:`autograder.provisioner`), and the instructor's notebooks read as
:class:`~autograder.runner.GradingSuite`. :func:`grade` then runs, for one
:class:`~autograder.records.Submission`:

1. decoding (a notebook that is not UTF-8 is decoded with replacement and flagged; one that is
   not JSON is not graded and scores 0);
2. :func:`~autograder.tamper.inspect_structure` and :func:`~autograder.tamper.restore_structure`
   against the release;
3. nbgrader's ``Autograde.sanitize_preprocessors``, as the course configures them;
4. nbgrader's ``Autograde.autograde_preprocessors``, as the course configures them, with
   ``Execute`` replaced by :class:`~autograder.execution.LearnerExecute` (the learner's cells,
   in the sandboxed kernel) and :class:`~autograder.execution.TrustedTests` (every test cell,
   in this process), and without the steps the single writer does (``SaveAutoGrades``,
   ``AssignLatePenalties``): see :mod:`autograder.pipeline`. Every step is instantiated with
   the course's ``nbgrader_config.py`` and the grader's limits on top (``WorkerSetup.config``).

It returns an :class:`Outcome`: plain data (the executed notebook as JSON text, flags, the
result of every test) that the single writer in the parent saves. A worker never opens the
real gradebook.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import os
import resource
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import nbformat
from jupyter_core.utils import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.api import Gradebook
from traitlets.config import Config

from autograder.cgroups import CgroupSet, enter, worker_leaf
from autograder.execution import LearnerExecute, shared_state
from autograder.forkserver import ForkServer, zygote_command
from autograder.intake import safe_relative
from autograder.nbgrader_steps import ReleaseGradebook, RememberingValidator
from autograder.pipeline import Pipeline
from autograder.provisioner import kernel_manager, write_kernelspec
from autograder.records import Limits, Outcome, Submission
from autograder.runner import GradingSuite, is_test_cell
from autograder.sandbox import (
    Sandbox,
    fresh_workdir,
    hand_over,
    remove_tree,
    shared_folder,
    worker_uid,
)
from autograder.tamper import (
    inspect_structure,
    recover_metadata,
    restore_structure,
    static_signs,
)

LOG = logging.getLogger("autograder")

T = TypeVar("T")
#: Tries for a kernel that dies before running any learner cell (then: not graded, never 0).
KERNEL_START_TRIES = 2


@dataclass
class WorkerSetup:
    """What every worker needs, prepared once by the parent (plain, picklable data)."""

    scratch: str
    template_db: str
    releases: dict[str, dict[str, str]]  # assignment -> notebook -> release JSON text
    source_files: dict[str, dict[str, bytes]]  # assignment -> instructor files to copy
    sandbox: Sandbox
    limits: Limits
    pipeline: Pipeline  # the course's preprocessors (autograder.pipeline.course_pipeline)
    config: Config  # their configuration (autograder.pipeline.worker_config)
    home_template: str = ""
    sources: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)
    # assignment -> notebook -> the instructor's source notebook's path


_STATE: dict = {}


def init_worker(setup: WorkerSetup) -> None:
    """Pool initializer: a private gradebook copy and a private work folder for this process."""
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    scratch = Path(setup.scratch)
    db = scratch / f"worker-{os.getpid()}.db"
    shutil.copy(setup.template_db, db)
    # the instructor's set-up cells run in this process: figures go nowhere
    os.environ["MPLBACKEND"] = "agg"
    box = dataclasses.replace(setup.sandbox, uid=worker_uid(os.getpid()))
    _STATE.update(
        setup=setup,
        db_url=f"sqlite:///{db}",
        # kept open for the worker's life: what nbgrader's steps would open for every hand-in
        # (autograder.nbgrader_steps); it closes with the process
        shared={
            "gradebook": ReleaseGradebook(Gradebook(f"sqlite:///{db}")),
            "validator": RememberingValidator(),
        },
        workdir=scratch / f"box-{os.getpid()}" / "work",
        sandbox=box,
        fork_server=start_fork_server(box, scratch, setup.home_template),
        kernels=write_kernelspec(scratch / f"spec-{os.getpid()}", box),
        releases={
            (assignment, name): nbformat.reads(text, as_version=4)
            for assignment, notebooks in setup.releases.items()
            for name, text in notebooks.items()
        },
        suites={
            (assignment, name): GradingSuite.read(Path(path))
            for assignment, notebooks in setup.sources.items()
            for name, path in notebooks.items()
        },
    )


def start_fork_server(box: Sandbox, scratch: Path, home_template: str) -> ForkServer:
    """This worker's fork server (started with its first kernel): the parent runs in ``box``
    with the worker's folder ``box-<pid>`` writable and a copy of the warmed home (the
    grader's: each kernel gets its own copy of it); each kernel it forks is put in the
    worker's kernel cgroup before it runs anything."""
    pid = os.getpid()
    folder = scratch / f"box-{pid}"
    shared_folder(folder)
    home = scratch / f"home-{pid}"
    if home_template:
        shutil.copytree(home_template, home, symlinks=True)
    else:
        home.mkdir()

    def admit(kernel: int) -> None:
        if box.cgroup_bases:
            enter(worker_leaf(CgroupSet("", box.cgroup_bases), pid), box.cgroup_settings, kernel)

    argv = box.parent(zygote_command(), folder, home)
    return ForkServer(argv, folder, admit, log=scratch / f"zygote-{pid}.log")


def grade(sub: Submission) -> Outcome:
    """Grade one submission in this worker (call :func:`init_worker` first)."""
    setup: WorkerSetup = _STATE["setup"]
    started = time.monotonic()
    out = Outcome(sub.student, sub.assignment, sub.notebook, sub.digest, timestamp=sub.timestamp)
    out.flags += [["intake", p] for p in sub.problems]
    try:
        _grade_into(out, sub, setup)
    except Exception as error:  # the grader's own failure: flag it, never stop the batch
        LOG.exception("grading %s/%s failed", sub.student, sub.assignment)
        out.graded = None
        out.flags.append(["grader", f"grading failed: {type(error).__name__}: {error}"])
    # error messages repeat the learner's data (nbformat's "Unsupported nbformat version
    # \ud800"): nothing that leaves the worker holds a string UTF-8 cannot write
    out.flags = without_surrogates(out.flags)[0]
    out.tests = without_surrogates(out.tests)[0]
    out.seconds = round(time.monotonic() - started, 3)
    return out


def _decode(out: Outcome, data: bytes) -> NotebookNode | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8", errors="replace")
        out.flags.append(["encoding", f"not valid UTF-8 ({error.reason} at byte {error.start})"])
    invalid: dict = {}
    try:
        notebook = nbformat.reads(text, as_version=4, capture_validation_error=invalid)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        out.flags.append(["invalid", f"{out.notebook}.ipynb is not a notebook: {first}"])
        return None
    notebook, replaced = without_surrogates(notebook)
    if replaced:
        out.flags.append(["encoding", f"{replaced} strings held lone surrogates (replaced by ?)"])
    if "ValidationError" in invalid:
        error = invalid["ValidationError"]
        out.flags.append(["invalid", f"notebook fails nbformat validation: {str(error)[:200]}"])
    return notebook


def without_surrogates(value: object) -> tuple[object, int]:
    """``value`` (JSON-like data) with every lone surrogate (legal in JSON text as ``\\ud800``,
    never writable as UTF-8) replaced by ``?``, and how many strings had one.

    Examples
    --------
    >>> without_surrogates({"a": ["ok", "bad \\ud800"]})
    ({'a': ['ok', 'bad ?']}, 1)
    """
    try:  # the common case, in C: nothing to replace
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return value, 0
    except (UnicodeEncodeError, TypeError, ValueError):
        return _replace_surrogates(value)


def _replace_surrogates(value: object) -> tuple[object, int]:
    """:func:`without_surrogates`, walking every string."""
    if isinstance(value, str):
        clean = value.encode("utf-8", "replace").decode("utf-8")
        return clean, int(clean != value)
    if isinstance(value, dict):
        result, count = {}, 0
        for key, item in value.items():
            (clean_key, in_key), (clean_item, in_item) = map(_replace_surrogates, (key, item))
            result[clean_key] = clean_item
            count += in_key + in_item
        return (nbformat.from_dict(result) if isinstance(value, NotebookNode) else result), count
    if isinstance(value, list):
        parts = [_replace_surrogates(v) for v in value]
        return [v for v, _ in parts], sum(n for _, n in parts)
    return value, 0


def _grade_into(out: Outcome, sub: Submission, setup: WorkerSetup) -> None:
    if sub.data is None:
        if not sub.problems:
            out.flags.append(["missing", f"{sub.notebook}.ipynb not handed in"])
        else:
            out.flags.append(["missing", "no notebook could be read"])
        return
    notebook = _decode(out, sub.data)
    if notebook is None:
        return
    release = copy.deepcopy(_STATE["releases"][(sub.assignment, sub.notebook)])
    notebook, restored = recover_metadata(notebook, release)
    out.flags += [["restored", note] for note in restored]
    for problem in inspect_structure(notebook, release):
        out.flags.append(["tampered", problem])
    for sign in static_signs(notebook, release):
        out.flags.append(["suspicious", sign])
    notebook = restore_structure(notebook, release)

    workdir: Path = _STATE["workdir"]
    box: Sandbox = _STATE["sandbox"]
    suite: GradingSuite = _STATE["suites"][(sub.assignment, sub.notebook)]
    config = setup.config
    resources = {
        "nbgrader": {
            "notebook": sub.notebook,
            "assignment": sub.assignment,
            "student": sub.student,
            "db_url": _STATE["db_url"],
        },
        "metadata": {"path": str(workdir)},
        "autograder": dict(_STATE["shared"]),
    }
    for pp in setup.pipeline.sanitize:
        notebook, resources = pp(config=config)(notebook, resources)
    sanitized = notebook

    def run(stop_before: int = -1) -> tuple[NotebookNode, dict]:
        _prepare_workdir(workdir, box.kernel_uid(), sub, setup)
        fresh = {k: v for k, v in resources.items() if k != "autograder"}
        fresh["autograder"] = {"events": [], "snapshots": {}, **_STATE["shared"]}
        if stop_before >= 0:
            fresh["autograder"]["stop_before"] = stop_before
        return _autograde(copy.deepcopy(sanitized), fresh, config, suite, workdir)

    def attempt() -> tuple[NotebookNode, dict]:
        first = run()
        state = shared_state(first[1])
        died = state.get("died_in")
        if died is None or not any(i < died for i in state["snapshots"].values()):
            return first
        # the kernel died after some tests' snapshots: grade them from a second run that
        # stops before the cell that killed it (plain nbgrader would have graded them)
        second = run(stop_before=died)
        state["events"].append(
            ("crash", f"graded from a second run that stopped before cell {died}")
        )
        shared_state(second[1])["events"][:0] = state["events"]
        return second

    graded, failure = with_retries(attempt, KERNEL_START_TRIES)
    if graded is None:
        out.graded = None
        out.flags.append(
            ["grader", f"the kernel did not start ({KERNEL_START_TRIES} tries): {failure}"]
        )
        return
    notebook, resources = graded
    state = shared_state(resources)
    server: ForkServer = _STATE["fork_server"]
    out.kernel_cpu = round(float(state.get("kernel_cpu", 0.0)) + server.claim_cpu(), 3)
    out.runner_cpu = round(float(state.get("runner_cpu", 0.0)), 3)
    for kind, detail in state["events"]:
        out.flags.append([kind, detail])
    if any(o.get("ename") == "MemoryError" for c in notebook.cells for o in c.get("outputs", [])):
        limit = f"{setup.limits.memory_bytes / 2**30:g} GiB"
        out.flags.append(["memory", f"hit the memory limit ({limit}): MemoryError"])
    out.tests = results_by_test(notebook)
    notebook, replaced = without_surrogates(notebook)  # the kernel's outputs may hold some
    if replaced:
        out.flags.append(["encoding", f"{replaced} outputs held lone surrogates (replaced by ?)"])
    # compact JSON, encoded in C: the writer reads it back and saves it as nbformat writes it
    out.graded = json.dumps(notebook, ensure_ascii=False)


def with_retries(attempt: Callable[[], T], tries: int) -> tuple[T | None, str]:
    """``attempt()``'s result, trying again while it raises :class:`KernelDidNotStart`;
    ``(None, the last reason)`` when every try failed.

    Examples
    --------
    >>> reasons = iter(["busy", None])
    >>> def start():
    ...     reason = next(reasons)
    ...     if reason:
    ...         raise KernelDidNotStart(reason)
    ...     return "graded"
    >>> with_retries(start, 2)
    ('graded', '')
    >>> with_retries(lambda: (_ for _ in ()).throw(KernelDidNotStart("dead")), 2)
    (None, 'dead')
    """
    reason = ""
    for number in range(1, tries + 1):
        try:
            return attempt(), ""
        except KernelDidNotStart as error:
            reason = str(error)
            LOG.warning("kernel start %d of %d failed: %s", number, tries, reason)
    return None, reason


class KernelDidNotStart(RuntimeError):
    """The learner's kernel died or hung before running any learner cell: the grader's
    failure (a busy machine), retried, never the learner's zero."""


def _prepare_workdir(workdir: Path, uid: int, sub: Submission, setup: WorkerSetup) -> None:
    """A fresh work folder holding the learner's extra files, then the instructor's."""
    fresh_workdir(workdir, uid, setup.sandbox.work_bytes)
    for rel, data in sub.extras.items():
        safe = safe_relative(rel)
        if safe is None:
            continue
        target = workdir / safe
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    for rel, data in setup.source_files.get(sub.assignment, {}).items():
        target = workdir / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    hand_over(workdir, uid)


def _autograde(
    notebook: NotebookNode, resources: dict, config: Config, suite: GradingSuite, workdir: Path
) -> tuple[NotebookNode, dict]:
    """Run the course's grading steps with a sandboxed kernel; always stop the kernel after."""
    km = kernel_manager(_STATE["kernels"], workdir, _STATE["fork_server"])
    state = shared_state(resources)
    state.update(km=km, suite=suite, workdir=str(workdir), uid=_STATE["sandbox"].kernel_uid())
    try:
        try:
            run_sync(km.start_kernel)(cwd=str(workdir))
        except Exception as error:
            raise KernelDidNotStart(f"{type(error).__name__}: {error}") from error
        for pp in _STATE["setup"].pipeline.grade:
            try:
                notebook, resources = pp(config=config)(notebook, resources)
            except RuntimeError as error:
                if pp is LearnerExecute and "kernel_info" in str(error):
                    raise KernelDidNotStart(str(error)) from error
                raise
        return notebook, resources
    finally:
        # nbclient leaves a kernel it was handed running, and its client connected: stop both
        # here (and the sandbox with the kernel), or every hand-in leaves threads and sockets
        try:
            if state.get("kc") is not None:
                state["kc"].stop_channels()
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # already dead
            LOG.debug("kernel shutdown failed", exc_info=True)
        km.context.destroy(linger=0)
        try:
            remove_tree(workdir)
        except OSError:  # the next hand-in's fresh_workdir tries again
            LOG.debug("removing %s failed", workdir, exc_info=True)


def results_by_test(notebook: NotebookNode) -> dict[str, dict]:
    """Pass or fail, and the error message, of every autograded test cell of ``notebook``.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> meta = {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}}
    >>> cell = new_code_cell("assert False, 'uphill'", metadata=meta)
    >>> cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError",
    ...                                        evalue="uphill", traceback=[])]
    >>> results_by_test(new_notebook(cells=[cell]))
    {'t': {'passed': False, 'message': 'AssertionError: uphill'}}
    """
    results = {}
    for cell in notebook.cells:
        if not is_test_cell(cell):
            continue
        score, max_score = utils.determine_grade(cell, LOG)
        errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
        message = f"{errors[-1].ename}: {errors[-1].evalue}" if errors else ""
        results[cell.metadata.nbgrader["grade_id"]] = {
            "passed": bool(score is not None and score >= max_score),
            "message": message[:300],
        }
    return results


def cpu_seconds() -> float:
    """CPU seconds used by this process and its waited-for children so far.

    Examples
    --------
    >>> cpu_seconds() > 0
    True
    """
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


__all__ = ["WorkerSetup", "cpu_seconds", "grade", "init_worker"]
