"""Grade a whole class in one command: parallel workers, one writer, resumable.

:func:`grade_class` is what ``python -m autograder grade`` runs:

1. list every entry of the submissions folder (:func:`autograder.intake.scan`): the manifest;
2. make sure the gradebook (SQLite in the course root by default, or any SQLAlchemy URL,
   PostgreSQL included) knows the assignments: nbgrader's ``generate_assignment`` into it,
   from a scratch copy of the sources so that ``course/`` is never rewritten; a copy of it
   (of an SQLite gradebook; else a second run into a scratch SQLite file) gives the workers
   their read-only template;
3. check the sandbox (:func:`~autograder.sandbox.require_sandbox`): no isolation, no grading;
   set up a cgroup per kernel where the host allows it (:mod:`autograder.cgroups`);
4. read each hand-in (one at a time, within the intake quotas), skip what the journal says is
   graded and unchanged, grade the rest in a process pool (:mod:`autograder.worker`), and
   save each result as it arrives, in this process only: nbgrader's ``SaveAutoGrades`` into
   the gradebook, the executed notebook into the run's ``autograded/``, then one line in the
   journal. The journal line comes last, so a run killed at any point is resumed by grading
   again what has no line (saving a grade twice overwrites it, never adds it);
5. feedback, one learner at a time (:mod:`autograder.feedback`), the CSV and the report.

Every per-submission step here (reading, the timestamp, saving, feedback) is isolated: a
failure flags that submission and the run goes on. A submission the grader itself could not
grade is "not graded": never saved as 0, left out of ``grades.csv``, listed first in the report
and graded again by the next run.
"""

from __future__ import annotations

import contextlib
import copy
import json
import multiprocessing
import os
import shutil
import sqlite3
import sys
import tempfile
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import nbformat
from nbgrader import utils
from nbgrader.api import Gradebook, MissingEntry
from nbgrader.apps import NbGraderAPI
from nbgrader.converters import Autograde
from nbgrader.coursedir import CourseDirectory
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SAWarning
from tqdm import tqdm

from autograder import cgroups
from autograder.coursedir import (
    CourseError,
    course_config_file,
    ensure_alembic_on_path,
    load_config,
    source_assignments,
)
from autograder.intake import Entry, Handin, Intake, load, scan
from autograder.limits import grade_task
from autograder.pipeline import Pipeline, course_pipeline, worker_config
from autograder.records import Limits, Outcome, Submission, outcome_from_json
from autograder.sandbox import default_sandbox, release_mounts, require_sandbox, warm_home
from autograder.worker import WorkerSetup, init_worker


def not_graded(outcome: Outcome) -> bool:
    """Whether the grader itself failed on this submission (so it has no grade at all).

    Examples
    --------
    >>> not_graded(Outcome("ada", "a1", "a1", "0", flags=[["grader", "kernel never started"]]))
    True
    >>> not_graded(Outcome("ada", "a1", "a1", "0", flags=[["missing", "not handed in"]]))
    False
    """
    return outcome.graded is None and any(kind == "grader" for kind, _ in outcome.flags)


@dataclass(frozen=True)
class RunDirs:
    """Where a run's per-learner files go: ``autograded/`` and ``feedback/`` belong to the
    gradebook they were graded into (the course root's for its own gradebook, the run's
    ``--out`` folder for any other ``--db-url``).

    Examples
    --------
    >>> from autograder.coursedir import REPO_ROOT
    >>> c = Course(REPO_ROOT)
    >>> run_dirs(c, REPO_ROOT / "reports").autograded == REPO_ROOT / "autograded"
    True
    >>> run_dirs(Course(REPO_ROOT, "sqlite:////tmp/other.db"), Path("/tmp/o")).feedback
    PosixPath('/tmp/o/feedback')
    """

    autograded: Path
    feedback: Path


