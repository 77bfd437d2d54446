"""nbgrader's autograding pipeline as the course configures it, for the class grader.

Plain ``nbgrader autograde`` runs ``Autograde.sanitize_preprocessors`` and then
``Autograde.autograde_preprocessors``, every one instantiated with the course's configuration.
:func:`course_pipeline` reads both lists from that same configuration (so an instructor who
changes them in ``nbgrader_config.py`` changes both graders) and maps them onto the class
grader's three places:

- ``sanitize`` and ``grade`` run in a grading worker; in ``grade`` nbgrader's ``Execute`` is
  replaced by :class:`~autograder.execution.LearnerExecute` (the learner's cells, in the
  sandboxed kernel) followed by :class:`~autograder.execution.TrustedTests` (every test cell);
- ``save`` (``SaveAutoGrades``, ``AssignLatePenalties``: the steps that write the gradebook)
  runs in the parent's single writer, against the real gradebook.

nbgrader's steps that open a gradebook for every notebook (and ``CheckCellMetadata``) become
their :mod:`autograder.nbgrader_steps` counterparts, which work through one gradebook kept
open for the whole run: the same steps, with the same configuration and results.

:func:`worker_config` is the part of the course's configuration those preprocessors read, with
only the class grader's own settings (its limits) layered on top: plain data for the workers.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass, field

from nbgrader.converters import Autograde
from nbgrader.preprocessors import AssignLatePenalties, Execute, SaveAutoGrades
from traitlets.config import Config
from traitlets.utils.importstring import import_item

from autograder.coursedir import CourseError
from autograder.execution import LearnerExecute, TrustedTests
from autograder.nbgrader_steps import REPLACEMENTS
from autograder.records import Limits

#: The steps that write the gradebook: the parent's single writer runs them.
WRITER_STEPS = (SaveAutoGrades, AssignLatePenalties)


@dataclass(frozen=True)
class Pipeline:
    """The preprocessor classes of one grading run (classes: picklable by reference).

    Examples
    --------
    >>> steps = course_pipeline(Config())
    >>> [pp.__name__ for pp in steps.grade][:3]
    ['LearnerExecute', 'TrustedTests', 'IgnorePattern']
    >>> [pp.__name__ for pp in steps.save]
    ['SaveAutoGradesInto', 'AssignLatePenaltiesInto']
    >>> [pp.__name__ for pp in steps.sanitize][2:]
    ['OverwriteKernelspecFrom', 'OverwriteCellsFrom', 'CheckCellMetadataOnce']
    """

    sanitize: list[type] = field(default_factory=list)
    grade: list[type] = field(default_factory=list)
    save: list[type] = field(default_factory=list)

    @property
    def classes(self) -> list[type]:
        return [*self.sanitize, *self.grade, *self.save]


def course_pipeline(config: Config, source: str = "nbgrader_config.py") -> Pipeline:
    """nbgrader's ``Autograde`` preprocessor lists under ``config``, mapped onto the class
    grader's steps; a list without ``Execute`` (or with something that is not a preprocessor
    class) raises :class:`CourseError` naming ``source``."""
    autograde = Autograde(config=config)
    sanitize = [_step(pp, source) for pp in autograde.sanitize_preprocessors]
    grade: list[type] = []
    save: list[type] = []
    for pp in map(lambda item: _step(item, source), autograde.autograde_preprocessors):
        if issubclass(pp, Execute):
            grade += [LearnerExecute, TrustedTests]
        elif issubclass(pp, WRITER_STEPS):
            save.append(pp)
        else:
            grade.append(pp)
    if LearnerExecute not in grade:
        raise CourseError(
            f"{source}: Autograde.autograde_preprocessors has no Execute step; "
            "the class grader replaces it with its sandboxed run and trusted tests"
        )
    return Pipeline(sanitize, grade, save)


def _step(item: object, source: str) -> type:
    """A preprocessor class from a list item (a class or its dotted name); nbgrader's own
    classes that :mod:`autograder.nbgrader_steps` replaces come back as their replacements."""
    try:
        pp = import_item(item) if isinstance(item, str) else item
    except ImportError as error:
        raise CourseError(f"{source}: preprocessor {item!r} cannot be imported: {error}") from None
    if not isinstance(pp, type):
        raise CourseError(
            f"{source}: Autograde's preprocessor lists take classes (or their dotted names), "
            f"not {item!r}"
        )
    return REPLACEMENTS.get(pp, pp)


def worker_config(config: Config, pipeline: Pipeline, limits: Limits) -> Config:
    """What the pipeline's preprocessors read from ``config`` (the sections named by their
    classes and base classes), with the class grader's own settings on top.

    Examples
    --------
    >>> course = Config()
    >>> course.ExecutePreprocessor.timeout = 60
    >>> course.LimitOutput.max_lines = 5
    >>> course.BaseConverter.pre_convert_hook = print  # not the pipeline's: left out
    >>> config = worker_config(course, course_pipeline(course), Limits(cell_timeout=7))
    >>> config.LimitOutput.max_lines, config.LearnerExecute.timeout, "BaseConverter" in config
    (5, 7, False)
    """
    names = {base.__name__ for pp in pipeline.classes for base in pp.mro()}
    wanted = Config({name: section for name, section in config.items() if name in names})
    wanted.merge(grader_overrides(limits))
    try:
        pickle.dumps(wanted)
    except Exception as error:
        raise CourseError(
            f"nbgrader_config.py: a setting of the grading preprocessors cannot be sent to the "
            f"grading workers: {type(error).__name__}: {error}"
        ) from None
    return wanted


def grader_overrides(limits: Limits) -> Config:
    """The class grader's own settings of the pipeline: what nbgrader's defaults or the
    course's configuration are overridden with.

    Examples
    --------
    >>> config = grader_overrides(Limits(cell_timeout=5))
    >>> config.LearnerExecute.timeout, config.OverwriteCells.add_missing_cells
    (5, True)
    """
    config = Config()
    # a deleted test cell comes back from the gradebook (the grader flags it as tampered)
    config.OverwriteCells.add_missing_cells = True
    config.LearnerExecute.timeout = limits.cell_timeout
    config.LearnerExecute.notebook_timeout = limits.notebook_timeout
    config.LearnerExecute.max_output_chars = limits.max_output_chars
    config.LearnerExecute.startup_timeout = 60
    config.TrustedTests.test_timeout = float(limits.test_timeout)
    return config
