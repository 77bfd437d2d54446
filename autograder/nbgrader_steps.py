"""nbgrader's gradebook-reading and -writing preprocessors, run through one open gradebook.

Plain nbgrader opens a new :class:`~nbgrader.api.Gradebook` in every step that needs one, for
every notebook: a new SQLAlchemy engine each time, which compiles every query afresh. That is
nothing for one notebook and a large share of the class grader's own CPU time for a class
(``autograder/GRADING.md``'s benchmark). Each step here is the nbgrader step of the same name
with one change (:class:`ThroughShared`): when ``resources["autograder"]["gradebook"]`` holds
an open gradebook (a grading worker's copy of the template, or the single writer's real one),
it works through that one instead of opening its own; without one it is exactly nbgrader's
step. Their per-cell work is nbgrader's own code
(``NbGraderPreprocessor.preprocess`` calls their ``preprocess_cell``), and traitlets gives them
the configuration of the nbgrader class they extend (``c.OverwriteCells.add_missing_cells``
reaches :class:`OverwriteCellsFrom`).

:class:`CheckCellMetadataOnce` likewise validates through ``resources["autograder"]
["validator"]``, a :class:`RememberingValidator` that checks the nbgrader metadata of a cell it
has already seen pass only once (a class hands in the same metadata hundreds of times; the
JSON-schema check is the slow part).

A grading worker's gradebook holds only the release, so it is a :class:`ReleaseGradebook`,
which looks each of the release's cells up once.

:data:`REPLACEMENTS` says which nbgrader class each one stands for;
:func:`autograder.pipeline.course_pipeline` swaps exactly those classes (not subclasses an
instructor configured: those run as they are). ``tests/test_nbgrader_steps.py`` checks that
every one gives nbgrader's result, and fails when nbgrader's own method changes.

Examples
--------
>>> REPLACEMENTS[OverwriteCells] is OverwriteCellsFrom
True
"""

from __future__ import annotations

import json
import traceback
from typing import Any

from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import MetadataValidator, ValidationError
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from nbgrader.preprocessors.base import NbGraderPreprocessor

#: Distinct passing cell metadata a :class:`RememberingValidator` remembers (learner-controlled
#: data: past this it validates every new one, remembering nothing more).
REMEMBERED_CELLS = 1000


def shared(resources: dict, name: str) -> Any:
    """``resources["autograder"][name]``, or ``None``.

    Examples
    --------
    >>> shared({"autograder": {"gradebook": "gb"}}, "gradebook"), shared({}, "gradebook")
    ('gb', None)
    """
    return resources.get("autograder", {}).get(name)


def _use(step: NbGraderPreprocessor, gradebook: Gradebook, resources: dict) -> None:
    """What nbgrader's steps take from ``resources`` before opening their gradebook."""
    info = resources["nbgrader"]
    step.notebook_id, step.assignment_id = info["notebook"], info["assignment"]
    step.student_id, step.db_url = info.get("student"), info["db_url"]
    step.gradebook = gradebook


class ThroughShared:
    """The part every step here shares: with ``resources["autograder"][needs]`` present, run
    :meth:`preprocess_with` on it; without it, the nbgrader step's own ``preprocess`` (the
    next class in the method resolution order).

    Examples
    --------
    >>> class Base:
    ...     def preprocess(self, nb, resources):
    ...         return "nbgrader's own", resources
    >>> class Step(ThroughShared, Base):
    ...     def preprocess_with(self, found, nb, resources):
    ...         return f"through {found}", resources
    >>> Step().preprocess(None, {})[0], Step().preprocess(None, {"autograder": {"gradebook": 1}})[0]
    ("nbgrader's own", 'through 1')
    """

    needs = "gradebook"

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        found = shared(resources, self.needs)
        if found is None:
            return super().preprocess(nb, resources)  # type: ignore[misc]
        return self.preprocess_with(found, nb, resources)

    def preprocess_with(
        self, found: Any, nb: NotebookNode, resources: dict
    ) -> tuple[NotebookNode, dict]:
        raise NotImplementedError


