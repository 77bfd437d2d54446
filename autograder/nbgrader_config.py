"""nbgrader configuration of the course: the one place that says where everything lives.

The course root is the folder above this file, wherever the repository (or a copy of it) is:
``solutions/`` is nbgrader's source folder, ``course/`` its release folder, and the gradebook
defaults to ``gradebook.db`` in the root (git ignores it: grades never go into the repository).

nbgrader finds this file when it runs in ``autograder/``, with
``--NbGrader.config_file=autograder/nbgrader_config.py``, or through
``JUPYTER_CONFIG_PATH=autograder`` (which is what ``./dev lab`` sets for the formgrader).
"""

from pathlib import Path

c = get_config()  # noqa: F821 - provided by traitlets when nbgrader loads this file

course_root = Path(__file__).resolve().parent.parent

c.CourseDirectory.root = str(course_root)
c.CourseDirectory.course_id = "gradient-descent"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "course"
# Files a learner's run leaves next to a notebook are never part of a release or submission.
c.CourseDirectory.ignore = [
    ".ipynb_checkpoints",
    "*.pyc",
    "__pycache__",
    "feedback",
    "gd.py",
    "f.py",
]

# What an unfilled answer cell holds in the release.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}
c.ClearSolutions.text_stub = "YOUR ANSWER HERE"

# A learner's notebook gets this long per cell when graded (an infinite loop costs one timeout).
c.ExecutePreprocessor.timeout = 60
