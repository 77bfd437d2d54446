"""Find the submissions in a folder, in any mix of the layouts an instructor gets them in.

Every entry of the submissions folder is one :class:`Entry` of the run's manifest, with what
became of it; nothing is skipped in silence. An entry is one of:

- a student folder: nbgrader's ``<student>/<assignment>/<notebook>.ipynb`` (``submitted/``,
  with the learner's extra files and ``timestamp.txt``), or the notebook directly in
  ``<student>/``, or ``<student>/<assignment>.zip``;
- a per-student ``<student>.zip`` (an LMS export: the notebook anywhere inside);
- a loose ``<student>.ipynb``;
- anything else (a hidden file, a link, a stray file): listed with the reason it is not graded.

A student id is the entry's name (Unicode letters and digits, spaces and ``. _ @ + - '``), in
Unicode NFC. Two entries naming one student (``ada.zip`` and ``ada.ipynb``, or ``Ada`` and
``ada``) are both refused with a message naming both: neither overwrites the other.

:func:`scan` only looks (names, sizes, zip directories); :func:`load` reads one hand-in into
a :class:`~autograder.records.Submission`, after the quotas of :class:`~autograder.records.Limits`
(bytes per submission, members per zip, compression ratio) have passed, counting the bytes it
really reads. Hand-ins are loaded one at a time, so the grader never holds the class in memory.
Files are only read, never changed, moved or extracted in place.
"""

from __future__ import annotations

import io
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.coursedir import CourseError
from autograder.records import Limits, Submission

#: Largest extra file copied into a learner's work folder; larger ones are left out.
MAX_EXTRA_BYTES = 20 * 2**20
#: Punctuation allowed in a student id besides letters, digits and marks.
ID_PUNCTUATION = " ._@+-'"
#: Zip members smaller than this are not held to the compression-ratio quota.
RATIO_FLOOR = 2**20


def safe_relative(name: str) -> str | None:
    """``name`` as a relative POSIX path inside the submission, or None if it escapes.

    Examples
    --------
    >>> safe_relative("data/points.csv"), safe_relative("../../etc/passwd"), safe_relative("/x")
    ('data/points.csv', None, None)
    """
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or not path.parts:
        return None
    return str(path)


def student_id(name: str) -> str | None:
    """The student id a file or folder name stands for (NFC), or None if it is not usable.

    Examples
    --------
    >>> student_id("jose\\u0301"), student_id("ada smith"), student_id("a.b-c")
    ('josé', 'ada smith', 'a.b-c')
    >>> student_id("bad!name"), student_id(" ada"), student_id(".hidden"), student_id("")
    (None, None, None, None)
    """
    sid = unicodedata.normalize("NFC", name)
    if not 0 < len(sid) <= 100 or sid != sid.strip() or sid[0] in ".-":
        return None
    for char in sid:
        if char in ID_PUNCTUATION:
            continue
        if unicodedata.category(char)[0] not in "LNM":
            return None
    return sid


@dataclass
class Entry:
    """One entry of the submissions folder and its fate (a row of the manifest).

    ``fate`` is ``pending`` until the run decides: ``graded``, ``graded with flags``,
    ``not graded`` (the grader could not grade it: retried next run), ``refused`` (the entry
    cannot be graded as it is: the reason says how to fix it) or ``ignored``.
    """

    name: str
    kind: str
    student: str | None = None
    fate: str = "pending"
    reasons: list[str] = field(default_factory=list)
    keys: list[tuple[str, str, str]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "entry": self.name,
            "kind": self.kind,
            "student": self.student,
            "fate": self.fate,
            "reasons": list(self.reasons),
            "submissions": ["/".join(k[1:]) for k in self.keys],
        }


@dataclass
class Handin:
    """Where one hand-in is (no bytes yet): what :func:`load` reads.

    ``how`` is ``folder`` (an assignment folder), ``direct`` (the notebook in the student
    folder), ``zip`` or ``loose``.
    """

    student: str
    assignment: str
    notebook: str
    how: str
    path: str
    entry: str
    problems: list[str] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.student, self.assignment, self.notebook)


