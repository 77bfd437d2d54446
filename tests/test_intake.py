"""Intake without kernels: every entry of a submissions folder has one fate, ids, quotas.

The property test builds random submissions folders (names in several scripts, spaces, dots,
collisions, mixed layouts, empty folders, junk and hidden files, links) and checks that
:func:`autograder.intake.scan` lists each entry exactly once with a fate, that no two
hand-ins share a student, and that colliding names are refused together.
"""

from __future__ import annotations

import json
import os
import tempfile
import unicodedata
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autograder.coursedir import CourseError
from autograder.intake import Handin, load, scan, student_id
from autograder.records import Limits

A = "a1"
NOTEBOOKS = {A: [A], "a2": ["a2"]}
NB = json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})


def fates(found) -> dict[str, str]:
    return {e.name: e.fate for e in found.entries}


def reasons(found, name: str) -> str:
    return " ".join(next(e for e in found.entries if e.name == name).reasons)


# --- ids and layouts -----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["josé", "ada smith", "j.doe", "o'neil", "李雷", "Ζωή", "a-b_c@x"])
def test_real_user_names_are_ids(name):
    assert student_id(name) == unicodedata.normalize("NFC", name)


@pytest.mark.parametrize("name", ["bad!name", " ada", "ada ", ".ada", "-ada", "a/b", "x" * 101])
def test_unusable_names_are_not_ids(name):
    assert student_id(name) is None


def test_mixed_layouts_are_all_found(tmp_path):
    (tmp_path / "ada" / A).mkdir(parents=True)
    (tmp_path / "ada" / A / f"{A}.ipynb").write_text(NB)
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / f"{A}.ipynb").write_text(NB)  # no <assignment>/ level
    (tmp_path / "cy.ipynb").write_text(NB)
    with zipfile.ZipFile(tmp_path / "dee.zip", "w") as z:
        z.writestr(f"inner/{A}.ipynb", NB)
    (tmp_path / "notes.txt").write_text("hi")
    (tmp_path / ".DS_Store").write_text("")
    (tmp_path / "empty").mkdir()
    found = scan(tmp_path, NOTEBOOKS, A)
    assert fates(found) == {
        ".DS_Store": "ignored",
        "ada": "pending",
        "bob": "pending",
        "cy.ipynb": "pending",
        "dee.zip": "pending",
        "empty": "refused",
        "notes.txt": "ignored",
    }
    assert sorted(h.student for h in found.handins) == ["ada", "bob", "cy", "dee"]
    assert all(load(h, Limits()).data == NB.encode() for h in found.handins)
    assert "no assignment folder" in reasons(found, "empty")


def test_a_stray_notebook_does_not_switch_the_layout(tmp_path):
    """nbgrader's folders and one loose notebook, without --assignment: the folders are
    graded, the loose notebook is refused with the reason (not the whole run)."""
    (tmp_path / "ada" / A).mkdir(parents=True)
    (tmp_path / "ada" / A / f"{A}.ipynb").write_text(NB)
    (tmp_path / "stray.ipynb").write_text(NB)
    found = scan(tmp_path, NOTEBOOKS)
    assert [h.key for h in found.handins] == [("ada", A, A)]
    assert fates(found)["stray.ipynb"] == "refused"
    assert "--assignment" in reasons(found, "stray.ipynb")


def test_per_student_files_alone_need_the_assignment(tmp_path):
    (tmp_path / "ada.ipynb").write_text(NB)
    with pytest.raises(CourseError, match="--assignment"):
        scan(tmp_path, NOTEBOOKS)


def test_colliding_names_are_refused_naming_both(tmp_path):
    (tmp_path / "ada.ipynb").write_text(NB)
    (tmp_path / "ada.zip").write_bytes(b"")
    (tmp_path / "Bob.ipynb").write_text(NB)
    (tmp_path / "bob" / A).mkdir(parents=True)
    (tmp_path / "bad name.ipynb").write_text(NB)
    (tmp_path / "bad!name.ipynb").write_text(NB)
    found = scan(tmp_path, NOTEBOOKS, A)
    assert [h.student for h in found.handins] == ["bad name"]
    for name, other in [("ada.ipynb", "ada.zip"), ("Bob.ipynb", "bob")]:
        assert fates(found)[name] == fates(found)[other] == "refused"
        assert name in reasons(found, other) and other in reasons(found, name)
    assert "not a usable student id" in reasons(found, "bad!name.ipynb")


