"""The plain data that crosses the grader's modules: limits, submissions, outcomes.

Everything here is a dataclass of plain, picklable values: a :class:`Submission` travels from
intake to a grading worker, an :class:`Outcome` from the worker to the single writer, the
journal and the report, and :class:`Limits` from the command line to every kernel.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class Limits:
    """Time, memory and output limits for one submission.

    Examples
    --------
    >>> Limits().cell_timeout
    30
    """

    cell_timeout: int = 30
    notebook_timeout: float = 120.0
    # seconds each test cell may take in the trusted runner, its calls into the kernel included
    test_timeout: float = 30.0
    memory_bytes: int = 2 * 2**30
    max_output_chars: int = 200_000
    # per sandbox (autograder/cgroups.py, Sandbox.wrap): processes and threads, CPUs' worth
    # of CPU time, bytes written to the work folder and to /tmp (each)
    max_processes: int = 256
    cpu_share: float = 1.0
    disk_bytes: int = 512 * 2**20
    # intake quotas, checked before anything is unpacked (autograder/intake.py)
    submission_bytes: int = 100 * 2**20
    zip_members: int = 1000
    zip_ratio: int = 100


@dataclass
class Submission:
    """One learner's hand-in for one assignment, as bytes.

    Examples
    --------
    >>> s = Submission("ada", "04_exercise", "04_exercise", b"{}", origin="ada.ipynb")
    >>> s.digest == Submission("ada", "04_exercise", "04_exercise", b"{}").digest
    True
    """

    student: str
    assignment: str
    notebook: str
    data: bytes | None
    extras: dict[str, bytes] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    timestamp: str | None = None
    origin: str = ""

    @property
    def digest(self) -> str:
        """SHA-256 of everything handed in: a changed submission is graded again."""
        h = hashlib.sha256()
        h.update(b"notebook\0" + (self.data if self.data is not None else b"<missing>"))
        for name in sorted(self.extras):
            h.update(b"\0" + name.encode() + b"\0" + self.extras[name])
        return h.hexdigest()


@dataclass
class Outcome:
    """The result of grading one submission: plain data for the writer and the report.

    ``flags`` are ``[kind, detail]`` pairs; kinds are ``missing``, ``invalid``, ``encoding``,
    ``tampered``, ``suspicious``, ``timeout``, ``crash``, ``memory``, ``output``, ``intake``,
    ``mismatch`` (nbgrader's score of a cell differs from the trusted runner's) and ``grader``
    (the grader itself failed: the submission is not graded, never scored 0). ``tests`` maps
    each autograded test cell to ``{"passed": bool, "message": str}``. Once the single writer
    has saved the executed notebook, ``graded`` is ``""`` (its text lives in ``autograded/``).
    """

    student: str
    assignment: str
    notebook: str
    digest: str
    graded: str | None = None
    flags: list[list[str]] = field(default_factory=list)
    tests: dict[str, dict] = field(default_factory=dict)
    seconds: float = 0.0
    timestamp: str | None = None
    kernel_cpu: float = 0.0
    runner_cpu: float = 0.0

    def to_json(self) -> dict:
        """The outcome as a JSON-able dict (the notebook left out).

        Examples
        --------
        >>> Outcome("ada", "a1", "a1", "00").to_json()["student"]
        'ada'
        """
        data = asdict(self)
        data.pop("graded")
        return data


def outcome_from_json(data: dict) -> Outcome:
    """The inverse of :meth:`Outcome.to_json` (without the notebook).

    Examples
    --------
    >>> outcome_from_json(Outcome("ada", "a1", "a1", "00").to_json()).student
    'ada'
    """
    return Outcome(**{k: v for k, v in data.items() if k in Outcome.__dataclass_fields__})


@dataclass
class Verdict:
    """The trusted runner's judgement of one test cell.

    ``status`` is ``passed``, ``failed`` (the test's assertion), ``error`` (any other exception,
    or a failed call into the learner's kernel) or ``timeout``; ``ename`` and ``evalue`` are the
    error's type and message (empty when it passed), ``stdout`` what the test printed.

    Examples
    --------
    >>> Verdict("failed", "AssertionError", "moved uphill").passed
    False
    """

    status: str
    ename: str = ""
    evalue: str = ""
    stdout: str = ""

    @property
    def passed(self) -> bool:
        return self.status == "passed"