@dataclass
class Intake:
    """The manifest of a submissions folder and the hand-ins found in it."""

    entries: list[Entry]
    handins: list[Handin]


def detect_folder(folder: Path) -> list[Path]:
    """The entries of ``folder``, or raise CourseError naming the problem.

    Examples
    --------
    >>> detect_folder(Path("/no/such/folder"))
    Traceback (most recent call last):
    ...
    autograder.coursedir.CourseError: /no/such/folder: no such folder
    """
    if not folder.exists():
        raise CourseError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CourseError(f"{folder}: not a folder (give the folder that holds the submissions)")
    entries = sorted(folder.iterdir())
    if not [p for p in entries if not p.name.startswith(".")]:
        raise CourseError(f"{folder}: empty folder, no submissions to grade")
    return entries


def scan(folder: Path, notebooks: dict[str, list[str]], assignment: str | None = None) -> Intake:
    """The manifest and hand-ins of ``folder``, without reading any hand-in.

    Parameters
    ----------
    folder : Path
        The submissions folder: student folders, ``.zip`` and ``.ipynb`` files, mixed.
    notebooks : dict
        Assignment -> names of its notebooks (without ``.ipynb``), from the source.
    assignment : str, optional
        Grade only this assignment; per-student files (``.zip``, ``.ipynb``) need it.

    Examples
    --------
    >>> import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = (tmp / "ada.ipynb").write_text("{}")
    >>> _ = (tmp / "Ada.zip").write_bytes(b"")
    >>> _ = (tmp / "bad!name.ipynb").write_text("{}")
    >>> (tmp / "josé" / "a1").mkdir(parents=True)
    >>> found = scan(tmp, {"a1": ["a1"]}, "a1")
    >>> [(e.name, e.fate) for e in found.entries]  # doctest: +NORMALIZE_WHITESPACE
    [('Ada.zip', 'refused'), ('ada.ipynb', 'refused'), ('bad!name.ipynb', 'refused'),
     ('josé', 'pending')]
    >>> [h.key for h in found.handins]
    [('josé', 'a1', 'a1')]
    """
    folder = Path(folder)
    if assignment is not None and assignment not in notebooks:
        known = ", ".join(sorted(notebooks)) or "none"
        raise CourseError(f"{assignment}: unknown assignment (the course has: {known})")
    paths = detect_folder(folder)
    wanted = {a: n for a, n in notebooks.items() if assignment is None or a == assignment}
    entries: list[Entry] = []
    handins: list[Handin] = []
    per_student_files = []
    for path in paths:
        entry, found = _classify(path, wanted, assignment)
        entries.append(entry)
        handins += found
        if entry.kind in ("zip", "notebook"):
            per_student_files.append(entry)
    if assignment is None and per_student_files and not handins:
        names = ", ".join(e.name for e in per_student_files[:3])
        raise CourseError(
            f"{folder}: holds per-student files ({names}); name their assignment with --assignment"
        )
    handins = _refuse_collisions(entries, handins)
    return Intake(entries, handins)


