"""A corpus of learner submissions, honest and hostile, each with the score it deserves.

The corpus is generated from the course's release notebooks, so it follows the course when
the lessons change. :data:`CASES` maps a student id to a :class:`Case`: how to build the
hand-in, the autograded points it must get per test, and the flag kinds the report must give.
:func:`write_corpus` writes every case in nbgrader's ``submitted/<student>/<assignment>/``
layout; :func:`write_zip_corpus` writes a few as per-student ``.zip`` / ``.ipynb`` files.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbformat.notebooknode import NotebookNode

EXERCISE = "04_exercise"
GRADIENT = "02_the_gradient"
EXERCISE_TESTS = ["test_update_numbers", "test_update_arrays", "test_update_converges"]
RATE_TEST = "test_learning_rate"

CORRECT = (
    "def gradient_descent_update(x, gradx, learning_rate):\n    return x - learning_rate * gradx\n"
)
RATE = "def choose_learning_rate():\n    return 0.1\n"


def update(body: str, prefix: str = "", suffix: str = "") -> str:
    """An answer cell defining ``gradient_descent_update`` with ``body`` as its code."""
    lines = "\n".join("    " + line for line in body.strip("\n").splitlines())
    return f"{prefix}def gradient_descent_update(x, gradx, learning_rate):\n{lines}\n{suffix}"


WRONG_SIGN = update("return x + learning_rate * gradx")

#: Known wrong implementations: each must fail every hidden update test.
WRONG_UPDATES = {
    "adds_gradient": WRONG_SIGN,
    "ignores_rate": update("return x - gradx"),
    "returns_step": update("return learning_rate * gradx"),
    "returns_none": update("x - learning_rate * gradx"),
    "mutates_input": update("x -= learning_rate * gradx\nreturn x"),
    "scalar_only": update("return float(x) - float(learning_rate) * float(gradx)"),
}

#: Test cells the wrong implementations above pass anyway (the rest score 0): the convergence
#: test runs the scalar loop along gradient descent's path, which in-place and scalar-only
#: code get right for numbers.
WRONG_PASSES: dict[str, set[str]] = {
    "mutates_input": {"test_update_converges"},
    "scalar_only": {"test_update_converges"},
}


@dataclass
class Case:
    """One submission of the corpus and what grading it must give.

    ``passes`` are the test cells that must score full points (all others 0); ``flags`` the
    flag kinds the report must give (others may be added, e.g. ``suspicious``).
    """

    build: Callable[[dict], bytes | None]
    passes: set[str]
    flags: set[str] = field(default_factory=set)
    assignment: str = EXERCISE
    extras: dict[str, bytes] = field(default_factory=dict)
    why: str = ""


# --- notebook surgery on the release ---------------------------------------------------------
def _cells(nb: NotebookNode) -> dict[str, NotebookNode]:
    return {
        c.metadata.nbgrader["grade_id"]: c
        for c in nb.cells
        if "grade_id" in c.metadata.get("nbgrader", {})
    }


def answered(release: NotebookNode, answers: dict[str, str]) -> NotebookNode:
    """A copy of the release with the answer cells (by grade id) replaced."""
    nb = nbformat.from_dict(json.loads(json.dumps(release)))
    cells = _cells(nb)
    for gid, source in answers.items():
        cells[gid].source = source
    return nb


def _bytes(nb: NotebookNode) -> bytes:
    return nbformat.writes(nb).encode("utf-8")


def _exercise(answers: dict[str, str]) -> Callable[[dict], bytes]:
    return lambda ctx: _bytes(answered(ctx["release"][EXERCISE], answers))


def _edit(answers: dict[str, str], surgery: Callable[[NotebookNode, dict], None]):
    def build(ctx: dict) -> bytes:
        nb = answered(ctx["release"][EXERCISE], answers)
        surgery(nb, ctx)
        return _bytes(nb)

    return build


def _index(nb: NotebookNode, gid: str) -> int:
    return next(
        i for i, c in enumerate(nb.cells) if c.metadata.get("nbgrader", {}).get("grade_id") == gid
    )


def _delete(nb: NotebookNode, ctx: dict) -> None:
    del nb.cells[_index(nb, "test_update_numbers")]


def _duplicate(nb: NotebookNode, ctx: dict) -> None:
    copy = nbformat.from_dict(json.loads(json.dumps(nb.cells[_index(nb, "test_update_arrays")])))
    copy.source = "print('all tests passed')"
    nb.cells.append(copy)


def _split(nb: NotebookNode, ctx: dict) -> None:
    i = _index(nb, "test_update_numbers")
    first = nb.cells[i]
    second = nbformat.from_dict(json.loads(json.dumps(first)))
    lines = first.source.splitlines()
    first.source, second.source = lines[0], "\n".join(lines[1:]) or "pass"
    nb.cells.insert(i + 1, second)


def _edit_tests(nb: NotebookNode, ctx: dict) -> None:
    for gid in [*EXERCISE_TESTS, RATE_TEST]:
        nb.cells[_index(nb, gid)].source = "print('passed')"


def _reorder(nb: NotebookNode, ctx: dict) -> None:
    test = nb.cells.pop(_index(nb, RATE_TEST))
    nb.cells.insert(_index(nb, "choose_learning_rate"), test)


def _raise_points(nb: NotebookNode, ctx: dict) -> None:
    nb.cells[_index(nb, "test_update_numbers")].metadata.nbgrader["points"] = 100
    nb.cells[_index(nb, RATE_TEST)].metadata.nbgrader["points"] = 100


def _history(nb: NotebookNode, ctx: dict) -> None:
    nb.cells.append(
        nbformat.v4.new_code_cell(
            "import inspect, linecache\n"
            "print('\\n'.join(In))\n"
            "print(globals().get('_i5', ''))\n"
            "print(get_ipython().history_manager.input_hist_raw)\n"
            "print([''.join(v[2]) for v in linecache.cache.values() if len(v) > 2])\n"
            "print(inspect.getsource(_hidden_update_numbers))\n"
        )
    )


def _extra_cell(source: str, grade_id: str = "") -> Callable[[NotebookNode, dict], None]:
    def surgery(nb: NotebookNode, ctx: dict) -> None:
        cell = nbformat.v4.new_code_cell(source)
        if grade_id:
            cell.metadata["nbgrader"] = {"grade_id": grade_id, "grade": False, "solution": False}
        nb.cells.append(cell)

    return surgery


def _first_cell(source: str) -> Callable[[NotebookNode, dict], None]:
    def surgery(nb: NotebookNode, ctx: dict) -> None:
        nb.cells.insert(0, nbformat.v4.new_code_cell(source))

    return surgery


def _latin1(ctx: dict) -> bytes:
    nb = answered(
        ctx["release"][EXERCISE],
        {"gradient_descent_update": CORRECT + "# caf\u00e9\n", "choose_learning_rate": RATE},
    )
    return nbformat.writes(nb).encode("utf-8").replace("caf\u00e9".encode(), b"caf\xe9")


def _spy(ctx: dict) -> bytes:
    """Tries to read the solution, the gradebook and other learners' work, and to write them."""
    root = ctx["root"]
    targets = [
        str(root / "solutions" / EXERCISE / f"{EXERCISE}.ipynb"),
        str(root / "gradebook.db"),
        str(ctx["submitted"] / "correct" / EXERCISE / f"{EXERCISE}.ipynb"),
    ]
    spy = f"""
import glob, os, sqlite3
SEEN = []
for path in {targets!r}:
    try:
        with open(path, 'rb') as handle:
            SEEN.append('READ:' + path + ':' + str(len(handle.read())))
    except OSError:
        pass
    try:
        with open(path, 'ab') as handle:
            handle.write(b'tampered')
            SEEN.append('WROTE:' + path)
    except OSError:
        pass
try:
    db = sqlite3.connect({str(root / "gradebook.db")!r})
    db.execute("update grade set auto_score = 100")
    db.commit()
    SEEN.append('DB-WRITTEN')
except Exception:
    pass
for top in ['/tmp', '/work', '/root', '/home', '/srv', '/var']:
    for name in ['04_exercise.ipynb', 'gradebook.db']:
        SEEN += ['FOUND:' + p for p in glob.glob(top + '/**/' + name, recursive=True)]
print('SPY-REPORT', SEEN)
"""
    source = update("return x + learning_rate * gradx", prefix=spy)
    return _bytes(
        answered(
            ctx["release"][EXERCISE],
            {"gradient_descent_update": source, "choose_learning_rate": RATE},
        )
    )


