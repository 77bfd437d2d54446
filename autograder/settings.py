"""The class grader's own settings: traits that ``nbgrader_config.py`` and the command line set.

:class:`ClassGrader` is a traitlets ``Configurable``, so its options live where every other
grading setting of the course lives: ``c.ClassGrader.workers = 2`` in
``autograder/nbgrader_config.py`` sets what ``--workers 2`` sets on the command line, and the
command line wins (:func:`grader_settings`). The cell timeout defaults to nbgrader's own
``ExecutePreprocessor.timeout`` (or ``Execute.timeout``), so plain ``nbgrader autograde`` and
``python -m autograder grade`` interrupt a cell at the same time.

:meth:`ClassGrader.limits` turns the settings into :class:`~autograder.records.Limits`, the
plain record that travels to the grading workers.
"""

from __future__ import annotations

from typing import Any

from nbgrader.preprocessors import Execute
from traitlets import Float, Integer, TraitError, validate
from traitlets.config import Config, Configurable

from autograder.coursedir import CourseError
from autograder.records import Limits

MIB = 2**20


class ClassGrader(Configurable):
    """What ``python -m autograder grade`` runs with (every trait is also a ``--option``).

    Examples
    --------
    >>> config = Config()
    >>> config.ExecutePreprocessor.timeout = 60
    >>> config.ClassGrader.memory = 1024
    >>> grader = ClassGrader(config=config)
    >>> limits = grader.limits(config)
    >>> limits.cell_timeout, limits.memory_bytes // MIB
    (60, 1024)
    """

    workers = Integer(None, allow_none=True, help="parallel kernels (default: two per core)").tag(
        config=True
    )
    cell_timeout = Integer(
        None,
        allow_none=True,
        help="seconds per learner cell (default: nbgrader's ExecutePreprocessor.timeout, "
        "which plain nbgrader autograde uses)",
    ).tag(config=True)
    test_timeout = Float(30.0, help="seconds per test cell (trusted runner)").tag(config=True)
    timeout = Float(120.0, help="seconds per submission").tag(config=True)
    memory = Integer(2048, help="MiB of memory per sandbox (and address space per process)").tag(
        config=True
    )
    max_processes = Integer(256, help="processes and threads per sandbox").tag(config=True)
    disk = Integer(512, help="MiB a kernel may write to its work folder and /tmp").tag(config=True)
    max_submission = Integer(
        100, help="MiB per hand-in, unpacked (checked before anything is unpacked)"
    ).tag(config=True)

    @validate("workers", "cell_timeout", "max_submission")
    def _at_least_one(self, proposal: dict) -> Any:
        return _at_least(proposal, 1)

    @validate("test_timeout", "timeout")
    def _positive(self, proposal: dict) -> Any:
        if proposal["value"] <= 0:
            raise TraitError("must be positive")
        return proposal["value"]

    @validate("memory")
    def _enough_memory(self, proposal: dict) -> Any:
        return _at_least(proposal, 256)

    @validate("max_processes", "disk")
    def _at_least_16(self, proposal: dict) -> Any:
        return _at_least(proposal, 16)

    def limits(self, config: Config) -> Limits:
        """The plain :class:`Limits` record of these settings; the cell timeout, unless set
        here, is what nbgrader's ``Execute`` would use under ``config`` (no timeout there: the
        submission's)."""
        cell = self.cell_timeout or Execute(config=config).timeout or int(self.timeout)
        return Limits(
            cell_timeout=max(1, int(cell)),
            test_timeout=self.test_timeout,
            notebook_timeout=self.timeout,
            memory_bytes=self.memory * MIB,
            max_processes=self.max_processes,
            disk_bytes=self.disk * MIB,
            submission_bytes=self.max_submission * MIB,
        )


def _at_least(proposal: dict, low: int) -> Any:
    value = proposal["value"]
    if value is not None and value < low:
        raise TraitError(f"needs at least {low}")
    return value


def option(name: str) -> str:
    """The command-line option of a :class:`ClassGrader` trait.

    Examples
    --------
    >>> option("max_processes")
    '--max-processes'
    """
    return "--" + name.replace("_", "-")


def grader_settings(config: Config, given: dict[str, Any], source: str) -> ClassGrader:
    """:class:`ClassGrader` configured by ``config`` (the course's ``nbgrader_config.py``, read
    from ``source``) with the command line's ``given`` values on top.

    A bad or unknown value raises :class:`CourseError` naming where it came from.

    Examples
    --------
    >>> config = Config()
    >>> config.ClassGrader.workers = 2
    >>> config.ClassGrader.disk = 64
    >>> grader = grader_settings(config, {"workers": 3}, "nbgrader_config.py")
    >>> grader.workers, grader.disk
    (3, 64)
    >>> grader_settings(config, {"workers": 0}, "nbgrader_config.py")
    Traceback (most recent call last):
    ...
    autograder.coursedir.CourseError: --workers 0: needs at least 1
    >>> config.ClassGrader.worker = 2
    >>> grader_settings(config, {}, "nbgrader_config.py")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    autograder.coursedir.CourseError: nbgrader_config.py: c.ClassGrader.worker: no such setting ...
    """
    known = sorted(ClassGrader.class_traits(config=True))
    for name, value in config.get("ClassGrader", {}).items():
        if name not in known:
            raise CourseError(
                f"{source}: c.ClassGrader.{name}: no such setting (the settings: "
                + ", ".join(known)
                + ")"
            )
        _check(name, value, f"{source}: c.ClassGrader.{name} = {value!r}")
    for name, value in given.items():
        _check(name, value, f"{option(name)} {value}")
    layered = Config(config)
    layered.merge(Config({"ClassGrader": dict(given)}))
    return ClassGrader(config=layered)


def _check(name: str, value: Any, where: str) -> None:
    """Raise :class:`CourseError` (``where: why``) if ``value`` is not a valid ``name``."""
    try:
        ClassGrader(**{name: value})
    except TraitError as error:
        reason = str(error).strip().splitlines()[0]
        raise CourseError(f"{where}: {reason}") from None