@dataclass
class Course:
    """Where a course lives, which gradebook it uses, and its nbgrader configuration
    (``ROOT/autograder/nbgrader_config.py``, loaded as nbgrader loads it: every nbgrader
    step of the class grader is instantiated with it).

    Examples
    --------
    >>> from autograder.coursedir import REPO_ROOT
    >>> c = Course(REPO_ROOT)
    >>> c.db_url == f"sqlite:///{REPO_ROOT / 'gradebook.db'}"
    True
    >>> c.config.ExecutePreprocessor.timeout  # what autograder/nbgrader_config.py says
    60
    """

    root: Path
    db_url: str = ""
    config: object = field(default=None, repr=False)
    dirs: CourseDirectory = field(default=None, repr=False)
    #: nbgrader's gradebook for the course: ``CourseDirectory.db_url`` if the configuration
    #: sets one, else ``sqlite:///ROOT/gradebook.db``
    main_db_url: str = field(default="", init=False, repr=False)

    def __post_init__(self) -> None:
        self.root = Path(self.root).resolve()
        if self.config is None:
            self.config = load_config(self.root)
        self.main_db_url = CourseDirectory(config=self.config).db_url
        self.db_url = self.db_url or self.main_db_url
        self.config.CourseDirectory.db_url = self.db_url
        self.dirs = CourseDirectory(config=self.config)

    @property
    def source(self) -> Path:
        return self.root / self.dirs.source_directory

    @property
    def course_id(self) -> str:
        return self.dirs.course_id

    @property
    def is_main(self) -> bool:
        """Whether this is the course's own gradebook (the one plain nbgrader uses)."""
        return self.db_url == self.main_db_url

    @property
    def config_file(self) -> Path:
        """The course's own ``nbgrader_config.py`` (named in configuration errors)."""
        return course_config_file(self.root)

    @cached_property
    def pipeline(self) -> Pipeline:
        """nbgrader's autograding steps as the course configures them."""
        return course_pipeline(self.config, str(self.config_file))

    def notebooks(self) -> dict[str, list[str]]:
        """Assignment -> its source notebooks' names (without ``.ipynb``)."""
        return {
            name: sorted(p.stem for p in (self.source / name).glob("*.ipynb"))
            for name in source_assignments(self.root)
        }


def register_assignments(course: Course, assignments: Iterable[str], scratch: Path) -> Path:
    """Put ``assignments`` in the real gradebook and build the workers' template gradebook.

    nbgrader's ``generate_assignment`` runs on a scratch copy of the sources (so the course's
    ``course/`` folder is never rewritten) with the real ``db_url``. The template, whose path
    is returned, is a copy of that gradebook when it is an SQLite file (SQLite's backup: one
    copy instead of a second nbgrader run); for any other database, ``generate_assignment``
    runs again into a scratch SQLite file. The scratch release is in
    ``scratch/course/<release folder>/``.

    Both are private to the grader's user (the folder ``0700``, the template ``0600``, and so
    each worker's copy of it): ``scratch`` itself must stay open to the sandbox's user
    (``0711``), and any local account could otherwise read the sources' solutions and hidden
    tests, and every learner's grades, by name.
    """
    copy = scratch / "course"
    copy.mkdir(mode=0o700)
    for name in assignments:
        target = copy / course.dirs.source_directory / name
        shutil.copytree(course.source / name, target)
    template = scratch / "template.db"
    template.touch(mode=0o600)
    ensure_alembic_on_path()
    generate_into(course, assignments, copy, course.db_url)
    source = sqlite_file(course.db_url)
    if source is not None and source.is_file():
        with (
            contextlib.closing(sqlite3.connect(f"{source.as_uri()}?mode=ro", uri=True)) as src,
            contextlib.closing(sqlite3.connect(template)) as dst,
        ):
            src.backup(dst)
    else:
        generate_into(course, assignments, copy, f"sqlite:///{template}")
    return template


def generate_into(course: Course, assignments: Iterable[str], root: Path, url: str) -> None:
    """nbgrader's ``generate_assignment`` of ``assignments`` (sources under ``root``) into the
    gradebook at ``url``; a failure raises :class:`CourseError` naming the source."""
    config = copy_config(course, root)
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


def sqlite_file(url: str) -> Path | None:
    """The file of an SQLite gradebook URL (``None`` for any other database, or memory).

    Examples
    --------
    >>> sqlite_file("sqlite:////srv/course/gradebook.db")
    PosixPath('/srv/course/gradebook.db')
    >>> sqlite_file("postgresql+psycopg://ta@db/gradebook") is None
    True
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def copy_config(course: Course, root: Path):
    """The course's configuration (a copy) with its root moved to ``root``."""
    config = copy.deepcopy(course.config)
    config.CourseDirectory.root = str(root)
    return config


