"""Drive JupyterLab in Debian's chromium with Playwright: open, run, read, type, screenshot.

Everything here goes through the page the way a learner would (the Run menu, clicks and
keystrokes in the cell editor). What the page shows is read from the DOM; what JupyterLab
received from the kernel is read from its notebook model through ``window.jupyterapp``, which
the test server exposes (``--LabApp.expose_app_in_browser=True``).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path
from typing import Any

from playwright.sync_api import Browser, Page, Playwright

CHROMIUM = Path("/usr/bin/chromium")
# Flags for a headless, sandbox-free chromium on a closed network: without the
# background-networking ones, chromium's own connections are refused here, many at a time.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INSTALL_SCRIPT = "tests/browser/install_browser.sh"

# One JavaScript snapshot of the open notebook: per cell, the model (type, tags, execution
# count, outputs as JupyterLab received them) and the page (prompt, images, error renderings).
_SNAPSHOT_JS = """() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = panel.content.widgets.map((cell, index) => {
    const model = cell.model;
    const outputs = model.type === 'code' ? model.outputs.toJSON() : [];
    return {
      index,
      type: model.type,
      tags: model.getMetadata('tags') || [],
      source: model.sharedModel.getSource(),
      executionCount: model.type === 'code' ? (model.executionCount ?? null) : null,
      prompt: (cell.node.querySelector('.jp-InputPrompt') || {}).textContent || '',
      outputs: outputs.map(o => ({
        type: o.output_type, name: o.name || null, ename: o.ename || null,
        text: o.output_type === 'stream' ? [].concat(o.text).join('')
            : o.output_type === 'error' ? `${o.ename}: ${o.evalue}` : '',
      })),
      shownText: [...cell.node.querySelectorAll('.jp-OutputArea-output')]
        .map(e => e.innerText).join('\\n'),
      images: [...cell.node.querySelectorAll('.jp-OutputArea-output img')].map(img => ({
        alt: img.getAttribute('alt') || '', complete: img.complete,
        naturalWidth: img.naturalWidth, src: (img.getAttribute('src') || '').slice(0, 30),
      })),
      stderr: [...cell.node.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]')]
        .map(e => e.innerText.slice(0, 2000)),
    };
  });
  return {path: panel.context.path,
          kernel: panel.sessionContext.session?.kernel?.status || 'none', cells};
}"""


def chromium_problem() -> str | None:
    """Why the browser tests cannot run here, or ``None`` when chromium is installed.

    Examples
    --------
    >>> chromium_problem() is None or "chromium" in chromium_problem()
    True
    """
    if CHROMIUM.exists():
        return None
    return f"{CHROMIUM} (Debian's chromium) is not installed"


def can_install_chromium() -> bool:
    """Whether this machine could install chromium itself: root with apt-get.

    Examples
    --------
    >>> isinstance(can_install_chromium(), bool)
    True
    """
    return os.name == "posix" and os.geteuid() == 0 and shutil.which("apt-get") is not None


def launch(playwright: Playwright) -> Browser:
    """Start Debian's headless chromium (never a downloaded browser build).

    Examples
    --------
    Not run as a doctest (it starts a browser)::

        with sync_playwright() as p:
            browser = launch(p)
    """
    return playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)


def snapshot(page: Page) -> dict[str, Any]:
    """The open notebook's cells as JupyterLab holds and shows them (see ``_SNAPSHOT_JS``)."""
    return page.evaluate(_SNAPSHOT_JS)


def _wait_for(page: Page, test, what: str, timeout: float, settle: int = 1) -> dict[str, Any]:
    """Poll :func:`snapshot` until ``test(state)`` holds ``settle`` times in a row."""
    deadline, streak, state = time.monotonic() + timeout, 0, {}
    while time.monotonic() < deadline:
        state = snapshot(page)
        streak = streak + 1 if test(state) else 0
        if streak >= settle:
            return state
        time.sleep(0.4)
    prompts = [c["prompt"] for c in state.get("cells", []) if c["type"] == "code"]
    raise TimeoutError(
        f"{what} not reached in {timeout} s: kernel {state.get('kernel')}, prompts {prompts}"
    )


def open_notebook(page: Page, url: str, timeout: float = 90.0) -> dict[str, Any]:
    """Open the notebook at ``url`` and wait until its kernel is idle.

    Examples
    --------
    Not run as a doctest (it needs a browser page and a server)::

        open_notebook(page, lab.notebook_url("04_exercise/04_exercise.ipynb"))
    """
    page.goto(url)
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=timeout * 1000)
    page.wait_for_function("() => window.jupyterapp?.shell?.currentWidget?.sessionContext")
    page.evaluate("""async () => {
        const panel = window.jupyterapp.shell.currentWidget;
        await panel.context.ready;
        await panel.sessionContext.ready;
        window.jupyterapp.shell.collapseLeft();
    }""")
    return _wait_for(page, lambda s: s["kernel"] == "idle", "an idle kernel", timeout)


def _last_count(state: dict[str, Any]) -> int:
    return max((c["executionCount"] or 0 for c in state["cells"]), default=0)


def _finished(state: dict[str, Any], before: int) -> bool:
    running = any("*" in c["prompt"] for c in state["cells"] if c["type"] == "code")
    return state["kernel"] == "idle" and not running and _last_count(state) > before


