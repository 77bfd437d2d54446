"""What a notebook run in the browser must show, and the comparisons, as plain functions.

The expectations come from the instructor's executed notebooks in ``solutions/``: a cell that
stored ``n`` ``<img`` tags in its ``text/html`` outputs must show ``n`` images in the browser.
Each ``*_problems`` function returns a list of human-readable problems (empty: all good), so
that one failing test names everything that is wrong at once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import nbformat

RAISES = "raises-exception"
STUB_ERROR = "NotImplementedError"


def stored_images(cell: nbformat.NotebookNode) -> int:
    """How many ``<img`` tags the stored ``text/html`` outputs of ``cell`` contain.

    Examples
    --------
    >>> cell = nbformat.v4.new_code_cell(outputs=[nbformat.v4.new_output(
    ...     "display_data", data={"text/html": '<img alt="a"/>', "text/plain": "a"})])
    >>> stored_images(cell)
    1
    """
    count = 0
    for output in cell.get("outputs", []):
        html = output.get("data", {}).get("text/html", "")
        count += ("".join(html) if isinstance(html, list) else html).count("<img")
    return count


def expected_images(
    solution: nbformat.NotebookNode, release: nbformat.NotebookNode, answered: bool
) -> list[int]:
    """Images each release cell must show: the solution's, none from unanswered stub cells.

    Parameters
    ----------
    solution, release : nbformat.NotebookNode
        The executed source notebook and its release (same cells, same order).
    answered : bool
        Whether the learner's answers are filled in; if not, cells tagged ``raises-exception``
        in the release stop with ``NotImplementedError`` and show no figure.

    Examples
    --------
    >>> figure = nbformat.v4.new_output("display_data", data={"text/html": "<img alt='f'/>"})
    >>> shown = nbformat.v4.new_code_cell("show()", execution_count=1, outputs=[figure])
    >>> source = nbformat.v4.new_notebook(cells=[shown])
    >>> release = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell()])
    >>> release.cells[0].metadata["tags"] = ["raises-exception"]
    >>> expected_images(source, release, answered=False), expected_images(source, release, True)
    ([0], [1])
    """
    if len(solution.cells) != len(release.cells):
        raise ValueError(
            "the release and its solution have different numbers of cells: run ./dev release"
        )
    if any(
        cell.cell_type == "code" and cell.source.strip() and cell.execution_count is None
        for cell in solution.cells
    ):
        raise ValueError(
            "the solution notebook is not executed, so it tells no figure count: run ./dev release"
        )
    return [
        0 if RAISES in rel.metadata.get("tags", []) and not answered else stored_images(sol)
        for sol, rel in zip(solution.cells, release.cells, strict=True)
    ]


def image_problems(state: Mapping[str, Any], expected: Sequence[int]) -> list[str]:
    """Cells showing another number of images than ``expected``, and images that did not render.

    Examples
    --------
    >>> ok = {"alt": "A curve.", "complete": True, "naturalWidth": 512}
    >>> state = {"cells": [{"index": 0, "images": [ok, dict(ok, alt="")]}]}
    >>> image_problems(state, [2])
    ['cell 0: an image without alt text']
    >>> image_problems(state, [1])[0]
    'cell 0: 2 images shown, 1 expected'
    """
    if len(state["cells"]) != len(expected):
        return [f"{len(state['cells'])} cells in the page, {len(expected)} in the notebook"]
    problems = []
    for cell, count in zip(state["cells"], expected, strict=True):
        where = f"cell {cell['index']}"
        if len(cell["images"]) != count:
            problems.append(f"{where}: {len(cell['images'])} images shown, {count} expected")
        for image in cell["images"]:
            if not image["alt"].strip():
                problems.append(f"{where}: an image without alt text")
            if not (image["complete"] and image["naturalWidth"] > 0):
                problems.append(f"{where}: image {image['alt'][:40]!r} did not load")
    return problems


def error_problems(state: Mapping[str, Any], answered: bool) -> list[str]:
    """Errors other than the expected stubs, and code cells that Run All never reached.

    Before the answers, the only error allowed is ``NotImplementedError`` in a cell tagged
    ``raises-exception``; after them, none at all. Anything rendered as stderr counts.

    Examples
    --------
    >>> stub = {"type": "error", "ename": "NotImplementedError", "name": None, "text": ""}
    >>> cell = {"index": 3, "type": "code", "tags": ["raises-exception"], "executionCount": 2,
    ...         "outputs": [stub], "stderr": ["NotImplementedError"]}
    >>> error_problems({"cells": [cell]}, answered=False)
    []
    >>> error_problems({"cells": [cell]}, answered=True)
    ['cell 3: NotImplementedError', 'cell 3: shows stderr NotImplementedError']
    """
    problems = []
    for cell in state["cells"]:
        if cell["type"] != "code":
            continue
        where = f"cell {cell['index']}"
        allowed = not answered and RAISES in cell["tags"]
        if cell["executionCount"] is None and cell["source"].strip():
            problems.append(f"{where}: never ran (Run All stopped before it)")
        for output in cell["outputs"]:
            if output["type"] == "error" and not (allowed and output["ename"] == STUB_ERROR):
                problems.append(f"{where}: {output['ename']}")
            if output["type"] == "stream" and output["name"] == "stderr":
                problems.append(f"{where}: wrote to stderr: {output['text'][:200]!r}")
        for text in cell["stderr"]:
            if not (allowed and STUB_ERROR in text):
                problems.append(f"{where}: shows stderr {text[:300]}")
    return problems


def missing_messages(state: Mapping[str, Any], messages: Sequence[str]) -> list[str]:
    """The ``messages`` that no output shown in the page contains.

    Examples
    --------
    >>> missing_messages({"cells": [{"shownText": "array update: all checks passed."}]},
    ...                  ["array update: all checks passed.", "converged:"])
    ['converged:']
    """
    shown = "\n".join(cell["shownText"] for cell in state["cells"])
    return [message for message in messages if message not in shown]
