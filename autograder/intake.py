"""Find the submissions in a folder, in any of the layouts an instructor gets them in.

Three layouts are understood:

- nbgrader's ``<dir>/<student>/<assignment>/<notebook>.ipynb`` (``submitted/``), with any
  extra files the learner handed in beside the notebook and nbgrader's ``timestamp.txt``;
- a folder of per-student ``.zip`` files, ``<dir>/<student>.zip``, as exported from an LMS
  (the notebook anywhere inside; other members are the learner's extra files);
- a folder of loose notebooks named by student, ``<dir>/<student>.ipynb``.

Files are only read, never changed, moved or extracted in place: a :class:`Submission`
holds the bytes. Anything odd about one submission (a zip member named with ``../``, a
symbolic link, a missing notebook, an unreadable zip) is kept as a problem of that
submission, for the report; only a folder that is not a submissions folder at all raises
:class:`~autograder.coursedir.CourseError`.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath

from autograder.coursedir import CourseError
from autograder.records import Submission

STUDENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,99}$")
#: Largest extra file copied into a learner's work folder; larger ones are left out.
MAX_EXTRA_BYTES = 20 * 2**20


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


def detect_layout(folder: Path) -> str:
    """``"nbgrader"``, ``"zip"`` or ``"loose"``, or raise CourseError naming the problem.

    Examples
    --------
    >>> detect_layout(Path("/no/such/folder"))
    Traceback (most recent call last):
    ...
    autograder.coursedir.CourseError: /no/such/folder: no such folder
    """
    if not folder.exists():
        raise CourseError(f"{folder}: no such folder")
    if not folder.is_dir():
        raise CourseError(f"{folder}: not a folder (give the folder that holds the submissions)")
    entries = [p for p in folder.iterdir() if not p.name.startswith(".")]
    if not entries:
        raise CourseError(f"{folder}: empty folder, no submissions to grade")
    if any(p.suffix == ".zip" and p.is_file() for p in entries):
        return "zip"
    if any(p.suffix == ".ipynb" and p.is_file() for p in entries):
        return "loose"
    if any(p.is_dir() for p in entries):
        return "nbgrader"
    raise CourseError(
        f"{folder}: no student folders, .zip files or .ipynb files in it "
        "(expected <student>/<assignment>/, <student>.zip or <student>.ipynb)"
    )


def find_submissions(
    folder: Path, notebooks: dict[str, list[str]], assignment: str | None = None
) -> list[Submission]:
    """Every submission in ``folder`` for the assignments in ``notebooks``.

    Parameters
    ----------
    folder : Path
        The submissions folder, in one of the three layouts.
    notebooks : dict
        Assignment name -> names of its notebooks (without ``.ipynb``), from the source.
    assignment : str, optional
        Grade only this assignment; required for the zip and loose layouts.

    Examples
    --------
    >>> import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> _ = (tmp / "ada.ipynb").write_text("{}")
    >>> [(s.student, s.assignment) for s in find_submissions(tmp, {"a1": ["a1"]}, "a1")]
    [('ada', 'a1')]
    >>> _ = (tmp / "no good!.ipynb").write_text("{}")
    >>> [(s.student, s.data is None) for s in find_submissions(tmp, {"a1": ["a1"]}, "a1")]
    [('ada', False), ('unnamed-no_good_', True)]
    """
    folder = Path(folder)
    if assignment is not None and assignment not in notebooks:
        known = ", ".join(sorted(notebooks)) or "none"
        raise CourseError(f"{assignment}: unknown assignment (the course has: {known})")
    layout = detect_layout(folder)
    if layout == "nbgrader":
        found = _from_nbgrader(folder, notebooks, assignment)
    else:
        if assignment is None:
            raise CourseError(
                f"{folder}: holds per-student {layout} files; name their assignment with "
                "--assignment"
            )
        if len(notebooks[assignment]) != 1:
            raise CourseError(
                f"{assignment}: has {len(notebooks[assignment])} notebooks; per-student "
                "files need an assignment with exactly one"
            )
        pattern, reader = ("*.zip", _read_zip) if layout == "zip" else ("*.ipynb", _read_loose)
        found = _from_files(folder, pattern, reader, assignment, notebooks[assignment][0])
    if not found:
        raise CourseError(f"{folder}: no submissions for {assignment or 'any known assignment'}")
    return found


def _student_of(path: Path) -> str | None:
    return path.stem if STUDENT_ID.match(path.stem) else None


def _from_files(
    folder: Path,
    pattern: str,
    read: Callable[[Path, str, str, str], Submission],
    assignment: str,
    notebook: str,
) -> list[Submission]:
    """One submission per file matching ``pattern``, named by student; ``read`` opens it."""
    out = []
    for path in sorted(folder.glob(pattern)):
        student = _student_of(path)
        if student is None or path.is_symlink():
            out.append(_unusable(path, assignment, notebook))
        else:
            out.append(read(path, student, assignment, notebook))
    return out


def _read_loose(path: Path, student: str, assignment: str, notebook: str) -> Submission:
    return Submission(student, assignment, notebook, path.read_bytes(), origin=str(path))


def _unusable(path: Path, assignment: str, notebook: str) -> Submission:
    name = re.sub(r"[^A-Za-z0-9_.@+-]", "_", path.stem)[:100] or "unnamed"
    return Submission(
        f"unnamed-{name}",
        assignment,
        notebook,
        None,
        problems=[f"{path.name}: file name is not a usable student id, or is a link: not graded"],
        origin=str(path),
    )


def _read_zip(path: Path, student: str, assignment: str, notebook: str) -> Submission:
    sub = Submission(student, assignment, notebook, None, origin=str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.infolist() if not m.is_dir()]
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
                if PurePosixPath(rel).name == f"{notebook}.ipynb" and sub.data is None:
                    sub.data = archive.read(member)
                elif member.file_size <= MAX_EXTRA_BYTES:
                    sub.extras[PurePosixPath(rel).name if "/" in rel else rel] = archive.read(
                        member
                    )
                else:
                    sub.problems.append(f"{path.name}: {rel} is too large: ignored")
    except (zipfile.BadZipFile, OSError) as error:
        sub.problems.append(f"{path.name}: not a readable zip file ({error})")
    if sub.data is None and not any("zip file" in p for p in sub.problems):
        sub.problems.append(f"{path.name}: no {notebook}.ipynb inside")
    return sub


def _from_nbgrader(
    folder: Path, notebooks: dict[str, list[str]], only: str | None
) -> list[Submission]:
    out = []
    for student_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        if student_dir.name.startswith("."):
            continue
        if not STUDENT_ID.match(student_dir.name) or student_dir.is_symlink():
            continue
        for assignment in sorted(notebooks):
            if only is not None and assignment != only:
                continue
            adir = student_dir / assignment
            if not adir.is_dir():
                continue
            stamp = adir / "timestamp.txt"
            timestamp = stamp.read_text().strip() if stamp.is_file() else None
            for notebook in notebooks[assignment]:
                out.append(_from_folder(adir, student_dir.name, assignment, notebook, timestamp))
    return out


def _from_folder(
    adir: Path, student: str, assignment: str, notebook: str, timestamp: str | None
) -> Submission:
    sub = Submission(student, assignment, notebook, None, timestamp=timestamp, origin=str(adir))
    target = adir / f"{notebook}.ipynb"
    if target.is_symlink():
        sub.problems.append(f"{target}: a symbolic link, not a notebook: not graded")
    elif target.is_file():
        sub.data = target.read_bytes()
    else:
        sub.problems.append(f"{target}: missing notebook")
    for path in sorted(adir.rglob("*")):
        rel = path.relative_to(adir).as_posix()
        if path == target or rel == "timestamp.txt" or path.is_dir():
            continue
        if path.is_symlink():
            sub.problems.append(f"{path}: a symbolic link: ignored")
        elif path.suffix == ".ipynb" or ".ipynb_checkpoints" in rel:
            continue
        elif path.stat().st_size <= MAX_EXTRA_BYTES:
            sub.extras[rel] = path.read_bytes()
    return sub