def test_nfc_and_nfd_spellings_collide(tmp_path):
    (tmp_path / "jose\u0301.ipynb").write_text(NB)
    (tmp_path / "jos\u00e9.ipynb").write_text(NB)
    assert set(fates(scan(tmp_path, NOTEBOOKS, A)).values()) == {"refused"}


# --- reading: timestamps, renamed notebooks, zips in the folder ----------------------------
def _folder(tmp_path: Path, files: dict[str, bytes]) -> Handin:
    adir = tmp_path / "ada" / A
    adir.mkdir(parents=True)
    for name, data in files.items():
        (adir / name).write_bytes(data)
    return scan(tmp_path, NOTEBOOKS, A).handins[0]


@pytest.mark.parametrize("stamp", [b"\xff\xfe not utf-8", b"last tuesday", b""])
def test_a_bad_timestamp_is_that_hand_ins_problem(tmp_path, stamp):
    sub = load(_folder(tmp_path, {f"{A}.ipynb": NB.encode(), "timestamp.txt": stamp}), Limits())
    assert sub.data == NB.encode() and sub.timestamp is None
    assert any("not a usable timestamp" in p for p in sub.problems)


def test_a_good_timestamp_is_kept(tmp_path):
    files = {f"{A}.ipynb": NB.encode(), "timestamp.txt": b"2026-11-30 10:00:00.000000 UTC"}
    assert load(_folder(tmp_path, files), Limits()).timestamp.startswith("2026-11-30")


def test_a_renamed_notebook_is_graded_and_flagged(tmp_path):
    sub = load(_folder(tmp_path, {f"{A}-Copy1.ipynb": NB.encode()}), Limits())
    assert sub.data == NB.encode()
    assert any(f"{A}-Copy1.ipynb graded as {A}.ipynb" in p for p in sub.problems)


def test_the_assignment_as_a_zip_in_its_folder_is_graded_and_flagged(tmp_path):
    data = _zip({f"{A}/{A}.ipynb": NB.encode()})
    sub = load(_folder(tmp_path, {f"{A}.zip": data}), Limits())
    assert sub.data == NB.encode()
    assert any(f"graded from {A}.zip" in p for p in sub.problems)


def _zip(members: dict[str, bytes]) -> bytes:
    path = Path(tempfile.mkdtemp()) / "z.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path.read_bytes()


# --- quotas, before anything is unpacked ---------------------------------------------------
def _zip_handin(tmp_path: Path, data: bytes) -> Handin:
    (tmp_path / "ada.zip").write_bytes(data)
    return scan(tmp_path, NOTEBOOKS, A).handins[0]


def test_a_zip_bomb_is_refused_by_its_ratio_before_unpacking(tmp_path, monkeypatch):
    bomb = _zip({f"{A}.ipynb": NB.encode(), "zeros.bin": bytes(64 * 2**20)})
    assert len(bomb) < 2**20  # 64 MiB of zeros in well under 1 MiB
    read = []
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: read.append(a) or 1 / 0)
    sub = load(_zip_handin(tmp_path, bomb), Limits())
    assert read == [] and sub.data is None
    assert any("compressed" in p and "zip bomb" in p for p in sub.problems)


def test_too_many_members_are_refused(tmp_path):
    data = _zip({f"f{i}.txt": b"x" for i in range(30)} | {f"{A}.ipynb": NB.encode()})
    sub = load(_zip_handin(tmp_path, data), Limits(zip_members=20))
    assert sub.data is None and any("31 members" in p for p in sub.problems)


def test_too_many_bytes_are_refused(tmp_path):
    noise = os.urandom(3 * 2**20)  # incompressible: the ratio is fine, the size is not
    data = _zip({f"{A}.ipynb": NB.encode(), "noise.bin": noise})
    sub = load(_zip_handin(tmp_path, data), Limits(submission_bytes=2 * 2**20))
    assert sub.data is None and any("over the quota" in p for p in sub.problems)


