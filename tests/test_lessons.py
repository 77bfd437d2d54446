"""The course as a newcomer reads it: words defined before use, one name per idea, answers earned.

The notebooks are read in course order (01 to 04), as a learner meets them.
"""

from __future__ import annotations

import re

import pytest

from tests.notebook_tools import COURSE, read

LESSONS = sorted(COURSE.glob("*/*.ipynb"))


def _cells():
    """(notebook name, cell index, cell) for every cell of the course, in reading order."""
    for path in LESSONS:
        for index, cell in enumerate(read(path).cells):
            yield path.parent.name, index, cell


_OUTLINE = re.compile(r"^\s*(#.*|\d+\. \*\*.*)$", re.MULTILINE)


def _prose():
    """Every markdown cell's running text: headings and the course outline left out."""
    for name, index, cell in _cells():
        if cell.cell_type == "markdown":
            yield name, index, _OUTLINE.sub("", cell.source)


#: Key terms: the first paragraph of the course that uses one must define it (in bold).
TERMS = ["epoch", "learning rate", "finite difference", "gradient", "cost"]


@pytest.mark.parametrize("term", TERMS)
def test_a_term_is_defined_where_it_first_appears(term: str):
    pattern = re.compile(rf"\b{term}s?\b", re.IGNORECASE)
    for name, index, text in _prose():
        match = pattern.search(text)
        if match:
            bold = re.search(rf"(\*\*|\*){term}s?(\*\*|\*)", text, re.IGNORECASE)
            assert bold, (
                f"{term!r} first appears in {name} cell {index} without being defined there: "
                f"...{text[max(0, match.start() - 60) : match.end() + 40]}..."
            )
            return
    pytest.fail(f"the course never uses {term!r}")


#: One name for one idea: what the course calls these, and the names it must not use for them.
SYNONYMS = {
    "finite difference": [r"central[- ]difference", r"nudging estimate", r"^by nudging:"],
    "learning rate": [r"\bstep \d", r"^\s*step = ", r"\bstep size\b"],
}


@pytest.mark.parametrize("name", sorted(SYNONYMS))
def test_one_name_for_one_idea(name: str):
    found = []
    for lesson, index, cell in _cells():
        texts = [cell.source] + [
            "".join(o.get("text", "")) for o in cell.get("outputs", []) if "text" in o
        ]
        for pattern in SYNONYMS[name]:
            for text in texts:
                if re.search(pattern, text, re.IGNORECASE | re.MULTILINE):
                    found.append(f"{lesson} cell {index}: {pattern}")
    assert not found, f"other names for the {name}: {found}"


def test_the_learning_rate_has_its_name_from_the_first_step():
    """Notebook 1's first step already names its size the learning rate, in code too."""
    lesson = read(COURSE / "01_why_backpropagation" / "01_why_backpropagation.ipynb")
    code = "\n".join(c.source for c in lesson.cells if c.cell_type == "code")
    assert "learning_rate = 0.05" in code and "learning_rate = 0.15" in code


def test_predictions_come_before_their_answers():
    """After "Predict first", the learner runs the experiment before any text explains it."""
    lesson = read(COURSE / "03_the_learning_rate" / "03_the_learning_rate.ipynb")
    cells = lesson.cells
    start = next(i for i, c in enumerate(cells) if c.source.startswith("## Predict first"))
    experiment = next(i for i in range(start + 1, len(cells)) if cells[i].cell_type == "code")
    between = " ".join(c.source for c in cells[start + 1 : experiment])
    for answer in ["1 - 2", "(1 - 2", "factor is", "oscillates", "diverges", "forever"]:
        assert answer not in between, f"the answer ({answer!r}) is shown before the experiment"
    assert "0.95" in cells[experiment].source and "1.1" in cells[experiment].source


def test_every_written_answer_says_how_to_edit_it():
    """A markdown answer cell is preceded by the hint that it is edited by double-clicking."""
    for name, index, cell in _cells():
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "markdown" and meta.get("solution"):
            before = read(COURSE / name / f"{name}.ipynb").cells[index - 1].source
            assert "double-click" in before, f"{name} cell {index}: no editing hint above it"


def test_notebook_1_shows_why_finite_differences_do_not_scale():
    """It counts the cost evaluations of finite differences against one backward pass."""
    lesson = read(COURSE / "01_why_backpropagation" / "01_why_backpropagation.ipynb")
    text = "\n".join(c.source for c in lesson.cells)
    assert "network_gradient" in text and "numerical_gradient(net_cost" in text
    assert "two cost evaluations per parameter" in text


def test_no_word_promises_full_marks():
    """The self-checks say that they pass and that grading runs more; never 'all correct'."""
    for name, index, cell in _cells():
        for phrase in ["all checks passed", "all correct", "full marks", "100 %"]:
            assert phrase not in cell.source.lower(), f"{name} cell {index}: {phrase!r}"


def test_the_helpers_use_the_same_names():
    """What `?` shows on a helper speaks the course's words too."""
    from tests.notebook_tools import REPO

    for module in sorted((REPO / "gdcourse").glob("*.py")):
        text = module.read_text(encoding="utf-8")
        assert not re.search(r"central[- ]difference", text, re.IGNORECASE), module.name