def _classify(
    path: Path, wanted: dict[str, list[str]], assignment: str | None
) -> tuple[Entry, list[Handin]]:
    """One top-level entry: what it is, and the hand-ins it holds."""
    name = path.name
    if name.startswith("."):
        return Entry(name, "hidden", fate="ignored", reasons=["hidden file or folder"]), []
    if path.is_symlink():
        why = "a symbolic link: not followed, not graded"
        return Entry(name, "link", fate="refused", reasons=[why]), []
    if path.is_dir():
        kind, stem = "folder", name
    elif path.suffix.lower() == ".zip":
        kind, stem = "zip", path.stem
    elif path.suffix.lower() == ".ipynb":
        kind, stem = "notebook", path.stem
    else:
        why = "not a submission (expected a student folder, <student>.zip or <student>.ipynb)"
        return Entry(name, "file", fate="ignored", reasons=[why]), []
    sid = student_id(stem)
    entry = Entry(name, kind, student=sid)
    if sid is None:
        entry.fate = "refused"
        entry.reasons.append(
            f"{stem!r} is not a usable student id (letters, digits, spaces and "
            f"{ID_PUNCTUATION.strip()} only, not starting with . or -): rename it"
        )
        return entry, []
    if kind != "folder":
        if assignment is None:
            entry.fate = "refused"
            entry.reasons.append("a per-student file: name its assignment with --assignment")
            return entry, []
        if len(wanted[assignment]) != 1:
            entry.fate = "refused"
            entry.reasons.append(
                f"{assignment} has {len(wanted[assignment])} notebooks; a per-student file "
                "needs an assignment with exactly one"
            )
            return entry, []
        how = "zip" if kind == "zip" else "loose"
        nb = wanted[assignment][0]
        return entry, [Handin(sid, assignment, nb, how, str(path), name)]
    found = _in_student_folder(path, sid, wanted)
    if not found:
        entry.fate = "refused"
        expected = ", ".join(f"{a}/" for a in wanted)
        entry.reasons.append(f"no assignment folder ({expected}), notebook or zip inside")
    return entry, found


def _in_student_folder(path: Path, sid: str, wanted: dict[str, list[str]]) -> list[Handin]:
    """The hand-ins of one student folder: ``<assignment>/``, notebooks directly, or zips."""
    found = []
    try:
        children = {p.name: p for p in path.iterdir()}
    except OSError:
        return []
    for assignment, names in sorted(wanted.items()):
        sub = children.get(assignment)
        if sub is not None and sub.is_dir() and not sub.is_symlink():
            found += [Handin(sid, assignment, nb, "folder", str(sub), path.name) for nb in names]
            continue
        direct = [n for n in names if (path / f"{n}.ipynb").is_file()]
        if direct:
            for nb in names:
                found.append(Handin(sid, assignment, nb, "direct", str(path), path.name))
            continue
        archive = children.get(f"{assignment}.zip")
        if archive is not None and archive.is_file() and len(names) == 1:
            found.append(Handin(sid, assignment, names[0], "zip", str(archive), path.name))
    return found


def _refuse_collisions(entries: list[Entry], handins: list[Handin]) -> list[Handin]:
    """Refuse every entry whose student id another entry also names (case and accents
    normalised); keep the other hand-ins."""
    owners: dict[str, list[Entry]] = {}
    for entry in entries:
        if entry.student is not None and entry.fate == "pending":
            owners.setdefault(entry.student.casefold(), []).append(entry)
    clashing = set()
    for group in owners.values():
        if len(group) > 1:
            names = " and ".join(repr(e.name) for e in group)
            for entry in group:
                entry.fate = "refused"
                entry.reasons.append(
                    f"{names} name the same student: neither is graded; rename or remove one"
                )
                clashing.add(entry.name)
    kept = [h for h in handins if h.entry not in clashing]
    by_entry: dict[str, Entry] = {e.name: e for e in entries}
    for handin in kept:
        by_entry[handin.entry].keys.append(handin.key)
    return kept


# --- reading one hand-in --------------------------------------------------------------------
class QuotaError(Exception):
    """A hand-in over an intake quota: it is not unpacked."""