def release_texts(scratch: Path, course: Course, assignments: Iterable[str]) -> dict:
    """Assignment -> notebook -> the scratch release's notebook text."""
    release = scratch / "course" / course.dirs.release_directory
    return {
        name: {p.stem: p.read_text() for p in sorted((release / name).glob("*.ipynb"))}
        for name in assignments
    }


def instructor_files(course: Course, assignments: Iterable[str]) -> dict[str, dict[str, bytes]]:
    """The non-notebook files of each source assignment, which overwrite a learner's copies
    (as nbgrader's autograde does), minus the course's ignore patterns and the files
    ``Autograde.exclude_overwriting`` keeps as the learner handed them in."""
    files: dict[str, dict[str, bytes]] = {}
    kept = Autograde(config=course.config).exclude_overwriting
    for name in assignments:
        base = course.source / name
        found = utils.find_all_files(str(base), list(course.dirs.ignore) + ["*.ipynb"])
        files[name] = {
            os.path.relpath(f, base): Path(f).read_bytes()
            for f in found
            if os.path.relpath(f, base) not in set(kept.get(name, []))
        }
    return files


def run_dirs(course: Course, out_dir: Path) -> RunDirs:
    """The ``autograded/`` and ``feedback/`` folders of a run into ``course.db_url``."""
    base = course.root if course.is_main else Path(out_dir)
    return RunDirs(base / course.dirs.autograded_directory, base / course.dirs.feedback_directory)


def worker_sources(course: Course, assignments: Iterable[str]) -> dict:
    """The instructor's source notebooks for the workers' trusted test runner (while the
    worker is being rewritten, only if its setup takes them)."""
    if "sources" not in WorkerSetup.__dataclass_fields__:
        return {}
    return {
        "sources": {
            name: {p.stem: str(p) for p in sorted((course.source / name).glob("*.ipynb"))}
            for name in assignments
        }
    }


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
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
            entries[(entry["student"], entry["assignment"], entry["notebook"])] = entry
        except (json.JSONDecodeError, KeyError, TypeError):
            continue
    return entries


def append_journal(path: Path, outcome: Outcome) -> None:
    """Add one finished submission to the journal, durably; a submission the grader could
    not grade is written as ``"status": "not graded"`` (the next run grades it again)."""
    data = outcome.to_json()
    data["status"] = "not graded" if not_graded(outcome) else "graded"
    with open(path, "a", encoding="utf-8") as journal:
        journal.write(json.dumps(data) + "\n")  # ASCII: no learner text can fail to encode
        journal.flush()
        os.fsync(journal.fileno())


def is_done(entry: dict | None, digest: str) -> bool:
    """Whether a journal entry says this hand-in (``digest``) is graded.

    Examples
    --------
    >>> is_done({"digest": "1", "status": "graded"}, "1"), is_done({"digest": "1"}, "2")
    (True, False)
    >>> is_done({"digest": "1", "status": "not graded"}, "1")
    False
    """
    return bool(entry) and entry["digest"] == digest and entry.get("status") != "not graded"


# --- the single writer ---------------------------------------------------------------------
def save_outcome(
    course: Course, outcome: Outcome, dirs: RunDirs, gradebook: Gradebook | None = None
) -> None:
    """Save one graded submission: gradebook (nbgrader's ``SaveAutoGrades``, then its
    ``AssignLatePenalties``, as the course configures them) and ``autograded/``. Saving the
    same outcome twice leaves the same state. A submission the grader could not grade is not
    saved at all. ``gradebook``: the single writer's open gradebook (else one is opened)."""
    if not_graded(outcome):
        return
    warnings.filterwarnings("ignore", category=SAWarning)
    with contextlib.ExitStack() as stack:
        gb = gradebook or stack.enter_context(Gradebook(course.db_url, course.course_id))
        gb.update_or_create_student(outcome.student)
        stamp = utils.parse_utc(outcome.timestamp) if outcome.timestamp else None
        kwargs = {"timestamp": stamp} if stamp else {}
        gb.update_or_create_submission(outcome.assignment, outcome.student, **kwargs)
        if outcome.graded is None:
            # what nbgrader's autograde does for a missing notebook: every grade 0, no review
            notebook = gb.find_submission_notebook(
                outcome.notebook, outcome.assignment, outcome.student
            )
            for grade_row in notebook.grades:
                grade_row.auto_score = 0
                grade_row.needs_manual_grade = False
            gb.db.commit()
    target = autograded_path(dirs, outcome)
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
        },
        "autograder": {"gradebook": gradebook},
    }
    for step in course.pipeline.save:
        notebook, resources = step(config=course.config).preprocess(notebook, resources)
    # which gradebook and which hand-in this notebook belongs to: feedback checks it
    notebook.metadata["autograder"] = {"digest": outcome.digest, "db_url": course.db_url}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".ipynb.part")
    tmp.write_text(nbformat.writes(notebook), encoding="utf-8")
    os.replace(tmp, target)


