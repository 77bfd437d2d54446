"""Group failed tests by misconception: a test's hint with the values it embeds taken out.

A failed test's message names the mistake and quotes the numbers of that learner's run
("returned 10.4, it moved uphill", "after 100 epochs f(x) = 6.9e+17"). Two learners with the
same mistake get the same words and different numbers, so :func:`hint_of` replaces every
number (and every array or tuple of numbers) by ``…``, and :func:`group_failures` puts the
learners whose hints are then equal into one group, every learner named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

#: A number as Python, numpy or a learner prints it: 3, -0.5, 1e-3, 6.9e+17, nan, inf.
_NUMBER = re.compile(
    r"(?<![\w.])[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?(?![\w])|(?<![\w])-?(?:nan|inf)\b"
)
#: A bracketed run of placeholders, as an array or tuple of numbers becomes: [… … …], (…, …).
_RUN = re.compile(r"([\[(])\s*…(?:[\s,]+…)*\s*,?\s*([\])])")
_SPACES = re.compile(r"\s+")

#: Messages that say the grader stopped the notebook, not what the learner misunderstood.
SKIPPED_PREFIXES = ("GraderStop",)
PLACEHOLDER = "…"


def hint_of(message: str) -> str:
    """``message`` with the values it embeds replaced by ``…``: the misconception's key.

    Examples
    --------
    >>> hint_of("AssertionError: expected 0.8, got 1.2")
    'AssertionError: expected …, got …'
    >>> hint_of("AssertionError: expected 3.0, got -4.5e+17") == hint_of(
    ...     "AssertionError: expected 0.8, got 1.2")
    True
    >>> hint_of("expected [0, 0, 2], got [ 1.  -2.   2.]: subtract elementwise")
    'expected […], got […]: subtract elementwise'
    >>> hint_of("shape (4, 3) came back as (12,); x0 and dJ/dw stay")
    'shape (…) came back as (…); x0 and dJ/dw stay'
    >>> hint_of("f(x) = nan, the loop diverged to -inf")
    'f(x) = …, the loop diverged to …'
    """
    text = _NUMBER.sub(PLACEHOLDER, message)
    previous = None
    while previous != text:
        previous, text = text, _RUN.sub(rf"\1{PLACEHOLDER}\2", text)
    return _SPACES.sub(" ", text).strip()


@dataclass
class Misconception:
    """One group of failures: the hint, an example as a learner saw it, where and who.

    Examples
    --------
    >>> m = Misconception("04", "AssertionError: it moved uphill …")
    >>> m.add("ada", "t1", "AssertionError: it moved uphill 10.4"); m.count
    1
    """

    assignment: str
    hint: str
    example: str = ""
    tests: list[str] = field(default_factory=list)
    students: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.students)

    def add(self, student: str, test: str, message: str) -> None:
        self.example = self.example or message
        if test not in self.tests:
            self.tests.append(test)
        if student not in self.students:
            self.students.append(student)

    def to_json(self) -> dict:
        return {
            "assignment": self.assignment,
            "hint": self.hint,
            "example": self.example,
            "tests": self.tests,
            "students": sorted(self.students),
            "count": self.count,
        }


def group_failures(failures: Iterable[tuple[str, str, str, str]]) -> list[dict]:
    """Group ``(assignment, student, test, message)`` failures by assignment and hint.

    Every group lists all its learners; the largest groups come first. Messages that only say
    the grader stopped the notebook (:data:`SKIPPED_PREFIXES`) and empty ones are left out.

    Examples
    --------
    >>> groups = group_failures([
    ...     ("a1", "ada", "t1", "AssertionError: expected 0.8, got 1.2"),
    ...     ("a1", "bob", "t1", "AssertionError: expected 3.0, got 4.5"),
    ...     ("a1", "cy", "t2", "AssertionError: the input array was changed in place"),
    ... ])
    >>> [(g["hint"], g["students"]) for g in groups]  # doctest: +NORMALIZE_WHITESPACE
    [('AssertionError: expected …, got …', ['ada', 'bob']),
     ('AssertionError: the input array was changed in place', ['cy'])]
    """
    groups: dict[tuple[str, str], Misconception] = {}
    for assignment, student, test, message in failures:
        if not message or message.startswith(SKIPPED_PREFIXES):
            continue
        hint = hint_of(message)
        group = groups.setdefault((assignment, hint), Misconception(assignment, hint))
        group.add(student, test, message)
    ordered = sorted(groups.values(), key=lambda g: (g.assignment, -g.count, g.hint))
    return [g.to_json() for g in ordered]


__all__ = ["Misconception", "group_failures", "hint_of"]