def load(handin: Handin, limits: Limits) -> Submission:
    """Read one hand-in, within the intake quotas of ``limits``.

    Problems of the hand-in (a quota, a member named with ``../``, a link, an unreadable
    ``timestamp.txt``, a renamed notebook) are the submission's ``problems``; a hand-in over
    a quota has no notebook (it scores 0, flagged). Raises only on the grader's own failures.

    Examples
    --------
    >>> import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = (tmp / "ada.ipynb").write_text("{}")
    >>> load(Handin("ada", "a1", "a1", "loose", str(tmp / "ada.ipynb"), "ada.ipynb"),
    ...      Limits()).data
    b'{}'
    """
    sub = Submission(handin.student, handin.assignment, handin.notebook, None, origin=handin.path)
    sub.problems += handin.problems
    path = Path(handin.path)
    try:
        if handin.how == "loose":
            _check_size(path, [path], limits)
            sub.data = path.read_bytes()
        elif handin.how == "zip":
            _read_zip(path, sub, limits)
        elif handin.how == "direct":
            files = [path / f"{handin.notebook}.ipynb"]
            _check_size(path, files, limits)
            if files[0].is_file() and not files[0].is_symlink():
                sub.data = files[0].read_bytes()
            else:
                sub.problems.append(f"{files[0]}: missing notebook")
        else:
            _read_folder(path, sub, limits)
    except QuotaError as error:
        sub.data, sub.extras = None, {}
        sub.problems.append(f"{error}: not unpacked, not graded")
    return sub


def _check_size(root: Path, files: list[Path], limits: Limits) -> None:
    total = sum(p.lstat().st_size for p in files if p.exists() or p.is_symlink())
    if total > limits.submission_bytes:
        raise QuotaError(
            f"{root.name}: {total / 2**20:.1f} MiB, over the quota of "
            f"{limits.submission_bytes / 2**20:g} MiB per submission"
        )


def _read_folder(adir: Path, sub: Submission, limits: Limits) -> None:
    files = [p for p in sorted(adir.rglob("*")) if not p.is_dir() or p.is_symlink()]
    _check_size(adir, files, limits)
    stamp = adir / "timestamp.txt"
    if stamp.is_file() and not stamp.is_symlink():
        sub.timestamp = _read_timestamp(stamp, sub)
    target = adir / f"{sub.notebook}.ipynb"
    others = []
    for path in files:
        rel = path.relative_to(adir).as_posix()
        if path.is_symlink():
            sub.problems.append(f"{path}: a symbolic link: ignored")
        elif path == target or rel == "timestamp.txt" or ".ipynb_checkpoints" in rel:
            continue
        elif path.suffix == ".ipynb":
            others.append(path)
        elif path.suffix.lower() == ".zip" and "/" not in rel:
            others.append(path)
        elif path.stat().st_size <= MAX_EXTRA_BYTES:
            sub.extras[rel] = path.read_bytes()
        else:
            sub.problems.append(f"{path}: larger than {MAX_EXTRA_BYTES // 2**20} MiB: ignored")
    if target.is_file() and not target.is_symlink():
        sub.data = target.read_bytes()
        return
    if target.is_symlink():
        sub.problems.append(f"{target}: a symbolic link, not a notebook: not graded")
        return
    top = [p for p in others if p.parent == adir]
    notebooks = [p for p in top if p.suffix == ".ipynb"]
    zips = [p for p in top if p.suffix.lower() == ".zip"]
    if len(notebooks) == 1:
        sub.data = notebooks[0].read_bytes()
        sub.problems.append(
            f"{notebooks[0].name} graded as {sub.notebook}.ipynb (the only notebook in "
            f"{adir.name}/; renamed by the learner)"
        )
    elif not notebooks and len(zips) == 1:
        _read_zip(zips[0], sub, limits)
        if sub.data is not None:
            sub.problems.append(f"{sub.notebook}.ipynb graded from {zips[0].name}")
    elif len(notebooks) > 1:
        names = ", ".join(p.name for p in notebooks)
        sub.problems.append(f"{target}: missing; several other notebooks ({names}): not graded")
    else:
        sub.problems.append(f"{target}: missing notebook")


def _read_timestamp(stamp: Path, sub: Submission) -> str | None:
    """nbgrader's ``timestamp.txt``, or None with a problem noted if it cannot be used."""
    from nbgrader.utils import parse_utc

    try:
        text = stamp.read_bytes()[:200].decode("utf-8").strip()
        parse_utc(text)
        return text
    except Exception as error:  # not UTF-8, not a date: graded without a timestamp
        sub.problems.append(
            f"{stamp}: not a usable timestamp ({type(error).__name__}): graded without one"
        )
        return None


