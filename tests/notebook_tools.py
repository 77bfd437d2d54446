"""Small helpers the tests share for reading nbgrader notebooks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
COURSE = REPO / "course"

_REGION = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.DOTALL)


def read(path: Path) -> nbformat.NotebookNode:
    """Read a notebook as nbformat version 4."""
    return nbformat.read(path, as_version=4)


def grade_cells(notebook: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
    """nbgrader's cells of a notebook, by ``grade_id``."""
    return {
        cell.metadata.nbgrader["grade_id"]: cell
        for cell in notebook.cells
        if "nbgrader" in cell.metadata and "grade_id" in cell.metadata.nbgrader
    }


def secret_regions(notebook: nbformat.NotebookNode) -> Iterator[str]:
    """Text a learner must never see: solution regions, hidden tests, model written answers."""
    for cell in notebook.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution"):
            yield cell.source
        for _kind, body in _REGION.findall(cell.source):
            yield body


def with_answers(notebook: nbformat.NotebookNode, answers: dict[str, str]) -> nbformat.NotebookNode:
    """A copy of ``notebook`` whose answer cells (by grade_id) hold the given code."""
    filled = nbformat.from_dict(notebook)
    cells = grade_cells(filled)
    for grade_id, source in answers.items():
        cells[grade_id].source = source
    return filled
