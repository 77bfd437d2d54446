"""The trusted test runner: every autograded test cell runs here, never in the learner's kernel.

For test cell *k* of a submission, :class:`GradingSuite` builds a fresh namespace from the
*instructor's* notebook in ``solutions/``: the cells above *k* that are neither answer nor test
cells (imports, helpers, ``f``, ``df``, the check functions), run once per worker and copied per
submission. Each name that the instructor's answer cells define becomes a stand-in for the
learner's object as it was bound when the learner's run reached cell *k*:

- a function name becomes a :class:`LearnerFunction`, a callable that sends its arguments to
  the learner's kernel (:mod:`autograder.callserver`), calls the learner's object there and
  brings back the result *and the arguments as they are after the call*, copied back into the
  runner's own objects, so "the input array was not changed" stays testable;
- any other name is fetched once, as a value.

Only plain data decoded by :mod:`autograder.codec` ever comes back. A failure of the call
itself (a time-out, a dead kernel, a type the codec refuses, an oversized reply) raises
:class:`CallFailed`, a ``BaseException`` that ``except Exception`` in a test does not catch,
and fails the test whatever the test did with it. The learner's own exceptions come back as the
same built-in ``Exception`` subclass with its message, or as :class:`LearnerError`.

The verdict (:class:`~autograder.records.Verdict`) is the runner's own; :func:`verdict_outputs`
writes it as the test cell's outputs in a fixed form that nbgrader scores the same way.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import copy
import functools
import io
import os
import signal
import socket
import struct
import time
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import numpy as np
from nbformat.notebooknode import NotebookNode

from autograder import callserver, codec
from autograder.records import Verdict

_FRAME = struct.Struct(">I")
#: The largest request the runner sends and the kernel accepts.
MAX_REQUEST = 8 * 2**20
#: Characters of a test's printed output kept in its cell.
MAX_TEST_STDOUT = 20_000
#: The snapshots' home in the learner's namespace (see :func:`snapshot_code`).
SNAPSHOTS = "__autograder_snapshots__"
DEFAULT_CAPS = codec.Caps()
#: Seconds a test's own code may run past its deadline before it is stopped.
TEST_GRACE = 1.0


class CallFailed(BaseException):  # noqa: N818 - it must escape `except Exception` in tests
    """A call into the learner's kernel failed as a call: it fails the test, whatever catches it."""


class OutOfTime(BaseException):  # noqa: N818
    """The test cell ran past its time budget."""


class LearnerError(Exception):
    """An exception the learner's code raised whose type is not a built-in ``Exception``."""


def learner_exception(name: str, message: str) -> Exception:
    """The exception a learner's call raised, rebuilt in the runner from its name and message.

    Examples
    --------
    >>> learner_exception("ValueError", "bad")
    ValueError('bad')
    >>> learner_exception("SystemExit", "0")
    LearnerError('SystemExit: 0')
    >>> learner_exception("MyError", "x")
    LearnerError('MyError: x')
    """
    kind = getattr(builtins, name, None)
    if isinstance(kind, type) and issubclass(kind, Exception) and kind.__module__ == "builtins":
        try:
            return kind(message)
        except Exception:  # an exception type that wants other arguments
            pass
    return LearnerError(f"{name}: {message}")


def copy_back(original: object, after: object) -> None:
    """Make ``original`` (the runner's argument) equal to ``after`` (it, after the learner's
    call), in place, where it is a mutable container of the same kind.

    Examples
    --------
    >>> a = np.zeros(2); copy_back(a, np.ones(2)); a
    array([1., 1.])
    >>> items = [1, 2]; copy_back(items, [3]); items
    [3]
    """
    if type(original) is np.ndarray and type(after) is np.ndarray:
        if original.shape == after.shape and original.flags.writeable:
            np.copyto(original, after, casting="unsafe")
    elif type(original) is list and type(after) is list:
        original[:] = after
    elif type(original) is dict and type(after) is dict:
        original.clear()
        original.update(after)