def autograded_path(dirs: RunDirs, outcome: Outcome) -> Path:
    """The autograded notebook of ``outcome`` in the run's ``autograded/``."""
    return dirs.autograded / outcome.student / outcome.assignment / f"{outcome.notebook}.ipynb"


def is_saved(course: Course, entry: dict) -> bool:
    """Whether the gradebook holds the submission a journal entry speaks of."""
    with Gradebook(course.db_url, course.course_id) as gb:
        try:
            gb.find_submission_notebook(entry["notebook"], entry["assignment"], entry["student"])
        except MissingEntry:
            return False
    return True


def grader_failure(sub: Submission | Handin, step: str, error: BaseException) -> Outcome:
    """The outcome of a submission that a step of the grader's own failed on: not graded."""
    digest = sub.digest if isinstance(sub, Submission) else ""
    out = Outcome(sub.student, sub.assignment, sub.notebook, digest)
    out.flags.append(["grader", f"{step} failed: {type(error).__name__}: {error}"[:500]])
    return out


# --- progress ------------------------------------------------------------------------------
def progress_bar(total: int, enabled: bool = True, stream=None) -> tqdm:
    """tqdm's bar over the hand-ins to grade: done / total, rate, time left (``--no-progress``:
    ``enabled=False``, nothing is written). Off a terminal it writes a line at most every 30 s.

    Examples
    --------
    >>> import io
    >>> out = io.StringIO()
    >>> with progress_bar(4, stream=out) as bar:
    ...     bar.update(4)
    >>> "4/4" in out.getvalue()
    True
    >>> progress_bar(4, enabled=False).disable
    True
    """
    stream = stream if stream is not None else sys.stderr
    tty = hasattr(stream, "isatty") and stream.isatty()
    return tqdm(
        total=total,
        desc="grading",
        unit="hand-in",
        file=stream,
        disable=not enabled,
        mininterval=0.5 if tty else 30,
        dynamic_ncols=tty,
    )


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
            release_mounts(folder)
            cgroups.teardown_stale(folder.name)
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
        except (OSError, ValueError):
            continue
    return removed


# --- the command ---------------------------------------------------------------------------
@dataclass
class RunResult:
    """What a grading run did: every outcome (this run's and earlier ones), the manifest of
    the submissions folder, and the run's files."""

    outcomes: list[Outcome]
    graded_now: int
    skipped: int
    out_dir: Path
    entries: list[Entry] = field(default_factory=list)
    dirs: RunDirs | None = None
    report: Path | None = None
    csv: Path | None = None
    seconds: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)
    cgroup: str = ""

    @property
    def not_graded(self) -> list[Outcome]:
        return [o for o in self.outcomes if not_graded(o)]


