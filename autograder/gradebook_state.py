"""What the gradebook says of each hand-in (points, manual grading, lateness), and the
"flagged" mark that puts a submission needing attention on the formgrader's list.

Everything goes through nbgrader's :class:`~nbgrader.api.Gradebook`: the points are its
grades (autograded: a test cell's; manual: a graded answer cell's, such as the written
answer), the lateness is its own ``total_seconds_late`` (the hand-in's timestamp against the
assignment's due date and the learner's extension), and the flag is
``SubmittedNotebook.flagged``, which the formgrader shows and filters on.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from nbgrader.api import Gradebook, MissingEntry

from autograder.coursedir import ensure_alembic_on_path

#: Flag kinds that do not, alone, put a hand-in on the formgrader's flagged list: a missing
#: notebook has nothing to look at (the report lists it apart).
NOT_FLAGGED = frozenset({"missing"})
#: How intake says a folder had no notebook at all (autograder/intake.py): the same as missing.
PLAIN_MISSING = ": missing notebook"


def _gradebook(db_url: str, course_id: str) -> Gradebook:
    ensure_alembic_on_path()
    return Gradebook(db_url, course_id)


@dataclass
class HandinState:
    """The gradebook's view of one learner's submission of one assignment.

    ``auto_*`` are the autograded points (the test cells), ``manual_*`` the points of graded
    answer cells, which a human grades (``pending``: those still waiting for it; an answer left
    as released scores 0 without waiting, as nbgrader decides); ``seconds_late`` is 0 for a
    hand-in on time or without due date.

    Examples
    --------
    >>> s = HandinState(score=4, max_score=6, auto_score=4, auto_max=4, manual_max=2,
    ...                 manual_pending=2)
    >>> s.to_json()["manual_pending"], s.late
    (2, False)
    """

    score: float = 0.0
    max_score: float = 0.0
    auto_score: float = 0.0
    auto_max: float = 0.0
    manual_score: float = 0.0
    manual_max: float = 0.0
    manual_pending: float = 0.0
    timestamp: str | None = None
    duedate: str | None = None
    seconds_late: float = 0.0
    flagged: bool = False

    @property
    def late(self) -> bool:
        return self.seconds_late > 0

    def to_json(self) -> dict:
        return asdict(self)


def read_state(db_url: str, course_id: str, pairs: Iterable[tuple[str, str]]) -> dict:
    """``(student, assignment) -> HandinState`` for every pair the gradebook has a submission of.

    Examples
    --------
    >>> read_state("sqlite://", "c", [("ada", "a1")])
    {}
    """
    states: dict[tuple[str, str], HandinState] = {}
    with _gradebook(db_url, course_id) as gb:
        for student, assignment in pairs:
            try:
                sub = gb.find_submission(assignment, student)
            except MissingEntry:
                continue
            state = HandinState(score=float(sub.score), max_score=float(sub.max_score))
            for notebook in sub.notebooks:
                state.flagged = state.flagged or bool(notebook.flagged)
                # a graded answer cell (the written answer) is graded by a human; a graded
                # cell that is no answer cell is an autograder test
                answers = {cell.name for cell in notebook.notebook.solution_cells}
                for grade in notebook.grades:
                    points, got = float(grade.max_score), float(grade.score or 0)
                    if grade.name not in answers:
                        state.auto_score += got
                        state.auto_max += points
                        continue
                    state.manual_max += points
                    if grade.needs_manual_grade:
                        state.manual_pending += points
                    else:  # graded by hand, or an answer left as released (nbgrader: 0)
                        state.manual_score += got
            state.timestamp = sub.timestamp.isoformat() if sub.timestamp else None
            state.duedate = sub.duedate.isoformat() if sub.duedate else None
            state.seconds_late = float(sub.total_seconds_late or 0)
            states[(student, assignment)] = state
    return states


def roster(db_url: str, course_id: str) -> list[str]:
    """The ids of every student the gradebook knows (nbgrader's roster).

    Examples
    --------
    >>> roster("sqlite://", "c")
    []
    """
    with _gradebook(db_url, course_id) as gb:
        return sorted(student.id for student in gb.students)


def needs_flag(flags: Iterable[Iterable[str]]) -> bool:
    """Whether a hand-in with these ``[kind, detail]`` flags is flagged for the formgrader.

    Examples
    --------
    >>> needs_flag([["suspicious", "uses ctypes"]]), needs_flag([["missing", "not handed in"]])
    (True, False)
    >>> needs_flag([["intake", "ada/a1/a1.ipynb: missing notebook"], ["missing", "none read"]])
    False
    >>> needs_flag([["intake", "zip bomb: not unpacked, not graded"], ["missing", "none read"]])
    True
    """
    return any(
        kind not in NOT_FLAGGED and not (kind == "intake" and detail.endswith(PLAIN_MISSING))
        for kind, detail in flags
    )


def flag_in_gradebook(db_url: str, course_id: str, outcomes: Iterable) -> list[tuple[str, str]]:
    """Set nbgrader's ``flagged`` on the submitted notebook of every outcome that needs
    attention (:func:`needs_flag`), so the formgrader lists it; return the ``(student,
    assignment)`` pairs flagged. A flag is only ever set, never cleared: the instructor may
    have flagged a submission by hand. A hand-in the gradebook does not hold (not graded) is
    skipped.

    Examples
    --------
    >>> flag_in_gradebook("sqlite://", "c", [])
    []
    """
    flagged = []
    with _gradebook(db_url, course_id) as gb:
        for outcome in outcomes:
            if not needs_flag(outcome.flags):
                continue
            try:
                notebook = gb.find_submission_notebook(
                    outcome.notebook, outcome.assignment, outcome.student
                )
            except MissingEntry:
                continue
            if not notebook.flagged:
                notebook.flagged = True
            flagged.append((outcome.student, outcome.assignment))
        gb.db.commit()
    return flagged


__all__ = ["HandinState", "flag_in_gradebook", "needs_flag", "read_state", "roster"]
