"""The exercise notebooks fit the class grader's trusted runner (issue 9, item 8).

The runner grades each test cell outside the learner's kernel, in a namespace built from the
instructor's cells above it that are neither answer nor test cells; the learner's answers come
in as proxies. So:

* nothing a test cell defines may be used by a later cell (the learner's kernel never runs the
  test cells' definitions in the runner's order, and a hidden test's names must not leak);
* every cell that defines a name a test cell uses, other than an answer cell, is locked
  (read-only, nbgrader ``locked: true``), so the learner cannot change what the tests rely on.

Names are read with ``ast``: a cell *defines* what it assigns, imports or declares at any level
(functions and loops included) and *uses* every name it loads.
"""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import nbformat
import pytest

from tests.notebook_tools import COURSE, SOLUTIONS, read

NOTEBOOKS = sorted(SOLUTIONS.rglob("*.ipynb"))
EXERCISES = [
    path
    for path in NOTEBOOKS
    if any(c.metadata.get("nbgrader", {}).get("grade") for c in read(path).cells)
]


def _tree(source: str) -> ast.Module:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    return ast.parse("\n".join(lines))


def defined(source: str) -> set[str]:
    """Every name a cell binds: assignments, imports, function, class and loop names.

    Examples
    --------
    >>> sorted(defined("import numpy as np\\nx, y = 1, 2\\ndef f(a):\\n    b = a\\n    return b"))
    ['a', 'b', 'f', 'np', 'x', 'y']
    """
    names = set()
    for node in ast.walk(_tree(source)):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.arg):
            names.add(node.arg)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def top_level_defined(source: str) -> set[str]:
    """The names a cell leaves behind in the notebook's namespace (its top level).

    Examples
    --------
    >>> sorted(top_level_defined("def f(a):\\n    b = a\\nfor i in range(2):\\n    j = i"))
    ['f', 'i', 'j']
    """
    names = set()
    for statement in _tree(source).body:
        if isinstance(statement, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(statement.name)
            continue
        for node in ast.walk(statement):
            if isinstance(node, ast.Lambda | ast.FunctionDef | ast.comprehension):
                continue
            if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
            elif isinstance(node, ast.Import | ast.ImportFrom):
                names.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
    return names


def used(source: str) -> set[str]:
    """Every name a cell loads, less builtins.

    Examples
    --------
    >>> sorted(used("print(check(f, x))"))
    ['check', 'f', 'x']
    """
    loads = {
        node.id
        for node in ast.walk(_tree(source))
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)
    }
    return loads - set(dir(builtins))


def _role(cell: nbformat.NotebookNode) -> str:
    meta = cell.metadata.get("nbgrader", {})
    if meta.get("grade") and not meta.get("solution"):
        return "test"
    if meta.get("solution"):
        return "answer"
    return "other"


def names_leaking_from_tests(notebook: nbformat.NotebookNode) -> list[str]:
    """Later cells that use a name which only a test cell defines (empty: none)."""
    problems, from_tests, elsewhere = [], {}, set()
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        for name in sorted(used(cell.source) & (from_tests.keys() - elsewhere)):
            if name not in defined(cell.source):
                problems.append(
                    f"cell {index} uses {name!r}, defined only by test cell {from_tests[name]}"
                )
        if _role(cell) == "test":
            for name in top_level_defined(cell.source):
                from_tests.setdefault(name, index)
        else:
            elsewhere |= top_level_defined(cell.source)
    return problems


def unlocked_dependencies(notebook: nbformat.NotebookNode) -> list[str]:
    """Cells defining a name some test cell uses that are neither answers nor locked."""
    problems = []
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code" or _role(cell) != "test":
            continue
        needed = used(cell.source) - top_level_defined(cell.source)
        for above, earlier in enumerate(notebook.cells[:index]):
            if earlier.cell_type != "code" or _role(earlier) != "other":
                continue
            shared = needed & top_level_defined(earlier.source)
            meta = earlier.metadata.get("nbgrader", {})
            if shared and not (meta.get("locked") and meta.get("grade_id")):
                problems.append(
                    f"cell {above} defines {sorted(shared)} for test cell {index} but is not "
                    "locked (nbgrader locked: true, with a grade_id)"
                )
    return problems


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_no_later_cell_uses_what_only_a_test_cell_defines(path: Path):
    problems = names_leaking_from_tests(read(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_cells_the_tests_depend_on_are_locked(path: Path):
    problems = unlocked_dependencies(read(path))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_locked_cells_are_plain_read_only_cells(path: Path):
    """Locked setup cells carry nbgrader's full metadata and no grade, no solution."""
    for cell in read(path).cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("locked") and _role(cell) == "other":
            assert meta["grade"] is False and meta["solution"] is False
            assert meta["grade_id"] and meta["schema_version"] == 3


def _notebook(*cells: tuple[str, str]) -> nbformat.NotebookNode:
    made = []
    for role, source in cells:
        cell = nbformat.v4.new_code_cell(source)
        if role == "test":
            cell.metadata["nbgrader"] = {
                "grade": True,
                "solution": False,
                "locked": True,
                "grade_id": "t",
                "points": 1,
                "schema_version": 3,
            }
        elif role == "answer":
            cell.metadata["nbgrader"] = {
                "grade": False,
                "solution": True,
                "locked": False,
                "grade_id": "a",
                "schema_version": 3,
            }
        made.append(cell)
    return nbformat.v4.new_notebook(cells=made)


def test_the_checks_find_both_mistakes():
    """Guard: notebook 2 as it was (data made inside the test cell, setup unlocked) fails."""
    before = _notebook(
        ("other", "import numpy as np\nfrom gdcourse.functions import make_points"),
        ("answer", "def cost_gradient(w, b, x, y):\n    return np.zeros(2)"),
        ("test", "x, y = make_points()\nprint(cost_gradient(0, 0, x, y))"),
        ("other", "params = cost_gradient(0, 0, x, y)"),
    )
    assert names_leaking_from_tests(before) == [
        "cell 3 uses 'x', defined only by test cell 2",
        "cell 3 uses 'y', defined only by test cell 2",
    ]
    assert unlocked_dependencies(before) == [
        "cell 0 defines ['make_points'] for test cell 2 but is not locked "
        "(nbgrader locked: true, with a grade_id)"
    ]


@pytest.mark.parametrize("path", EXERCISES, ids=lambda p: p.name)
def test_jupyterlab_shows_the_locked_cells_read_only(path: Path):
    """nbgrader's release marks them not editable and not deletable, which JupyterLab obeys."""
    release = read(COURSE / path.relative_to(SOLUTIONS))
    locked = [c for c in release.cells if c.metadata.get("nbgrader", {}).get("locked")]
    assert locked
    for cell in locked:
        assert cell.metadata.get("editable") is False and cell.metadata.get("deletable") is False
