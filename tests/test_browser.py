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
from tests.browser.lab import TERMINAL_SETTING, LabServer, lab_command, running_lab
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
PASSED = "these checks pass (grading also runs hidden tests)."
SUCCESS = {
    "04_exercise": [
        f"gradient_descent_update: {PASSED}",
        f"array update: {PASSED}",
        "converged: ",
        "learning rate 0.1: converges",
        "converged: after 100 epochs the cost is within 0.001",  # the training loop's verdict
    ],
    "02_the_gradient": [f"cost_gradient: matches the finite-difference estimate; {PASSED}"],
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
    assert f"gradient_descent_update: {PASSED}" in checks.missing_messages(
        state, SUCCESS["04_exercise"]
    )
    shown = "\n".join(cell["shownText"] for cell in state["cells"])
    assert "it moved uphill" in shown, "the check's message is shown"
    assert "_MISTAKES" not in shown and "checks.py" not in shown, "and none of the check's code"


def test_terminal_runs_the_scripts_as_notebook_4_says(page: Page, lab: LabServer):
    """File > New > Terminal, `cd 04_exercise`, `python f.py`: the steps the notebook gives."""
    driver.open_notebook(page, lab.notebook_url(_notebook("04_exercise")))
    _type_answers(page, "04_exercise", ANSWERS["04_exercise"])
    driver.run_all(page)  # the notebook writes gd.py and f.py next to itself
    steps = read(COURSE / _notebook("04_exercise")).cells
    instructions = next(c.source for c in steps if "### Take it to the terminal" in c.source)
    for step in ["*File ▸ New ▸ Terminal*", "`cd 04_exercise`", "`python f.py`"]:
        assert step in instructions, f"notebook 4 no longer says {step}"
    driver.open_terminal(page)
    driver.run_in_terminal(page, "cd 04_exercise", until="cd 04_exercise")
    driver.run_in_terminal(page, "pwd", until=str(lab.root / "04_exercise"))
    text = driver.run_in_terminal(page, "python f.py", until="after 100 epochs")
    driver.screenshot_terminal(page, SCREENSHOTS / "04_exercise-terminal.png")
    assert "EPOCH 100: cost = 5," in text
    assert "converged: after 100 epochs the cost is within 0.001 of its minimum 5." in text
    assert "No such file" not in text and "command not found" not in text


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


def test_the_test_server_starts_like_dev_lab():
    """The terminal test holds for learners only if `./dev lab` starts JupyterLab the same way:
    inside course/ (a new terminal starts there) with the same non-login terminal shell."""
    dev = (Path(__file__).parent.parent / "dev").read_text()
    lab_case = dev[dev.index("\n    lab)") : dev.index(";;", dev.index("\n    lab)"))]
    assert 'cd "$root/course"' in lab_case
    assert f"--ServerApp.terminado_settings='{TERMINAL_SETTING}'" in lab_case
    assert any(TERMINAL_SETTING in arg for arg in lab_command(Path("/c"), Path("/h"), 1, "t"))