ALL = {*EXERCISE_TESTS, RATE_TEST}
OK_RATE = {"choose_learning_rate": RATE}

CASES: dict[str, Case] = {
    "correct": Case(
        _exercise(
            {
                "gradient_descent_update": CORRECT,
                **OK_RATE,
                "why_not_global_minimum": "It only follows the local slope, so it can stop "
                "in a local minimum.",
            }
        ),
        ALL,
        why="right answers and a written answer for the human grader",
    ),
    "blank": Case(_exercise({}), set(), why="the untouched release"),
    **{
        name: Case(
            _exercise({"gradient_descent_update": code, **OK_RATE}),
            {RATE_TEST} | WRONG_PASSES.get(name, set()),
            why="a known wrong implementation",
        )
        for name, code in WRONG_UPDATES.items()
    },
    "infinite_loop": Case(
        _exercise(
            {
                "gradient_descent_update": update(
                    "if type(gradx) is float and gradx == 0:\n"
                    "    while True:  # only a hidden test's zero gradient gets here\n"
                    "        pass\n"
                    "return x - learning_rate * gradx"
                ),
                **OK_RATE,
            }
        ),
        {RATE_TEST, "test_update_arrays", "test_update_converges"},
        {"timeout"},
        why="a call that never returns is stopped at the test's time; later tests still run",
    ),
    "crash_after_tests": Case(
        _edit(
            {"gradient_descent_update": CORRECT, **OK_RATE},
            _extra_cell("import os\nos._exit(1)  # as a memory-limit kill in a last experiment"),
        ),
        ALL,
        {"crash"},
        why="the kernel dies in a last cell: the tests above it are graded from a second run",
    ),
    "infinite_cell": Case(
        _edit(
            {"gradient_descent_update": CORRECT, **OK_RATE},
            _extra_cell("while True:\n    pass"),
        ),
        ALL,
        {"timeout"},
        why="a last cell that never ends is interrupted; every test before it is graded",
    ),
    "sys_exit": Case(
        _exercise({"gradient_descent_update": CORRECT + "import sys\nsys.exit()\n", **OK_RATE}),
        ALL,
        {"suspicious"},
        why="IPython catches SystemExit: the work is graded as it is",
    ),
    "os_exit": Case(
        _exercise({"gradient_descent_update": CORRECT + "import os\nos._exit(0)\n", **OK_RATE}),
        set(),
        {"crash"},
    ),
    "segfault": Case(
        _exercise(
            {"gradient_descent_update": CORRECT + "import ctypes\nctypes.string_at(0)\n", **OK_RATE}
        ),
        set(),
        {"crash"},
    ),
    "memory_bomb": Case(
        _exercise(
            {
                "gradient_descent_update": update(
                    "hog = bytearray(2**31)  # over the limit at once: fails at any speed\nreturn x - learning_rate * gradx"
                ),
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        {"memory"},
    ),
    "print_flood": Case(
        _exercise(
            {
                "gradient_descent_update": CORRECT
                + "for _ in range(2_000):\n    print('x' * 1000)\n",
                **OK_RATE,
            }
        ),
        ALL,
        {"output"},
        why="2 MB of output (ten times the cap) is cut; the work is graded",
    ),
    "patch_isclose": Case(
        _exercise(
            {
                "gradient_descent_update": "import numpy as np\nimport numpy.testing\n"
                "np.isclose = lambda *a, **k: True\nnp.allclose = lambda *a, **k: True\n"
                "np.array_equal = lambda *a, **k: True\n"
                "numpy.testing.assert_allclose = lambda *a, **k: None\n" + WRONG_SIGN,
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        {"suspicious"},
    ),
    "patch_builtins": Case(
        _exercise(
            {
                "gradient_descent_update": "import builtins\nbuiltins.abs = lambda v: 0\n"
                "builtins.AssertionError = type('Quiet', (Exception,), {})\n" + WRONG_SIGN,
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        {"suspicious"},
    ),
    "patch_showtraceback": Case(
        _exercise(
            {
                "gradient_descent_update": "ip = get_ipython()\n"
                "ip.showtraceback = lambda *a, **k: None\n"
                "ip.set_custom_exc((BaseException,), lambda *a, **k: None)\n" + WRONG_SIGN,
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        {"suspicious"},
    ),
    "patch_during_test": Case(
        _exercise(
            {
                "gradient_descent_update": update(
                    "import builtins\nbuiltins.abs = lambda v: 0\nreturn x + learning_rate * gradx"
                ),
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        {"suspicious"},
        why="patches while its own test runs: the test is voided",
    ),
    "always_equal": Case(
        _exercise(
            {
                "gradient_descent_update": "class AlwaysEqual:\n"
                "    def __eq__(self, other):\n        return True\n"
                "    def __array__(self, dtype=None, copy=None):\n"
                "        import numpy\n        return numpy.zeros(3)\n\n"
                + update("return AlwaysEqual()"),
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        {"suspicious"},
        why="nbgrader issue #1379",
    ),
    "visible_only": Case(
        _exercise(
            {
                "gradient_descent_update": update(
                    "import numpy as np\n"
                    "if isinstance(x, np.ndarray):\n"
                    "    return np.array([0.0, 0.0, 2.0])\n"
                    "known = {(10.0, 4.0, 0.1): 9.6}\n"
                    "return known.get((x, gradx, learning_rate), 0.0)"
                ),
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        why="knows only the visible tests' values (0.0 elsewhere)",
    ),
    "deleted_test": Case(
        _edit({"gradient_descent_update": CORRECT, **OK_RATE}, _delete), ALL, {"tampered"}
    ),
    "duplicated_test": Case(
        _edit({"gradient_descent_update": CORRECT, **OK_RATE}, _duplicate), ALL, {"tampered"}
    ),
    "split_test": Case(
        _edit({"gradient_descent_update": CORRECT, **OK_RATE}, _split), ALL, {"tampered"}
    ),
    "edited_tests": Case(
        _edit({"gradient_descent_update": WRONG_SIGN, **OK_RATE}, _edit_tests),
        {RATE_TEST},
        {"tampered"},
    ),
    "history_leak": Case(
        _edit({"gradient_descent_update": CORRECT, **OK_RATE}, _history),
        ALL,
        why="prints the kernel's input history, where the hidden tests ran, into its feedback",
    ),
    "reordered": Case(
        _edit({"gradient_descent_update": CORRECT, **OK_RATE}, _reorder), ALL, {"tampered"}
    ),
    "raised_points": Case(
        _edit(
            {
                "gradient_descent_update": CORRECT,
                "choose_learning_rate": RATE.replace("0.1", "1.5"),
            },
            _raise_points,
        ),
        set(EXERCISE_TESTS),
        {"tampered"},
    ),
    "not_json": Case(lambda ctx: b'{"cells": [ {"cell_type": "code", ', set(), {"invalid"}),
    "surrogate_version": Case(
        lambda ctx: b'{"nbformat": "\\ud800", "nbformat_minor": 5, "metadata": {}, "cells": []}',
        set(),
        {"invalid"},
        why="a lone surrogate as its nbformat version, which nbformat's error message repeats",
    ),
    "missing_notebook": Case(lambda ctx: None, set(), {"missing"}, extras={"notes.txt": b"hi"}),
    "latin1_bytes": Case(_latin1, ALL, {"encoding"}),
    "spy": Case(_spy, {RATE_TEST}, {"suspicious"}, why="reads and writes what it must not"),
    "gradient_correct": Case(
        lambda ctx: _bytes(
            answered(
                ctx["release"][GRADIENT],
                {
                    "cost_gradient": "def cost_gradient(w, b, x, y):\n"
                    "    error = w * x + b - y\n"
                    "    return np.array([2 * np.mean(error * x), 2 * np.mean(error)])\n"
                },
            )
        ),
        {"test_cost_gradient"},
        assignment=GRADIENT,
    ),
    "gradient_blank": Case(
        lambda ctx: _bytes(ctx["release"][GRADIENT]), set(), assignment=GRADIENT
    ),
}


# --- routes that beat the old in-kernel guard (issue 9): each must earn only what it deserves --
#: A constant planted in a hidden test of the corpus course (see :func:`make_course`): it is
#: never passed to learner code nor put in a message, so it must never reach any feedback.
PLANTED = "QZX7731-planted-hidden-constant"

#: Code that records everything it can see of later cells and test code, and prints it
#: encoded in the last cell (so that no line redaction could match it).
_RECORDER = """
import base64, gc, sys, zlib
SEEN = []
ip = get_ipython()
ip.events.register("pre_run_cell", lambda info: SEEN.append(info.raw_cell))
sys.addaudithook(lambda event, args: SEEN.append(repr(args)[:5000]) if event in ("compile", "exec") else None)
"""
_DUMP = """
import base64, gc, zlib
blob = "\\n".join(SEEN + [repr(c.co_consts) for c in gc.get_objects() if type(c).__name__ == "code"][:20000])
blob += "\\n".join(map(str, In)) + str(globals().get("__autograder_snapshots__"))
print("B64", base64.b64encode(blob.encode()).decode())
print("HEX", blob.encode().hex()[:200000])
print("ZB64", base64.b64encode(zlib.compress(blob.encode())).decode())
"""


def _ascii_json(answers: dict[str, str], *surgeries: Callable[[NotebookNode, dict], None]):
    """A hand-in written as ASCII JSON (``\\uXXXX`` escapes), as some editors save them."""

    def build(ctx: dict) -> bytes:
        nb = answered(ctx["release"][EXERCISE], answers)
        for surgery in surgeries:
            surgery(nb, ctx)
        return json.dumps(nb).encode("ascii")

    return build


def _wrong(prefix: str = "", suffix: str = "") -> Callable[[dict], bytes]:
    """The wrong-sign answer with hostile code before or after it in its answer cell."""
    return _exercise({"gradient_descent_update": prefix + WRONG_SIGN + suffix, **OK_RATE})


_FAKE_LAUNCHER = b"""
# a handed-in 'ipykernel_launcher.py': if it became the kernel, every reply would be "ok"
import builtins, sys
builtins.abs = lambda value: 0
from ipykernel.ipkernel import IPythonKernel
_real = IPythonKernel.do_execute
async def do_execute(self, *args, **kwargs):
    reply = await _real(self, *args, **kwargs)
    reply["status"] = "ok"
    return reply
IPythonKernel.do_execute = do_execute
sys.path = [p for p in sys.path if p not in ("", ".")]
del sys.modules["ipykernel_launcher"]
import runpy
runpy.run_module("ipykernel_launcher", run_name="__main__")
"""
_STARTUP = b"""
import builtins
builtins.abs = lambda value: 0
get_ipython().events.register("post_run_cell", lambda result: setattr(result, "error_in_exec", None))
"""

HOSTILE: dict[str, Case] = {
    "ast_transformer": Case(
        _wrong(
            "import ast\nclass Pass(ast.NodeTransformer):\n"
            "    def visit_Assert(self, node):\n        return ast.Pass()\n"
            "get_ipython().ast_transformers.append(Pass())\n"
        ),
        {RATE_TEST},
        why="an AST transformer that deletes every assert of later cells",
    ),
    "input_transformer": Case(
        _wrong("get_ipython().input_transformers_cleanup.append(lambda lines: ['pass\\n'])\n"),
        set(),
        why="replaces every later cell with `pass`, its own choose_learning_rate cell included",
    ),
    "events_clear_error": Case(
        _wrong(
            "def _ok(result):\n    result.error_in_exec = None\n    result.error_before_exec = None\n"
            "get_ipython().events.register('post_run_cell', _ok)\n"
            "get_ipython().set_custom_exc((BaseException,), lambda *a, **k: None)\n"
        ),
        {RATE_TEST},
        why="events that clear every error, and a custom exception handler",
    ),
    "displayhook_credit": Case(
        _exercise(
            {
                "gradient_descent_update": update(
                    "import sys\nsys.displayhook('full marks')\nsys.displayhook(1.0)\n"
                    "return x + learning_rate * gradx"
                )
                + "import sys\nget_ipython().events.register('pre_run_cell', "
                "lambda info: sys.displayhook(1.0))\n",
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        why="sys.displayhook during the tests' calls and before every cell: an execute_result",
    ),
    "shadowed_names": Case(
        _wrong(
            suffix="class _Any:\n    def __getattr__(self, name):\n"
            "        return lambda *a, **k: True\n"
            "np = _Any()\nabs = lambda value: 0\nfloat = lambda value=0.0: 0.0\n"
            "check_gradient_descent_update = lambda f: 'all checks passed'\n"
            "isinstance = lambda *a: True\n"
        ),
        {RATE_TEST},
        why="np, abs, float and the check function rebound in the notebook's namespace",
    ),
    "private_builtins": Case(
        _wrong(
            suffix="import builtins\n__builtins__ = dict(vars(builtins), abs=lambda v: 0, "
            "AssertionError=type('Quiet', (Exception,), {}))\n"
        ),
        {RATE_TEST},
        why="a private __builtins__ dict for the notebook's namespace",
    ),
    "swapped_code": Case(
        _wrong(
            "import numpy as np, math\n"
            "np.isclose.__code__ = (lambda a, b, rtol=0, atol=0, equal_nan=False: True).__code__\n"
            "np.allclose.__code__ = (lambda a, b, rtol=0, atol=0, equal_nan=False: True).__code__\n"
            "np.array_equal.__code__ = (lambda a1, a2, equal_nan=False: True).__code__\n"
        ),
        {RATE_TEST},
        why="code objects swapped inside numpy functions (their identity unchanged)",
    ),
    "swapped_modules": Case(
        _wrong(
            "import sys, types\nfake = types.ModuleType('gdcourse.checks')\n"
            "fake.check_gradient_descent_update = lambda f: 'all checks passed'\n"
            "fake.check_learning_rate = lambda r: 'fine'\n"
            "sys.modules['gdcourse.checks'] = fake\n"
            "sys.modules['math'] = types.SimpleNamespace(isfinite=lambda v: True)\n"
        ),
        {RATE_TEST},
        why="sys.modules entries swapped for fakes",
    ),
    "fake_kernel_file": Case(
        _exercise({}),
        set(),
        extras={"ipykernel_launcher.py": _FAKE_LAUNCHER},
        why="a blank notebook with a handed-in ipykernel_launcher.py",
    ),
    "startup_file": Case(
        _wrong(),
        {RATE_TEST},
        extras={
            ".ipython/profile_default/startup/00-pass.py": _STARTUP,
            ".local/lib/python3.11/site-packages/cheat.pth": b"import builtins; builtins.abs = len\n",
            "sitecustomize.py": _STARTUP,
            "numpy.py": b"raise SystemExit('shadowed numpy')\n",
        },
        why="an IPython startup file, a user-site .pth, sitecustomize and numpy.py handed in",
    ),
    "float_subclass": Case(
        _exercise(
            {
                "gradient_descent_update": "class Close(float):\n"
                "    def __eq__(self, other):\n        return True\n"
                "    __le__ = __lt__ = __ge__ = __gt__ = __eq__\n"
                "    def __sub__(self, other):\n        return Close(0.0)\n"
                "    __rsub__ = __sub__\n\n" + update("return Close(x + learning_rate * gradx)"),
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        why="returns a float subclass whose comparisons always hold",
    ),
    "array_subclass": Case(
        _exercise(
            {
                "gradient_descent_update": "import numpy as np\n"
                "class Agree(np.ndarray):\n"
                "    def __eq__(self, other):\n        return True\n\n"
                + update(
                    "return np.asarray(x + learning_rate * np.asarray(gradx), dtype=float)"
                    ".view(Agree)"
                ),
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        why="returns an ndarray subclass",
    ),
    "object_array": Case(
        _exercise(
            {
                "gradient_descent_update": "import numpy as np\n"
                + update("return np.array([x + learning_rate * gradx], dtype=object)[0:1]"),
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        why="returns a numpy array of dtype object",
    ),
    "raises_base_exception": Case(
        _exercise(
            {
                "gradient_descent_update": update("raise KeyboardInterrupt('stop the test')"),
                "choose_learning_rate": "def choose_learning_rate():\n    raise SystemExit(0)\n",
            }
        ),
        set(),
        why="raises BaseExceptions (KeyboardInterrupt, SystemExit) from its calls",
    ),
    "prints_during_tests": Case(
        _exercise(
            {
                "gradient_descent_update": update(
                    "import sys\nprint('all checks passed')\n"
                    "sys.__stdout__.write('PASSED')\nreturn x + learning_rate * gradx"
                ),
                **OK_RATE,
            }
        ),
        {RATE_TEST},
        why="prints success while the tests call it: nothing of it reaches an output",
    ),
    "rebinds_after_tests": Case(
        _edit(
            {"gradient_descent_update": WRONG_SIGN, **OK_RATE},
            _extra_cell(CORRECT),
        ),
        {RATE_TEST},
        why="a wrong answer at the tests, a right one defined after them: the tests see the wrong",
    ),
    "fixes_after_tests_honest": Case(
        _edit({"gradient_descent_update": CORRECT, **OK_RATE}, _extra_cell(WRONG_SIGN)),
        ALL,
        why="a right answer at the tests, broken after them: the tests see the right one",
    ),
    "thread_swapper": Case(
        _wrong(
            suffix="import threading, time\n"
            "def _swap():\n    while True:\n"
            "        snaps = globals().get('__autograder_snapshots__', {})\n"
            "        for snap in snaps.values():\n"
            "            snap['gradient_descent_update'] = lambda *a: None\n"
            "        time.sleep(0.001)\n"
            "threading.Thread(target=_swap, daemon=True).start()\n"
        ),
        {RATE_TEST},
        why="a thread that keeps rewriting the snapshots while the tests call in",
    ),
    "recorder": Case(
        _edit(
            {"gradient_descent_update": _RECORDER + CORRECT, **OK_RATE},
            _extra_cell(_DUMP),
        ),
        ALL,
        why="records later cells (pre_run_cell, an audit hook, code objects) and prints them encoded",
    ),
    "surrogates": Case(
        _ascii_json(
            {"gradient_descent_update": CORRECT + "# \ud800\n", **OK_RATE},
            _extra_cell("print('\\ud800')"),
            _extra_cell("x = 1", grade_id="mine\ud800"),
        ),
        ALL,
        {"encoding"},
        why="lone surrogates (legal as JSON escapes) in a cell, an output and a grade id",
    ),
    "malformed_message": Case(
        _edit(
            {"gradient_descent_update": CORRECT, **OK_RATE},
            _extra_cell(
                "k = get_ipython().kernel\n"
                "k.session.send(k.iopub_socket, 'stream', {'text': 'no name'}, "
                "parent=k.get_parent('shell'))"
            ),
        ),
        ALL,
        {"invalid"},
        why="its kernel sends a message nbclient cannot read: dropped, the work is graded",
    ),
    "socket_squatter": Case(
        _wrong(
            suffix="import os, socket\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.bind('.grader-calls.sock')  # the old fixed name\ns.listen(1)\n"
        ),
        {RATE_TEST},
        why="binds the call server's socket path first",
    ),
}
CASES.update(HOSTILE)


def _attack_case(name: str, spec: dict) -> Case:
    """A :class:`Case` from one entry of :data:`tests.corpus.hostile_learner.ATTACKS`."""
    assignment = spec.get("assignment", EXERCISE)

    def build(ctx: dict) -> bytes:
        nb = answered(ctx["release"][assignment], spec.get("answers", {}))
        if spec.get("edit"):
            spec["edit"](nb)
        return _bytes(nb)

    return Case(
        build,
        set(spec.get("passes", set())),
        set(spec.get("flags", set())),
        assignment=assignment,
        extras=dict(spec.get("extras", {})),
        why=f"the hostile learner's {name}",
    )


def attack_cases() -> dict[str, Case]:
    """The hostile learner's attacks that the corpus grades (``hostile_learner.CORPUS``)."""
    from tests.corpus import hostile_learner

    return {
        f"attack-{name}": _attack_case(name, hostile_learner.ATTACKS[name])
        for name in hostile_learner.CORPUS
    }


CASES.update(attack_cases())

# --- an honest class: what real learners hand in (issue 9) -----------------------------------
#: Honest ways to write the update (not all fully right): numpy calls, loops, comprehensions
#: returning lists, helpers, prints left in, tuples, copies, ints.
HONEST_UPDATES = {
    "plain": CORRECT,
    "np_calls": "import numpy as np\n\ndef gradient_descent_update(x, gradx, learning_rate):\n    return np.subtract(x, np.multiply(learning_rate, gradx))\n",
    "helper": "def step(rate, slope):\n    return rate * slope\n\n\ndef gradient_descent_update(x, gradx, learning_rate):\n    return x - step(learning_rate, gradx)\n",
    "printing": update(
        "print('updating', x, gradx, learning_rate)\nnew_x = x - learning_rate * gradx\nprint('new x', new_x)\nreturn new_x"
    ),
    "copy_then_subtract": "import numpy as np\n\ndef gradient_descent_update(x, gradx, learning_rate):\n    result = np.copy(x)\n    result = result - learning_rate * np.asarray(gradx)\n    return result\n",
    "list_comprehension": update(
        "import numpy as np\nif np.ndim(x) == 0:\n    return x - learning_rate * gradx\nreturn [a - learning_rate * b for a, b in zip(np.ravel(x), np.ravel(gradx))]"
    ),
    "loop_1d": update(
        "try:\n    out = []\n    for a, b in zip(x, gradx):\n        out.append(a - learning_rate * b)\n    return out\nexcept TypeError:\n    return x - learning_rate * gradx"
    ),
    "tuple_result": update(
        "import numpy as np\nif np.ndim(x) == 0:\n    return x - learning_rate * gradx\nreturn tuple(np.asarray(x) - learning_rate * np.asarray(gradx))"
    ),
    "float_cast": update("return float(x) - float(learning_rate) * float(gradx)"),
    "asarray": "import numpy as np\n\ndef gradient_descent_update(x, gradx, learning_rate):\n    return np.asarray(x) - learning_rate * np.asarray(gradx)\n",
    "two_steps": update("step = learning_rate * gradx\nx = x - step\nreturn x"),
    "docstring_and_type_hints": 'def gradient_descent_update(x: float, gradx: float, learning_rate: float) -> float:\n    """One step downhill."""\n    return x - gradx * learning_rate\n',
    "lambda": "gradient_descent_update = lambda x, gradx, learning_rate: x - learning_rate * gradx\n",
    "in_place_copy": update(
        "import copy\ny = copy.deepcopy(x)\ny -= learning_rate * gradx\nreturn y"
    ),
    "round_result": update(
        "return round(x - learning_rate * gradx, 6) if isinstance(x, float) else x - learning_rate * gradx"
    ),
}
HONEST_RATES = {
    "r01": "0.1",
    "r02": "0.2",
    "r03": "0.3",
    "r045": "0.45",
    "r005": "0.05",
    "int_fraction": "1 / 10",
    "text": "'0.1'",
    "r001": "0.01",
    "r09": "0.9",
    "r05": "0.5",
}


def _honest_class() -> dict[str, Case]:
    """30 honest hand-ins of the exercise (and of the gradient): update x rate pairs."""
    cases: dict[str, Case] = {}
    rates = list(HONEST_RATES.items())
    for i, (name, code) in enumerate(HONEST_UPDATES.items()):
        for j in (0, 1):
            rate_name, rate = rates[(2 * i + j) % len(rates)]
            answers = {
                "gradient_descent_update": code,
                "choose_learning_rate": f"def choose_learning_rate():\n    return {rate}\n",
            }
            extra = (
                _extra_cell("print('my own notes')\nx_try = gradient_descent_update(3.0, 6.0, 0.1)")
                if j
                else None
            )
            build = _edit(answers, extra) if extra else _exercise(answers)
            cases[f"honest-{name}-{rate_name}"] = Case(build, set(), why="honest")
    cases["honest-helper-module"] = Case(
        _exercise(
            {
                "gradient_descent_update": "from mysteps import step\n\n"
                "def gradient_descent_update(x, gradx, learning_rate):\n"
                "    return x - step(gradx, learning_rate)\n",
                **OK_RATE,
            }
        ),
        set(),
        extras={"mysteps.py": b"def step(gradient, rate):\n    return rate * gradient\n"},
        why="honest: a helper module handed in beside the notebook",
    )
    gradients = {
        "mean": "def cost_gradient(w, b, x, y):\n    error = w * x + b - y\n    return np.array([2 * np.mean(error * x), 2 * np.mean(error)])\n",
        "tuple": "def cost_gradient(w, b, x, y):\n    error = w * x + b - y\n    dw = 2 * np.mean(error * x)\n    db = 2 * np.mean(error)\n    return dw, db\n",
        "loop": "def cost_gradient(w, b, x, y):\n    dw = db = 0.0\n    for xi, yi in zip(x, y):\n        e = w * xi + b - yi\n        dw += 2 * e * xi / len(x)\n        db += 2 * e / len(x)\n    return [dw, db]\n",
        "missing_factor": "def cost_gradient(w, b, x, y):\n    error = w * x + b - y\n    return np.array([np.mean(error * x), np.mean(error)])\n",
    }
    for name, code in gradients.items():
        cases[f"honest-gradient-{name}"] = Case(
            lambda ctx, code=code: _bytes(
                answered(ctx["release"][GRADIENT], {"cost_gradient": code})
            ),
            set(),
            assignment=GRADIENT,
            why="honest",
        )
    return cases


#: Graded by plain ``nbgrader autograde`` and by the class grader: every per-cell score agrees.
HONEST_CLASS: dict[str, Case] = _honest_class()


def read_releases(release_dir: Path) -> dict[str, NotebookNode]:
    """The release notebooks of the two graded assignments."""
    return {
        name: nbformat.read(release_dir / name / f"{name}.ipynb", as_version=4)
        for name in (EXERCISE, GRADIENT)
    }


def write_corpus(
    root: Path,
    submitted: Path,
    release_dir: Path,
    only: list[str] | None = None,
    cases: dict[str, Case] | None = None,
) -> dict[str, Case]:
    """Write the corpus (or the cases in ``only``) in nbgrader's layout under ``submitted``."""
    ctx = {"root": root, "submitted": submitted, "release": read_releases(release_dir)}
    cases = CASES if cases is None else cases
    chosen = {k: v for k, v in cases.items() if only is None or k in only}
    for student, case in chosen.items():
        folder = submitted / student / case.assignment
        folder.mkdir(parents=True, exist_ok=True)
        data = case.build(ctx)
        if data is not None:
            (folder / f"{case.assignment}.ipynb").write_bytes(data)
        for name, content in case.extras.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(content)
    return chosen


def write_zip_corpus(folder: Path, release_dir: Path) -> dict[str, tuple[set[str], set[str]]]:
    """Per-student files as exported from an LMS: zips (one with a ``../`` member) and a
    loose notebook. Returns student -> (tests that must pass, flag kinds required)."""
    ctx = {"root": folder, "submitted": folder, "release": read_releases(release_dir)}
    folder.mkdir(parents=True, exist_ok=True)
    good = CASES["correct"].build(ctx)
    wrong = CASES["adds_gradient"].build(ctx)
    with zipfile.ZipFile(folder / "zara.zip", "w") as z:
        z.writestr(f"zara/{EXERCISE}.ipynb", good)
        z.writestr("../escaped.txt", "outside")
        z.writestr("data.csv", "1,2\n")
    with zipfile.ZipFile(folder / "zeno.zip", "w") as z:
        z.writestr(f"{EXERCISE}.ipynb", wrong)
    (folder / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    return {
        "zara": (ALL, {"intake"}),
        "zeno": ({RATE_TEST}, set()),
        "broken": (set(), {"intake"}),
    }


def make_course(
    root: Path,
    repo: Path,
    keep_gradebook: bool = False,
    assignments: tuple[str, ...] = (GRADIENT, EXERCISE),
) -> Path:
    """A throw-away course root: the repository's sources and nbgrader configuration, with
    a release generated from them by nbgrader (so the corpus matches the sources)."""
    import shutil

    from autograder.coursedir import nbgrader_api

    (root / "autograder").mkdir(parents=True)
    shutil.copytree(repo / "solutions", root / "solutions", ignore=shutil.ignore_patterns("*.py"))
    plant_constant(root / "solutions" / EXERCISE / f"{EXERCISE}.ipynb")
    shutil.copy(repo / "autograder" / "nbgrader_config.py", root / "autograder")
    api = nbgrader_api(root)
    for name in assignments:
        result = api.generate_assignment(name, force=True, create=True)
        assert result["success"], result.get("error") or result.get("log")
    if not keep_gradebook:
        (root / "gradebook.db").unlink()
    return root


class CourseTemplates:
    """Throw-away courses copied from one course per set of assignments made by
    :func:`make_course`.

    The release :func:`make_course` generates with nbgrader (seconds per assignment) depends
    only on the repository's sources and configuration, so a test session generates it once
    per set of assignments, in ``cache``, and each course it asks for is a copy of that one
    (its gradebook included, or removed as :func:`make_course` removes it).

    Example
    -------
    >>> templates = CourseTemplates(Path("/tmp/templates"), Path("."))
    >>> templates.template((GRADIENT, EXERCISE)).name  # doctest: +SKIP
    '02_the_gradient+04_exercise'
    >>> root = templates.course(Path("/tmp/course"))  # doctest: +SKIP
    >>> sorted(p.name for p in root.iterdir())  # doctest: +SKIP
    ['autograder', 'course', 'solutions']
    """

    def __init__(self, cache: Path, repo: Path) -> None:
        self.cache = Path(cache)
        self.repo = Path(repo)

    def template(self, assignments: tuple[str, ...]) -> Path:
        """The course made once by :func:`make_course` for ``assignments``, gradebook kept."""
        import shutil
        import tempfile

        target = self.cache / "+".join(assignments)
        if not target.exists():
            self.cache.mkdir(parents=True, exist_ok=True)
            building = Path(tempfile.mkdtemp(dir=self.cache, prefix="building-"))
            try:
                make_course(building, self.repo, keep_gradebook=True, assignments=assignments)
                building.rename(target)
            finally:
                shutil.rmtree(building, ignore_errors=True)
        return target

    def course(
        self,
        root: Path,
        keep_gradebook: bool = False,
        assignments: tuple[str, ...] = (GRADIENT, EXERCISE),
    ) -> Path:
        """What ``make_course(root, repo, keep_gradebook, assignments)`` makes, as a copy."""
        import shutil

        shutil.copytree(self.template(assignments), root, symlinks=True, dirs_exist_ok=True)
        if not keep_gradebook:
            (Path(root) / "gradebook.db").unlink()
        return Path(root)


def plant_constant(path: Path) -> None:
    """Put :data:`PLANTED` into the hidden part of the first update test of ``path``."""
    nb = nbformat.read(path, as_version=4)
    cell = _cells(nb)["test_update_numbers"]
    marker = "### BEGIN HIDDEN TESTS\n"
    assert marker in cell.source, "the exercise's first test has hidden tests"
    cell.source = cell.source.replace(
        marker, f"{marker}_planted = {PLANTED!r}  # never passed to learner code\n", 1
    )
    nbformat.write(nb, path)


def tree_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def auto_scores(db_url: str, student: str, assignment: str) -> dict[str, float | None]:
    """Auto score of every autograded code test cell of a student's submission."""
    from nbgrader.api import Gradebook

    with Gradebook(db_url, "gradient-descent") as gb:
        notebook = gb.find_submission_notebook(assignment, assignment, student)
        return {
            g.name: g.auto_score
            for g in notebook.grades
            if g.cell_type == "code" and g.name.startswith("test_")
        }


def ensure_system_deps(repo: Path) -> None:
    """Install the grader's Debian packages if missing (bubblewrap, PostgreSQL), or fail."""
    import subprocess

    done = subprocess.run(
        ["bash", str(repo / "autograder" / "system_deps.sh")], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr or done.stdout
