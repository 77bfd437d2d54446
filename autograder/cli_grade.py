"""The ``grade`` subcommand of ``python -m autograder``: options, and what it prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from traitlets import Float

from autograder.settings import ClassGrader, grader_settings, option

GRADE_HELP = """Autograde every submission in SUBMISSIONS_DIR with nbgrader, in parallel and in a
sandbox, then write nbgrader's feedback (feedback/ in the course root), grades.csv and
report.html (in --out). SUBMISSIONS_DIR is nbgrader's submitted/<student>/<assignment>/
layout, or a folder of <student>.zip or <student>.ipynb files (then --assignment is needed).
A run that was stopped resumes where it was: what is already graded is not graded again,
except with --regrade STUDENT... or --regrade-all. Every entry of SUBMISSIONS_DIR is listed
in the report with its fate."""


def add_grade_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``grade`` and its options to the subcommands.

    Examples
    --------
    >>> parser = argparse.ArgumentParser()
    >>> add_grade_parser(parser.add_subparsers(dest="command"))
    >>> parser.parse_args(["grade", "subs", "--workers", "3"]).workers
    3
    >>> hasattr(parser.parse_args(["grade", "subs"]), "workers")  # then nbgrader_config.py's
    False
    """
    grade = commands.add_parser(
        "grade", help="autograde a class: feedback, grades.csv, report", description=GRADE_HELP
    )
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    grade.add_argument("--assignment", help="grade only this assignment (needed for zip/ipynb)")
    grade.add_argument(
        "--db-url",
        default="",
        help="SQLAlchemy URL of the gradebook (default: CourseDirectory.db_url of "
        "nbgrader_config.py, else sqlite:///ROOT/gradebook.db), e.g. postgresql+psycopg://...",
    )
    grade.add_argument(
        "--out",
        type=Path,
        help="where grades.csv, report.html and the journal go (default: ROOT/reports)",
    )
    for name, trait in ClassGrader.class_traits(config=True).items():
        kind = float if isinstance(trait, Float) else int
        default = "" if trait.default() is None else f" (default {trait.default():g})"
        grade.add_argument(
            option(name),
            type=kind,
            default=argparse.SUPPRESS,  # not given: nbgrader_config.py's c.ClassGrader, or default
            metavar="N",
            help=f"{trait.help}{default} [c.ClassGrader.{name} in nbgrader_config.py]",
        )
    grade.add_argument(
        "--regrade",
        nargs="+",
        default=[],
        metavar="STUDENT",
        help="grade these students again even if the journal has them",
    )
    grade.add_argument(
        "--regrade-all", action="store_true", help="grade everyone again (ignore the journal)"
    )
    grade.add_argument(
        "--no-feedback",
        action="store_true",
        help="no feedback pages (like nbgrader autograde); a later run without it writes them, "
        "grading nothing again",
    )
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_grade(args: argparse.Namespace) -> int:
    """Run the ``grade`` subcommand; bad input raises CourseError (the caller prints it)."""
    from autograder.grading import Course, grade_class

    course = Course(args.root, args.db_url)
    given = {
        name: value
        for name, value in vars(args).items()
        if name in ClassGrader.class_traits(config=True)
    }
    settings = grader_settings(course.config, given, str(course.config_file))
    out = args.out or course.root / "reports"
    result = grade_class(
        args.submissions,
        course,
        out,
        assignment=args.assignment,
        workers=settings.workers,
        limits=settings.limits(course.config),
        progress=not args.no_progress,
        feedback=not args.no_feedback,
        regrade=args.regrade,
        regrade_all=args.regrade_all,
    )
    flagged = sum(1 for o in result.outcomes if o.flags)
    print(
        f"graded {result.graded_now} submissions, {result.skipped} already graded, "
        f"{flagged} need attention, in {result.seconds:.1f} s"
    )
    missed = result.not_graded
    refused = [e for e in result.entries if e.fate == "refused"]
    if missed:
        names = ", ".join(f"{o.student}/{o.assignment}" for o in missed[:10])
        print(
            f"NOT GRADED: {len(missed)} (the grader failed; left out of grades.csv; the next "
            f"run grades them again): {names}"
        )
    if refused:
        names = ", ".join(e.name for e in refused[:10])
        print(f"REFUSED:    {len(refused)} entries (see the report for why): {names}")
    print(f"limits:   {result.cgroup}")
    times = ", ".join(f"{k} {v:.1f} s" for k, v in result.phases.items())
    print(f"time:     {times}")
    print(f"report:   {result.report}")
    print(f"grades:   {result.csv}")
    pages = result.dirs.feedback if result.dirs and not args.no_feedback else "none (--no-feedback)"
    print(f"feedback: {pages}")
    sys.stdout.flush()
    return 0