class OverwriteCellsFrom(ThroughShared, OverwriteCells):
    """nbgrader's ``OverwriteCells``, reading the source cells from the shared gradebook.

    Examples
    --------
    >>> OverwriteCellsFrom(add_missing_cells=True).add_missing_cells
    True
    """

    def preprocess_with(
        self, gradebook: Gradebook, nb: NotebookNode, resources: dict
    ) -> tuple[NotebookNode, dict]:
        _use(self, gradebook, resources)
        nb, resources = NbGraderPreprocessor.preprocess(self, nb, resources)
        if self.add_missing_cells:
            nb, resources = self.add_missing_grade_cells(nb, resources)
            nb, resources = self.add_missing_task_cells(nb, resources)
        return nb, resources


class OverwriteKernelspecFrom(ThroughShared, OverwriteKernelspec):
    """nbgrader's ``OverwriteKernelspec``, reading the release's kernelspec from the shared
    gradebook.

    Examples
    --------
    >>> issubclass(OverwriteKernelspecFrom, OverwriteKernelspec)
    True
    """

    def preprocess_with(
        self, gradebook: Gradebook, nb: NotebookNode, resources: dict
    ) -> tuple[NotebookNode, dict]:
        info = resources["nbgrader"]
        kernelspec = gradebook.find_notebook(info["notebook"], info["assignment"]).kernelspec
        if kernelspec is not None:
            kernelspec = json.loads(kernelspec)
        if kernelspec:
            nb.metadata["kernelspec"] = kernelspec
        return nb, resources


class SaveAutoGradesInto(ThroughShared, SaveAutoGrades):
    """nbgrader's ``SaveAutoGrades``, into the single writer's open gradebook.

    Examples
    --------
    >>> issubclass(SaveAutoGradesInto, SaveAutoGrades)
    True
    """

    def preprocess_with(
        self, gradebook: Gradebook, nb: NotebookNode, resources: dict
    ) -> tuple[NotebookNode, dict]:
        _use(self, gradebook, resources)
        # nbgrader's own per-cell steps (_add_score, _add_comment), as SaveAutoGrades runs them
        return NbGraderPreprocessor.preprocess(self, nb, resources)


class AssignLatePenaltiesInto(ThroughShared, AssignLatePenalties):
    """nbgrader's ``AssignLatePenalties``, through the single writer's open gradebook (its
    ``plugin_class`` configured as for nbgrader's).

    Examples
    --------
    >>> issubclass(AssignLatePenaltiesInto, AssignLatePenalties)
    True
    """

    def preprocess_with(
        self, gradebook: Gradebook, nb: NotebookNode, resources: dict
    ) -> tuple[NotebookNode, dict]:
        _use(self, gradebook, resources)
        self.init_plugin()
        assignment = gradebook.find_submission(self.assignment_id, self.student_id)
        notebook = gradebook.find_submission_notebook(
            self.notebook_id, self.assignment_id, self.student_id
        )
        notebook.late_submission_penalty = None
        if assignment.total_seconds_late > 0:
            self.log.warning("%s is %s seconds late", assignment, assignment.total_seconds_late)
            penalty = self.plugin_inst.late_submission_penalty(
                self.student_id, notebook.score, assignment.total_seconds_late
            )
            self.log.warning("Late submission penalty: %s", penalty)
            if penalty is not None:
                notebook.late_submission_penalty = self._check_late_penalty(notebook, penalty)
        gradebook.db.commit()
        return nb, resources


