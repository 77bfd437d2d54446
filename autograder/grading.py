"""Grade a whole class in one command: parallel workers, one writer, resumable.

:func:`grade_class` is what ``python -m autograder grade`` runs:

1. read the submissions (:mod:`autograder.intake`), and the course's source notebooks;
2. make sure the real gradebook (SQLite in the course root by default, or any SQLAlchemy URL,
   PostgreSQL included) knows the assignments: nbgrader's ``generate_assignment`` into it,
   from a scratch copy of the sources so that ``course/`` is never rewritten; a second run
   into a scratch SQLite file gives the workers their read-only template;
3. check the sandbox (:func:`~autograder.sandbox.require_sandbox`): no isolation, no grading;
4. grade in a process pool (:mod:`autograder.worker`), and save each result as it arrives, in
   this process only: nbgrader's ``SaveAutoGrades`` into the real gradebook, the executed
   notebook into ``autograded/``, then one line in the journal. One writer means no
   "database is locked"; the journal line comes last, so a run killed at any point is resumed
   by grading again what has no line (saving a grade twice overwrites it, never adds it);
5. nbgrader's feedback, nbgrader's CSV export and the report (:mod:`autograder.report`).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from nbgrader.preprocessors import SaveAutoGrades
from sqlalchemy.exc import SAWarning

from autograder.coursedir import (
    CourseError,
    ensure_alembic_on_path,
    load_config,
    source_assignments,
)
from autograder.intake import find_submissions
from autograder.records import Limits, Outcome, Submission, outcome_from_json
from autograder.sandbox import default_sandbox, require_sandbox, warm_home
from autograder.worker import WorkerSetup, grade, init_worker


@dataclass
class Course:
    """Where a course lives and which gradebook it uses.

    Examples
    --------
    >>> c = Course(Path("/srv/course"))
    >>> c.db_url
    'sqlite:////srv/course/gradebook.db'
    """

    root: Path
    db_url: str = ""
    config: object = field(default=None, repr=False)
    dirs: CourseDirectory = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if self.config is None:
            self.config = load_config(self.root)
        if not self.db_url:
            self.db_url = f"sqlite:///{self.root / 'gradebook.db'}"
        self.config.CourseDirectory.db_url = self.db_url
        self.dirs = CourseDirectory(config=self.config)

    @property
    def source(self) -> Path:
        return self.root / self.dirs.source_directory

    @property
    def course_id(self) -> str:
        return self.dirs.course_id

    def notebooks(self) -> dict[str, list[str]]:
        """Assignment -> its source notebooks' names (without ``.ipynb``)."""
        return {
            name: sorted(p.stem for p in (self.source / name).glob("*.ipynb"))
            for name in source_assignments(self.root)
        }


def register_assignments(course: Course, assignments: Iterable[str], scratch: Path) -> Path:
    """Put ``assignments`` in the real gradebook and build the workers' template gradebook.

    nbgrader's ``generate_assignment`` runs on a scratch copy of the sources (so the course's
    ``course/`` folder is never rewritten), once with the real ``db_url`` and once into a
    scratch SQLite file, whose path is returned. The scratch release is in
    ``scratch/course/<release folder>/``.
    """
    copy = scratch / "course"
    for name in assignments:
        target = copy / course.dirs.source_directory / name
        shutil.copytree(course.source / name, target)
    template = scratch / "template.db"
    ensure_alembic_on_path()
    for url in (course.db_url, f"sqlite:///{template}"):
        config = load_config(copy)
        config.CourseDirectory.db_url = url
        config.CourseDirectory.course_id = course.course_id
        api = NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)
        for name in assignments:
            result = api.generate_assignment(name, force=True, create=True)
            if not result["success"]:
                log = (result.get("error") or result.get("log") or "").strip().splitlines()
                raise CourseError(
                    f"{course.source / name}: nbgrader generate_assignment into {url} failed: "
                    + (log[-1] if log else "no message")
                )
    return template


def release_texts(scratch: Path, course: Course, assignments: Iterable[str]) -> dict:
    """Assignment -> notebook -> the scratch release's notebook text."""
    release = scratch / "course" / course.dirs.release_directory
    return {
        name: {p.stem: p.read_text() for p in sorted((release / name).glob("*.ipynb"))}
        for name in assignments
    }


def instructor_files(course: Course, assignments: Iterable[str]) -> dict[str, dict[str, bytes]]:
    """The non-notebook files of each source assignment, which overwrite a learner's copies
    (as nbgrader's autograde does), minus the course's ignore patterns."""
    files: dict[str, dict[str, bytes]] = {}
    for name in assignments:
        base = course.source / name
        found = utils.find_all_files(str(base), list(course.dirs.ignore) + ["*.ipynb"])
        files[name] = {os.path.relpath(f, base): Path(f).read_bytes() for f in found}
    return files


