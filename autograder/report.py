"""The one-page report of a grading run: scores, pass rate of every test, who needs attention.

:func:`summarise` turns the run's outcomes and the gradebook's scores into plain data;
:func:`render_html` turns that into one self-contained HTML page (plots embedded as PNG);
:func:`write_report` writes ``report.html`` and ``report.json`` next to ``grades.csv``.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections import Counter
from pathlib import Path

from nbgrader.api import Gradebook, MissingEntry

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


def summarise(outcomes: list, scores: dict, manual: set) -> dict:
    """Plain data for the report.

    Parameters
    ----------
    outcomes : list of Outcome
    scores : dict
        ``(student, assignment) -> (score, max_score)`` from the gradebook.
    manual : set
        ``(student, assignment)`` pairs that wait for manual grading.

    Examples
    --------
    >>> from autograder.records import Outcome
    >>> a = Outcome("ada", "a1", "a1", "0", tests={"t": {"passed": True, "message": ""}})
    >>> b = Outcome("bob", "a1", "a1", "0", flags=[["crash", "kernel died in cell 3"]],
    ...             tests={"t": {"passed": False, "message": "KernelDied: ..."}})
    >>> s = summarise([a, b], {("ada", "a1"): (1, 1), ("bob", "a1"): (0, 1)}, set())
    >>> s["tests"]["a1"]["t"]["pass_rate"], [x["student"] for x in s["attention"]]
    (0.5, ['bob'])
    """
    tests: dict[str, dict[str, dict]] = {}
    for outcome in outcomes:
        for test in outcome.tests:
            tests.setdefault(outcome.assignment, {}).setdefault(
                test, {"passed": 0, "total": 0, "messages": Counter()}
            )
    for outcome in outcomes:
        if _not_graded(outcome):  # no grade at all: not in the pass rates either
            continue
        for test, entry in tests.get(outcome.assignment, {}).items():
            # a notebook that could not be run (missing, not a notebook) fails every test
            result = outcome.tests.get(test, {"passed": False, "message": "no notebook run"})
            entry["total"] += 1
            entry["passed"] += bool(result["passed"])
            if (
                not result["passed"]
                and result["message"]
                and not result["message"].startswith("GraderStop")
            ):
                entry["messages"][result["message"]] += 1
    for per_assignment in tests.values():
        for entry in per_assignment.values():
            entry["pass_rate"] = entry["passed"] / entry["total"] if entry["total"] else 0.0
            entry["messages"] = entry["messages"].most_common(3)
    attention = []
    first = sorted(outcomes, key=lambda o: (not _not_graded(o), o.assignment, o.student))
    for outcome in first:
        merged: dict[str, list[str]] = {}
        for kind, detail in outcome.flags:
            merged.setdefault(kind, []).append(detail)
        reasons = [f"{ATTENTION.get(k, k)}: {'; '.join(d)}" for k, d in merged.items()]
        if (outcome.student, outcome.assignment) in manual:
            reasons.append("needs manual grading: written answer")
        hard = [k for k, _ in outcome.flags if k != "suspicious"]
        if hard or any(k == "suspicious" for k, _ in outcome.flags):
            attention.append(
                {
                    "student": outcome.student,
                    "assignment": outcome.assignment,
                    "status": "not graded" if _not_graded(outcome) else "graded",
                    "reasons": reasons,
                    "kinds": sorted({ATTENTION.get(k, k) for k, _ in outcome.flags}),
                }
            )
    per_student = [
        {
            "student": o.student,
            "assignment": o.assignment,
            "status": "not graded" if _not_graded(o) else "graded",
            "score": None if _not_graded(o) else scores.get((o.student, o.assignment), (0, 0))[0],
            "max_score": scores.get((o.student, o.assignment), (0, 0))[1],
            "flags": [k for k, _ in o.flags],
            "seconds": o.seconds,
        }
        for o in sorted(outcomes, key=lambda o: (o.assignment, o.student))
    ]
    return {
        "submissions": len(outcomes),
        "tests": tests,
        "attention": attention,
        "students": per_student,
        "manual": sorted(f"{s}/{a}" for s, a in manual),
    }


def _not_graded(outcome) -> bool:
    return outcome.graded is None and any(kind == "grader" for kind, _ in outcome.flags)


def gradebook_scores(course, pairs: set) -> tuple[dict, set]:
    """``(student, assignment) -> (score, max_score)`` and the pairs needing manual grading."""
    scores, manual = {}, set()
    with Gradebook(course.db_url, course.course_id) as gb:
        for student, assignment in pairs:
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            scores[(student, assignment)] = (float(sub.score), float(sub.max_score))
            if sub.needs_manual_grade:
                manual.add((student, assignment))
    return scores, manual


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def plots(summary: dict) -> dict[str, str]:
    """Base64 PNGs: the score distribution and the pass rate of every test, per assignment."""
    import matplotlib

    matplotlib.use("agg")
    import matplotlib.pyplot as plt

    images = {}
    for assignment in sorted({s["assignment"] for s in summary["students"]}):
        rows = [s for s in summary["students"] if s["assignment"] == assignment]
        top = max((r["max_score"] for r in rows), default=1) or 1
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2))
        left.hist(
            [r["score"] for r in rows if r["score"] is not None],
            bins=[x - 0.5 for x in range(int(top) + 2)],
            color="#0072B2",
            edgecolor="white",
        )
        left.set_title(f"{assignment}: scores (out of {top:g})")
        left.set_xlabel("score")
        left.set_ylabel("learners")
        tests = summary["tests"].get(assignment, {})
        names = list(tests)
        rates = [100 * tests[n]["pass_rate"] for n in names]
        right.barh(names, rates, color="#009E73")
        right.set_xlim(0, 100)
        right.invert_yaxis()
        right.set_title("pass rate of each test (%)")
        for y, rate in enumerate(rates):
            right.text(min(rate + 2, 85), y, f"{rate:.0f}%", va="center")
        fig.tight_layout()
        images[assignment] = _png(fig)
        plt.close(fig)
    return images


def render_html(summary: dict, images: dict[str, str], title: str, feedback_links: dict) -> str:
    """The report as one HTML page.

    Examples
    --------
    >>> page = render_html({"submissions": 0, "tests": {}, "attention": [], "students": [],
    ...                     "manual": []}, {}, "t", {})
    >>> page.startswith("<!DOCTYPE html>") and "Needs attention" in page
    True
    """
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{e(title)}</title><style>",
        "body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}",
        "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;",
        "padding:3px 8px;text-align:left;vertical-align:top}th{background:#eee}",
        ".bad{color:#b00}.small{font-size:90%;color:#555}</style></head><body>",
        f"<h1>{e(title)}</h1>",
        f"<p>{summary['submissions']} submissions; "
        f"<b>{sum(r.get('status') == 'not graded' for r in summary['students'])} not graded</b>"
        f" (the grader failed: graded again by the next run); "
        f"{len(summary['attention'])} need attention; "
        f"{len(summary['manual'])} wait for manual grading.</p>",
        f"<p class='small'>Sandbox limits: {e(str(summary.get('limits', '')))}.</p>",
    ]
    for assignment, image in images.items():
        parts.append(f"<h2>{e(assignment)}</h2>")
        parts.append(
            f"<img alt='score distribution and pass rates of {e(assignment)}' "
            f"src='data:image/png;base64,{image}'>"
        )
        rows = summary["students"]
        scores = [
            r["score"] for r in rows if r["assignment"] == assignment and r["score"] is not None
        ]
        if scores:
            mean = sum(scores) / len(scores)
            parts.append(f"<p>mean score {mean:.2f}, {len(scores)} learners.</p>")
        parts.append(
            "<table><tr><th>test</th><th>passed</th><th>pass rate</th>"
            "<th>most common failures (count)</th></tr>"
        )
        for test, entry in summary["tests"].get(assignment, {}).items():
            failures = "<br>".join(f"{e(m)} ({n})" for m, n in entry["messages"])
            parts.append(
                f"<tr><td>{e(test)}</td><td>{entry['passed']}/{entry['total']}</td>"
                f"<td>{100 * entry['pass_rate']:.0f}%</td><td class='small'>{failures}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Needs attention</h2>")
    refused = [r for r in summary.get("manifest", []) if r["fate"] == "refused"]
    if refused:
        parts.append(
            f"<p class='bad'>{len(refused)} entries of the submissions folder were refused "
            "(not graded, nothing saved): "
            + "; ".join(f"<b>{e(r['entry'])}</b>: {e(' '.join(r['reasons']))}" for r in refused)
            + "</p>"
        )
    if summary["attention"]:
        parts.append(
            "<table><tr><th>learner</th><th>assignment</th><th>status</th><th>why</th></tr>"
        )
        for item in summary["attention"]:
            why = "<br>".join(e(r) for r in item["reasons"])
            parts.append(
                f"<tr><td>{e(item['student'])}</td><td>{e(item['assignment'])}</td>"
                f"<td>{e(item.get('status', ''))}</td><td class='bad'>{why}</td></tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>Nothing: every submission ran cleanly.</p>")
    if summary["manual"]:
        parts.append(
            "<h2>Waiting for manual grading</h2><p>"
            + ", ".join(e(m) for m in summary["manual"])
            + "</p>"
        )
    parts.append(
        "<h2>Every learner</h2><table><tr><th>learner</th><th>assignment</th>"
        "<th>score</th><th>flags</th><th>seconds</th><th>feedback</th></tr>"
    )
    for row in summary["students"]:
        link = feedback_links.get((row["student"], row["assignment"]))
        cell = f"<a href='{e(link)}'>feedback</a>" if link else ""
        score = "not graded" if row["score"] is None else f"{row['score']:g}"
        parts.append(
            f"<tr><td>{e(row['student'])}</td><td>{e(row['assignment'])}</td>"
            f"<td>{score} / {row['max_score']:g}</td>"
            f"<td class='small'>{e(', '.join(sorted(set(row['flags']))))}</td>"
            f"<td>{row['seconds']:.1f}</td><td>{cell}</td></tr>"
        )
    parts.append("</table>")
    manifest = summary.get("manifest", [])
    parts.append(
        f"<h2>Every entry of the submissions folder ({len(manifest)})</h2>"
        "<table><tr><th>entry</th><th>kind</th><th>student</th><th>fate</th><th>why</th></tr>"
    )
    for row in sorted(manifest, key=lambda r: (FATE_ORDER.get(r["fate"], 9), r["entry"])):
        why = "<br>".join(e(r) for r in row["reasons"])
        bad = " class='bad'" if row["fate"] in ("not graded", "refused") else ""
        parts.append(
            f"<tr><td>{e(row['entry'])}</td><td>{e(row['kind'])}</td>"
            f"<td>{e(row['student'] or '')}</td><td{bad}>{e(row['fate'])}</td>"
            f"<td class='small'>{why}</td></tr>"
        )
    parts.append("</table></body></html>")
    return "\n".join(parts)


#: The manifest's order: what needs the instructor first.
FATE_ORDER = {"not graded": 0, "refused": 1, "graded with flags": 2, "ignored": 3, "graded": 4}


def write_report(course, result, assignments: list[str]) -> Path:
    """Write ``report.html`` and ``report.json`` into the run's output folder."""
    pairs = {(o.student, o.assignment) for o in result.outcomes}
    scores, manual = gradebook_scores(course, pairs)
    summary = summarise(result.outcomes, scores, manual)
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
    (out / "report.json").write_text(
        json.dumps(summary, indent=1, default=str, ensure_ascii=False), encoding="utf-8"
    )
    title = f"Grading report: {', '.join(assignments)}"
    page = render_html(summary, plots(summary), title, links)
    target = out / "report.html"
    target.write_text(page, encoding="utf-8")
    return target