def run_all(page: Page, timeout: float = 120.0) -> dict[str, Any]:
    """Click *Run > Run All Cells* and wait until the kernel has finished; return the snapshot.

    Finished means: the kernel is idle, no cell shows the ``[*]`` prompt of a queued or running
    cell, and some cell has a newer execution count than before the click (three polls in a
    row, so a short idle moment between two cells is not mistaken for the end).

    Examples
    --------
    Not run as a doctest (it needs a browser page)::

        state = run_all(page)
    """
    before = _last_count(snapshot(page))
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    return _wait_for(page, lambda s: _finished(s, before), "the end of Run All", timeout, 3)


def cell_index(state: dict[str, Any], first_line: str) -> int:
    """Index of the one cell whose source starts with ``first_line``.

    Examples
    --------
    >>> cells = [{"index": 0, "source": "x = 1"}, {"index": 1, "source": "def f(x): pass"}]
    >>> cell_index({"cells": cells}, "def f(")
    1
    """
    found = [c["index"] for c in state["cells"] if c["source"].startswith(first_line)]
    if len(found) != 1:
        raise LookupError(f"expected one cell starting with {first_line!r}, found {found}")
    return found[0]


def type_into_cell(page: Page, index: int, code: str) -> str:
    """Replace the source of cell ``index`` by typing ``code`` into its editor; return the result.

    Clicks into the editor, selects everything, then types line by line as a learner would,
    leaving the indentation to the editor (it indents after a line ending in ``:`` and keeps
    the indentation of the line before). The caller compares the returned source with ``code``.

    Examples
    --------
    Not run as a doctest (it needs a browser page)::

        typed = type_into_cell(page, 6, "def f(x):\\n    return x")
        assert typed == "def f(x):\\n    return x"
    """
    cell = page.locator(".jp-Notebook .jp-Cell").nth(index)
    cell.locator(".cm-content").click()
    page.keyboard.press("ControlOrMeta+a")
    for number, line in enumerate(code.splitlines()):
        if number:
            page.keyboard.press("Enter")
        page.keyboard.type(line.strip())
    page.keyboard.press("Escape")
    return snapshot(page)["cells"][index]["source"]


def open_terminal(page: Page, timeout: float = 30.0) -> None:
    """Open a terminal the way notebook 4 tells the learner: *File > New > Terminal*.

    Examples
    --------
    Not run as a doctest (it needs a browser page)::

        open_terminal(page)
    """
    page.get_by_role("menuitem", name="File", exact=True).click()
    # "New" opens a submenu; lumino gives such items no menuitem role, so find it by its label
    label = page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^New$"))
    page.locator(".lm-Menu-item", has=label).first.click()
    page.get_by_role("menuitem", name="Terminal", exact=True).click()
    page.wait_for_selector(".jp-Terminal .xterm-accessibility-tree", timeout=timeout * 1000)
    page.locator(".jp-Terminal .xterm").last.click()


def terminal_text(page: Page) -> str:
    """The rows the open terminal shows, as text (xterm.js's screen-reader mirror)."""
    return page.evaluate(
        "() => [...document.querySelectorAll('.jp-Terminal .xterm-accessibility-tree')]"
        ".map(tree => tree.innerText).join('\\n')"
    )


def run_in_terminal(page: Page, command: str, until: str, timeout: float = 30.0) -> str:
    """Type ``command`` and Enter into the terminal; wait until its rows show ``until``.

    Examples
    --------
    Not run as a doctest (it needs a browser page)::

        run_in_terminal(page, "python f.py", until="converged")
    """
    page.keyboard.type(command)
    page.keyboard.press("Enter")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = terminal_text(page)
        if until in text:
            return text
        time.sleep(0.3)
    raise TimeoutError(f"the terminal did not show {until!r} after {command!r}:\n{text[-2000:]}")


def screenshot_terminal(page: Page, path: Path) -> Path:
    """Save the open terminal panel as a PNG at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    page.locator(".jp-Terminal").last.screenshot(path=str(path))
    return path


def screenshot_notebook(page: Page, path: Path, max_height: int = 16000) -> Path:
    """Save the whole notebook, top to bottom, as a PNG at ``path``.

    The notebook scrolls inside JupyterLab, so the page is made as tall as the notebook
    (up to ``max_height`` pixels) and the panel is captured from its toolbar down to the end
    of the last cell (without JupyterLab's empty scroll-past-the-end space).

    Examples
    --------
    Not run as a doctest (it needs a browser page)::

        screenshot_notebook(page, Path("artifacts/screenshots/04_exercise.png"))
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    scroller = ".jp-NotebookPanel .jp-WindowedPanel-outer"
    height = page.evaluate(f"() => document.querySelector('{scroller}').scrollHeight")
    viewport = page.viewport_size or {"width": 1280, "height": 900}
    page.set_viewport_size({"width": viewport["width"], "height": min(height + 250, max_height)})
    page.evaluate(f"() => document.querySelector('{scroller}').scrollTo(0, 0)")
    page.wait_for_timeout(500)
    panel = page.locator(".jp-NotebookPanel").bounding_box()
    last = page.locator(".jp-Notebook .jp-Cell").last.bounding_box()
    bottom = min(last["y"] + last["height"] + 16, panel["y"] + panel["height"])
    clip = {
        "x": panel["x"],
        "y": panel["y"],
        "width": panel["width"],
        "height": bottom - panel["y"],
    }
    page.screenshot(path=str(path), clip=clip)
    page.set_viewport_size(viewport)
    return path
