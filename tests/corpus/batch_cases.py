"""A class batch as an instructor really gets it: mixed layouts, real user names, hostile
hand-ins that push the sandbox's limits, and learners whose pages must be safe to open.

:data:`BATCH` maps each entry of the submissions folder to a :class:`BatchCase`: how to write
it, its fate in the manifest, the test cells that must pass (``None``: the entry is not in the
gradebook at all), and the flag kinds it must and must not get. :func:`write_batch` writes
the folder (``--assignment 04_exercise``: per-student files are part of it).
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

from tests.corpus.cases import (
    ALL,
    CORRECT,
    EXERCISE,
    OK_RATE,
    RATE_TEST,
    WRONG_SIGN,
    answered,
    read_releases,
)

NB = f"{EXERCISE}.ipynb"
#: The sandbox limits of the batch run: small enough that each bomb hits its limit fast,
#: time budgets generous enough for a slow, busy 2-core machine.
MAX_PROCESSES = 64
DISK_MIB = 64

#: A fork bomb that cleans up after itself: children sleep and exit, the parent forks until
#: the sandbox refuses, then prints how far it got.
FORK_BOMB = """import os, time
children = 0
try:
    while children < 100000:
        if os.fork() == 0:
            time.sleep(20)
            os._exit(0)
        children += 1
except OSError as error:
    print(f"fork refused after {children} children: {error}")
"""
#: A memory bomb that forks: four children touch 700 MB each (2.8 GB, over 2 GiB).
MEMORY_FORK_BOMB = """import os
pids = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        block = bytearray(700 * 2**20)
        for i in range(0, len(block), 4096):
            block[i] = 1
        os._exit(0)
    pids.append(pid)
print("children ended:", [os.waitpid(p, 0)[1] for p in pids])
"""
TMP_FILLER = """written = 0
try:
    with open("/tmp/filler", "wb") as out:
        while written < 2**31:
            out.write(b"x" * 2**20)
            written += 2**20
except OSError as error:
    print(f"/tmp full after {written >> 20} MiB: {error}")
"""
DISK_FILLER = """written = 0
try:
    for n in range(10000):
        with open(f"filler-{n}.bin", "wb") as out:
            out.write(b"x" * 2**20)
        written += 2**20
except OSError as error:
    print(f"work folder full after {written >> 20} MiB: {error}")
"""
HOME_FILLER = DISK_FILLER.replace('f"filler-{n}.bin"', 'os.path.expanduser(f"~/filler-{n}.bin")')
HOME_FILLER = "import os\n" + HOME_FILLER.replace("work folder full", "home full")
#: 30 MB of output that is no string: JSON bundles, updated in place, and metadata.
JSON_FLOOD = """from IPython.display import display, update_display
handle = display({"application/json": {"x": "a" * 100000}}, raw=True, display_id=True)
for i in range(200):
    update_display({"application/json": {"x": "b" * 100000, "i": i}}, raw=True,
                   display_id=handle.display_id)
for i in range(50):
    display({"text/plain": "."}, metadata={"pad": "m" * 100000}, raw=True)
"""
#: Learner markdown and outputs that would run script in the instructor's browser.
INJECT_MARKDOWN = """# My answer
<script>window.__pwned = 'markdown script'</script>
<img src="x" onerror="window.__pwned = 'img onerror'">
<a href="javascript:window.__pwned='link'" id="evil">click me</a>
<svg onload="window.__pwned = 'svg onload'"></svg>
<iframe srcdoc="<script>parent.__pwned='iframe'</script>"></iframe>
"""
INJECT_CODE = """from IPython.display import HTML, Javascript, SVG, Markdown, display
display(HTML('<script>window.__pwned = "html output"</script><b onmouseover="x()">bold</b>'))
display(Javascript('window.__pwned = "javascript output"'))
svg = '<svg xmlns="http://www.w3.org/2000/svg" onload="window.__pwned=1">'
display(SVG(svg + '<script>window.__pwned = "svg"</script></svg>'))
display(Markdown('<img src=x onerror="window.__pwned = 1">'))
print("<script>window.__pwned = 'stream'</script>")
"""


@dataclass
class BatchCase:
    """One entry of the batch's submissions folder and what the run must make of it."""

    write: Callable[[Path, dict], None]
    fate: str
    passes: set[str] | None = None
    flags: set[str] = field(default_factory=set)
    never: set[str] = field(default_factory=set)
    student: str | None = None
    reason: str = ""