# --- the channel to the kernel ----------------------------------------------------------------
@dataclass
class KernelChannel:
    """A connection to the call server in one learner's kernel.

    Every request carries a number, and a reply is only taken for the request it answers, so
    a late reply to a call that timed out is dropped. ``interrupt`` is called when a call runs
    past its time; a kernel that then answers nothing more by the next call's deadline makes
    the channel *broken*, and every later call fails at once with the reason.
    """

    path: str
    interrupt: object = None
    peer_uid: int | None = None
    caps: codec.Caps = field(default_factory=codec.Caps)
    calls: int = 0
    broken: str = ""
    sock: socket.socket | None = None
    stuck: bool = False
    deadline: float = 0.0

    def connect(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                callserver.with_unix_path(self.path, sock.connect)
                self._check_peer(sock)
                self.sock = sock
                return
            except OSError as error:
                sock.close()
                if time.monotonic() > deadline:
                    self.broken = f"the kernel's call server did not start ({error.strerror})"
                    raise CallFailed(self.broken) from None
                time.sleep(0.02)

    def _check_peer(self, sock: socket.socket) -> None:
        """Talk only to a process of the kernel's own user (the path could be a link to any
        socket on this machine, and this process may be root)."""
        if self.peer_uid is None:
            return
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        uid = struct.unpack("3i", creds)[1]
        if uid != self.peer_uid:
            sock.close()
            self.broken = f"the socket belongs to user {uid}, not to the learner's kernel"
            raise CallFailed(self.broken)

    def request(self, message: tuple, timeout: float) -> tuple:
        """Send ``message``, return the kernel's reply; :class:`CallFailed` if the call fails."""
        if self.broken:
            raise CallFailed(self.broken)
        if self.sock is None:
            raise CallFailed("not connected to the learner's kernel")
        self.calls += 1
        number = self.calls
        try:
            data = codec.encode((number, *message), self.caps)
        except (codec.Unsupported, codec.CodecError) as error:
            raise CallFailed(f"the test passed {error}, which cannot be sent") from None
        self.deadline = time.monotonic() + min(max(timeout, 0.001), 3600.0)
        try:
            self.sock.settimeout(self._left())
            self.sock.sendall(_FRAME.pack(len(data)) + data)
            while True:
                reply = self._receive_reply()
                self.stuck = False
                if type(reply) is tuple and reply and reply[0] == number:
                    break
        except TimeoutError:
            self._timed_out(timeout)
            raise CallFailed(f"the call took longer than {timeout:.3g} s") from None
        except (OSError, EOFError) as error:
            self.broken = f"the learner's kernel stopped answering ({type(error).__name__})"
            raise CallFailed(self.broken) from None
        except codec.CodecError as error:
            self.broken = f"the learner's kernel sent an unreadable reply ({error})"
            raise CallFailed(self.broken) from None
        except CallFailed:
            raise
        except Exception as error:  # whatever else a crafted reply causes: the call failed
            self.broken = f"the learner's kernel sent a reply that broke the call ({error!r:.100})"
            raise CallFailed(self.broken) from None
        except BaseException:
            # stopped halfway through a reply (the test's own time ran out): no way back in
            self.broken = "the connection to the learner's kernel was cut off mid-reply"
            raise
        reply = reply[1:]
        if not reply or type(reply[0]) is not str:
            raise CallFailed("the learner's kernel sent a reply of the wrong shape")
        return reply

    def _receive_reply(self) -> object:
        size = _FRAME.unpack(self._take(4))[0]
        if size > self.caps.max_bytes:
            self.broken = f"the learner's kernel sent a reply of {size} bytes (over the cap)"
            raise CallFailed(self.broken)
        return codec.decode(self._take(size), self.caps)

    def _left(self) -> float:
        """Seconds left for this call; a ``TimeoutError`` once there are none."""
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the call's time ran out")
        return left

    def _take(self, size: int) -> bytes:
        """``size`` bytes of the reply, however the kernel dribbles them, within the call's
        time (each read waits only for what is left of it)."""
        chunks, left = [], size
        while left:
            self.sock.settimeout(self._left())  # type: ignore[union-attr]
            chunk = self.sock.recv(min(left, 1 << 20))  # type: ignore[union-attr]
            if not chunk:
                raise EOFError("closed")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _timed_out(self, timeout: float) -> None:
        """Interrupt the learner's call; a kernel already interrupted once in vain is broken."""
        if self.stuck or self.interrupt is None:
            self.broken = "the learner's kernel stopped answering after a call timed out"
            return
        self.stuck = True
        with contextlib.suppress(Exception):
            self.interrupt()

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(OSError, CallFailed, codec.CodecError):
                if not self.broken:
                    data = codec.encode((self.calls + 1, "bye"))
                    self.sock.settimeout(1.0)
                    self.sock.sendall(_FRAME.pack(len(data)) + data)
            self.sock.close()
            self.sock = None


@dataclass
class CallLog:
    """The call failures seen while one test ran (whatever the test did with them)."""

    failures: list[str] = field(default_factory=list)
    deadline: float = float("inf")

    def left(self) -> float:
        """Seconds left before the test's deadline (at least a millisecond)."""
        return max(self.deadline - time.monotonic(), 0.001)


class LearnerFunction:
    """Stands in, in the runner, for one of the learner's functions as bound at one test cell.

    Calling it calls the learner's function in the learner's kernel with copies of the
    arguments; the result comes back as plain data and changed arguments are copied back.
    """

    def __init__(self, channel: KernelChannel, snapshot: int, name: str, log: CallLog) -> None:
        self._channel, self._snapshot, self._name, self._log = channel, snapshot, name, log
        self.__name__ = self.__qualname__ = name

    def __repr__(self) -> str:
        return f"<the learner's {self.__name__}>"

    def __call__(self, *args: object, **kwargs: object) -> object:
        left = self._log.deadline - time.monotonic()
        try:
            if left <= 0:
                raise CallFailed("the test's time ran out")
            reply = self._channel.request(("call", self._snapshot, self._name, args, kwargs), left)
            return self._result(reply, args, kwargs)
        except CallFailed as failure:
            self._log.failures.append(f"{self._name}: {failure}")
            raise

    def _result(self, reply: tuple, args: tuple, kwargs: dict) -> object:
        status = reply[0]
        if status == "ok" and len(reply) == 4 and type(reply[2]) is tuple:
            for before, after in zip(args, reply[2], strict=False):
                copy_back(before, after)
            if type(reply[3]) is dict:
                for key, before in kwargs.items():
                    copy_back(before, reply[3].get(key))
            return reply[1]
        if status == "raised" and len(reply) == 3:
            raise learner_exception(str(reply[1]), str(reply[2]))
        if status == "missing":
            raise NameError(f"name '{self._name}' is not defined (in the submission)")
        if status == "unsupported" and len(reply) == 2:
            raise CallFailed(
                f"{self._name} returned {str(reply[1])[:200]}, which is not plain data"
            )
        raise CallFailed("the learner's kernel sent a reply of the wrong shape")


# --- the instructor's notebook -----------------------------------------------------------------
def is_test_cell(cell: NotebookNode) -> bool:
    """Whether ``cell`` is an autograded code test cell.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell
    >>> is_test_cell(new_code_cell("1", metadata={"nbgrader": {"grade": True, "solution": False}}))
    True
    >>> is_test_cell(new_code_cell("1"))
    False
    """
    meta = cell.metadata.get("nbgrader", {})
    return cell.cell_type == "code" and bool(meta.get("grade")) and not meta.get("solution")


def is_answer_cell(cell: NotebookNode) -> bool:
    """Whether ``cell`` is a code cell the learner writes (an nbgrader solution cell)."""
    return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("solution"))