def regrade_set(intake: Intake, students: Iterable[str], folder: Path) -> set[str]:
    """The student ids of ``--regrade``, each checked against the hand-ins found."""
    import unicodedata

    known = {h.student for h in intake.handins}
    chosen = set()
    for name in students:
        sid = unicodedata.normalize("NFC", name)
        if sid not in known:
            raise CourseError(f"--regrade {name}: no hand-in of that student in {folder}")
        chosen.add(sid)
    return chosen


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
    regrade: Iterable[str] = (),
    regrade_all: bool = False,
) -> RunResult:
    """Grade every submission in ``submissions_dir`` and write feedback, CSV and report
    (``feedback=False``: no feedback pages, as ``nbgrader autograde`` makes none; a later run
    with feedback writes them without grading anything again).

    ``regrade`` names students graded again even if the journal has them (``regrade_all``:
    everyone). ``stop_after`` (for tests of interruption) ends the run after that many
    submissions have been saved, as if it had been killed, before feedback and report.
    """
    started = time.monotonic()
    limits = limits or Limits()
    pipeline = course.pipeline  # a bad nbgrader_config.py stops the run before anything runs
    folder = Path(submissions_dir)
    intake = scan(folder, course.notebooks(), assignment)
    if not intake.handins:
        reasons = "; ".join(f"{e.name}: {e.reasons[0]}" for e in intake.entries if e.reasons)
        raise CourseError(f"{folder}: nothing to grade ({reasons[:400]})")
    again = regrade_set(intake, regrade, folder)
    assignments = sorted({h.assignment for h in intake.handins})
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    dirs = run_dirs(course, out_dir)
    journal = out_dir / "journal.jsonl"
    done = read_journal(journal)
    phases: dict[str, float] = {}
    remove_stale_scratch()
    scratch = Path(tempfile.mkdtemp(prefix="autograder-"))
    (scratch / "pid").write_text(str(os.getpid()))
    os.chmod(scratch, 0o711)
    groups = cgroups.setup(scratch.name, limits)
    failed: list[Outcome] = []
    try:
        sandbox = default_sandbox(limits.memory_bytes)
        sandbox = cgroups.limit_sandbox(sandbox, groups, limits)
        require_sandbox(sandbox, scratch)
        template = register_assignments(course, assignments, scratch)
        phases["setup"] = time.monotonic() - started
        todo: list[Handin] = []
        kept: list[Outcome] = []
        for handin in intake.handins:
            try:
                digest = load(handin, limits).digest
            except Exception as error:  # the grader's failure to read it: not graded
                failed.append(grader_failure(handin, "reading the hand-in", error))
                continue
            entry = done.get(handin.key)
            fresh_wanted = regrade_all or handin.student in again
            if not fresh_wanted and is_done(entry, digest) and is_saved(course, entry):
                kept.append(outcome_from_json(entry))
            else:
                todo.append(handin)
        for outcome in failed:
            append_journal(journal, outcome)
        setup = WorkerSetup(
            scratch=str(scratch),
            template_db=str(template),
            releases=release_texts(scratch, course, assignments),
            source_files=instructor_files(course, assignments),
            sandbox=sandbox,
            limits=limits,
            pipeline=pipeline,
            config=worker_config(course.config, pipeline, limits),
            home_template=str(warm_home(sandbox, scratch / "home")) if todo else "",
            **worker_sources(course, assignments),
        )
        pool = Pool(setup, course, dirs, journal, limits, groups)
        pages_for = kept + failed if feedback else None
        try:
            fresh = pool.run(todo, workers, progress, stop_after, pages_for)
        finally:
            pool.close()
        phases["feedback"] = pool.feedback_seconds
        phases["grading"] = time.monotonic() - started - phases["setup"] - phases["feedback"]
    finally:
        cgroups.teardown(groups)
        release_mounts(scratch)
        shutil.rmtree(scratch, ignore_errors=True)
    result = RunResult(
        kept + fresh + failed,
        len(fresh),
        len(kept),
        out_dir,
        entries=intake.entries,
        dirs=dirs,
        phases=phases,
        cgroup=groups.describe(),
    )
    if stop_after is not None and len(fresh) >= stop_after:
        return result
    mark = time.monotonic()
    from autograder.feedback import export_grades, make_feedback, remove_pages

    if feedback and not pool.fed:  # nothing was graded (or the pool stopped): render them here
        make_feedback(course, result.outcomes, dirs)
    elif not feedback:
        remove_pages(dirs, fresh + failed)
    skip = {(o.student, o.assignment) for o in result.not_graded}
    result.csv = export_grades(course, out_dir / "grades.csv", skip)
    phases["feedback"] = phases.get("feedback", 0.0) + time.monotonic() - mark
    mark = time.monotonic()
    from autograder.gradebook_state import flag_in_gradebook
    from autograder.report import write_report

    flag_in_gradebook(course.db_url, course.course_id, result.outcomes)
    result.seconds = round(time.monotonic() - started, 1)
    result.report = write_report(course, result, assignments)
    phases["report"] = time.monotonic() - mark
    result.seconds = round(time.monotonic() - started, 1)
    return result