def test_a_folder_over_the_quota_is_refused(tmp_path):
    files = {f"{A}.ipynb": NB.encode(), "big.bin": bytes(3 * 2**20)}
    sub = load(_folder(tmp_path, files), Limits(submission_bytes=2 * 2**20))
    assert sub.data is None and any("over the quota" in p for p in sub.problems)


def test_a_zip_that_lies_about_its_sizes_is_stopped(tmp_path):
    data = bytearray(_zip({f"{A}.ipynb": NB.encode() + b" " * 5000}))
    # shrink the declared size in the central directory (and the local header): 10 bytes
    real = len(NB) + 5000
    data = data.replace(real.to_bytes(4, "little"), (10).to_bytes(4, "little"))
    sub = load(_zip_handin(tmp_path, bytes(data)), Limits())
    assert sub.data is None or len(sub.data) <= 10
    assert sub.problems


# --- the property: every entry once, with a fate -------------------------------------------
LETTERS = st.sampled_from(list("abcXYZ") + list("éñüø") + list("αβΓ") + list("дЖя") + list("李雷"))
NAME_CHARS = st.one_of(LETTERS, st.sampled_from([" ", ".", "!", "_", "-", "'", "é"]))
NAMES = st.text(NAME_CHARS, min_size=1, max_size=8).filter(lambda n: n not in (".", ".."))
KINDS = st.sampled_from(
    ["nbgrader", "direct", "empty", "zip", "ipynb", "junk", "hidden", "link", "other_assignment"]
)


def _make(folder: Path, name: str, kind: str) -> str:
    """Create one entry of ``kind`` named after ``name``; return its file name."""
    if kind == "nbgrader":
        (folder / name / A).mkdir(parents=True)
        (folder / name / A / f"{A}.ipynb").write_text(NB)
        return name
    if kind == "direct":
        (folder / name).mkdir()
        (folder / name / f"{A}.ipynb").write_text(NB)
        return name
    if kind == "empty":
        (folder / name).mkdir()
        return name
    if kind == "other_assignment":
        (folder / name / "a2").mkdir(parents=True)
        return name
    if kind == "zip":
        with zipfile.ZipFile(folder / f"{name}.zip", "w") as z:
            z.writestr(f"{A}.ipynb", NB)
        return f"{name}.zip"
    if kind == "ipynb":
        (folder / f"{name}.ipynb").write_text(NB)
        return f"{name}.ipynb"
    if kind == "junk":
        (folder / f"{name}.txt").write_text("junk")
        return f"{name}.txt"
    if kind == "hidden":
        (folder / f".{name}").write_text("")
        return f".{name}"
    (folder / f"{name}.lnk").symlink_to(folder)
    return f"{name}.lnk"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(NAMES, KINDS), min_size=1, max_size=12))
def test_every_entry_appears_once_with_a_fate(plan):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        made = set()
        for name, kind in plan:
            try:
                made.add(_make(folder, name, kind))
            except (FileExistsError, OSError):
                continue  # the same name twice on disk: one entry
        made = {p.name for p in folder.iterdir()}
        if not [n for n in made if not n.startswith(".")]:
            with pytest.raises(CourseError, match="empty folder"):
                scan(folder, NOTEBOOKS, A)
            return
        found = scan(folder, NOTEBOOKS, A)
        names = [e.name for e in found.entries]
        assert sorted(names) == sorted(made)  # each entry exactly once
        assert all(e.fate in {"pending", "refused", "ignored"} for e in found.entries)
        assert all(e.reasons for e in found.entries if e.fate != "pending")
        by_name = {e.name: e for e in found.entries}
        keys = [h.key for h in found.handins]
        assert len(keys) == len(set(keys))  # no two hand-ins for one student
        students = [h.student.casefold() for h in found.handins]
        assert len(students) == len(set(students))
        for handin in found.handins:
            assert by_name[handin.entry].fate == "pending"
        # two usable entries that name one student are both refused, and say so
        groups: dict[str, list[str]] = {}
        for entry in found.entries:
            clash = any("name the same student" in r for r in entry.reasons)
            if entry.student is not None and (entry.fate == "pending" or clash):
                groups.setdefault(entry.student.casefold(), []).append(entry.name)
        for members in groups.values():
            if len(members) > 1:
                for member in members:
                    assert by_name[member].fate == "refused"