def defined_names(source: str) -> tuple[list[str], list[str]]:
    """The functions (and classes) and the other names that ``source`` binds at top level.

    Examples
    --------
    >>> defined_names("def f(x):\\n    return x\\nrate = 0.1\\nclass C: pass\\n")
    (['f', 'C'], ['rate'])
    """
    functions, values = [], []
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            functions.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                values += [n.id for n in ast.walk(target) if isinstance(n, ast.Name)]
    return functions, [v for v in dict.fromkeys(values) if v not in functions]


def _shareable(value: object) -> bool:
    return isinstance(
        value,
        types.ModuleType
        | types.FunctionType
        | types.BuiltinFunctionType
        | type
        | types.MethodType
        | np.ufunc,
    )


def fresh_copy(namespace: dict) -> dict:
    """A per-submission copy of a set-up namespace: modules, functions and classes are
    shared, every other value is deep-copied (so no submission sees another's changes).

    Examples
    --------
    >>> base = {"np": np, "data": [1, 2]}
    >>> copy_ = fresh_copy(base)
    >>> copy_["np"] is np, copy_["data"] is base["data"], copy_["data"] == base["data"]
    (True, False, True)
    """
    result = {}
    for name, value in namespace.items():
        if name == "__builtins__" or _shareable(value):
            result[name] = value
        else:
            try:
                result[name] = copy.deepcopy(value)
            except Exception:  # an object that cannot be copied: shared, like a module
                result[name] = value
    return result


@dataclass
class GradedCell:
    """One autograded test cell of the instructor's notebook and what runs before it."""

    grade_id: str
    source: str
    setup: list[str]


