"""The class-grading command on the corpus of honest and hostile submissions.

The whole corpus (tests/corpus/cases.py) is graded once, by ``grade_class`` with its
sandbox and parallel workers, into a throw-away course with nbgrader's SQLite gradebook; each
test then checks one promise: the score each case deserves, the flags the report gives, files
left byte-identical, nothing secret seen, feedback without hidden tests.
"""

from __future__ import annotations

import csv
import html
import json
import sqlite3
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, SubmittedAssignment

from tests.corpus.cases import (
    CASES,
    EXERCISE,
    PLANTED,
    auto_scores,
)
from tests.notebook_tools import REPO

HONEST = {"correct", "blank", "gradient_correct", "gradient_blank"} | {
    "adds_gradient",
    "ignores_rate",
    "returns_step",
    "returns_none",
    "mutates_input",
    "scalar_only",
    "visible_only",
    "fixes_after_tests_honest",
}


def test_every_submission_is_graded_once(corpus_run):
    result = corpus_run["result"]
    assert sorted(o.student for o in result.outcomes) == sorted(corpus_run["cases"])
    assert result.graded_now == len(corpus_run["cases"]) and result.skipped == 0


@pytest.mark.parametrize("student", sorted(CASES))
def test_score_is_deserved(corpus_run, student):
    case = CASES[student]
    got = auto_scores(corpus_run["course"].db_url, student, case.assignment)
    assert got, f"{student}: no graded test cells in the gradebook"
    with Gradebook(corpus_run["course"].db_url, "gradient-descent") as gb:
        points = {
            g.name: g.max_score
            for g in gb.find_notebook(case.assignment, case.assignment).grade_cells
            if g.name in got
        }
    want = {name: (points[name] if name in case.passes else 0.0) for name in got}
    assert got == want, f"{student} ({case.why or 'see cases.py'})"


@pytest.mark.parametrize("student", sorted(CASES))
def test_flags_are_given(corpus_run, student):
    case = CASES[student]
    kinds = {kind for kind, _ in corpus_run["outcomes"][student].flags}
    assert case.flags <= kinds, f"{student}: flags {kinds}, expected {case.flags}"
    if student in HONEST:
        assert kinds == set(), f"{student}: an honest submission was flagged: {kinds}"


def test_report_lists_each_flagged_submission_with_its_reason(corpus_run):
    report = json.loads((corpus_run["result"].out_dir / "report.json").read_text())
    listed = {(a["student"], a["assignment"]): a["reasons"] for a in report["attention"]}
    missing = {(m["student"], m["assignment"]): m["reasons"] for m in report["missing"]}
    for student, case in CASES.items():
        if case.flags == {"missing"}:  # nothing handed in: listed apart, not "attention"
            assert missing.get((student, case.assignment)), f"{student} is not listed missing"
            assert (student, case.assignment) not in listed
        elif case.flags:
            reasons = listed.get((student, case.assignment))
            assert reasons, f"{student} is not in the report's attention list"
            assert all(r.split(":")[0] for r in reasons)
    assert ("correct", EXERCISE) not in listed
    # the written answer of the exercise waits for a human grader
    assert f"correct/{EXERCISE}" in report["manual"]