def _nb(release: dict, answers: dict[str, str], extra: list[NotebookNode] = ()) -> bytes:
    nb = answered(release[EXERCISE], answers)
    nb.cells.extend(extra)
    return nbformat.writes(nb).encode("utf-8")


def correct(release: dict, extra: list[NotebookNode] = ()) -> bytes:
    return _nb(release, {"gradient_descent_update": CORRECT, **OK_RATE}, extra)


def _folder(files: Callable[[dict], dict[str, bytes]]) -> Callable[[Path, dict], None]:
    """Write ``<entry>/<assignment>/<files>`` (nbgrader's layout)."""

    def write(target: Path, release: dict) -> None:
        folder = target / EXERCISE
        folder.mkdir(parents=True)
        for name, data in files(release).items():
            (folder / name).write_bytes(data)

    return write


def _file(data: Callable[[dict], bytes]) -> Callable[[Path, dict], None]:
    return lambda target, release: target.write_bytes(data(release))


def _zip(members: Callable[[dict], dict[str, bytes]]) -> Callable[[Path, dict], None]:
    def write(target: Path, release: dict) -> None:
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in members(release).items():
                archive.writestr(name, data)

    return write


def _direct(target: Path, release: dict) -> None:
    target.mkdir()
    (target / NB).write_bytes(correct(release))


def _stripped(release: dict) -> bytes:
    """The correct notebook as some editors save it: no cell metadata, no cell ids."""
    nb = json.loads(correct(release))
    for cell in nb["cells"]:
        cell["metadata"] = {}
        cell.pop("id", None)
    nb["nbformat_minor"] = 4
    return json.dumps(nb).encode()


def _code(source: str) -> NotebookNode:
    return nbformat.v4.new_code_cell(source)


def _attachment(release: dict) -> bytes:
    cell = nbformat.v4.new_markdown_cell("A figure I forgot: ![plot](attachment:missing.png)")
    return correct(release, [cell])


def _injection(release: dict) -> bytes:
    return correct(release, [nbformat.v4.new_markdown_cell(INJECT_MARKDOWN), _code(INJECT_CODE)])


def _bomb_zip(release: dict) -> dict[str, bytes]:
    return {NB: correct(release), "zeros.bin": bytes(90 * 2**20)}


def _ok(release: dict) -> dict[str, bytes]:
    return {NB: correct(release)}


