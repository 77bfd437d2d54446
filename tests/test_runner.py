"""The trusted runner's parts, without a kernel: the codec, the call protocol, the verdicts.

The call server (:mod:`autograder.callserver`) runs here in a thread on a unix socket, with
plain Python functions standing in for a learner's objects, so every promise of the runner
(plain data only, copy-back, exceptions, call failures that no test can swallow, fixed
outputs) is checked in milliseconds.
"""

from __future__ import annotations

import math
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autograder import callserver, codec
from autograder.records import Verdict
from autograder.runner import (
    CallFailed,
    CallLog,
    KernelChannel,
    LearnerError,
    LearnerFunction,
    run_test,
    verdict_outputs,
)

# --- the codec ----------------------------------------------------------------------------------
plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(plain)
@settings(max_examples=200, deadline=None)
def test_plain_data_comes_back_equal_and_of_the_same_types(value):
    back = codec.decode(codec.encode(value))
    assert back == value
    assert repr(back) == repr(value)  # int stays int, tuple stays tuple, True stays True


def test_floats_come_back_bit_for_bit():
    for value in (float("nan"), float("inf"), -0.0, 5e-324, 0.1 + 0.2):
        back = codec.decode(codec.encode(value))
        assert math.copysign(1, back) == math.copysign(1, value)
        assert back == value or (math.isnan(back) and math.isnan(value))


def test_numpy_keeps_dtype_shape_and_values():
    arrays = [np.arange(12, dtype=np.int16).reshape(3, 4), np.array([1.5, np.nan]) > 1]
    arrays += [np.zeros((2, 0, 3)), np.array([1 + 2j]), np.float32(2.5), np.int64(-3)]
    for array in arrays:
        back = codec.decode(codec.encode(array))
        assert type(back) is type(array) and back.dtype == array.dtype
        assert np.array_equal(back, array, equal_nan=array.dtype.kind == "f")


@pytest.mark.parametrize(
    "value",
    [
        type("F", (float,), {})(1.0),
        np.array([1.0]).view(type("A", (np.ndarray,), {})),
        np.array([object()], dtype=object),
        np.zeros(2, dtype=[("a", "f8")]),
        object(),
        {1, 2},
        (i for i in range(3)),
        [lambda: 1],
    ],
)
def test_anything_else_is_refused_by_type(value):
    with pytest.raises(codec.Unsupported, match="of type|dtype"):
        codec.encode(value)


def test_exact_numbers_and_text_that_cannot_be_utf8():
    from decimal import Decimal
    from fractions import Fraction

    assert codec.decode(codec.encode((Fraction(1, 10), Decimal("0.1")))) == (
        Fraction(1, 10),
        Decimal("0.1"),
    )
    assert codec.decode(codec.encode("bad \ud800")) == "bad \\ud800"
    with pytest.raises(codec.CodecError):
        codec.decode(b"s\x03\x00\x00\x00\xed\xa0\x80")  # a lone surrogate, sent raw


def test_crafted_messages_are_codec_errors_never_anything_else():
    colliding = {k * (2**61 - 1): 0 for k in range(5)}
    with pytest.raises(codec.Unsupported):
        codec.encode(colliding)
    empty_but_huge = b"a\x03<f8\x03" + b"\x00\x00\x00\x00" + b"\xff\xff\xff\xff" * 2
    with pytest.raises(codec.CodecError):
        codec.decode(empty_but_huge + b"\x00\x00\x00\x00")


def test_caps_hold_both_ways():
    caps = codec.Caps(max_bytes=1000, max_depth=5, max_items=50)
    with pytest.raises(codec.CodecError):
        codec.encode("x" * 2000, caps)
    deep: list = []
    for _ in range(10):
        deep = [deep]
    with pytest.raises(codec.CodecError):
        codec.encode(deep, caps)
    with pytest.raises(codec.CodecError):
        codec.decode(codec.encode(list(range(100))), caps)
    for bad in (b"", b"?", b"s\xff\xff\xff\x7f", b"a\x03<f8\x01\x00\x00\x00\x10" + b"\0" * 8):
        with pytest.raises(codec.CodecError):
            codec.decode(bad)


