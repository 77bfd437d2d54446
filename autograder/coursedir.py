"""Load the course's nbgrader configuration for a course root.

nbgrader's own apps read ``nbgrader_config.py`` from the folder they run in; these helpers
load the same file for any root (the repository, or a temporary copy in a test) so that
Python code drives nbgrader through :class:`nbgrader.apps.NbGraderAPI` with exactly the
settings the command line uses.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from nbgrader.coursedir import CourseDirectory
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

CONFIG_DIR = Path(__file__).resolve().parent
CONFIG_FILE = CONFIG_DIR / "nbgrader_config.py"
REPO_ROOT = CONFIG_DIR.parent


class CourseError(Exception):
    """Bad input to a course command: the message names the file or folder and the problem."""


def load_config(root: Path | None = None) -> Config:
    """The course's nbgrader configuration, with its root moved to ``root`` if given.

    Examples
    --------
    >>> cfg = load_config(Path("/tmp/elsewhere"))
    >>> cfg.CourseDirectory.root, cfg.CourseDirectory.release_directory
    ('/tmp/elsewhere', 'course')
    """
    config = PyFileConfigLoader(CONFIG_FILE.name, path=str(CONFIG_DIR)).load_config()
    if root is not None:
        config.CourseDirectory.root = str(Path(root).resolve())
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
