"""Autograde one submission in a worker process: nbgrader's preprocessors, in a sandbox.

A worker is one process of the pool. :func:`init_worker` gives it a private copy of the
template gradebook (which holds the source cells nbgrader's ``OverwriteCells`` restores from)
and a private work folder; :func:`grade` then runs, for one :class:`~autograder.intake.Submission`:

1. decoding (a notebook that is not UTF-8 is decoded with replacement and flagged; one that is
   not JSON is not graded and scores 0);
2. :func:`~autograder.tamper.inspect_structure` and :func:`~autograder.tamper.restore_structure`
   against the release;
3. nbgrader's sanitizing preprocessors (``ClearOutput``, ``DeduplicateIds``,
   ``OverwriteKernelspec``, ``OverwriteCells`` with ``add_missing_cells``, ``CheckCellMetadata``);
4. :class:`~autograder.execution.GuardedExecute` with the kernel in the sandbox, then nbgrader's
   ``IgnorePattern`` and ``LimitOutput``.

It returns an :class:`Outcome`: plain data (the executed notebook as JSON text, flags, the
result of every test) that the single writer in the parent saves. A worker never opens the
real gradebook.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import resource
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import nbformat
from jupyter_core.utils import run_sync
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearOutput,
    DeduplicateIds,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
)

from autograder.execution import GuardedExecute, is_test_cell
from autograder.intake import safe_relative
from autograder.records import Limits, Outcome, Submission
from autograder.sandbox import (
    Sandbox,
    SandboxedKernelManager,
    hand_over,
    prepare_workdir,
    worker_uid,
)
from autograder.tamper import inspect_structure, restore_structure, static_signs

LOG = logging.getLogger("autograder")


@dataclass
class WorkerSetup:
    """What every worker needs, prepared once by the parent (plain, picklable data)."""

    scratch: str
    template_db: str
    releases: dict[str, dict[str, str]]  # assignment -> notebook -> release JSON text
    source_files: dict[str, dict[str, bytes]]  # assignment -> instructor files to copy
    sandbox: Sandbox
    limits: Limits
    home_template: str = ""


_STATE: dict = {}


def init_worker(setup: WorkerSetup) -> None:
    """Pool initializer: a private gradebook copy and a private work folder for this process."""
    os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    scratch = Path(setup.scratch)
    db = scratch / f"worker-{os.getpid()}.db"
    shutil.copy(setup.template_db, db)
    _STATE.update(
        setup=setup,
        db_url=f"sqlite:///{db}",
        workdir=scratch / f"work-{os.getpid()}",
        sandbox=dataclasses.replace(setup.sandbox, uid=worker_uid(os.getpid())),
    )


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
    out.seconds = round(time.monotonic() - started, 3)
    return out


def _decode(out: Outcome, data: bytes) -> NotebookNode | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        text = data.decode("utf-8", errors="replace")
        out.flags.append(["encoding", f"not valid UTF-8 ({error.reason} at byte {error.start})"])
    try:
        notebook = nbformat.reads(text, as_version=4)
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        out.flags.append(["invalid", f"{out.notebook}.ipynb is not a notebook: {first}"])
        return None
    try:
        nbformat.validate(notebook)
    except Exception as error:
        out.flags.append(["invalid", f"notebook fails nbformat validation: {str(error)[:200]}"])
    return notebook


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
    release = nbformat.reads(setup.releases[sub.assignment][sub.notebook], as_version=4)
    for problem in inspect_structure(notebook, release):
        out.flags.append(["tampered", problem])
    for sign in static_signs(notebook, release):
        out.flags.append(["suspicious", sign])
    notebook = restore_structure(notebook, release)

    workdir: Path = _STATE["workdir"]
    box: Sandbox = _STATE["sandbox"]
    prepare_workdir(workdir, box.uid)
    if setup.home_template:
        shutil.copytree(setup.home_template, workdir, dirs_exist_ok=True)
    resources = {
        "nbgrader": {
            "notebook": sub.notebook,
            "assignment": sub.assignment,
            "student": sub.student,
            "db_url": _STATE["db_url"],
        },
        "metadata": {"path": str(workdir)},
    }
    for pp in (ClearOutput, DeduplicateIds, OverwriteKernelspec):
        notebook, resources = pp().preprocess(notebook, resources)
    notebook, resources = OverwriteCells(add_missing_cells=True).preprocess(notebook, resources)
    notebook, resources = CheckCellMetadata().preprocess(notebook, resources)

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
    hand_over(workdir, box.uid)

    limits = setup.limits
    km = SandboxedKernelManager(
        kernel_name="python3",
        transport="ipc",
        ip=str(workdir / ".kernel"),
        connection_file=str(workdir / ".kernel.json"),
    )
    km.sandbox_argv_prefix = box.wrap([], workdir)
    km.sandbox_uid = box.uid
    runner = GuardedExecute(
        timeout=limits.cell_timeout,
        notebook_timeout=limits.notebook_timeout,
        max_output_chars=limits.max_output_chars,
        kernel_name="python3",
        startup_timeout=60,
    )
    try:
        notebook, resources = runner.preprocess(notebook, resources, km=km)
    finally:
        # nbclient leaves a kernel it was handed running: stop it (and its sandbox) here
        try:
            if km.has_kernel:
                run_sync(km.shutdown_kernel)(now=True)
        except Exception:  # already dead
            LOG.debug("kernel shutdown failed", exc_info=True)
        shutil.rmtree(workdir, ignore_errors=True)
    out.kernel_cpu = round(runner.kernel_cpu, 3)
    for kind, detail in runner.events:
        out.flags.append([kind, detail])
    if any(o.get("ename") == "MemoryError" for c in notebook.cells for o in c.get("outputs", [])):
        limit = f"{limits.memory_bytes / 2**30:g} GiB"
        out.flags.append(["memory", f"hit the memory limit ({limit}): MemoryError"])
    for pp in (IgnorePattern, LimitOutput):
        notebook, resources = pp().preprocess(notebook, resources)
    out.tests = test_results(notebook)
    out.graded = nbformat.writes(notebook)


def test_results(notebook: NotebookNode) -> dict[str, dict]:
    """Pass or fail, and the error message, of every autograded test cell of ``notebook``.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> meta = {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}}
    >>> cell = new_code_cell("assert False, 'uphill'", metadata=meta)
    >>> cell.outputs = [nbformat.v4.new_output("error", ename="AssertionError",
    ...                                        evalue="uphill", traceback=[])]
    >>> test_results(new_notebook(cells=[cell]))
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
