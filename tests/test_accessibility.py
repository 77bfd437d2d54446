"""What a learner using a screen reader or a table of contents relies on, in every notebook."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.notebook_tools import COURSE, SOLUTIONS, read

NOTEBOOKS = sorted(SOLUTIONS.rglob("*.ipynb")) + sorted(COURSE.rglob("*.ipynb"))
HEADING = re.compile(r"^(#{1,6}) +(\S.*)$", re.MULTILINE)


def _headings(path: Path) -> list[tuple[int, str]]:
    found = []
    for cell in read(path).cells:
        if cell.cell_type == "markdown":
            found += [(len(hashes), text) for hashes, text in HEADING.findall(cell.source)]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: f"{p.parent.parent.name}/{p.name}")
def test_headings_form_a_table_of_contents(path: Path):
    headings = _headings(path)
    assert headings[0][0] == 1 and [level for level, _ in headings].count(1) == 1, "one title"
    assert sum(level == 2 for level, _ in headings) >= 3, "sections are headed"
    for (before, _), (after, text) in zip(headings, headings[1:], strict=False):
        assert after <= before + 1, f"heading {text!r} skips a level"


@pytest.mark.parametrize("path", sorted(SOLUTIONS.rglob("*.ipynb")), ids=lambda p: p.name)
def test_every_image_has_alt_text(path: Path):
    images = 0
    for cell in read(path).cells:
        for output in cell.get("outputs", []):
            html = output.get("data", {}).get("text/html", "")
            assert "image/png" not in output.get("data", {}), "a bare PNG output has no alt text"
            for tag in re.findall(r"<img\b[^>]*>", html):
                images += 1
                alt = re.search(r'alt="([^"]*)"', tag)
                assert alt and len(alt.group(1)) > 30, (
                    f"an image lacks a describing alt text: {tag[:80]}"
                )
    if path.parent.name != "04_exercise":
        assert images > 0, "the lessons are illustrated"
