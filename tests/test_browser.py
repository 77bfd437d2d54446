"""The course in a real browser: every lesson run in JupyterLab by Debian's chromium.

For each lesson, JupyterLab (started by the ``lab`` fixture on a temporary copy of course/)
opens the release notebook, *Run > Run All Cells* is clicked, and the test checks that every
figure and animation the instructor's notebook shows is rendered (same count per cell, alt
text, loaded), and that the only errors are the stubs' ``NotImplementedError`` in cells tagged
``raises-exception``. For the two exercises, the answers are then typed into the answer cells
and the notebook is run again: the check cells must report success and no error may remain.
A screenshot of each run goes to artifacts/screenshots/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from tests.browser import checks, driver, fixtures
from tests.browser.fixtures import SCREENSHOTS, chromium
from tests.browser.lab import LabServer, running_lab
from tests.notebook_tools import COURSE, SOLUTIONS, grade_cells, read

LESSONS = sorted(p.name for p in COURSE.iterdir() if (p / f"{p.name}.ipynb").exists())

ANSWERS = {
    "04_exercise": {
        "gradient_descent_update": (
            "def gradient_descent_update(x, gradx, learning_rate):\n"
            "    return x - learning_rate * gradx"
        ),
        "choose_learning_rate": "def choose_learning_rate():\n    return 0.1",
    },
    "02_the_gradient": {
        "cost_gradient": (
            "def cost_gradient(w, b, x, y):\n"
            "    error = w * x + b - y\n"
            "    return np.array([2 * np.mean(error * x), 2 * np.mean(error)])"
        ),
    },
}
SUCCESS = {
    "04_exercise": [
        "gradient_descent_update: all checks passed.",
        "array update: all checks passed.",
        "converged: ",
        "learning rate 0.1: converges",
    ],
    "02_the_gradient": ["cost_gradient: matches the finite-difference estimate."],
}


def _notebook(lesson: str) -> str:
    return f"{lesson}/{lesson}.ipynb"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless chromium for this module's tests."""
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def lab(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabServer]:
    """JupyterLab serving a temporary copy of course/, stopped after this module's tests."""
    with running_lab(COURSE, tmp_path_factory.mktemp("lab")) as server:
        yield server


@pytest.fixture
def page(browser: Browser, lab: LabServer) -> Iterator[Page]:
    """A fresh browser page; its notebook's kernel is shut down after the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield context.new_page()
    context.close()
    lab.shutdown_kernels()


def _expected(lesson: str, answered: bool) -> list[int]:
    return checks.expected_images(
        read(SOLUTIONS / _notebook(lesson)), read(COURSE / _notebook(lesson)), answered
    )


def _type_answers(page: Page, lesson: str, answers: dict[str, str]) -> None:
    """Type each answer into its cell (found by nbgrader grade_id) and check what landed."""
    release = read(COURSE / _notebook(lesson))
    cells = grade_cells(release)
    for grade_id, code in answers.items():
        index = release.cells.index(cells[grade_id])
        assert driver.snapshot(page)["cells"][index]["source"] == cells[grade_id].source
        typed = driver.type_into_cell(page, index, code)
        assert typed == code, f"the editor turned the typed answer into:\n{typed}"


@pytest.mark.parametrize("lesson", LESSONS)
def test_lesson_runs_in_jupyterlab(page: Page, lab: LabServer, lesson: str):
    driver.open_notebook(page, lab.notebook_url(_notebook(lesson)))
    state = driver.run_all(page)
    driver.screenshot_notebook(page, SCREENSHOTS / f"{lesson}.png")
    problems = checks.image_problems(state, _expected(lesson, answered=False))
    problems += checks.error_problems(state, answered=False)
    assert not problems, f"{lesson} in JupyterLab:\n" + "\n".join(problems)


@pytest.mark.parametrize("lesson", sorted(ANSWERS))
def test_typed_answers_pass_their_checks(page: Page, lab: LabServer, lesson: str):
    driver.open_notebook(page, lab.notebook_url(_notebook(lesson)))
    driver.run_all(page)
    _type_answers(page, lesson, ANSWERS[lesson])
    state = driver.run_all(page)
    driver.screenshot_notebook(page, SCREENSHOTS / f"{lesson}-answered.png")
    problems = checks.image_problems(state, _expected(lesson, answered=True))
    problems += checks.error_problems(state, answered=True)
    problems += [f"no output says {m!r}" for m in checks.missing_messages(state, SUCCESS[lesson])]
    assert not problems, f"{lesson} with the answers typed in:\n" + "\n".join(problems)


def test_a_wrong_answer_is_caught(page: Page, lab: LabServer):
    """Guard: the same checks fail when the typed update step goes uphill."""
    wrong = {
        "gradient_descent_update": ANSWERS["04_exercise"]["gradient_descent_update"].replace(
            "x - learning_rate", "x + learning_rate"
        )
    }
    driver.open_notebook(page, lab.notebook_url(_notebook("04_exercise")))
    _type_answers(page, "04_exercise", wrong)
    state = driver.run_all(page)
    assert checks.error_problems(state, answered=True)
    assert "gradient_descent_update: all checks passed." in checks.missing_messages(
        state, SUCCESS["04_exercise"]
    )


def test_screenshots_folder_is_ignored_by_git():
    assert "artifacts/" in (Path(__file__).parent.parent / ".gitignore").read_text().split()


def test_missing_chromium_skips_loudly_where_it_cannot_be_installed(monkeypatch):
    monkeypatch.setattr(fixtures, "chromium_problem", lambda: "/usr/bin/chromium is missing")
    monkeypatch.setattr(fixtures, "can_install_chromium", lambda: False)
    with pytest.raises(pytest.skip.Exception, match="BROWSER TEST NOT RUN"):
        fixtures.require_chromium()


def test_missing_chromium_fails_where_it_could_be_installed(monkeypatch):
    monkeypatch.setattr(fixtures, "chromium_problem", lambda: "/usr/bin/chromium is missing")
    monkeypatch.setattr(fixtures, "can_install_chromium", lambda: True)
    with pytest.raises(pytest.fail.Exception, match="install_browser.sh"):
        fixtures.require_chromium()
