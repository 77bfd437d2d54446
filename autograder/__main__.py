"""Command line: ``python -m autograder {release,execute,grade} ...`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from autograder.cli_grade import add_grade_parser, run_grade
from autograder.coursedir import REPO_ROOT, CourseError, ensure_alembic_on_path
from autograder.release import execute_sources, generate_release


def main(argv: list[str] | None = None) -> int:
    ensure_alembic_on_path()  # nbgrader runs `alembic` to make a gradebook, from PATH
    parser = argparse.ArgumentParser(prog="python -m autograder", description=__doc__)
    parser.add_argument(
        "--root", type=Path, default=REPO_ROOT, help="course root (default: this repository)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "execute", help="re-run the source notebooks in solutions/, saving their outputs"
    )
    commands.add_parser("release", help="regenerate course/ from solutions/ with nbgrader")
    add_grade_parser(commands)
    args = parser.parse_args(argv)
    try:
        if args.command == "execute":
            for path, seconds in execute_sources(args.root).items():
                print(f"executed {path.relative_to(args.root)} in {seconds:.1f} s")
        elif args.command == "release":
            for name in generate_release(args.root):
                print(f"released course/{name}")
        elif args.command == "grade":
            return run_grade(args)
    except CourseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
