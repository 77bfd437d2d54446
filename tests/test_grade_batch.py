"""A class batch that survives every hand-in (tests/corpus/batch_cases.py), graded in one run.

One session-scoped run grades the whole batch (mixed layouts, real user names, colliding
names, bad timestamps, stripped metadata, a renamed notebook, a zip in the folder, a zip
bomb, a fork bomb, a memory bomb that forks, a /tmp filler, a disk filler, script injection)
with the grader made to fail on two learners (saving one, the feedback page of another). A
second run regrades on request and grades the one the grader failed on; a third run goes into
another gradebook and output folder. Each test checks one promise against the manifest, the
report, the CSV, the feedback and the gradebook.
"""

from __future__ import annotations

import csv
import html
import json
import re
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, MissingEntry

from autograder import feedback, grading
from autograder.grading import Course, grade_class
from autograder.records import Limits
from tests.corpus.batch_cases import BATCH, DISK_MIB, MAX_PROCESSES, student_of, write_batch
from tests.corpus.cases import (
    ALL,
    EXERCISE,
    RATE_TEST,
    auto_scores,
    ensure_system_deps,
    read_releases,
    tree_hashes,
)
from tests.notebook_tools import REPO

LIMITS = Limits(
    cell_timeout=30,
    notebook_timeout=180,
    max_processes=MAX_PROCESSES,
    disk_bytes=DISK_MIB * 2**20,
)


def _run(folder: Path, course: Course, out: Path, **kw) -> grading.RunResult:
    return grade_class(
        folder, course, out, assignment=EXERCISE, limits=LIMITS, progress=False, **kw
    )