# --- the journal ---------------------------------------------------------------------------
def read_journal(path: Path) -> dict[tuple[str, str, str], dict]:
    """The latest journal entry per (student, assignment, notebook); a torn last line is skipped.

    Examples
    --------
    >>> import tempfile
    >>> p = Path(tempfile.mkdtemp()) / "j.jsonl"
    >>> line = '{"student": "a", "assignment": "x", "notebook": "x", "digest": "1"}'
    >>> _ = p.write_text(line + '\\n{"stu')
    >>> list(read_journal(p))
    [('a', 'x', 'x')]
    """
    entries: dict[tuple[str, str, str], dict] = {}
    if not path.exists():
        return entries
    for line in path.read_text(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        entries[(entry["student"], entry["assignment"], entry["notebook"])] = entry
    return entries


def append_journal(path: Path, outcome: Outcome) -> None:
    """Add one finished submission to the journal, durably."""
    with open(path, "a", encoding="utf-8") as journal:
        journal.write(json.dumps(outcome.to_json()) + "\n")
        journal.flush()
        os.fsync(journal.fileno())


# --- the single writer ---------------------------------------------------------------------
def save_outcome(course: Course, outcome: Outcome) -> None:
    """Save one graded submission: gradebook (nbgrader's ``SaveAutoGrades``) and
    ``autograded/``. Saving the same outcome twice leaves the same state."""
    warnings.filterwarnings("ignore", category=SAWarning)
    with Gradebook(course.db_url, course.course_id) as gb:
        gb.update_or_create_student(outcome.student)
        stamp = utils.parse_utc(outcome.timestamp) if outcome.timestamp else None
        try:
            kwargs = {"timestamp": stamp} if stamp else {}
            gb.update_or_create_submission(outcome.assignment, outcome.student, **kwargs)
        except Exception:
            gb.db.rollback()
            gb.update_or_create_submission(outcome.assignment, outcome.student)
        if outcome.graded is None:
            # what nbgrader's autograde does for a missing notebook: every grade 0, no review
            notebook = gb.find_submission_notebook(
                outcome.notebook, outcome.assignment, outcome.student
            )
            for grade_row in notebook.grades:
                grade_row.auto_score = 0
                grade_row.needs_manual_grade = False
            gb.db.commit()
    target = (
        course.root
        / course.dirs.autograded_directory
        / outcome.student
        / outcome.assignment
        / f"{outcome.notebook}.ipynb"
    )
    if outcome.graded is None:
        if target.exists():
            target.unlink()
        return
    notebook = nbformat.reads(outcome.graded, as_version=4)
    resources = {
        "nbgrader": {
            "notebook": outcome.notebook,
            "assignment": outcome.assignment,
            "student": outcome.student,
            "db_url": course.db_url,
        }
    }
    SaveAutoGrades().preprocess(notebook, resources)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".ipynb.part")
    tmp.write_text(outcome.graded, encoding="utf-8")
    os.replace(tmp, target)


def is_saved(course: Course, entry: dict) -> bool:
    """Whether the gradebook holds the submission a journal entry speaks of."""
    with Gradebook(course.db_url, course.course_id) as gb:
        try:
            gb.find_submission_notebook(entry["notebook"], entry["assignment"], entry["student"])
        except MissingEntry:
            return False
    return True


