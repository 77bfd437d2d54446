"""The ``grade`` subcommand of ``python -m autograder``: options, and what it prints."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.coursedir import CourseError

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
    """
    grade = commands.add_parser(
        "grade", help="autograde a class: feedback, grades.csv, report", description=GRADE_HELP
    )
    grade.add_argument("submissions", type=Path, metavar="SUBMISSIONS_DIR")
    grade.add_argument("--assignment", help="grade only this assignment (needed for zip/ipynb)")
    grade.add_argument(
        "--db-url",
        default="",
        help="SQLAlchemy URL of the gradebook "
        "(default: sqlite:///ROOT/gradebook.db), e.g. postgresql+psycopg://...",
    )
    grade.add_argument(
        "--out",
        type=Path,
        help="where grades.csv, report.html and the journal go (default: ROOT/reports)",
    )
    grade.add_argument(
        "--workers", type=int, default=None, help="parallel kernels (default: one per core)"
    )
    grade.add_argument("--cell-timeout", type=int, default=30, help="seconds per learner cell")
    grade.add_argument(
        "--test-timeout", type=float, default=30.0, help="seconds per test cell (trusted runner)"
    )
    grade.add_argument("--timeout", type=float, default=120.0, help="seconds per submission")
    grade.add_argument("--memory", type=int, default=2048, help="MiB of address space per kernel")
    grade.add_argument(
        "--max-processes", type=int, default=256, help="processes and threads per sandbox"
    )
    grade.add_argument(
        "--disk", type=int, default=512, help="MiB a kernel may write to its work folder and /tmp"
    )
    grade.add_argument(
        "--max-submission",
        type=int,
        default=100,
        help="MiB per hand-in, unpacked (checked before anything is unpacked)",
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
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_grade(args: argparse.Namespace) -> int:
    """Run the ``grade`` subcommand; bad input raises CourseError (the caller prints it)."""
    from autograder.grading import Course, grade_class
    from autograder.records import Limits

    if args.workers is not None and args.workers < 1:
        raise CourseError(f"--workers {args.workers}: needs at least 1")
    if args.cell_timeout < 1 or args.timeout <= 0 or args.test_timeout <= 0 or args.memory < 256:
        raise CourseError(
            "--cell-timeout, --test-timeout, --timeout must be positive and --memory >= 256"
        )
    if args.max_processes < 16 or args.disk < 16 or args.max_submission < 1:
        raise CourseError("--max-processes and --disk need at least 16, --max-submission 1")
    course = Course(args.root, args.db_url)
    out = args.out or course.root / "reports"
    limits = Limits(
        cell_timeout=args.cell_timeout,
        test_timeout=args.test_timeout,
        notebook_timeout=args.timeout,
        memory_bytes=args.memory * 2**20,
        max_processes=args.max_processes,
        disk_bytes=args.disk * 2**20,
        submission_bytes=args.max_submission * 2**20,
    )
    result = grade_class(
        args.submissions,
        course,
        out,
        assignment=args.assignment,
        workers=args.workers,
        limits=limits,
        progress=not args.no_progress,
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
    print(f"feedback: {result.dirs.feedback if result.dirs else ''}")
    sys.stdout.flush()
    return 0