def _state(root: Path, course: Course, out: Path) -> dict:
    """What a run left: report, CSV rows, every learner's scores, feedback pages."""
    report = json.loads((out / "report.json").read_text(encoding="utf-8"))
    with open(out / "grades.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    scores = {}
    for entry in BATCH:
        student = student_of(entry)
        if student is None:
            continue
        try:
            scores[student] = auto_scores(course.db_url, student, EXERCISE)
        except MissingEntry:
            scores[student] = None
    pages = {p.parent.parent.name: p for p in (root / "feedback").rglob(f"{EXERCISE}.html")}
    return {"report": report, "rows": rows, "scores": scores, "pages": pages}


@pytest.fixture(scope="session")
def batch_run(tmp_path_factory, courses) -> dict:
    ensure_system_deps(REPO)
    root = courses.course(tmp_path_factory.mktemp("grade-batch"))
    folder = root / "batch"
    write_batch(folder, root / "course")
    before = tree_hashes(folder)
    course = Course(root)
    save, render = grading.save_outcome, feedback.render_page

    def failing_save(course, outcome, dirs, *rest):
        if outcome.student == "savefail":
            raise OSError("the gradebook's disk went away (made by the test)")
        return save(course, outcome, dirs, *rest)

    def failing_render(notebook, resources, *args, **kwargs):
        if resources["nbgrader"]["student"] == "fbfail":
            raise RuntimeError("the template broke (made by the test)")
        return render(notebook, resources, *args, **kwargs)

    run = grading.Pool.run

    def run_without_pool_feedback(self, todo, workers, progress, stop_after, feedback_for=None):
        # the pages are then rendered in this process, where the failing render is patched in
        # (the pool's spawned workers would not see the patch)
        return run(self, todo, workers, progress, stop_after, None)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(grading, "save_outcome", failing_save)
        patch.setattr(feedback, "render_page", failing_render)
        patch.setattr(grading.Pool, "run", run_without_pool_feedback)
        first = _run(folder, course, root / "reports")
    journal_after_first = (root / "reports" / "journal.jsonl").read_text(encoding="utf-8")
    state1 = _state(root, course, root / "reports")
    second = _run(folder, course, root / "reports", regrade=["ada"])
    state2 = _state(root, course, root / "reports")
    # a run into another gradebook and output folder: ada hands in another notebook there
    main_files = {name: tree_hashes(root / name) for name in ("autograded", "feedback")}
    other = root / "other-subs"
    (other / "ada" / EXERCISE).mkdir(parents=True)
    wrong = BATCH["ada smith"]
    wrong.write(root / "scratch-wrong", read_releases(root / "course"))
    (other / "ada" / EXERCISE / f"{EXERCISE}.ipynb").write_bytes(
        (root / "scratch-wrong" / EXERCISE / f"{EXERCISE}.ipynb").read_bytes()
    )
    other_course = Course(root, f"sqlite:///{root / 'other.db'}")
    third = _run(other, other_course, root / "other-out")
    return {
        "root": root,
        "course": course,
        "first": first,
        "second": second,
        "third": third,
        "other_course": other_course,
        "state1": state1,
        "state2": state2,
        "journal1": journal_after_first,
        "before": before,
        "after": tree_hashes(folder),
        "main_files": main_files,
        "main_files_after": {n: tree_hashes(root / n) for n in ("autograded", "feedback")},
    }


def _outcomes(run) -> dict:
    return {o.student: o for o in run.outcomes}


def _kinds(run, student: str) -> set[str]:
    return {kind for kind, _ in _outcomes(run)[student].flags}


def test_manifest_lists_every_entry_once_with_its_fate(batch_run):
    manifest = batch_run["state1"]["report"]["manifest"]
    names = [row["entry"] for row in manifest]
    assert sorted(names) == sorted(BATCH), "each entry exactly once"
    for row in manifest:
        case = BATCH[row["entry"]]
        if case.fate:
            assert row["fate"] == case.fate, row
        else:
            assert row["fate"] in ("graded", "graded with flags"), row
        if case.reason:
            assert case.reason in " ".join(row["reasons"]), row
        if row["fate"] != "graded":
            assert row["reasons"], row


def test_report_html_shows_the_manifest(batch_run):
    page = (batch_run["root"] / "reports" / "report.html").read_text(encoding="utf-8")
    section = page[page.index("Every entry of the submissions folder") :]
    for name in BATCH:
        assert html.escape(name) in section, name
    assert "not graded" in page and "refused" in section


@pytest.mark.parametrize("entry", [e for e in BATCH if BATCH[e].passes is not None])
def test_every_graded_learner_gets_the_score_deserved(batch_run, entry):
    student = student_of(entry)
    got = batch_run["state1"]["scores"][student]
    assert got is not None, f"{entry}: not in the gradebook"
    passed = {name for name, score in got.items() if score}
    assert passed == BATCH[entry].passes, entry


@pytest.mark.parametrize("entry", [e for e in BATCH if student_of(e)])
def test_flags(batch_run, entry):
    kinds = _kinds(batch_run["first"], student_of(entry))
    case = BATCH[entry]
    assert case.flags <= kinds, f"{entry}: {kinds}"
    assert not (case.never & kinds), f"{entry}: {kinds}"


def test_refused_entries_are_nowhere_in_the_gradebook_or_csv(batch_run):
    state = batch_run["state1"]
    in_csv = [row["student_id"] for row in state["rows"]]
    assert len(in_csv) == len(set(in_csv)), "a learner counted twice"
    for name in ("bad!name.zip", "dup.zip", "dup.ipynb"):
        stem = Path(name).stem
        assert stem not in in_csv
        assert not any(stem == o.student for o in batch_run["first"].outcomes)


def test_the_graders_failure_is_not_graded_never_zero(batch_run):
    state = batch_run["state1"]
    report = state["report"]
    assert state["scores"]["savefail"] is None, "a grader failure was saved as a grade"
    assert "savefail" not in [row["student_id"] for row in state["rows"]]
    first = report["attention"][0]
    assert (first["student"], first["status"]) == ("savefail", "not graded")
    row = next(r for r in report["students"] if r["student"] == "savefail")
    assert row["score"] is None and row["status"] == "not graded"
    assert {"student": "savefail", "assignment": EXERCISE, "notebook": EXERCISE} in report[
        "not_graded"
    ]
    lines = [json.loads(line) for line in batch_run["journal1"].splitlines()]
    assert [line["status"] for line in lines if line["student"] == "savefail"] == ["not graded"]
    assert "savefail" not in batch_run["state1"]["pages"]


def test_the_next_run_grades_what_was_not_graded_and_what_was_asked(batch_run):
    second = batch_run["second"]
    regraded = {o.student for o in second.outcomes if o.seconds and not o.flags} | {
        o.student for o in second.outcomes
    }
    assert second.graded_now == 2, [o.student for o in second.outcomes]
    state = batch_run["state2"]
    assert {k for k, v in state["scores"]["savefail"].items() if v} == ALL
    assert "savefail" in [row["student_id"] for row in state["rows"]]
    assert "savefail" in regraded


def test_every_other_grade_is_unchanged_by_the_second_run(batch_run):
    one, two = batch_run["state1"]["scores"], batch_run["state2"]["scores"]
    for student, scores in one.items():
        if student != "savefail":
            assert two[student] == scores, student
    rows1 = {r["student_id"]: r["score"] for r in batch_run["state1"]["rows"]}
    rows2 = {r["student_id"]: r["score"] for r in batch_run["state2"]["rows"]}
    assert {k: v for k, v in rows2.items() if k != "savefail"} == rows1


def test_a_feedback_failure_is_that_learners_flag(batch_run):
    state = batch_run["state1"]
    assert "fbfail" not in state["pages"]
    reasons = next(a for a in state["report"]["attention"] if a["student"] == "fbfail")
    assert any("no feedback page" in r for r in reasons["reasons"])
    graded = {o.student for o in batch_run["first"].outcomes if o.graded is not None}
    assert graded - {"fbfail"} <= set(state["pages"]), "another learner lost their page"
    # the fault is gone on the next run: the page is there
    assert "fbfail" in batch_run["state2"]["pages"]


def _last_output(root: Path, student: str) -> str:
    path = root / "autograded" / student / EXERCISE / f"{EXERCISE}.ipynb"
    nb = nbformat.read(path, as_version=4)
    texts = [
        o.get("text", "") or o.get("evalue", "")
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
    ]
    return "\n".join(texts)


def test_limits_name_what_hit_them(batch_run):
    root, first = batch_run["root"], batch_run["first"]
    assert first.cgroup.startswith("cgroup v"), first.cgroup
    assert batch_run["state1"]["report"]["limits"] == first.cgroup
    forks = re.search(r"fork refused after (\d+) children", _last_output(root, "forkbomb"))
    assert forks and int(forks[1]) < MAX_PROCESSES
    assert "processes" in _kinds(first, "forkbomb")
    memory = dict(_outcomes(first)["memfork"].flags)["memory"]
    assert "forked processes and /tmp included" in memory and "killed" in memory
    tmp = re.search(r"/tmp full after (\d+) MiB", _last_output(root, "tmpfill"))
    assert tmp and int(tmp[1]) <= DISK_MIB
    disk = re.search(r"work folder full after (\d+) MiB", _last_output(root, "diskfill"))
    assert disk and int(disk[1]) <= DISK_MIB
    home = re.search(r"home full after (\d+) MiB", _last_output(root, "homefill"))
    assert home and int(home[1]) <= DISK_MIB
    for student in ("tmpfill", "diskfill", "homefill"):
        assert "disk" in _kinds(first, student)
    # none of them is taken for something else, nor takes another learner with it
    for student in ("forkbomb", "memfork", "tmpfill", "diskfill", "homefill"):
        assert not {"grader", "timeout"} & _kinds(first, student), student


def test_output_is_capped_in_bytes_whatever_its_type(batch_run):
    """30 MB of JSON bundles, display updates and metadata: the cap counts them all."""
    notebook = batch_run["root"] / "autograded" / "jsonflood" / EXERCISE / f"{EXERCISE}.ipynb"
    assert notebook.stat().st_size < 2 * LIMITS.max_output_chars + 200_000
    assert "output" in _kinds(batch_run["first"], "jsonflood")


def test_submissions_untouched(batch_run):
    assert batch_run["after"] == batch_run["before"]


def test_another_gradebook_never_touches_the_main_outputs(batch_run):
    root, third = batch_run["root"], batch_run["third"]
    assert batch_run["main_files_after"] == batch_run["main_files"]
    assert third.dirs.autograded == root / "other-out" / "autograded"
    page = root / "other-out" / "feedback" / "ada" / EXERCISE / f"{EXERCISE}.html"
    main_page = root / "feedback" / "ada" / EXERCISE / f"{EXERCISE}.html"
    other_text, main_text = page.read_text(), main_page.read_text()
    # each page is built from its own run's notebook and scores: 1 / 6 there, 4 / 6 here
    assert "Score: 1.0 / 6.0" in other_text and "Score: 4.0 / 6.0" in main_text
    got = auto_scores(batch_run["other_course"].db_url, "ada", EXERCISE)
    assert {k for k, v in got.items() if v} == {RATE_TEST}


def test_feedback_pages_are_inert(batch_run):
    """Static check of the injection page: no learner script, handler or javascript: URL."""
    page = batch_run["state1"]["pages"]["injection"].read_text(encoding="utf-8")
    head, body = page.split("</head>", 1)
    assert 'http-equiv="Content-Security-Policy"' in head
    assert "script-src &#x27;self&#x27;" in head or "script-src 'self'" in head
    assert "<script" not in body.lower()
    assert not re.search(r"<[^>]+\son\w+\s*=", body, re.IGNORECASE)
    assert "javascript:" not in re.sub(r"&lt;.*?&gt;", "", body)
    assert not re.search(r"(src|href)=[\"']?https?://", page), "nothing from the internet"


_READY = """() => window.MathJax?.isReady && MathJax.Hub.queue.running === 0
    && MathJax.Hub.queue.pending === 0"""


@pytest.fixture(scope="module")
def browser():
    """Debian's headless chromium, started once for this module's tests."""
    from tests.browser.fixtures import chromium

    with chromium() as running:
        yield running


def _open_in_chromium(path: Path, browser) -> dict:
    """Open a page in headless chromium with no network; what ran, what was asked for."""
    from tests.browser.fixtures import offline_context

    context, outside = offline_context(browser, ("file://", "data:"))
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(path.as_uri())
    page.wait_for_function(_READY, timeout=30000)
    for selector in ("b", "a", "img", "svg"):
        for element in page.locator(selector).all()[:20]:
            try:
                element.hover(timeout=500)
                element.click(timeout=500, no_wait_after=True)
            except Exception:
                pass
    page.wait_for_timeout(300)
    found = {
        "pwned": page.evaluate("() => window.__pwned === undefined ? null : window.__pwned"),
        "typeset": page.locator(".MathJax, .MathJax_Display").count(),
        "outside": outside,
        "dialogs": dialogs,
        "url": page.url,
    }
    context.close()
    return found


def test_injection_feedback_runs_no_script_in_chromium(batch_run, browser):
    """The learner's scripts, handlers and javascript: links do nothing; MathJax (offline,
    bundled) still typesets the lesson's math."""
    found = _open_in_chromium(batch_run["state1"]["pages"]["injection"], browser)
    assert found["pwned"] is None, f"learner script ran: {found['pwned']}"
    assert found["dialogs"] == [] and found["outside"] == []
    assert found["url"].split("#")[0].endswith(".html"), "a learner link navigated away"
    assert found["typeset"] > 0, "MathJax did not typeset offline"


def test_the_content_policy_alone_stops_scripts(batch_run, browser, tmp_path):
    """Defence in depth: learner script that got past the sanitizer is still blocked by the
    page's Content-Security-Policy (the page here is given script on purpose)."""
    source = batch_run["state1"]["pages"]["injection"]
    page = source.read_text(encoding="utf-8").replace(
        "</body>",
        "<script>window.__pwned = 'inline'</script>"
        "<img src='x' onerror=\"window.__pwned = 'onerror'\">"
        "<a href=\"javascript:window.__pwned='href'\">x</a></body>",
    )
    target = source.with_name("csp-check.html")
    target.write_text(page, encoding="utf-8")
    try:
        found = _open_in_chromium(target, browser)
    finally:
        target.unlink()
    assert found["pwned"] is None, f"script ran despite the policy: {found['pwned']}"


def test_a_grader_failure_is_never_saved_as_a_grade(batch_run):
    """What the worker returns when the grader itself failed (a kernel that never started)
    leaves no trace in the gradebook or in autograded/."""
    from autograder.records import Outcome

    course = batch_run["course"]
    ghost = Outcome("ghost", EXERCISE, EXERCISE, "0", flags=[["grader", "kernel never started"]])
    grading.save_outcome(course, ghost, grading.run_dirs(course, batch_run["root"] / "reports"))
    with Gradebook(course.db_url, course.course_id) as gb:
        with pytest.raises(MissingEntry):
            gb.find_student("ghost")
    assert not (batch_run["root"] / "autograded" / "ghost").exists()


def test_needs_attention_is_flagged_for_the_formgrader(batch_run):
    """Every hand-in on a report's attention list that the gradebook holds is nbgrader's
    "flagged" there (the formgrader lists it), and nothing else is: a flag is only ever set."""
    course = batch_run["course"]
    with Gradebook(course.db_url, course.course_id) as gb:
        flagged = {
            sub.student.id
            for sub in gb.assignment_submissions(EXERCISE)
            for notebook in sub.notebooks
            if notebook.flagged
        }
    first, second = (batch_run[k]["report"]["attention"] for k in ("state1", "state2"))
    saved = {a["student"] for a in first if a["status"] != "not graded"}
    assert saved <= flagged, saved - flagged
    assert flagged <= saved | {a["student"] for a in second}
    assert {"forkbomb", "memfork", "tmpfill", "fbfail"} <= flagged
    assert "savefail" not in {a["student"] for a in first if a["flagged"]}, "not in the gradebook"


def test_missing_hand_ins_are_apart_from_the_pass_rates(batch_run):
    report = batch_run["state1"]["report"]
    rows = [r for r in report["students"] if r["assignment"] == EXERCISE]
    counted = [r for r in rows if r["status"] == "graded"]
    missing = {m["student"] for m in report["missing"]}
    assert missing and missing == {r["student"] for r in rows if r["status"] == "missing"}
    for test, entry in report["tests"][EXERCISE].items():
        assert entry["total"] == len(counted), test
        assert entry["passed"] == sum(r["tests"][test]["passed"] for r in counted), test
