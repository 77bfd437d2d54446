"""nbgrader's steps run through one open gradebook (``autograder/nbgrader_steps.py``) give
nbgrader's own results, and notice when nbgrader's code they stand for changes."""

from __future__ import annotations

import copy
import hashlib
import inspect
import json

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader.nbgraderformat import ValidationError
from nbgrader.nbgraderformat.common import BaseMetadataValidator
from nbgrader.nbgraderformat.v3 import MetadataValidatorV3
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)
from traitlets.config import Config

from autograder import nbgrader_steps
from autograder.nbgrader_steps import (
    REMEMBERED_CELLS,
    REPLACEMENTS,
    CheckCellMetadataOnce,
    ReleaseGradebook,
    RememberingValidator,
)
from autograder.pipeline import course_pipeline
from tests.corpus.cases import EXERCISE

#: nbgrader's code that ``autograder/nbgrader_steps.py`` repeats or relies on, by the hash of
#: its source (nbgrader 0.9.x). When one changes, compare nbgrader's new code with ours,
#: bring ours in line, and put the new hash here.
MIRRORED = {
    "OverwriteCells.preprocess": (OverwriteCells.preprocess, "3a94b453d8e5"),
    "OverwriteKernelspec.preprocess": (OverwriteKernelspec.preprocess, "28cc17a228e7"),
    "SaveAutoGrades.preprocess": (SaveAutoGrades.preprocess, "edef3c387d5c"),
    "AssignLatePenalties.preprocess": (AssignLatePenalties.preprocess, "e4fa96a4c466"),
    "CheckCellMetadata.preprocess": (CheckCellMetadata.preprocess, "f8dfe8c496d0"),
    # RememberingValidator: a cell's check reads only its type and its nbgrader metadata
    "BaseMetadataValidator.validate_cell": (BaseMetadataValidator.validate_cell, "e5f97f45a9ab"),
    "MetadataValidatorV3.validate_cell": (MetadataValidatorV3.validate_cell, "53eb5b8ac937"),
}


def source_hash(function) -> str:
    return hashlib.sha256(inspect.getsource(function).encode()).hexdigest()[:12]


@pytest.mark.parametrize("name", sorted(MIRRORED))
def test_the_nbgrader_code_we_stand_in_for_has_not_changed(name):
    function, expected = MIRRORED[name]
    assert source_hash(function) == expected, (
        f"nbgrader's {name} changed: compare it with autograder/nbgrader_steps.py's step, "
        f"bring that in line, then set its hash in {__file__} to {source_hash(function)!r}"
    )


def test_every_replacement_is_its_nbgraders_step_with_its_configuration():
    for original, ours in REPLACEMENTS.items():
        assert issubclass(ours, original) and ours.__module__ == nbgrader_steps.__name__
    config = Config()
    config.OverwriteCells.add_missing_cells = True
    config.AssignLatePenalties.plugin_class = "nbgrader.plugins.LateSubmissionPlugin"
    assert REPLACEMENTS[OverwriteCells](config=config).add_missing_cells is True
    # the class grader's pipeline holds the replacements; an instructor's subclass stays
    steps = course_pipeline(Config())
    assert not set(REPLACEMENTS) & set(steps.classes)
    assert set(REPLACEMENTS.values()) <= set(steps.classes)

    class Mine(OverwriteCells):
        pass

    config = Config()
    config.Autograde.sanitize_preprocessors = [Mine]
    assert course_pipeline(config).sanitize == [Mine]


def _tampered(release: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The release with what OverwriteCells and OverwriteKernelspec put right: a test cell
    deleted, another's points raised, a locked cell edited, a cell type changed, and another
    kernel."""
    nb = copy.deepcopy(release)
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    locked = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("locked")]
    nb.cells.remove(graded[-1])
    graded[0].metadata.nbgrader["points"] = 100
    locked[0].source += "\nprint('changed')"
    markdown = [c for c in nb.cells if c.cell_type == "markdown" and "nbgrader" in c.metadata]
    if markdown:
        markdown[0].cell_type = "code"
        markdown[0].outputs, markdown[0].execution_count = [], None
    nb.metadata.kernelspec = {"name": "evil", "display_name": "Evil", "language": "python"}
    return nb


def _sanitize(steps: list[type], nb, db_url: str, shared: dict) -> str:
    config = Config()
    config.OverwriteCells.add_missing_cells = True
    resources = {
        "nbgrader": {
            "notebook": EXERCISE,
            "assignment": EXERCISE,
            "student": "s",
            "db_url": db_url,
        },
        "autograder": shared,
    }
    nb = copy.deepcopy(nb)
    for step in steps:
        nb, resources = step(config=config)(nb, resources)
    for index, cell in enumerate(nb.cells):  # a cell put back has no id: writes adds a random one
        cell.setdefault("id", f"put-back-{index}")
    return nbformat.writes(nb)


def test_the_sanitize_steps_give_nbgraders_notebook(courses, tmp_path):
    root = courses.course(tmp_path / "course", keep_gradebook=True)
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    release = nbformat.read(root / "course" / EXERCISE / f"{EXERCISE}.ipynb", as_version=4)
    nbgraders = [OverwriteKernelspec, OverwriteCells, CheckCellMetadata]
    ours = [REPLACEMENTS[step] for step in nbgraders]
    with Gradebook(db_url) as gradebook:
        # as a grading worker has them: the release's lookups remembered, the validator's passes
        shared = {"gradebook": ReleaseGradebook(gradebook), "validator": RememberingValidator()}
        # one worker's shared objects across hand-ins: a tampered one changes nothing for the next
        for nb in (release, _tampered(release), _tampered(release), release):
            expected = _sanitize(nbgraders, nb, db_url, {})
            assert json.loads(expected)["metadata"]["kernelspec"]["name"] != "evil"
            assert _sanitize(ours, nb, db_url, shared) == expected
            assert _sanitize(ours, nb, db_url, {}) == expected  # no shared objects: nbgrader's


def _cell(grade_id: str, **meta) -> nbformat.NotebookNode:
    nbgrader = {
        "grade": True,
        "solution": False,
        "locked": True,
        "points": 1,
        "grade_id": grade_id,
        "schema_version": 3,
        **meta,
    }
    return nbformat.v4.new_code_cell("assert True", metadata={"nbgrader": nbgrader})


def test_remembered_metadata_still_fails_where_nbgraders_check_fails():
    check = CheckCellMetadataOnce()
    validator = RememberingValidator()
    resources = {"autograder": {"validator": validator}}
    good = nbformat.v4.new_notebook(cells=[_cell("a"), _cell("b")])
    check.preprocess(good, resources)
    check.preprocess(good, resources)
    assert len(validator.passed) == 2
    # a duplicate id across two remembered cells, and a bad cell, fail every time, as in nbgrader
    duplicate = nbformat.v4.new_notebook(cells=[_cell("a"), _cell("a")])
    no_points = _cell("c")
    del no_points.metadata.nbgrader["points"]
    for bad in (duplicate, nbformat.v4.new_notebook(cells=[no_points])):
        for step in (CheckCellMetadata(), check, check):
            with pytest.raises(ValidationError):
                step.preprocess(copy.deepcopy(bad), resources)
    assert len(validator.passed) == 2


def test_the_validator_remembers_a_bounded_number_of_cells():
    validator = RememberingValidator()
    for number in range(REMEMBERED_CELLS + 50):
        validator.validate_cell(_cell(f"cell{number}"))
    assert len(validator.passed) == REMEMBERED_CELLS
