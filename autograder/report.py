"""The report of a grading run: whom to help, and with what.

:func:`summarise` turns the run's outcomes and the gradebook's state of each hand-in
(:mod:`autograder.gradebook_state`) into plain data: every learner's result per test with
their hint, the failures grouped by misconception (:mod:`autograder.misconceptions`), the pass
rate of every test over the hand-ins there are (missing ones are listed apart), autograded
points apart from the points a human still has to grade, late hand-ins and by how much, and
the submissions that need attention. :func:`render_html` renders that with the Jinja2
template ``templates/report.html.j2`` (autoescaped: learner text stays text) into one
self-contained page whose Content-Security-Policy lets only its own sorting script and style
run; :func:`write_report` writes ``report.html`` and ``report.json`` next to ``grades.csv``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
from collections import Counter
from pathlib import Path

import jinja2
from markupsafe import Markup

from autograder.gradebook_state import HandinState, needs_flag, read_state, roster
from autograder.misconceptions import SKIPPED_PREFIXES, group_failures, hint_of

TEMPLATES = Path(__file__).parent / "templates"

#: Flag kinds that put a submission on the "needs attention" list, and how the report says it.
ATTENTION = {
    "missing": "missing",
    "invalid": "not a valid notebook",
    "encoding": "not UTF-8",
    "intake": "problem in the hand-in",
    "tampered": "tampered",
    "monkeypatch": "tampered (monkeypatching)",
    "timeout": "timed out",
    "crash": "crashed",
    "memory": "memory limit",
    "output": "output flood",
    "grader": "not graded (the grader failed: graded again by the next run)",
    "suspicious": "suspicious code",
    "processes": "process limit",
    "disk": "disk quota",
    "feedback": "no feedback page",
    "restored": "metadata restored",
    "mismatch": "nbgrader scored a cell otherwise than the trusted runner judged it",
}


def settle_fates(entries: list, outcomes: list) -> list[dict]:
    """The manifest: every entry of the submissions folder once, with its fate.

    An entry still ``pending`` after intake gets its fate from the outcomes of its hand-ins:
    ``not graded`` if the grader failed on any, else ``graded with flags`` or ``graded``.

    Examples
    --------
    >>> from autograder.intake import Entry
    >>> from autograder.records import Outcome
    >>> e = Entry("ada", "folder", "ada", keys=[("ada", "a1", "a1")])
    >>> [m["fate"] for m in settle_fates([e], [Outcome("ada", "a1", "a1", "0")])]
    ['graded']
    >>> o = Outcome("ada", "a1", "a1", "0", flags=[["grader", "no kernel"]])
    >>> settle_fates([Entry("ada", "folder", "ada", keys=[("ada", "a1", "a1")])], [o])[0]["fate"]
    'not graded'
    """
    by_key = {(o.student, o.assignment, o.notebook): o for o in outcomes}
    rows = []
    for entry in entries:
        if entry.fate == "pending":
            mine = [by_key[k] for k in entry.keys if k in by_key]
            failed = [d for o in mine for k, d in o.flags if k == "grader" and o.graded is None]
            flagged = [f"{ATTENTION.get(k, k)}: {d}" for o in mine for k, d in o.flags]
            if failed or len(mine) < len(entry.keys):
                entry.fate = "not graded"
                entry.reasons = failed or ["not graded in this run (it was stopped)"]
            elif flagged:
                entry.fate = "graded with flags"
                entry.reasons = flagged
            else:
                entry.fate = "graded"
        rows.append(entry.to_json())
    return rows


def _not_graded(outcome) -> bool:
    return outcome.graded is None and any(kind == "grader" for kind, _ in outcome.flags)


def _missing(outcome) -> bool:
    """A hand-in with no notebook to run: listed apart, never in a pass rate."""
    return outcome.graded is None and any(kind == "missing" for kind, _ in outcome.flags)


def _status(outcome) -> str:
    if _not_graded(outcome):
        return "not graded"
    return "missing" if _missing(outcome) else "graded"


def _reasons(outcome) -> list[str]:
    merged: dict[str, list[str]] = {}
    for kind, detail in outcome.flags:
        merged.setdefault(kind, []).append(detail)
    return [f"{ATTENTION.get(k, k)}: {'; '.join(d)}" for k, d in merged.items()]


def plain_message(message: str) -> str:
    """A test's message as the report shows it: without the ``AssertionError:`` every
    failed check starts with (other exception names stay: they say what went wrong).

    Examples
    --------
    >>> plain_message("AssertionError: it moved uphill"), plain_message("ValueError: bad")
    ('it moved uphill', 'ValueError: bad')
    """
    return message.removeprefix("AssertionError: ")


def breakable(name: str) -> Markup:
    """``name`` escaped, with a line-break opportunity after each ``_`` (long test names in
    narrow column titles).

    Examples
    --------
    >>> str(breakable("test_<b>"))
    'test_<wbr>&lt;b&gt;'
    """
    return Markup(str(Markup.escape(name)).replace("_", "_<wbr>"))


def when(stamp: str | None) -> str:
    """A gradebook time (naive UTC, ISO format) for people.

    Examples
    --------
    >>> when("2026-11-30T14:05:00.250000"), when(None)
    ('2026-11-30 14:05 UTC', '')
    """
    return f"{stamp[:10]} {stamp[11:16]} UTC" if stamp else ""


def late_by(seconds: float) -> str:
    """How late, in words an instructor reads at a glance.

    Examples
    --------
    >>> late_by(90), late_by(3 * 3600 + 120), late_by(2 * 86400 + 3600), late_by(0)
    ('2 min', '3 h 2 min', '2 d 1 h', '')
    """
    if seconds <= 0:
        return ""
    minutes = int(-(-seconds // 60))
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def summarise(outcomes: list, states: dict, missing_from_roster: list | None = None) -> dict:
    """Plain data for the report (and ``report.json``).

    Parameters
    ----------
    outcomes : list of Outcome
    states : dict
        ``(student, assignment) -> HandinState`` from the gradebook
        (:func:`autograder.gradebook_state.read_state`).
    missing_from_roster : list of (student, assignment), optional
        Learners the gradebook knows who handed in nothing for an assignment graded here.

    Examples
    --------
    >>> from autograder.records import Outcome
    >>> a = Outcome("ada", "a1", "a1", "0", tests={"t": {"passed": True, "message": ""}})
    >>> b = Outcome("bob", "a1", "a1", "0", flags=[["crash", "kernel died in cell 3"]],
    ...             tests={"t": {"passed": False, "message": "AssertionError: got 0.3"}})
    >>> c = Outcome("cy", "a1", "a1", "0", flags=[["missing", "a1.ipynb not handed in"]])
    >>> s = summarise([a, b, c], {("ada", "a1"): HandinState(1, 1, 1, 1),
    ...                           ("bob", "a1"): HandinState(0, 1, 0, 1)})
    >>> s["tests"]["a1"]["t"]["pass_rate"], [x["student"] for x in s["attention"]]
    (0.5, ['bob'])
    >>> [m["student"] for m in s["missing"]], s["misconceptions"][0]["hint"]
    (['cy'], 'AssertionError: got …')
    """
    tests: dict[str, dict[str, dict]] = {}
    for outcome in outcomes:
        for test in outcome.tests:
            tests.setdefault(outcome.assignment, {}).setdefault(
                test, {"passed": 0, "total": 0, "messages": Counter()}
            )
    failures = []
    students = []
    for outcome in sorted(outcomes, key=lambda o: (o.assignment, o.student)):
        status = _status(outcome)
        state = states.get((outcome.student, outcome.assignment), HandinState())
        results = {}
        for test, entry in tests.get(outcome.assignment, {}).items():
            # a notebook that could not be run (not a notebook) fails every test
            result = outcome.tests.get(test, {"passed": False, "message": "no notebook run"})
            message = "" if result["passed"] else result["message"]
            counted = message and not message.startswith(SKIPPED_PREFIXES)
            results[test] = {
                "passed": bool(result["passed"]),
                "message": message,
                "hint": hint_of(message) if counted else "",
            }
            if status != "graded":  # missing or not graded: in no pass rate
                continue
            entry["total"] += 1
            entry["passed"] += bool(result["passed"])
            if counted:
                entry["messages"][results[test]["hint"]] += 1
                failures.append((outcome.assignment, outcome.student, test, message))
        students.append(
            {
                "student": outcome.student,
                "assignment": outcome.assignment,
                "status": status,
                "score": None if status == "not graded" else state.score,
                "max_score": state.max_score,
                "auto_score": None if status == "not graded" else state.auto_score,
                "auto_max": state.auto_max,
                "manual_score": state.manual_score,
                "manual_max": state.manual_max,
                "manual_pending": state.manual_pending,
                "timestamp": state.timestamp,
                "duedate": state.duedate,
                "seconds_late": state.seconds_late,
                "late_by": late_by(state.seconds_late),
                "flags": [k for k, _ in outcome.flags],
                "needs_attention": needs_flag(outcome.flags),
                "flagged": state.flagged,
                "seconds": outcome.seconds,
                "tests": results if status == "graded" else {},
            }
        )
    for per_assignment in tests.values():
        for entry in per_assignment.values():
            entry["pass_rate"] = entry["passed"] / entry["total"] if entry["total"] else 0.0
            entry["messages"] = entry["messages"].most_common()
    attention = []
    first = sorted(outcomes, key=lambda o: (not _not_graded(o), o.assignment, o.student))
    for outcome in first:
        if not needs_flag(outcome.flags):
            continue
        state = states.get((outcome.student, outcome.assignment), HandinState())
        reasons = _reasons(outcome)
        if state.manual_pending:
            reasons.append("needs manual grading: written answer")
        attention.append(
            {
                "student": outcome.student,
                "assignment": outcome.assignment,
                "status": _status(outcome),
                "reasons": reasons,
                "kinds": sorted({ATTENTION.get(k, k) for k, _ in outcome.flags}),
                "flagged": state.flagged,
            }
        )
    missing = [
        {"student": o.student, "assignment": o.assignment, "reasons": _reasons(o)}
        for o in sorted(outcomes, key=lambda o: (o.assignment, o.student))
        if _missing(o)
    ] + [
        {
            "student": student,
            "assignment": assignment,
            "reasons": ["on the gradebook's roster, nothing handed in"],
        }
        for student, assignment in sorted(missing_from_roster or [])
    ]
    late = [
        {k: row[k] for k in ("student", "assignment", "timestamp", "duedate", "seconds_late")}
        | {"late_by": row["late_by"]}
        for row in sorted(students, key=lambda r: -r["seconds_late"])
        if row["seconds_late"] > 0 and row["status"] != "not graded"
    ]
    manual = sorted(
        f"{r['student']}/{r['assignment']}"
        for r in students
        if r["manual_pending"] and r["status"] == "graded"
    )
    return {
        "submissions": len(outcomes),
        "tests": tests,
        "misconceptions": group_failures(failures),
        "attention": attention,
        "students": students,
        "missing": missing,
        "late": late,
        "manual": manual,
    }


def plots(summary: dict) -> dict[str, str]:
    """Base64 PNGs per assignment: the autograded points of the hand-ins there are (the points
    a human still grades are said apart in the title) and the pass rate of every test."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    images = {}
    for assignment in sorted({s["assignment"] for s in summary["students"]}):
        rows = [
            s
            for s in summary["students"]
            if s["assignment"] == assignment and s["status"] == "graded"
        ]
        top = max((r["auto_max"] for r in rows), default=0) or 1
        manual = max((r["manual_max"] for r in rows), default=0)
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
        left.hist(
            [r["auto_score"] for r in rows],
            bins=[x - 0.5 for x in range(int(top) + 2)],
            color="#0072B2",
            edgecolor="white",
        )
        title = f"{assignment}: autograded points (out of {top:g})"
        if manual:
            title += f"\n+ {manual:g} graded by hand, not counted here"
        left.set_title(title)
        left.set_xlabel("autograded points")
        left.set_ylabel("learners")
        left.xaxis.set_major_locator(MaxNLocator(integer=True))
        left.yaxis.set_major_locator(MaxNLocator(integer=True))
        tests = summary["tests"].get(assignment, {})
        names = list(tests)
        rates = [100 * tests[n]["pass_rate"] for n in names]
        right.barh(names, rates, color="#009E73")
        right.set_xlim(0, 100)
        right.invert_yaxis()
        right.set_title(f"pass rate of each test (%), {len(rows)} hand-ins")
        for y, rate in enumerate(rates):
            inside = rate > 80  # a label past the bar's end would leave the axes
            right.text(
                rate - 2 if inside else rate + 2,
                y,
                f"{rate:.0f}%",
                va="center",
                ha="right" if inside else "left",
                color="white" if inside else "black",
            )
        fig.tight_layout()
        images[assignment] = _png(fig)
        plt.close(fig)
    return images


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def content_policy(script: str, style: str) -> str:
    """The report's Content-Security-Policy: its one inline script and one inline style, by
    hash, and inline images; nothing else runs or loads (no other script, handler or
    ``javascript:`` URL, no network, no forms, no ``<base>``).

    Examples
    --------
    >>> content_policy("s()", "b{}").split("; ")[:2]  # doctest: +ELLIPSIS
    ["default-src 'none'", "script-src 'sha256-..."]
    """
    return (
        f"default-src 'none'; script-src {_csp_hash(script)}; style-src {_csp_hash(style)}; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def render_html(summary: dict, images: dict[str, str], title: str, feedback_links: dict) -> str:
    """The report as one HTML page, from ``templates/report.html.j2`` with autoescaping.

    Examples
    --------
    >>> page = render_html({"submissions": 0, "tests": {}, "attention": [], "students": [],
    ...                     "manual": [], "missing": [], "late": [], "misconceptions": []},
    ...                    {}, "<t>", {})
    >>> page.startswith("<!DOCTYPE html>") and "Needs attention" in page and "&lt;t&gt;" in page
    True
    """
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["plain"] = plain_message
    environment.filters["when"] = when
    environment.filters["breakable"] = breakable
    script = (TEMPLATES / "report_sort.js").read_text(encoding="utf-8")
    style = (TEMPLATES / "report.css").read_text(encoding="utf-8")
    assignments = sorted(
        {r["assignment"] for r in summary["students"]} | set(summary["tests"]) | set(images)
    )
    links = {f"{s}/{a}": link for (s, a), link in feedback_links.items()}
    manifest = sorted(
        summary.get("manifest", []), key=lambda r: (FATE_ORDER.get(r["fate"], 9), r["entry"])
    )
    return environment.get_template("report.html.j2").render(
        title=title,
        summary=summary,
        assignments=assignments,
        images=images,
        links=links,
        manifest=manifest,
        refused=[r for r in manifest if r["fate"] == "refused"],
        not_graded=sum(r["status"] == "not graded" for r in summary["students"]),
        policy=content_policy(script, style),
        script=Markup(script),
        style=Markup(style),
        attention_labels=ATTENTION,
    )


#: The manifest's order: what needs the instructor first.
FATE_ORDER = {"not graded": 0, "refused": 1, "graded with flags": 2, "ignored": 3, "graded": 4}


def write_report(course, result, assignments: list[str]) -> Path:
    """Write ``report.html`` and ``report.json`` into the run's output folder."""
    pairs = {(o.student, o.assignment) for o in result.outcomes}
    states = read_state(course.db_url, course.course_id, pairs)
    # learners on the gradebook's roster with no hand-in at all in this folder
    present = {student for student, _ in pairs}
    absent = [
        (student, assignment)
        for student in roster(course.db_url, course.course_id)
        if student not in present
        for assignment in assignments
    ]
    summary = summarise(result.outcomes, states, absent)
    summary["seconds"] = result.seconds
    summary["graded_now"] = result.graded_now
    summary["resumed"] = result.skipped
    summary["limits"] = result.cgroup
    summary["manifest"] = settle_fates(result.entries, result.outcomes)
    summary["not_graded"] = [
        {"student": o.student, "assignment": o.assignment, "notebook": o.notebook}
        for o in result.outcomes
        if _not_graded(o)
    ]
    feedback_dir = result.dirs.feedback if result.dirs else course.root / "feedback"
    links = {}
    for outcome in result.outcomes:
        page = feedback_dir / outcome.student / outcome.assignment / f"{outcome.notebook}.html"
        if page.exists():
            links[(outcome.student, outcome.assignment)] = page.as_uri()
    out = Path(result.out_dir)
    # the class's report: a string no UTF-8 can hold (a journal of an older version may have
    # one) costs a "?", never the report
    (out / "report.json").write_text(
        json.dumps(summary, indent=1, default=str, ensure_ascii=False),
        encoding="utf-8",
        errors="replace",
    )
    title = f"Grading report: {', '.join(assignments)}"
    page = render_html(summary, plots(summary), title, links)
    target = out / "report.html"
    target.write_text(page, encoding="utf-8", errors="replace")
    return target