# --- the call protocol ------------------------------------------------------------------------
def serve_in_thread(
    snapshot: dict, interrupt=None, live: dict | None = None, path: str = ""
) -> KernelChannel:
    """The call server on a fresh socket, in a thread, with ``snapshot`` as snapshot 0 and
    ``live`` as the learner's namespace after the last cell."""
    path = path or str(Path(tempfile.mkdtemp()) / "calls.sock")
    thread = threading.Thread(
        target=callserver.serve,
        args=(path, {0: snapshot}, {} if live is None else live, codec.encode, codec.decode,
              codec.Caps(), 2**20),
        daemon=True,
    )  # fmt: skip
    thread.start()
    channel = KernelChannel(path, interrupt=interrupt)
    channel.connect(5)
    return channel


def proxy(function, name: str = "update", seconds: float = 5.0):
    log = CallLog(deadline=time.monotonic() + seconds)
    return LearnerFunction(serve_in_thread({name: function}), 0, name, log), log


def test_a_call_returns_plain_data_and_copies_changed_arguments_back():
    def update(x, gradx, learning_rate):
        x -= learning_rate * gradx  # changes the caller's array
        return x

    call, log = proxy(update)
    x = np.array([1.0, 2.0])
    result = call(x, np.array([1.0, 1.0]), 0.5)
    assert result.tolist() == [0.5, 1.5] and x.tolist() == [0.5, 1.5]
    assert result is not x and log.failures == []


def test_learner_exceptions_come_back_as_exceptions_never_base_exceptions():
    for raised, expected in [
        (ValueError("bad"), ValueError),
        (NotImplementedError("stub"), NotImplementedError),
        (KeyboardInterrupt("stop"), LearnerError),
        (SystemExit(0), LearnerError),
        (type("AssertionError", (Exception,), {})("mine"), AssertionError),
    ]:

        def fail(*args, raised=raised):
            raise raised

        call, log = proxy(fail)
        with pytest.raises(expected):
            call(1)
        assert log.failures == []


def test_an_object_that_is_not_plain_data_fails_the_call():
    call, log = proxy(lambda *args: object())
    with pytest.raises(CallFailed, match="returned an object of type object"):
        call(1)
    assert log.failures


def test_a_call_failure_fails_the_test_whatever_the_test_catches():
    call, log = proxy(lambda *args: time.sleep(3), seconds=0.5)
    source = "try:\n    update(1)\nexcept BaseException:\n    pass\nprint('survived')"
    verdict = run_test(source, "t", {"update": call}, log, 0.5)
    assert verdict.status == "error" and verdict.ename == "CallFailed"
    assert "longer than" in verdict.evalue


def test_a_late_reply_is_never_taken_for_the_next_call():
    calls = iter([0.8, 0.0])

    def slow_then_fast(value):
        time.sleep(next(calls))
        return value

    channel = serve_in_thread({"f": slow_then_fast}, interrupt=lambda: None)
    with pytest.raises(CallFailed):
        channel.request(("call", 0, "f", ("first",), {}), 0.2)
    assert channel.request(("call", 0, "f", ("second",), {}), 5.0)[1] == "second"


def test_a_missing_name_is_a_name_error():
    call, _ = proxy(len, name="update")
    call._name = "not_there"
    with pytest.raises(NameError):
        call([1])


def test_the_test_itself_is_stopped_at_its_time():
    verdict = run_test("while True:\n    pass", "t", {}, CallLog(), 0.2)
    assert verdict.status == "timeout"