def _read_zip(path: Path, sub: Submission, limits: Limits) -> None:
    """The notebook and extra files of a zip, checked against the quotas before unpacking."""
    size = path.stat().st_size
    if size > limits.submission_bytes:
        raise QuotaError(f"{path.name}: {size / 2**20:.1f} MiB, over the quota per submission")
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
            _check_zip(path, members, limits)
            budget = limits.submission_bytes
            for member in members:
                rel = safe_relative(member.filename)
                if rel is None:
                    sub.problems.append(
                        f"{path.name}: member {member.filename!r} points outside the "
                        "submission: ignored"
                    )
                    continue
                if "__MACOSX" in rel.split("/"):
                    continue
                if PurePosixPath(rel).name == f"{sub.notebook}.ipynb" and sub.data is None:
                    sub.data = _read_member(archive, member, budget, path)
                    budget -= len(sub.data)
                elif member.file_size <= MAX_EXTRA_BYTES:
                    data = _read_member(archive, member, budget, path)
                    budget -= len(data)
                    sub.extras[PurePosixPath(rel).name if "/" in rel else rel] = data
                else:
                    sub.problems.append(f"{path.name}: {rel} is too large: ignored")
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError) as error:
        sub.data, sub.extras = None, {}
        sub.problems.append(f"{path.name}: not a readable zip file ({error})")
        return
    if sub.data is None:
        sub.problems.append(f"{path.name}: no {sub.notebook}.ipynb inside")


def _check_zip(path: Path, members: list[zipfile.ZipInfo], limits: Limits) -> None:
    """The quotas read from the zip's directory: members, total size, compression ratio."""
    if len(members) > limits.zip_members:
        raise QuotaError(
            f"{path.name}: {len(members)} members, over the quota of {limits.zip_members}"
        )
    total = sum(m.file_size for m in members)
    if total > limits.submission_bytes:
        raise QuotaError(
            f"{path.name}: unpacks to {total / 2**20:.1f} MiB, over the quota of "
            f"{limits.submission_bytes / 2**20:g} MiB per submission"
        )
    for m in members:
        ratio = m.file_size // max(m.compress_size, 1)
        if m.file_size > RATIO_FLOOR and ratio > limits.zip_ratio:
            raise QuotaError(
                f"{path.name}: member {m.filename!r} is compressed {ratio}:1, "
                f"over the quota of {limits.zip_ratio}:1 (a zip bomb?)"
            )


def _read_member(
    archive: zipfile.ZipFile, member: zipfile.ZipInfo, budget: int, path: Path
) -> bytes:
    """A member's bytes, read in chunks and stopped at its declared size or the budget (a
    zip can lie about sizes in its directory)."""
    cap = min(member.file_size, budget)
    out = io.BytesIO()
    with archive.open(member) as stream:
        while chunk := stream.read(min(2**16, cap + 1 - out.tell())):
            out.write(chunk)
            if out.tell() > cap:
                raise QuotaError(f"{path.name}: member {member.filename!r} is larger than declared")
    return out.getvalue()


def find_submissions(
    folder: Path,
    notebooks: dict[str, list[str]],
    assignment: str | None = None,
    limits: Limits | None = None,
) -> list[Submission]:
    """Every submission in ``folder`` read into memory (small folders and tests only: the
    grader itself loads one hand-in at a time, see :func:`scan` and :func:`load`).

    Examples
    --------
    >>> import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = (tmp / "ada.ipynb").write_text("{}")
    >>> [(s.student, s.assignment) for s in find_submissions(tmp, {"a1": ["a1"]}, "a1")]
    [('ada', 'a1')]
    """
    found = scan(folder, notebooks, assignment)
    if not found.handins:
        raise CourseError(f"{folder}: no submissions for {assignment or 'any known assignment'}")
    return [load(h, limits or Limits()) for h in found.handins]
