"""Load the course's nbgrader configuration for a course root.

nbgrader's own apps read ``nbgrader_config.py`` from the Jupyter config folders and from the
folder they run in (the README runs them in ``autograder/``); :func:`load_config` loads the
same files, in the same order, for any root (the repository, or a temporary copy in a test),
so that Python code (the class grader, ``python -m autograder release``) drives nbgrader
with exactly the settings the command line uses.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from jupyter_core.paths import jupyter_config_path
from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_DIR = Path(__file__).resolve().parent
CONFIG_NAME = "nbgrader_config.py"
CONFIG_FILE = CONFIG_DIR / CONFIG_NAME
REPO_ROOT = CONFIG_DIR.parent
#: Where every course root keeps its nbgrader configuration.
COURSE_CONFIG = Path(CONFIG_DIR.name) / CONFIG_NAME


class CourseError(Exception):
    """Bad input to a course command: the message names the file or folder and the problem."""


def course_config_file(root: Path | None = None) -> Path:
    """The course's own ``nbgrader_config.py``: ``ROOT/autograder/nbgrader_config.py``.

    Examples
    --------
    >>> course_config_file(Path("/srv/course"))
    PosixPath('/srv/course/autograder/nbgrader_config.py')
    """
    return Path(root or REPO_ROOT).resolve() / COURSE_CONFIG


def config_files(root: Path | None = None) -> list[Path]:
    """The nbgrader configuration files of the course at ``root``, lowest priority first.

    What nbgrader run in ``ROOT/autograder/`` reads: ``nbgrader_config.py`` in each Jupyter
    config folder (system, environment, user, ``JUPYTER_CONFIG_PATH``), then the course's
    own file, then ``ROOT/nbgrader_config.py`` (nbgrader also reads the course root's).

    Examples
    --------
    >>> config_files()[-1] == CONFIG_FILE
    True
    """
    course_file = course_config_file(root)
    found = [Path(d) / CONFIG_NAME for d in reversed(jupyter_config_path())]
    found += [course_file, course_file.parent.parent / CONFIG_NAME]
    found = [path for path in found if path.is_file()]
    # a file listed twice (JUPYTER_CONFIG_PATH=autograder) counts where it matters most: last
    return [
        p for i, p in enumerate(found) if p.resolve() not in {q.resolve() for q in found[i + 1 :]}
    ]


def load_config(root: Path | None = None) -> Config:
    """The course's nbgrader configuration (every file of :func:`config_files`, later ones
    overriding earlier ones), with its root set to ``root``.

    A course root without ``autograder/nbgrader_config.py``, or a file that fails to load,
    raises :class:`CourseError` naming the file.

    Examples
    --------
    >>> cfg = load_config()
    >>> cfg.CourseDirectory.root == str(REPO_ROOT), cfg.CourseDirectory.release_directory
    (True, 'course')
    """
    course_file = course_config_file(root)
    if not course_file.is_file():
        raise CourseError(
            f"{course_file}: no nbgrader configuration (a course root has {COURSE_CONFIG})"
        )
    config = Config()
    for path in config_files(root):
        try:
            config.merge(PyFileConfigLoader(path.name, path=str(path.parent)).load_config())
        except Exception as error:
            reason = f"{type(error).__name__}: {error}"
            raise CourseError(f"{path}: cannot be loaded: {reason}") from error
    config.CourseDirectory.root = str(course_file.parent.parent)
    return config


def nbgrader_api(root: Path | None = None) -> NbGraderAPI:
    """An :class:`~nbgrader.apps.NbGraderAPI` for the course at ``root`` (default: this repo)."""
    ensure_alembic_on_path()
    config = load_config(root)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def source_assignments(root: Path = REPO_ROOT) -> list[str]:
    """Names of the assignments in the source folder: the folders holding a notebook.

    Examples
    --------
    >>> source_assignments()[:2]
    ['01_why_backpropagation', '02_the_gradient']
    """
    source = Path(root) / load_config(root).CourseDirectory.source_directory
    if not source.is_dir():
        raise CourseError(f"{source}: no source folder (expected the instructor's notebooks here)")
    return sorted(p.name for p in source.iterdir() if p.is_dir() and any(p.glob("*.ipynb")))


def ensure_alembic_on_path() -> None:
    """Make nbgrader's ``alembic`` subprocess findable when Python runs from an unactivated venv.

    nbgrader creates a gradebook by running the ``alembic`` command; it fails with
    ``FileNotFoundError: 'alembic'`` when the environment's ``bin`` folder is not on ``PATH``.
    """
    if shutil.which("alembic") is None:
        bin_dir = str(Path(sys.executable).parent)
        os.environ["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", "")
