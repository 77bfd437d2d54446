"""Execute the instructor's source notebooks and generate the learners' release from them.

``solutions/`` is the source of truth. :func:`execute_sources` re-runs each source notebook
in place, so that its stored outputs (which nbval compares) are current;
:func:`generate_release` runs nbgrader's ``generate_assignment`` for every assignment, writing
``course/``.
"""

from __future__ import annotations

import time
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ExecutePreprocessor

from autograder.coursedir import (
    REPO_ROOT,
    CourseError,
    load_config,
    nbgrader_api,
    source_assignments,
)


def source_notebooks(root: Path = REPO_ROOT) -> list[Path]:
    """Every source notebook of the course, in assignment order.

    Examples
    --------
    >>> [p.name for p in source_notebooks()][-1]
    '04_exercise.ipynb'
    """
    source = Path(root) / load_config(root).CourseDirectory.source_directory
    return [
        nb for name in source_assignments(root) for nb in sorted((source / name).glob("*.ipynb"))
    ]


def execute_sources(root: Path = REPO_ROOT, timeout: int = 120) -> dict[Path, float]:
    """Run every source notebook top to bottom in its own folder and save its outputs in place.

    Returns the wall-clock seconds each notebook took, kernel start included. A notebook that
    fails is left untouched on disk and reported with its path.
    """
    done = {}
    for path in source_notebooks(root):
        started = time.perf_counter()
        notebook = nbformat.read(path, as_version=4)
        runner = ExecutePreprocessor(
            timeout=timeout, kernel_name="python3", record_timing=False, store_widget_state=False
        )
        try:
            runner.preprocess(notebook, {"metadata": {"path": str(path.parent)}})
        except Exception as error:
            raise CourseError(f"{path}: execution failed: {error}") from error
        failed = [i for i, cell in enumerate(notebook.cells) if _has_error(cell)]
        if failed:  # a raises-exception tag lets a cell fail without stopping the run
            raise CourseError(
                f"{path}: cells {failed} raised an error; the solution must run clean"
            )
        nbformat.write(notebook, path)
        done[path] = time.perf_counter() - started
    return done


def _has_error(cell: nbformat.NotebookNode) -> bool:
    return any(output.output_type == "error" for output in cell.get("outputs", []))


def generate_release(root: Path = REPO_ROOT) -> list[str]:
    """Run nbgrader's ``generate_assignment`` for every assignment and return their names."""
    api = nbgrader_api(root)
    names = source_assignments(root)
    for name in names:
        result = api.generate_assignment(name, force=True, create=True)
        if not result["success"]:
            raise CourseError(
                f"{Path(root) / 'solutions' / name}: nbgrader generate_assignment failed:\n"
                + result.get("error", result.get("log", ""))
            )
    return names