class GradingSuite:
    """The instructor's notebook of one assignment, as the runner uses it.

    Parameters
    ----------
    notebook : NotebookNode
        The source notebook (from ``solutions/``), with the hidden tests.
    folder : Path
        Its folder: set-up cells run there, as they do in a kernel.
    """

    def __init__(self, notebook: NotebookNode, folder: Path) -> None:
        self.folder = Path(folder)
        self.functions: list[str] = []
        self.values: list[str] = []
        self.tests: dict[str, GradedCell] = {}
        setup: list[str] = []
        for cell in notebook.cells:
            if cell.cell_type != "code":
                continue
            if is_answer_cell(cell):
                functions, values = defined_names(cell.source)
                self.functions += functions
                self.values += values
            elif is_test_cell(cell):
                grade_id = cell.metadata.nbgrader["grade_id"]
                self.tests[grade_id] = GradedCell(grade_id, cell.source, list(setup))
            else:
                setup.append(cell.source)
        self._built: dict[str, dict] = {}

    @classmethod
    def read(cls, path: Path) -> GradingSuite:
        """The suite of the source notebook at ``path``."""
        return cls(nbformat.read(path, as_version=4), Path(path).parent)

    def setup_namespace(self, grade_id: str) -> dict:
        """The namespace the set-up cells above ``grade_id`` build, made once and cached.

        A set-up cell that fails is the instructor's error: it raises ``RuntimeError``.
        """
        if grade_id not in self._built:
            namespace: dict = {"__name__": "__main__", "__builtins__": builtins}
            with _quiet(), _working_dir(self.folder):
                for index, source in enumerate(self.tests[grade_id].setup):
                    try:
                        exec(compile(source, f"<setup cell {index}>", "exec"), namespace)
                    except Exception as error:
                        raise RuntimeError(
                            f"the instructor's set-up cell {index} above {grade_id} failed in "
                            f"the test runner: {type(error).__name__}: {error}"
                        ) from error
            self._built[grade_id] = namespace
        return self._built[grade_id]

    def namespace(self, grade_id: str, snapshot: int, channel: KernelChannel, log: CallLog) -> dict:
        """A fresh namespace for one submission's test ``grade_id``, with the learner's names."""
        namespace = fresh_copy(self.setup_namespace(grade_id))
        for name in self.functions:
            reply = _ask(channel, ("name", snapshot, name), log)
            if reply is None or reply[0] == "missing":
                continue  # the test then meets a NameError, as in a kernel
            function = LearnerFunction(channel, snapshot, name, log)
            if reply[0] == "ok" and type(reply[1]) is str and reply[1]:
                function.__name__ = reply[1][:100]
            namespace[name] = function
        for name in self.values:
            reply = _ask(channel, ("get", snapshot, name), log)
            if reply is not None and reply[0] == "ok" and len(reply) == 2:
                namespace[name] = reply[1]
            elif reply is not None and reply[0] == "unsupported":
                log.failures.append(f"{name} is {reply[1]}, which is not plain data")
        return namespace


def _ask(channel: KernelChannel, message: tuple, log: CallLog) -> tuple | None:
    """The kernel's reply to ``message``, or None with the failure logged against the test."""
    try:
        return channel.request(message, log.left())
    except CallFailed as failure:
        log.failures.append(f"{message[2]}: {failure}")
        return None


@contextlib.contextmanager
def _quiet() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.redirect_stderr(io.StringIO()):
        yield buffer


