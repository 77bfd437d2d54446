"""No helper a learner can open (``??``, a docstring, a traceback) holds an exercise's answer.

Every module of ``gdcourse`` is importable from the notebooks, so its source and its docstrings
(doctest examples included) are searched for the exercises' solution expressions. Names are
normalised too, so ``lambda x, g, lr: x - lr * g`` counts as the answer
``x - learning_rate * gradx``.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.notebook_tools import REPO, expressions, solution_expressions

MODULES = sorted((REPO / "gdcourse").glob("*.py"))
SECRETS = solution_expressions(rename=True)


def _readable_texts(path: Path) -> list[str]:
    """The module's code and, separately, each docstring (a doctest line is code too)."""
    source = path.read_text(encoding="utf-8")
    texts = [source]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
    return texts


def answers_in(texts: list[str]) -> list[str]:
    found = set().union(*(expressions(text, rename=True) for text in texts))
    return sorted(SECRETS[key] for key in found & SECRETS.keys())


@pytest.mark.parametrize("module", MODULES, ids=lambda p: p.name)
def test_helper_holds_no_answer(module: Path):
    found = answers_in(_readable_texts(module))
    assert not found, f"gdcourse/{module.name} contains an exercise's answer: {found}"


def test_the_search_finds_a_renamed_answer(tmp_path: Path):
    """Guard: a doctest that checks a correct answer under other names is found."""
    module = (
        'def check(update):\n    """Check.\n\n'
        '    >>> check(lambda x, g, lr: x - lr * g)\n    \'ok\'\n    """\n'
    )
    path = tmp_path / "guard_module.py"
    path.write_text(module, encoding="utf-8")
    assert answers_in(_readable_texts(path)) == ["x - learning_rate * gradx"]