# --- progress ------------------------------------------------------------------------------
class Progress:
    """A one-line progress bar on a stream: done / total, rate, time left.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> bar = Progress(4, out, clock=iter([0.0, 2.0, 2.0]).__next__)
    >>> bar.update(2)
    >>> "2/4" in out.getvalue() and "1.00/s" in out.getvalue() and "left 0:00:02" in out.getvalue()
    True
    """

    def __init__(self, total: int, stream=sys.stderr, clock: Callable[[], float] = time.monotonic):
        self.total, self.stream, self.clock = total, stream, clock
        self.start = clock()
        self.tty = hasattr(stream, "isatty") and stream.isatty()
        self.last_shown = -1

    def update(self, done: int) -> None:
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = done / elapsed
        left = (self.total - done) / rate if rate > 0 else 0.0
        width = 30
        filled = int(width * done / max(self.total, 1))
        line = (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{self.total} "
            f"{rate:.2f}/s left {_clock(left)}"
        )
        if self.tty:
            self.stream.write("\r" + line)
        else:
            step = max(1, self.total // 20)
            if done != self.total and done - self.last_shown < step:
                return
            self.stream.write(line + "\n")
        self.last_shown = done
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def _clock(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def remove_stale_scratch() -> list[Path]:
    """Delete scratch folders of earlier runs that were killed (their process is gone).

    A scratch folder holds the template gradebook, which has the hidden tests' source.
    """
    removed = []
    for folder in Path(tempfile.gettempdir()).glob("autograder-*"):
        try:
            pid = int((folder / "pid").read_text())
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except (OSError, ValueError):
            continue
    return removed


# --- the command ---------------------------------------------------------------------------
@dataclass
class RunResult:
    """What a grading run did: every outcome (this run's and earlier ones) and its files."""

    outcomes: list[Outcome]
    graded_now: int
    skipped: int
    out_dir: Path
    report: Path | None = None
    csv: Path | None = None
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)


def grade_class(
    submissions_dir: Path,
    course: Course,
    out_dir: Path,
    assignment: str | None = None,
    workers: int | None = None,
    limits: Limits | None = None,
    progress: bool = True,
    feedback: bool = True,
    stop_after: int | None = None,
) -> RunResult:
    """Grade every submission in ``submissions_dir`` and write feedback, CSV and report.

    ``stop_after`` (for tests of interruption) ends the run after that many submissions
    have been saved, as if it had been killed, before feedback and report.
    """
    started = time.monotonic()
    limits = limits or Limits()
    submissions = find_submissions(Path(submissions_dir), course.notebooks(), assignment)
    assignments = sorted({s.assignment for s in submissions})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    journal = out_dir / "journal.jsonl"
    done = read_journal(journal)
    phases: dict[str, float] = {}
    remove_stale_scratch()
    scratch = Path(tempfile.mkdtemp(prefix="autograder-"))
    (scratch / "pid").write_text(str(os.getpid()))
    os.chmod(scratch, 0o711)
    try:
        sandbox = default_sandbox(limits.memory_bytes)
        require_sandbox(sandbox, scratch)
        template = register_assignments(course, assignments, scratch)
        phases["setup"] = time.monotonic() - started
        todo: list[Submission] = []
        kept: list[Outcome] = []
        for sub in submissions:
            entry = done.get((sub.student, sub.assignment, sub.notebook))
            if entry and entry["digest"] == sub.digest and is_saved(course, entry):
                kept.append(outcome_from_json(entry))
            else:
                todo.append(sub)
        setup = WorkerSetup(
            scratch=str(scratch),
            template_db=str(template),
            releases=release_texts(scratch, course, assignments),
            source_files=instructor_files(course, assignments),
            sandbox=sandbox,
            limits=limits,
            home_template=str(warm_home(sandbox, scratch / "home")) if todo else "",
            sources={
                name: {p.stem: str(p) for p in sorted((course.source / name).glob("*.ipynb"))}
                for name in assignments
            },
        )
        fresh = _run_pool(todo, setup, course, journal, workers, progress, stop_after)
        phases["grading"] = time.monotonic() - started - phases["setup"]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    result = RunResult(kept + fresh, len(fresh), len(kept), out_dir, phases=phases)
    if stop_after is not None and len(fresh) >= stop_after:
        return result
    mark = time.monotonic()
    if feedback:
        from autograder.feedback import export_grades, make_feedback

        for name in assignments:
            make_feedback(course, name)
        result.csv = export_grades(course, out_dir / "grades.csv")
    phases["feedback"] = time.monotonic() - mark
    mark = time.monotonic()
    from autograder.report import write_report

    result.seconds = round(time.monotonic() - started, 1)
    result.report = write_report(course, result, assignments)
    phases["report"] = time.monotonic() - mark
    result.seconds = round(time.monotonic() - started, 1)
    return result


def _run_pool(
    todo: list[Submission],
    setup: WorkerSetup,
    course: Course,
    journal: Path,
    workers: int | None,
    progress: bool,
    stop_after: int | None,
) -> list[Outcome]:
    if not todo:
        return []
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    bar = Progress(len(todo)) if progress else None
    fresh: list[Outcome] = []
    # spawn: each worker starts clean (no inherited ZeroMQ contexts or database connections)
    context = multiprocessing.get_context("spawn")
    with context.Pool(workers, initializer=init_worker, initargs=(setup,)) as pool:
        # the longest submissions first would be ideal; size is a cheap stand-in
        order = sorted(todo, key=lambda s: -len(s.data or b""))
        for outcome in pool.imap_unordered(grade, order):
            save_outcome(course, outcome)
            append_journal(journal, outcome)
            fresh.append(outcome)
            if bar:
                bar.update(len(fresh))
            if stop_after is not None and len(fresh) >= stop_after:
                pool.terminate()
                break
    if bar:
        bar.close()
    return fresh