#: What the pool's fork server imports once, before it forks the workers.
WORKER_PRELOAD = ["autograder.worker", "autograder.feedback", "autograder.limits"]


def worker_context() -> multiprocessing.context.BaseContext:
    """The grading pool's start method: ``forkserver``. Each worker starts clean (no ZeroMQ
    context, database connection or thread of this process: the fork server is a fresh
    interpreter), and is a fork of one that imported :data:`WORKER_PRELOAD` once, instead of
    a fresh interpreter importing them again (about 1.3 CPU s a worker).

    Examples
    --------
    >>> worker_context().get_start_method()
    'forkserver'
    """
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(WORKER_PRELOAD)
    return context


def _size(handin: Handin) -> int:
    try:
        return os.stat(handin.path).st_size
    except OSError:
        return 0


@dataclass
class Pool:
    """The grading pool and the single writer that saves what it returns."""

    setup: WorkerSetup
    course: Course
    dirs: RunDirs
    journal: Path
    limits: Limits
    groups: cgroups.CgroupSet
    fed: bool = False
    feedback_seconds: float = 0.0
    #: the writer's open gradebook (one engine for the run); closed after a failed save
    gradebook: Gradebook | None = None

    def tasks(self, todo: list[Handin]) -> Iterator[tuple]:
        """One task per hand-in, each read just before it is handed to a worker."""
        for handin in todo:
            try:
                yield (load(handin, self.limits), self.groups, self.limits)
            except Exception as error:
                failure = grader_failure(handin, "reading the hand-in", error)
                yield (failure, self.groups, self.limits)

    def save(self, outcome: Outcome) -> Outcome:
        """Save one outcome (isolated: a failure makes it "not graded"), then journal it."""
        try:
            if self.gradebook is None:
                self.gradebook = Gradebook(self.course.db_url, self.course.course_id)
            save_outcome(self.course, outcome, self.dirs, self.gradebook)
        except Exception as error:
            self.close()  # a failed transaction must not reach the next learner's save
            outcome.graded = None
            outcome.flags.append(
                ["grader", f"saving to the gradebook failed: {type(error).__name__}: {error}"]
            )
        append_journal(self.journal, outcome)
        if outcome.graded:
            outcome.graded = ""  # saved in autograded/: the run keeps no class of notebooks
        return outcome

    def close(self) -> None:
        """Close the writer's gradebook (the next save opens another)."""
        if self.gradebook is not None:
            with contextlib.suppress(Exception):
                self.gradebook.db.rollback()
            with contextlib.suppress(Exception):
                self.gradebook.close()
            self.gradebook = None

    def run(
        self,
        todo: list[Handin],
        workers: int | None,
        progress: bool,
        stop_after: int | None,
        feedback_for: list[Outcome] | None = None,
    ) -> list[Outcome]:
        """Grade ``todo`` and save each outcome as it comes; then, unless stopped early, write
        the feedback pages of ``feedback_for`` and of what was graded, in the same workers
        (``self.fed`` says whether it did, ``self.feedback_seconds`` how long it took)."""
        if not todo:
            return []
        # two per core: a worker and its kernel take turns (cells, calls into the kernel),
        # so one per core would leave the cores idle about 40 % of the time
        workers = max(1, min(workers or 2 * (os.cpu_count() or 1), len(todo)))
        fresh: list[Outcome] = []
        context = worker_context()
        with (
            progress_bar(len(todo), progress) as bar,
            context.Pool(workers, initializer=init_worker, initargs=(self.setup,)) as pool,
        ):
            # the longest submissions first would be ideal; size is a cheap stand-in
            order = sorted(todo, key=lambda h: -_size(h))
            for outcome in pool.imap_unordered(grade_task, self.tasks(order)):
                fresh.append(self.save(outcome))
                bar.update(1)
                if stop_after is not None and len(fresh) >= stop_after:
                    pool.terminate()
                    return fresh
            self.close()  # every grade is saved
            if feedback_for is not None:
                from autograder.feedback import make_feedback

                started = time.monotonic()
                make_feedback(self.course, feedback_for + fresh, self.dirs, pool.imap)
                self.fed, self.feedback_seconds = True, time.monotonic() - started
        return fresh