# --- verdicts as outputs ----------------------------------------------------------------------
def test_verdicts_are_written_in_the_fixed_form_nbgrader_scores():
    from nbformat.v4 import new_code_cell
    from nbgrader.utils import determine_grade

    meta = {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 2}}
    for verdict, score in [
        (Verdict("passed", stdout="ok\n"), 2),
        (Verdict("failed", "AssertionError", "uphill", "partial\n"), 0),
        (Verdict("timeout", "OutOfTime", "slow"), 0),
    ]:
        cell = new_code_cell("", metadata=meta)
        cell.outputs = verdict_outputs(verdict)
        assert determine_grade(cell)[0] == score
        kinds = [o.output_type for o in cell.outputs]
        assert "execute_result" not in kinds and kinds.count("error") == (score == 0)


def test_functions_see_their_helpers_as_they_were_at_the_test():
    live: dict = {}
    exec("def step(g):\n    return 0.1 * g\n\ndef update(x, g):\n    return x - step(g)\n", live)
    snapshot = dict(live)
    exec("def step(g):\n    return 50 * g\n", live)  # a later cell tries something else
    channel = serve_in_thread(snapshot, live=live)
    call = LearnerFunction(channel, 0, "update", CallLog(deadline=time.monotonic() + 5))
    assert call(10.0, 4.0) == 9.6


def test_a_socket_of_another_user_is_refused():
    import os

    path = str(Path(tempfile.mkdtemp()) / "calls.sock")
    threading.Thread(
        target=callserver.serve,
        args=(path, {}, {}, codec.encode, codec.decode, codec.Caps(), 2**20),
        daemon=True,
    ).start()
    channel = KernelChannel(path, peer_uid=os.getuid() + 1)
    with pytest.raises(CallFailed, match="belongs to user"):
        channel.connect(2)


def test_a_reply_dribbled_byte_by_byte_still_ends_at_the_deadline():
    import socket as socket_module

    path = str(Path(tempfile.mkdtemp()) / "slow.sock")
    listener = socket_module.socket(socket_module.AF_UNIX)
    listener.bind(path)
    listener.listen(1)

    def dribble():
        connection, _ = listener.accept()
        connection.recv(1000)
        try:
            for _ in range(100):
                connection.send(b"\x00")
                time.sleep(0.05)
        except OSError:  # the runner gave up on the call, as it must
            pass

    threading.Thread(target=dribble, daemon=True).start()
    channel = KernelChannel(path)
    channel.connect(2)
    started = time.monotonic()
    with pytest.raises(CallFailed):
        channel.request(("call", 0, "f", (), {}), 0.5)
    assert time.monotonic() - started < 1.5


def test_an_exception_whose_message_cannot_be_read_still_comes_back():
    class Unreadable(Exception):
        def __str__(self):
            raise RuntimeError("no")

    def fail(*args):
        raise Unreadable()

    call, _ = proxy(fail)
    with pytest.raises(LearnerError, match="could not be read"):
        call(1)


def test_methods_and_closures_also_see_the_namespace_of_the_test():
    live: dict = {}
    exec(
        "RATE = 0.1\n"
        "class Stepper:\n    def step(self, g):\n        return RATE * g\n"
        "def make():\n    s = Stepper()\n    return lambda x, g: x - s.step(g)\n"
        "update = make()\n",
        live,
    )
    snapshot = dict(live)
    live["RATE"] = 50.0  # a later cell explores another rate
    channel = serve_in_thread(snapshot, live=live)
    call = LearnerFunction(channel, 0, "update", CallLog(deadline=time.monotonic() + 5))
    assert call(10.0, 4.0) == 9.6
    assert live["RATE"] == 50.0, "after the call the namespace is the last cell's again"


def test_a_socket_in_a_deep_folder_still_connects():
    folder = Path(tempfile.mkdtemp()) / ("deep-" * 30)
    folder.mkdir()
    path = str(folder / "calls.sock")
    assert len(path) > 108
    channel = serve_in_thread({"f": len}, path=path)
    assert LearnerFunction(channel, 0, "f", CallLog(deadline=time.monotonic() + 5))([1, 2]) == 2
