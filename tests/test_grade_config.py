"""One configuration for both graders: ``autograder/nbgrader_config.py``.

A setting there changes plain ``nbgrader autograde`` and ``python -m autograder grade`` alike
(the cell timeout, ``LimitOutput``, a late penalty with a due date in the gradebook), and the
class grader's own options are ``c.ClassGrader`` traits that the command line overrides.
The fast tests check the settings' layering and the errors; one slow test grades four
hand-ins with both graders in two copies of a course whose configuration was changed.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbgrader.preprocessors import SaveAutoGrades
from traitlets.config import Config

from autograder.coursedir import CourseError, load_config
from autograder.grading import Course, instructor_files
from autograder.pipeline import course_pipeline, worker_config
from autograder.settings import grader_settings
from tests.corpus.cases import (
    CORRECT,
    EXERCISE,
    OK_RATE,
    CourseTemplates,
    answered,
    ensure_system_deps,
)
from tests.notebook_tools import REPO

#: What the test adds to a copy of the course's nbgrader_config.py.
CHANGED = """
c.ExecutePreprocessor.timeout = 3
c.LimitOutput.max_lines = 4
c.LateSubmissionPlugin.penalty_method = "zero"
c.ClassGrader.workers = 2
"""
DUE = "2026-06-01 12:00:00 UTC"
#: Hand-ins: the right answers, plus a cell that outlives the 3 s timeout, a cell that
#: prints 50 lines, a hand-in after the due date and one before it.
SLEEP = "import time\ntime.sleep(8)\nprint('woke up')"
CHATTY = "for i in range(50):\n    print('line', i)"
HANDINS = {
    "sleepy": (SLEEP, "2026-05-30 10:00:00 UTC"),
    "chatty": (CHATTY, "2026-05-30 10:00:00 UTC"),
    "late": ("print('late')", "2026-06-03 09:00:00 UTC"),
    "ontime": ("print('on time')", "2026-05-31 09:00:00 UTC"),
}


def _env() -> dict[str, str]:
    return {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}


def changed_course(where: Path, courses: CourseTemplates) -> Path:
    """A course copy whose nbgrader_config.py has :data:`CHANGED`, the due date in its
    gradebook, and :data:`HANDINS` in ``submitted/``."""
    root = courses.course(where, keep_gradebook=True, assignments=(EXERCISE,))
    with open(root / "autograder" / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(CHANGED)
    nbgrader(root, "db", "assignment", "add", EXERCISE, f"--duedate={DUE}")
    release = nbformat.read(root / "course" / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    for student, (source, stamp) in HANDINS.items():
        notebook = answered(release, {"gradient_descent_update": CORRECT, **OK_RATE})
        notebook.cells.append(nbformat.v4.new_code_cell(source))
        folder = root / "submitted" / student / EXERCISE
        folder.mkdir(parents=True)
        nbformat.write(notebook, folder / f"{EXERCISE}.ipynb")
        (folder / "timestamp.txt").write_text(stamp)
    return root


def nbgrader(root: Path, *args: str) -> None:
    """Run an nbgrader command as the README does: in ``autograder/``."""
    done = subprocess.run(
        [sys.executable, "-m", "nbgrader", *args],
        cwd=root / "autograder",
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.fixture(scope="module")
def both(tmp_path_factory, courses) -> dict[str, Path]:
    """Two copies of the changed course: one graded by plain nbgrader, one by the class
    grader (at the same time: each is serial or nearly)."""
    ensure_system_deps(REPO)
    plain = changed_course(tmp_path_factory.mktemp("config-plain"), courses)
    ours = tmp_path_factory.mktemp("config-class")
    shutil.copytree(plain, ours, dirs_exist_ok=True)  # the same course, ungraded
    grader = subprocess.Popen(
        [sys.executable, "-m", "autograder", "--root", str(ours), "grade",
         str(ours / "submitted"), "--no-progress"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    nbgrader(plain, "autograde", EXERCISE)
    out, err = grader.communicate(timeout=900)
    assert grader.returncode == 0, err[-3000:] + out
    return {"plain nbgrader": plain, "class grader": ours}


def last_cell(root: Path, student: str) -> nbformat.NotebookNode:
    path = root / "autograded" / student / EXERCISE / f"{EXERCISE}.ipynb"
    return nbformat.read(path, as_version=4).cells[-1]


def text_of(cell: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") + o.get("ename", "") for o in cell.outputs)


@pytest.mark.parametrize("grader", ["plain nbgrader", "class grader"])
def test_the_cell_timeout_of_the_config_applies(both, grader):
    shown = text_of(last_cell(both[grader], "sleepy"))
    assert "CellTimeoutError" in shown and "woke up" not in shown, shown


@pytest.mark.parametrize("grader", ["plain nbgrader", "class grader"])
def test_limit_output_of_the_config_applies(both, grader):
    shown = text_of(last_cell(both[grader], "chatty"))
    assert "... Output truncated ..." in shown, shown
    assert "line 2" in shown and "line 10" not in shown, shown


@pytest.mark.parametrize("grader", ["plain nbgrader", "class grader"])
def test_the_late_penalty_of_the_config_applies(both, grader):
    from nbgrader.api import Gradebook

    root = both[grader]
    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", "gradient-descent") as gb:
        late = gb.find_submission(EXERCISE, "late")
        ontime = gb.find_submission(EXERCISE, "ontime")
        assert late.total_seconds_late > 0 and late.score > 0
        assert late.late_submission_penalty == late.score  # penalty_method "zero"
        assert ontime.total_seconds_late == 0 and not ontime.late_submission_penalty


def test_both_graders_score_every_cell_alike(both):
    from tests.corpus.cases import auto_scores

    for student in HANDINS:
        scores = {
            name: auto_scores(f"sqlite:///{root / 'gradebook.db'}", student, EXERCISE)
            for name, root in both.items()
        }
        assert scores["plain nbgrader"] == scores["class grader"], student


def test_the_class_graders_csv_carries_the_penalty(both):
    with open(both["class grader"] / "reports" / "grades.csv", encoding="utf-8") as handle:
        rows = {row["student_id"]: row for row in csv.DictReader(handle)}
    assert float(rows["late"]["late_submission_penalty"]) > 0
    assert float(rows["late"]["score"]) == 0.0
    assert float(rows["ontime"]["late_submission_penalty"]) == 0.0


# --- fast: loading, layering, errors ------------------------------------------------------
@pytest.fixture(scope="module")
def course_copy(tmp_path_factory) -> Path:
    """A course root holding only a copy of the configuration and the sources."""
    root = tmp_path_factory.mktemp("config-copy")
    (root / "autograder").mkdir()
    shutil.copy(REPO / "autograder" / "nbgrader_config.py", root / "autograder")
    shutil.copytree(REPO / "solutions", root / "solutions")
    return root


def with_config(course_copy: Path, extra: str) -> Path:
    """``course_copy`` with ``extra`` appended to its configuration (restored by the caller)."""
    target = course_copy / "autograder" / "nbgrader_config.py"
    target.write_text((REPO / "autograder" / "nbgrader_config.py").read_text() + extra)
    return target


def test_the_class_grader_reads_the_course_roots_own_file(course_copy):
    with_config(course_copy, "c.ExecutePreprocessor.timeout = 7\nc.ClassGrader.memory = 512\n")
    config = load_config(course_copy)
    assert config.CourseDirectory.root == str(course_copy)
    settings = grader_settings(config, {}, "nbgrader_config.py")
    limits = settings.limits(config)
    assert limits.cell_timeout == 7 and limits.memory_bytes == 512 * 2**20
    # the command line wins over the file
    assert grader_settings(config, {"memory": 1024, "cell_timeout": 2}, "x").limits(config) \
        .cell_timeout == 2  # fmt: skip
    assert grader_settings(config, {"memory": 1024}, "x").memory == 1024


def test_the_repository_config_gives_both_graders_60_seconds():
    config = load_config(REPO)
    assert grader_settings(config, {}, "nbgrader_config.py").limits(config).cell_timeout == 60


def test_the_workers_get_the_course_settings_under_the_graders_own(course_copy):
    with_config(
        course_copy,
        "c.LimitOutput.max_lines = 4\nc.Execute.timeout = 9\nc.IgnorePattern.pattern = 'noise'\n"
        "c.ClearOutput.remove_metadata_fields = {'collapsed'}\n",
    )
    course = Course(course_copy)
    limits = grader_settings(course.config, {}, "x").limits(course.config)
    config = worker_config(course.config, course.pipeline, limits)
    steps = {pp.__name__: pp(config=config) for pp in course.pipeline.classes}
    assert steps["LimitOutput"].max_lines == 4 and steps["IgnorePattern"].pattern == "noise"
    assert steps["ClearOutput"].remove_metadata_fields == {"collapsed"}
    assert limits.cell_timeout == 9 and steps["LearnerExecute"].timeout == 9
    # the grader's own limits win over the course's settings of the same steps
    fast = dataclasses.replace(limits, cell_timeout=2)
    assert worker_config(course.config, course.pipeline, fast).LearnerExecute.timeout == 2


def test_a_configured_preprocessor_list_is_followed():
    config = Config()
    config.Autograde.autograde_preprocessors = [
        "nbgrader.preprocessors.Execute",
        "nbgrader.preprocessors.SaveAutoGrades",
    ]
    steps = course_pipeline(config)
    assert [pp.__name__ for pp in steps.grade] == ["LearnerExecute", "TrustedTests"]
    # no late penalties then; nbgrader's SaveAutoGrades writes through the writer's gradebook
    assert [pp.__name__ for pp in steps.save] == ["SaveAutoGradesInto"]
    assert issubclass(steps.save[0], SaveAutoGrades)


def test_exclude_overwriting_keeps_the_learners_file(course_copy):
    (course_copy / "solutions" / EXERCISE / "data.csv").write_text("instructor\n")
    with_config(course_copy, f"c.Autograde.exclude_overwriting = {{{EXERCISE!r}: ['data.csv']}}\n")
    assert "data.csv" not in instructor_files(Course(course_copy), [EXERCISE])[EXERCISE]
    with_config(course_copy, "")
    assert "data.csv" in instructor_files(Course(course_copy), [EXERCISE])[EXERCISE]


#: id -> (what a course's configuration gets appended, what the one-line error must say)
BAD_CONFIGS = {
    "zero-workers": ("c.ClassGrader.workers = 0\n", "c.ClassGrader.workers = 0: needs at least 1"),
    "typo": ("c.ClassGrader.worker = 2\n", "c.ClassGrader.worker: no such setting"),
    "wrong-type": ("c.ClassGrader.memory = 'lots'\n", "c.ClassGrader.memory = 'lots'"),
    "no-execute": ("c.Autograde.autograde_preprocessors = []\n", "has no Execute step"),
    "syntax": ("c.Execute.timeout = = 3\n", "cannot be loaded: SyntaxError"),
}


@pytest.fixture(scope="module")
def bad_config_runs(tmp_path_factory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """``python -m autograder grade`` in a course copy per bad configuration, all started at
    the same time (each spends seconds importing nbgrader): id -> (the finished command, the
    folder its submissions and ``--out`` are in, the configuration file)."""
    started = {}
    for name, (extra, _) in BAD_CONFIGS.items():
        tmp = tmp_path_factory.mktemp(f"bad-config-{name}")
        root = tmp / "course"
        (root / "autograder").mkdir(parents=True)
        shutil.copytree(REPO / "solutions", root / "solutions")
        target = with_config(root, extra)
        (tmp / "subs").mkdir()
        (tmp / "subs" / "ada.ipynb").write_text("{}")
        run = subprocess.Popen(
            [sys.executable, "-m", "autograder", "--root", str(root), "grade",
             str(tmp / "subs"), "--assignment", EXERCISE, "--out", str(tmp / "out")],
            env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        started[name] = (run, tmp, target)
    finished = {}
    for name, (run, tmp, target) in started.items():
        out, err = run.communicate(timeout=120)
        finished[name] = (subprocess.CompletedProcess(run.args, run.returncode, out, err), tmp,
                          target)  # fmt: skip
    return finished


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_a_bad_config_is_one_line_naming_the_file(bad_config_runs, case):
    done, tmp, target = bad_config_runs[case]
    message = BAD_CONFIGS[case][1]
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"error: {target}") and message in lines[0], lines[0]
    assert not (tmp / "out").exists(), "nothing written before the error"


def test_a_course_root_without_a_config_is_refused(tmp_path):
    with pytest.raises(CourseError, match="autograder/nbgrader_config.py: no nbgrader config"):
        load_config(tmp_path)


def test_the_configured_gradebook_is_the_class_graders_default(course_copy, tmp_path):
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    with_config(course_copy, f"c.CourseDirectory.db_url = {url!r}\n")
    course = Course(course_copy)
    assert course.db_url == url and course.is_main  # autograded/ and feedback/ in the root
    assert not Course(course_copy, f"sqlite:///{tmp_path / 'other.db'}").is_main
    with_config(course_copy, "")
    assert Course(course_copy).db_url == f"sqlite:///{course_copy / 'gradebook.db'}"