@contextlib.contextmanager
def _working_dir(folder: Path) -> Iterator[None]:
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`OutOfTime` in this (main) thread after ``seconds``."""

    def ring(signum: int, frame: object) -> None:
        raise OutOfTime(f"the test ran for more than {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_test(
    source: str,
    grade_id: str,
    namespace: dict | Callable[[], dict],
    log: CallLog,
    seconds: float,
) -> Verdict:
    """Run one test cell's code in ``namespace`` and judge it.

    Examples
    --------
    >>> run_test("assert 1 + 1 == 3, 'arithmetic'", "t", {}, CallLog(), 5)
    Verdict(status='failed', ename='AssertionError', evalue='arithmetic', stdout='')
    >>> run_test("print('fine')", "t", {}, CallLog(), 5).stdout
    'fine\\n'
    """
    error: BaseException | None = None
    # calls into the kernel time out first, at the deadline; the alarm is for the test's own code
    with _quiet() as printed, _time_limit(seconds + TEST_GRACE):
        try:
            if callable(namespace):  # built inside the time limit: it calls the kernel too
                namespace = namespace()
            exec(compile(source, f"<test {grade_id}>", "exec"), namespace)
        except OutOfTime as timed_out:
            error = timed_out
        except BaseException as raised:  # noqa: BLE001 - every way a test ends is a verdict
            error = raised
    stdout = printed.getvalue()[:MAX_TEST_STDOUT]
    if log.failures:
        return Verdict("error", "CallFailed", log.failures[0][:500], stdout)
    if error is None:
        return Verdict("passed", "", "", stdout)
    if isinstance(error, OutOfTime):
        return Verdict("timeout", "OutOfTime", str(error), stdout)
    status = "failed" if isinstance(error, AssertionError) else "error"
    return Verdict(status, type(error).__name__, str(error)[:1000], stdout)


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An nbformat error output with a one-line traceback (no code shown).

    Examples
    --------
    >>> out = error_output("GraderStop", "not run")
    >>> out.output_type, out.ename, out.traceback
    ('error', 'GraderStop', ['GraderStop: not run'])
    """
    line = f"{ename}: {evalue}" if evalue else ename
    return nbformat.v4.new_output("error", ename=ename, evalue=evalue, traceback=[line])


def verdict_outputs(verdict: Verdict) -> list[NotebookNode]:
    """The test cell's outputs for ``verdict``: its stdout, and one error output unless it
    passed; never an ``execute_result`` (which nbgrader would count as credit).

    Examples
    --------
    >>> [o.output_type for o in verdict_outputs(Verdict("failed", "AssertionError", "no", "hi"))]
    ['stream', 'error']
    >>> verdict_outputs(Verdict("passed", "", "", ""))
    []
    """
    outputs = []
    if verdict.stdout:
        outputs.append(nbformat.v4.new_output("stream", name="stdout", text=verdict.stdout))
    if verdict.status != "passed":
        outputs.append(error_output(verdict.ename, verdict.evalue))
    return outputs


#: The private module (in ``sys.modules``, which ``%reset`` leaves alone) that holds the
#: snapshots inside the learner's kernel.
_STORE = (
    f"__import__('sys').modules.setdefault({SNAPSHOTS!r}, "
    f"__import__('types').ModuleType({SNAPSHOTS!r})).__dict__"
)
#: The learner's namespace, reached without any name the learner may have rebound honestly.
_LIVE = "__import__('builtins').globals()"


def snapshot_expression(index: int) -> str:
    """The expression that, evaluated in the learner's kernel when the run reaches test cell
    ``index``, keeps a shallow copy of the learner's namespace as it is at that point.

    It is sent as a ``user_expressions`` entry of an empty execute request: IPython evaluates
    those with plain ``eval``, past the input and AST transformers a learner may have added.
    It uses no name a learner's honest code might rebind (``exec``, ``compile``, ``globals``).

    Examples
    --------
    >>> import sys
    >>> ns = {"f": len}
    >>> eval(snapshot_expression(3), ns)
    >>> sys.modules["__autograder_snapshots__"].__dict__[3]["f"]
    <built-in function len>
    """
    return f"{_STORE}.__setitem__({index}, dict({_LIVE}))"


@functools.cache
def _server_source() -> str:
    """The codec's and the call server's source, read once per process."""
    return Path(codec.__file__).read_text() + "\n" + Path(callserver.__file__).read_text()


def server_expression(socket_path: str, caps: codec.Caps = DEFAULT_CAPS) -> str:
    """The expression that starts the call server in the learner's kernel (it returns only
    when the runner says goodbye); sent as a ``user_expressions`` entry, like the snapshots."""
    source = _server_source()
    caps_args = ", ".join(
        f"{name}={getattr(caps, name)}"
        for name in ("max_bytes", "max_depth", "max_items", "max_dict_items")
    )
    builtins_ = "__import__('builtins')"
    snapshots = f"{{k: v for k, v in {_STORE}.items() if type(k) is int}}"
    return (
        f"(lambda ns: ({builtins_}.exec({builtins_}.compile("
        f"{source!r}, '<autograder call server>', 'exec'), ns), "
        f"ns['serve']({socket_path!r}, {snapshots}, {_LIVE}, ns['encode'], "
        f"ns['decode'], ns['Caps']({caps_args}), {MAX_REQUEST})))"
        "({'__name__': '__autograder__'})"
    )