def test_report_shows_pass_rate_and_most_common_failure(corpus_run):
    report = json.loads((corpus_run["result"].out_dir / "report.json").read_text())
    numbers = report["tests"][EXERCISE]["test_update_numbers"]
    outcomes = [o for o in corpus_run["result"].outcomes if o.assignment == EXERCISE]
    handed_in = [o for o in outcomes if "missing" not in {k for k, _ in o.flags}]
    assert numbers["passed"] == sum(
        o.tests.get("test_update_numbers", {}).get("passed", False) for o in outcomes
    )
    assert numbers["total"] == len(handed_in) < len(outcomes), "missing hand-ins are no rate"
    assert numbers["messages"], "the failure messages are listed"
    # one misconception is one group, whatever numbers each learner's run embedded
    groups = [g for g in report["misconceptions"] if "moved uphill" in g["hint"]]
    assert any({"adds_gradient", "patch_isclose"} <= set(g["students"]) for g in groups), groups
    page = (corpus_run["result"].out_dir / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2, "one figure per assignment"
    assert "Needs attention" in page and "timed out" in page and "crashed" in page


def test_submitted_files_are_byte_identical(corpus_run):
    assert corpus_run["after"]["submitted"] == corpus_run["before"]["submitted"]
    assert corpus_run["after"]["course"] == corpus_run["before"]["course"]


def test_learner_code_sees_no_secret_and_writes_nothing(corpus_run):
    graded = corpus_run["root"] / "autograded" / "spy" / EXERCISE / f"{EXERCISE}.ipynb"
    outputs = "".join(
        o.get("text", "")
        for c in nbformat.read(graded, as_version=4).cells
        for o in c.get("outputs", [])
    )
    assert "SPY-REPORT []" in outputs, outputs[-2000:]
    with sqlite3.connect(corpus_run["root"] / "gradebook.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert db.execute("select count(*) from grade where auto_score > 2").fetchone() == (0,)


def test_gradebook_has_one_submission_per_student_and_assignment(corpus_run):
    with Gradebook(corpus_run["course"].db_url, "gradient-descent") as gb:
        rows = [(s.student.id, s.assignment.name) for s in gb.db.query(SubmittedAssignment)]
    assert len(rows) == len(set(rows)) == len(corpus_run["cases"])


def test_csv_export_matches_the_gradebook(corpus_run):
    with open(corpus_run["result"].csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    # nbgrader's export has a row for every student and assignment; no hand-in scores 0
    assert len(rows) == len(corpus_run["cases"]) * 2
    handed_in = {(student, case.assignment) for student, case in corpus_run["cases"].items()}
    with Gradebook(corpus_run["course"].db_url, "gradient-descent") as gb:
        for row in rows:
            if (row["student_id"], row["assignment"]) in handed_in:
                sub = gb.find_submission(row["assignment"], row["student_id"])
                assert float(row["score"]) == pytest.approx(sub.score)
            else:
                assert float(row["score"]) == 0


def test_feedback_names_failed_tests_without_their_code(corpus_run):
    root = corpus_run["root"]
    source = (REPO / "solutions" / EXERCISE / f"{EXERCISE}.ipynb").read_text()
    assert "default_rng(101)" in source, "the hidden test this check looks for"
    for student in ("adds_gradient", "patch_isclose", "correct", "history_leak"):
        page = (root / "feedback" / student / EXERCISE / f"{EXERCISE}.html").read_text()
        assert "default_rng(101)" not in page and "uniform(-1000, 1000" not in page
        assert "BEGIN HIDDEN TESTS" not in page
        graded = root / "autograded" / student / EXERCISE / f"{EXERCISE}.ipynb"
        assert "default_rng(101)" in graded.read_text(), "the instructor's copy keeps them"
    failed = corpus_run["outcomes"]["adds_gradient"].tests["test_update_numbers"]["message"]
    page = (root / "feedback" / "adds_gradient" / EXERCISE / f"{EXERCISE}.html").read_text()
    hint = failed.split(": ", 1)[1]
    assert html.escape(hint) in page or hint in page, "the failing test's hint is shown"


def test_no_feedback_for_unreadable_notebooks(corpus_run):
    root = corpus_run["root"]
    for student in ("not_json", "missing_notebook"):
        assert not (root / "feedback" / student).exists()
        assert not Path(root / "autograded" / student / EXERCISE / f"{EXERCISE}.ipynb").exists()


def test_parallel_workers_never_hit_the_database(corpus_run):
    # one writer: no submission failed inside the grader (e.g. "database is locked")
    errors = [
        (o.student, d) for o in corpus_run["result"].outcomes for k, d in o.flags if k == "grader"
    ]
    assert errors == []
    assert corpus_run["result"].phases["grading"] > 0


def _encodings_found(text: str, secret: str) -> list[str]:
    """How ``secret`` occurs in ``text``: plain, or inside base64, hex or zlib+base64 runs."""
    import base64
    import binascii
    import re
    import zlib

    found = ["plain"] if secret in text else []
    needle = secret.encode()
    for run in re.findall(r"[A-Za-z0-9+/=]{24,}", text):
        try:
            raw = base64.b64decode(run + "=" * (-len(run) % 4))
        except (binascii.Error, ValueError):
            continue
        if needle in raw:
            found.append("base64")
        try:
            if needle in zlib.decompress(raw):
                found.append("zlib+base64")
        except zlib.error:
            pass
    for run in re.findall(r"[0-9a-fA-F]{24,}", text):
        if needle in bytes.fromhex(run[: len(run) // 2 * 2]):
            found.append("hex")
    return found


def test_planted_hidden_constant_reaches_no_feedback(corpus_run):
    root = corpus_run["root"]
    graded = root / "autograded" / "recorder" / EXERCISE / f"{EXERCISE}.ipynb"
    text = graded.read_text()
    assert PLANTED in text, "the instructor's copy holds the planted hidden test"
    assert "B64" in text and "ZB64" in text, "the recorder ran and printed what it saw"
    pages = sorted((root / "feedback").rglob("*.html"))
    assert len(pages) >= len(CASES) - 3, "feedback for every readable hand-in"
    for page in pages:
        assert _encodings_found(page.read_text(errors="replace"), PLANTED) == [], page


def test_the_encoding_scan_can_find_the_constant():
    import base64
    import zlib

    blob = f"x = {PLANTED!r}".encode()
    text = " ".join(
        [
            base64.b64encode(blob).decode(),
            blob.hex(),
            base64.b64encode(zlib.compress(blob)).decode(),
        ]
    )
    assert _encodings_found(text + PLANTED, PLANTED) == ["plain", "base64", "zlib+base64", "hex"]


def test_test_cells_have_the_runners_fixed_outputs(corpus_run):
    """A pass shows the test's stdout only; anything else exactly one error output and no
    stderr; never an execute_result, whatever the learner's kernel did."""
    for student, case in CASES.items():
        path = corpus_run["root"] / "autograded" / student / case.assignment
        path = path / f"{case.assignment}.ipynb"
        if not path.exists():
            continue
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type != "code" or not meta.get("grade") or meta.get("solution"):
                continue
            kinds = [o.output_type for o in cell.outputs]
            assert "execute_result" not in kinds and "display_data" not in kinds, student
            assert all(o.get("name") != "stderr" for o in cell.outputs), student
            assert kinds.count("error") <= 1, (student, kinds)


def test_learner_prints_during_test_calls_reach_no_output(corpus_run):
    path = corpus_run["root"] / "autograded" / "prints_during_tests" / EXERCISE
    notebook = nbformat.read(path / f"{EXERCISE}.ipynb", as_version=4)
    tests = [
        c
        for c in notebook.cells
        if c.cell_type == "code" and "points" in c.metadata.get("nbgrader", {})
    ]
    assert "PASSED" not in json.dumps([c.outputs for c in tests])
    assert "all checks passed" not in json.dumps([c.outputs for c in tests])


def test_nbgrader_scores_every_cell_as_the_runner_judged(corpus_run):
    mismatches = [
        (o.student, d) for o in corpus_run["result"].outcomes for k, d in o.flags if k == "mismatch"
    ]
    assert mismatches == []


def test_honest_learner_cells_run_cleanly_in_the_sandboxed_kernel(corpus_run):
    """The correct hand-in's own cells (imports of the course package, training, scripts) run
    without an error in its kernel: the sandbox gives the kernel what the course needs."""
    path = corpus_run["root"] / "autograded" / "correct" / EXERCISE / f"{EXERCISE}.ipynb"
    errors = [
        (i, o.ename, o.evalue)
        for i, c in enumerate(nbformat.read(path, as_version=4).cells)
        for o in c.get("outputs", [])
        if o.output_type == "error"
    ]
    assert errors == []