class ReleaseGradebook:
    """A gradebook that only holds the release and is never written (a grading worker's
    private copy of the template), with nbgrader's lookups of the release's notebooks and
    cells answered from the database once each: ``OverwriteCells`` asks for the same cells
    for every hand-in. Everything else is the wrapped gradebook's.

    A lookup that fails (``MissingEntry``: a grade id the release does not have, which a
    learner can write) is asked again each time, and never remembered.

    Examples
    --------
    >>> class Counting:
    ...     calls = 0
    ...     def find_notebook(self, notebook, assignment):
    ...         self.calls += 1
    ...         return f"{assignment}/{notebook}"
    >>> release = ReleaseGradebook(Counting())
    >>> release.find_notebook("nb", "a"), release.find_notebook("nb", "a"), release.calls
    ('a/nb', 'a/nb', 1)
    """

    def __init__(self, gradebook: Gradebook) -> None:
        self.gradebook = gradebook
        self._found: dict[tuple, Any] = {}

    def _once(self, lookup: str, *args: str) -> Any:
        key = (lookup, *args)
        if key not in self._found:
            self._found[key] = getattr(self.gradebook, lookup)(*args)
        return self._found[key]

    def find_notebook(self, notebook: str, assignment: str) -> Any:
        return self._once("find_notebook", notebook, assignment)

    def find_source_cell(self, name: str, notebook: str, assignment: str) -> Any:
        return self._once("find_source_cell", name, notebook, assignment)

    def find_graded_cell(self, name: str, notebook: str, assignment: str) -> Any:
        return self._once("find_graded_cell", name, notebook, assignment)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.gradebook, name)


class RememberingValidator(MetadataValidator):
    """nbgrader's ``MetadataValidator`` that checks each distinct passing cell only once.

    A cell's check depends on nothing but its type and its nbgrader metadata, so a cell whose
    type and metadata already passed passes again. Only passes are remembered (a failing cell
    is checked, and fails, every time), and at most :data:`REMEMBERED_CELLS` of them.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell
    >>> meta = {"grade": False, "solution": True, "locked": False, "grade_id": "a",
    ...         "schema_version": 3}
    >>> validator = RememberingValidator()
    >>> validator.validate_cell(new_code_cell(metadata={"nbgrader": meta}))
    >>> len(validator.passed)
    1
    """

    def __init__(self) -> None:
        super().__init__()
        self.passed: set[str] = set()

    def validate_cell(self, cell: NotebookNode) -> None:
        key = json.dumps([cell.get("cell_type"), cell.metadata.get("nbgrader")], sort_keys=True)
        if key in self.passed:
            return
        super().validate_cell(cell)
        if len(self.passed) < REMEMBERED_CELLS:
            self.passed.add(key)


class CheckCellMetadataOnce(ThroughShared, CheckCellMetadata):
    """nbgrader's ``CheckCellMetadata`` through the worker's :class:`RememberingValidator`.

    Examples
    --------
    >>> issubclass(CheckCellMetadataOnce, CheckCellMetadata)
    True
    """

    needs = "validator"

    def preprocess_with(
        self, validator: RememberingValidator, nb: NotebookNode, resources: dict
    ) -> tuple[NotebookNode, dict]:
        try:
            validator.validate_nb(nb)
        except ValidationError:
            self.log.error(traceback.format_exc())
            msg = "Notebook failed to validate; the nbgrader metadata may be corrupted."
            self.log.error(msg)
            raise ValidationError(msg) from None
        return nb, resources


#: nbgrader's step -> the one that works through the shared gradebook or validator.
REPLACEMENTS: dict[type, type] = {
    OverwriteCells: OverwriteCellsFrom,
    OverwriteKernelspec: OverwriteKernelspecFrom,
    SaveAutoGrades: SaveAutoGradesInto,
    AssignLatePenalties: AssignLatePenaltiesInto,
    CheckCellMetadata: CheckCellMetadataOnce,
}

__all__ = [
    "REPLACEMENTS",
    "AssignLatePenaltiesInto",
    "CheckCellMetadataOnce",
    "OverwriteCellsFrom",
    "OverwriteKernelspecFrom",
    "ReleaseGradebook",
    "RememberingValidator",
    "SaveAutoGradesInto",
    "ThroughShared",
    "shared",
]
