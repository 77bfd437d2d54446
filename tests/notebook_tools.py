"""Small helpers the tests share for reading nbgrader notebooks."""

from __future__ import annotations

import ast
import copy as copy_module
import re
import textwrap
import warnings
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


# --------------------------------------------------------------------------- leaked expressions

#: Expressions a solution contains that the lessons teach on purpose: the neuron's forward pass
#: and its error, e_i = w x_i + b - y_i (written out in notebook 2 before its exercise).
TAUGHT_EXPRESSIONS = ("w * x + b", "w * x + b - y")
#: Smaller expressions (fewer AST nodes) are too common to call a leak (``a * b``, ``0.1``).
MIN_EXPRESSION_NODES = 5

_SKIPPED_NODES = (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)
_INLINE_CODE = re.compile(r"`+([^`\n]+?)`+")


def _size(node: ast.AST) -> int:
    return sum(not isinstance(n, _SKIPPED_NODES) for n in ast.walk(node))


class _Canonical(ast.NodeTransformer):
    """Sort the operands of ``+`` and ``*`` and, if asked, rename every name by first use."""

    def __init__(self, rename: bool) -> None:
        self.rename = rename
        self.names: dict[str, str] = {}

    def visit_Name(self, node: ast.Name) -> ast.AST:  # noqa: N802 - ast's visitor protocol
        if self.rename:
            node.id = self.names.setdefault(node.id, f"_{len(self.names)}")
        return node

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:  # noqa: N802
        self.generic_visit(node)
        if isinstance(node.op, ast.Add | ast.Mult):
            left, right = sorted((node.left, node.right), key=ast.dump)
            node.left, node.right = left, right
        return node


def normalised(node: ast.expr, rename: bool = False) -> str:
    """A canonical text for an expression: layout, brackets and operand order of + and * gone.

    With ``rename``, names are replaced by their order of first use, so that the same
    computation written with other variable names compares equal.

    Examples
    --------
    >>> a = ast.parse("x - (learning_rate*gradx)", mode="eval").body
    >>> b = ast.parse("x - gradx * learning_rate", mode="eval").body
    >>> normalised(a) == normalised(b)
    True
    >>> c = ast.parse("p - g * lr", mode="eval").body
    >>> normalised(a) == normalised(c), normalised(a, True) == normalised(c, True)
    (False, True)
    """
    copy = _Canonical(rename).visit(copy_module.deepcopy(node))
    return ast.dump(copy, annotate_fields=False, include_attributes=False)


def _parse_loosely(snippet: str) -> list[ast.AST]:
    """Parse ``snippet`` as Python if it is (whole, or else line by line); [] when it is not."""
    with warnings.catch_warnings():  # prose is parsed too: "1e-9x" warns, and is no code
        warnings.simplefilter("ignore", SyntaxWarning)
        return _parse_quietly(snippet)


def _parse_quietly(snippet: str) -> list[ast.AST]:
    for text in (textwrap.dedent(snippet), snippet.strip()):
        try:
            return [ast.parse(text)]
        except (SyntaxError, ValueError):
            continue
    trees = []
    for line in snippet.splitlines():
        line = line.strip().rstrip(".,;:")
        for prefix in (">>>", "...", "return", "yield"):
            line = line.removeprefix(prefix).strip()
        if any(c in line for c in "=*+-/("):
            try:
                trees.append(ast.parse(line))
            except (SyntaxError, ValueError):
                continue
    return trees


def expressions(snippet: str, rename: bool = False) -> set[str]:
    """Normalised texts of every expression of at least ``MIN_EXPRESSION_NODES`` in ``snippet``.

    Examples
    --------
    >>> found = expressions("the update `x - learning_rate * gradx`, then more words")
    >>> normalised(ast.parse("x - gradx*learning_rate", mode="eval").body) in found
    True
    """
    found = set()
    candidates = [snippet, *_INLINE_CODE.findall(snippet)]
    for candidate in candidates:
        for tree in _parse_loosely(candidate):
            for node in ast.walk(tree):
                if isinstance(node, ast.expr) and _size(node) >= MIN_EXPRESSION_NODES:
                    found.add(normalised(node, rename))
    return found


def solution_expressions(rename: bool = False) -> dict[str, str]:
    """Every solution's expressions (normalised text -> source), the taught ones left out."""
    taught = set().union(*(expressions(t, rename) for t in TAUGHT_EXPRESSIONS))
    found: dict[str, str] = {}
    for source in sorted(SOLUTIONS.rglob("*.ipynb")):
        for cell in read(source).cells:
            if cell.cell_type != "code":
                continue
            for kind, body in _REGION.findall(cell.source):
                if kind != "SOLUTION":
                    continue
                for tree in _parse_loosely(body):
                    for node in ast.walk(tree):
                        if isinstance(node, ast.expr) and _size(node) >= MIN_EXPRESSION_NODES:
                            key = normalised(node, rename)
                            if key not in taught:
                                found.setdefault(key, ast.unparse(node))
    return found


def notebook_texts(notebook: nbformat.NotebookNode) -> Iterator[str]:
    """Everything a learner reads in a notebook: cell sources and text outputs."""
    for cell in notebook.cells:
        yield cell.source
        for output in cell.get("outputs", []):
            if "text" in output:
                yield "".join(output.text)
            for mime, value in output.get("data", {}).items():
                if mime in ("text/plain", "text/markdown"):
                    yield "".join(value)