BATCH: dict[str, BatchCase] = {
    "ada": BatchCase(_folder(_ok), "graded", ALL),
    "josé": BatchCase(_folder(_ok), "graded", ALL),
    "ada smith": BatchCase(
        _folder(lambda r: {NB: _nb(r, {"gradient_descent_update": WRONG_SIGN, **OK_RATE})}),
        "graded",
        {RATE_TEST},
    ),
    "j.doe.ipynb": BatchCase(_file(correct), "graded", ALL, student="j.doe"),
    "zoe.zip": BatchCase(_zip(lambda r: {f"zoe/{NB}": correct(r)}), "graded", ALL, student="zoe"),
    "direct": BatchCase(_direct, "graded", ALL),  # the notebook without the <assignment>/ level
    "bad name.zip": BatchCase(_zip(_ok), "graded", ALL, student="bad name"),
    "bad!name.zip": BatchCase(_zip(_ok), "refused", None, reason="not a usable student id"),
    "dup.zip": BatchCase(_zip(_ok), "refused", None, reason="'dup.ipynb' and 'dup.zip'"),
    "dup.ipynb": BatchCase(_file(correct), "refused", None, reason="'dup.ipynb' and 'dup.zip'"),
    "stamp_bytes": BatchCase(
        _folder(lambda r: {NB: correct(r), "timestamp.txt": b"\xff\xfe\x00garbage"}),
        "graded with flags",
        ALL,
        {"intake"},
        reason="not a usable timestamp",
    ),
    "stamp_junk": BatchCase(
        _folder(lambda r: {NB: correct(r), "timestamp.txt": b"the day before the deadline"}),
        "graded with flags",
        ALL,
        {"intake"},
        reason="not a usable timestamp",
    ),
    "attachment": BatchCase(_folder(lambda r: {NB: _attachment(r)}), "", ALL),
    "stripped": BatchCase(
        _folder(lambda r: {NB: _stripped(r)}),
        "graded with flags",
        ALL,
        {"restored"},
        {"tampered"},
        reason="metadata restored",
    ),
    "renamed": BatchCase(
        _folder(lambda r: {f"{EXERCISE}-Copy1.ipynb": correct(r)}),
        "graded with flags",
        ALL,
        {"intake"},
        {"missing"},
        reason=f"graded as {NB}",
    ),
    "zipped": BatchCase(
        _folder(lambda r: {f"{EXERCISE}.zip": _zip_bytes({f"{EXERCISE}/{NB}": correct(r)})}),
        "graded with flags",
        ALL,
        {"intake"},
        {"missing"},
        reason=f"graded from {EXERCISE}.zip",
    ),
    "zipbomb.zip": BatchCase(
        _zip(_bomb_zip),
        "graded with flags",
        set(),
        {"intake", "missing"},
        student="zipbomb",
        reason="zip bomb",
    ),
    "forkbomb": BatchCase(
        _folder(lambda r: {NB: correct(r, [_code(FORK_BOMB)])}),
        "graded with flags",
        ALL,
        {"processes"},
        reason="processes and threads",
    ),
    "memfork": BatchCase(
        _folder(lambda r: {NB: correct(r, [_code(MEMORY_FORK_BOMB)])}),
        "graded with flags",
        ALL,
        {"memory"},
        reason="memory limit",
    ),
    "tmpfill": BatchCase(
        _folder(lambda r: {NB: correct(r, [_code(TMP_FILLER)])}),
        "graded with flags",
        ALL,
        {"disk"},
        reason="disk quota",
    ),
    "diskfill": BatchCase(
        _folder(lambda r: {NB: correct(r, [_code(DISK_FILLER)])}),
        "graded with flags",
        ALL,
        {"disk"},
        reason="disk quota",
    ),
    "homefill": BatchCase(
        _folder(lambda r: {NB: correct(r, [_code(HOME_FILLER)])}),
        "graded with flags",
        ALL,
        {"disk"},
        reason="disk quota",
    ),
    "jsonflood": BatchCase(
        _folder(lambda r: {NB: correct(r, [_code(JSON_FLOOD)])}),
        "graded with flags",
        ALL,
        {"output"},
        reason="output",
    ),
    "injection": BatchCase(_folder(lambda r: {NB: _injection(r)}), "", ALL),
    # the test makes the grader fail on these two (saving, and the feedback page)
    "savefail": BatchCase(_folder(_ok), "not graded", None, {"grader"}),
    "fbfail": BatchCase(_folder(_ok), "graded with flags", ALL, {"feedback"}),
    ".DS_Store": BatchCase(_file(lambda r: b"\0"), "ignored", None),
    "README.txt": BatchCase(_file(lambda r: b"exported from the LMS"), "ignored", None),
    "emptydir": BatchCase(lambda t, r: t.mkdir(), "refused", None, reason="no assignment"),
}


def _zip_bytes(members: dict[str, bytes]) -> bytes:
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def student_of(entry: str) -> str | None:
    """The student id an entry of :data:`BATCH` is graded as (None: not in the gradebook)."""
    case = BATCH[entry]
    if case.passes is None and case.fate != "not graded":
        return None
    return case.student or entry


def write_batch(folder: Path, release_dir: Path) -> dict[str, BatchCase]:
    """Write every entry of :data:`BATCH` into ``folder``."""
    release = read_releases(release_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, case in BATCH.items():
        case.write(folder / name, release)
    return BATCH
