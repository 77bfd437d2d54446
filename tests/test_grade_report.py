"""The report answers "whom do I help, and with what?" (autograder/report.py).

One small class is graded once, with a due date in the gradebook and one learner on its
roster who handed in nothing: two learners add the gradient, one updates the array in place,
one ignores the learning rate and picks one that diverges, one writes an honest helper named
``compile``, one raises an error whose message is HTML and script, one hands in an empty
folder; in the gradient exercise two sum instead of taking the mean, one swaps the partial
derivatives, one gets the sign wrong. Each test checks one promise of the report against
``report.json``, ``report.html``, the gradebook, and the page opened in chromium.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from nbgrader.api import Gradebook

from autograder.coursedir import ensure_alembic_on_path
from autograder.grading import Course, grade_class
from autograder.records import Limits
from tests.corpus.cases import (
    CORRECT,
    EXERCISE,
    GRADIENT,
    RATE,
    WRONG_SIGN,
    WRONG_UPDATES,
    _bytes,
    answered,
    ensure_system_deps,
    read_releases,
)
from tests.notebook_tools import REPO

DUE = datetime(2026, 11, 30, 12, 0, tzinfo=timezone.utc)
INJECTION = (
    "<script>window.__pwned = 'script'</script><img src=x onerror=\"window.__pwned = 'onerror'\">"
)
GRADIENT_BODY = "def cost_gradient(w, b, x, y):\n    error = w * x + b - y\n    return {}\n"

#: student -> (assignment, answers by grade id, seconds after the due date it was handed in)
CLASS: dict[str, tuple[str, dict[str, str], float]] = {
    "ada": (
        EXERCISE,
        {
            "gradient_descent_update": CORRECT,
            "choose_learning_rate": RATE,
            "why_not_global_minimum": "It only follows the local slope.",
        },
        -3600,
    ),
    "bob": (
        EXERCISE,
        {"gradient_descent_update": WRONG_SIGN, "choose_learning_rate": RATE},
        2 * 3600 + 300,
    ),
    "cy": (EXERCISE, {"gradient_descent_update": WRONG_SIGN, "choose_learning_rate": RATE}, -60),
    "dee": (
        EXERCISE,
        {"gradient_descent_update": WRONG_UPDATES["mutates_input"], "choose_learning_rate": RATE},
        -60,
    ),
    "eve": (
        EXERCISE,
        {
            "gradient_descent_update": WRONG_UPDATES["ignores_rate"],
            "choose_learning_rate": RATE.replace("0.1", "1.5"),
        },
        3 * 86400,
    ),
    "fay": (
        EXERCISE,
        {
            "gradient_descent_update": "def compile(parts):\n"
            "    return ' '.join(str(p) for p in parts)\n\n" + CORRECT,
            "choose_learning_rate": RATE,
        },
        -60,
    ),
    "gus": (
        EXERCISE,
        {
            "gradient_descent_update": "def gradient_descent_update(x, gradx, "
            f"learning_rate):\n    raise ValueError({INJECTION!r})\n",
            "choose_learning_rate": RATE,
        },
        -60,
    ),
    "jo": (
        GRADIENT,
        {
            "cost_gradient": GRADIENT_BODY.format(
                "np.array([2 * np.mean(error), 2 * np.mean(error * x)])"
            )
        },
        -60,
    ),
    "kim": (
        GRADIENT,
        {
            "cost_gradient": GRADIENT_BODY.format(
                "np.array([2 * np.sum(error * x), 2 * np.sum(error)])"
            )
        },
        -60,
    ),
    "mo": (
        GRADIENT,
        {
            "cost_gradient": GRADIENT_BODY.format(
                "np.array([2 * np.sum(error * x), 2 * np.sum(error)])"
            )
        },
        -60,
    ),
    "lee": (
        GRADIENT,
        {
            "cost_gradient": GRADIENT_BODY.format(
                "np.array([-2 * np.mean(error * x), -2 * np.mean(error)])"
            )
        },
        -60,
    ),
}
EMPTY_FOLDER = "hal"  # submitted/hal/04_exercise/ with a note and no notebook
ROSTER_ONLY = "ivy"  # in the gradebook, nothing in the submissions folder
SCREENSHOT = REPO / "artifacts" / "screenshots" / "report.png"


def _stamp(seconds_after_due: float) -> str:
    when = DUE + timedelta(seconds=seconds_after_due)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f UTC")


@pytest.fixture(scope="module")
def report_run(tmp_path_factory, courses) -> dict:
    ensure_system_deps(REPO)
    root = courses.course(tmp_path_factory.mktemp("grade-report"))
    releases = read_releases(root / "course")
    submitted = root / "submitted"
    for student, (assignment, answers, late) in CLASS.items():
        folder = submitted / student / assignment
        folder.mkdir(parents=True)
        notebook = answered(releases[assignment], answers)
        (folder / f"{assignment}.ipynb").write_bytes(_bytes(notebook))
        (folder / "timestamp.txt").write_text(_stamp(late))
    (submitted / EMPTY_FOLDER / EXERCISE).mkdir(parents=True)
    (submitted / EMPTY_FOLDER / EXERCISE / "notes.txt").write_text("I ran out of time")
    course = Course(root)
    ensure_alembic_on_path()
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.update_or_create_assignment(EXERCISE, duedate=DUE.replace(tzinfo=None))
        gb.add_student(ROSTER_ONLY)
    result = grade_class(
        submitted,
        course,
        root / "reports",
        limits=Limits(cell_timeout=20, notebook_timeout=90),
        progress=False,
    )
    report = json.loads((root / "reports" / "report.json").read_text(encoding="utf-8"))
    return {"root": root, "course": course, "result": result, "report": report}


def _row(report: dict, student: str) -> dict:
    return next(r for r in report["students"] if r["student"] == student)


def _group(report: dict, assignment: str, words: str, test: str | None = None) -> dict:
    found = [
        g
        for g in report["misconceptions"]
        if g["assignment"] == assignment
        and words in g["hint"]
        and (test is None or test in g["tests"])
    ]
    assert len(found) == 1, [g["hint"] for g in report["misconceptions"]]
    return found[0]


def test_each_learner_has_every_test_with_their_hint(report_run):
    report = report_run["report"]
    bob = _row(report, "bob")
    assert set(bob["tests"]) == {
        "test_update_numbers",
        "test_update_arrays",
        "test_update_converges",
        "test_learning_rate",
    }
    assert bob["tests"]["test_learning_rate"] == {"passed": True, "message": "", "hint": ""}
    numbers = bob["tests"]["test_update_numbers"]
    assert not numbers["passed"] and "moved uphill" in numbers["message"]
    assert "10.4" in numbers["message"] and "10.4" not in numbers["hint"]
    assert all(t["passed"] for t in _row(report, "ada")["tests"].values())


def test_failures_are_grouped_by_misconception_with_every_learner(report_run):
    report = report_run["report"]
    # each test of the update names the mistake, so one misconception is one group per test
    for test in ("test_update_numbers", "test_update_arrays", "test_update_converges"):
        assert _group(report, EXERCISE, "moved uphill", test)["students"] == ["bob", "cy"]
        assert _group(report, EXERCISE, "learning rate is ignored", test)["students"] == ["eve"]
    assert _group(report, EXERCISE, "changed the input array in place")["students"] == ["dee"]
    assert _group(report, EXERCISE, "was changed in place")["students"] == ["dee"]
    assert _group(report, EXERCISE, "diverges")["students"] == ["eve"]
    assert _group(report, GRADIENT, "not the sum")["students"] == ["kim", "mo"]
    assert _group(report, GRADIENT, "partial derivatives are swapped")["students"] == ["jo"]
    assert _group(report, GRADIENT, "minus the gradient")["students"] == ["lee"]
    for group in report["misconceptions"]:
        assert group["count"] == len(group["students"])
        assert not re.search(r"\d\.\d", group["hint"]), group["hint"]
    page = (report_run["root"] / "reports" / "report.html").read_text(encoding="utf-8")
    section = page[page.index('id="a-2-groups"') :]
    assert re.search(r"moved uphill.*?bob, cy", section, re.S)


def test_missing_hand_ins_are_apart_and_in_no_pass_rate(report_run):
    report = report_run["report"]
    missing = {(m["student"], m["assignment"]) for m in report["missing"]}
    assert missing == {(EMPTY_FOLDER, EXERCISE), (ROSTER_ONLY, EXERCISE), (ROSTER_ONLY, GRADIENT)}
    exercise = [s for s, (a, _, _) in CLASS.items() if a == EXERCISE]
    for test, entry in report["tests"][EXERCISE].items():
        assert entry["total"] == len(exercise), test
    assert _row(report, EMPTY_FOLDER)["status"] == "missing"
    assert EMPTY_FOLDER not in {a["student"] for a in report["attention"]}


def test_autograded_points_apart_from_the_points_a_human_grades(report_run):
    report = report_run["report"]
    ada = _row(report, "ada")
    assert (ada["auto_score"], ada["auto_max"]) == (4.0, 4.0)
    assert (ada["manual_max"], ada["manual_pending"]) == (2.0, 2.0)
    bob = _row(report, "bob")  # the written answer left as released: 0, nothing to grade
    assert (bob["auto_score"], bob["manual_max"], bob["manual_pending"]) == (1.0, 2.0, 0.0)
    assert f"ada/{EXERCISE}" in report["manual"]
    page = (report_run["root"] / "reports" / "report.html").read_text(encoding="utf-8")
    assert "of 4 autograded points" in page and "2 more points are graded by hand" in page


def test_late_hand_ins_say_how_late(report_run):
    late = {(r["student"], r["assignment"]): r for r in report_run["report"]["late"]}
    assert set(late) == {("bob", EXERCISE), ("eve", EXERCISE)}
    assert late[("bob", EXERCISE)]["seconds_late"] == 2 * 3600 + 300
    assert late[("bob", EXERCISE)]["late_by"] == "2 h 5 min"
    assert late[("eve", EXERCISE)]["late_by"] == "3 d 0 h"
    assert _row(report_run["report"], "ada")["seconds_late"] == 0
    assert list(late) == [("eve", EXERCISE), ("bob", EXERCISE)], "the latest first"


def test_needs_attention_is_flagged_in_the_gradebook(report_run):
    course = report_run["course"]
    with Gradebook(course.db_url, course.course_id) as gb:
        flagged = {
            sub.student.id
            for assignment in (EXERCISE, GRADIENT)
            for sub in gb.assignment_submissions(assignment)
            for notebook in sub.notebooks
            if notebook.flagged
        }
    attention = {a["student"] for a in report_run["report"]["attention"]}
    assert "fay" in flagged and flagged == attention, (flagged, attention)
    assert all(a["flagged"] for a in report_run["report"]["attention"])


def test_an_honest_compile_helper_is_only_a_sign(report_run):
    fay = _row(report_run["report"], "fay")
    assert fay["auto_score"] == 4.0 and fay["flags"] == ["suspicious"]
    reasons = next(a for a in report_run["report"]["attention"] if a["student"] == "fay")
    assert "suspicious code: rebinds the built-in compile" in reasons["reasons"]


def test_learner_text_stays_text_in_the_page(report_run):
    page = (report_run["root"] / "reports" / "report.html").read_text(encoding="utf-8")
    assert "window.__pwned" in page, "gus's message is shown"
    assert "<img src=x" not in page and "<script>window" not in page
    assert page.count("<script>") == 1, "the report's own sorting script only"
    head = page[: page.index("</head>")]
    policy = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', head)[1]
    assert "default-src 'none'" in policy.replace("&#39;", "'")
    assert "unsafe-inline" not in policy


@pytest.fixture(scope="module")
def browser():
    """Debian's headless chromium, started once for this module's tests."""
    from tests.browser.fixtures import chromium

    with chromium() as running:
        yield running


def _open(page_path: Path, browser) -> tuple:
    from tests.browser.fixtures import offline_context

    context, outside = offline_context(
        browser, ("file://", "data:"), viewport={"width": 1500, "height": 1000}
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(page_path.as_uri())
    return context, page, errors, outside


def _column(page, table: str, index: int) -> list[str]:
    return page.eval_on_selector_all(
        f"{table} tbody tr", f"rows => rows.map(r => r.cells[{index}].textContent.trim())"
    )


def test_sorting_works_and_no_learner_script_runs_in_chromium(report_run, browser):
    target = report_run["root"] / "reports" / "report.html"
    context, page, errors, outside = _open(target, browser)
    table = "#a-2-table"  # 04_exercise, the second assignment
    learners = _column(page, table, 0)
    assert sorted(learners) == learners, "learners come in name order"
    header = page.locator(f"{table} thead th button", has_text="autograded")
    header.click()
    scores = [float(s.split("/")[0]) for s in _column(page, table, 1)]
    assert scores == sorted(scores) and scores != [float(x) for x in sorted(scores)][::-1]
    assert page.get_attribute(f"{table} thead th:nth-child(2)", "aria-sort") == "ascending"
    header.click()
    again = [float(s.split("/")[0]) for s in _column(page, table, 1)]
    assert again == sorted(again, reverse=True)
    page.locator(f"{table} thead th button", has_text="late by").click()
    page.locator(f"{table} thead th button", has_text="late by").click()
    assert _column(page, table, 0)[0].startswith("eve"), "the latest first"
    page.locator(f"{table} thead th button", has_text="autograded").click()
    for element in page.locator("td.fail small").all()[:30]:
        element.hover(timeout=1000)
        element.click(timeout=1000, no_wait_after=True)
    page.wait_for_timeout(300)
    pwned = page.evaluate("() => window.__pwned === undefined ? null : window.__pwned")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => document.querySelectorAll('.wide').forEach(d => d.scrollLeft = 0)")
    page.screenshot(path=str(SCREENSHOT), full_page=True)
    context.close()
    assert pwned is None, f"learner script ran: {pwned}"
    assert outside == [], "the report fetched something from outside"
    assert not [
        e
        for e in errors
        if "Content Security Policy" in e and "script" in e.lower() and "inline" not in e
    ], errors


def test_the_policy_blocks_an_injected_script_but_not_the_reports_own(
    report_run, browser, tmp_path
):
    """Defence in depth: script that got into the page some other way does not run, while the
    page's own sorting script (allowed by its hash) still does."""
    page_text = (report_run["root"] / "reports" / "report.html").read_text(encoding="utf-8")
    injected = page_text.replace("</body>", INJECTION + "</body>")
    target = tmp_path / "report.html"
    target.write_text(injected, encoding="utf-8")
    context, page, errors, _ = _open(target, browser)
    page.locator("#a-2-table thead th button", has_text="learner").click()
    page.wait_for_timeout(300)
    sorted_attr = page.get_attribute("#a-2-table thead th:nth-child(1)", "aria-sort")
    pwned = page.evaluate("() => window.__pwned === undefined ? null : window.__pwned")
    context.close()
    assert pwned is None, f"injected script ran: {pwned}"
    assert sorted_attr == "ascending", "the report's own script was blocked"
    assert any("Content Security Policy" in e for e in errors), errors
