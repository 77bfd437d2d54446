"""The small server that the trusted test runner talks to inside a learner's kernel.

This file is sent, as source and after :mod:`autograder.codec`, into the learner's kernel
once every learner cell has run. :func:`serve` then answers requests on a unix socket until the
runner says goodbye: each request names a snapshot (the learner's objects as they were bound
when the run reached a test cell) and one of its names, and gets back plain data made by the
codec. Nothing here is trusted: the learner's process can answer anything it likes, which is why
the runner only ever receives decoded plain data and does all checking itself.

Requests and replies are tuples that start with the request's number (left out below), so
that the runner can drop a late reply to a call it gave up on:

- ``("call", snapshot, name, args, kwargs)`` -> ``("ok", result, args_after, kwargs_after)``,
  ``("raised", exception type name, message)``, ``("unsupported", what)`` or ``("missing",)``;
- ``("get", snapshot, name)`` -> ``("ok", value)``, ``("unsupported", what)`` or ``("missing",)``;
- ``("name", snapshot, name)`` -> ``("ok", the object's __name__ or "")`` or ``("missing",)``;
- ``("bye",)`` ends the server.

It imports only the standard library and has no ``__future__`` import, so that it can be joined
to the codec's source.
"""

import io
import os
import signal
import socket
import struct
import sys

_FRAME = struct.Struct(">I")


def _receive(connection, size: int) -> bytes:
    chunks, left = [], size
    while left:
        chunk = connection.recv(min(left, 1 << 20))
        if not chunk:
            raise EOFError("the runner closed the connection")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _reply(connection, message: tuple, encode, caps) -> None:
    try:
        data = encode(message, caps)
    except Exception as error:  # what the learner returned cannot be carried
        data = encode((message[0], "unsupported", _text(error, 300)), caps)
    connection.sendall(_FRAME.pack(len(data)) + data)


def _text(value: object, limit: int) -> str:
    """``str(value)`` cut to ``limit`` characters, or a placeholder if ``str`` itself fails."""
    try:
        text = str(value)
    except BaseException:  # a learner's __str__ may raise anything
        return "<its message could not be read>"
    return text[:limit] if type(text) is str else "<its message is not text>"


class AtTheTest:
    """While a learner's object is called, the learner's namespace holds what it held when the
    run reached the test: functions, methods, closures and decorators all see their globals as
    they were there. Changes the call makes stay with that test's snapshot; afterwards the
    namespace is what the last cell left."""

    def __init__(self, live: dict, snapshot: dict) -> None:
        self.live, self.snapshot, self.final = live, snapshot, dict(live)

    def __enter__(self) -> None:
        self.live.clear()
        self.live.update(self.snapshot)

    def __exit__(self, *exc: object) -> None:
        self.snapshot.clear()
        self.snapshot.update(self.live)
        self.live.clear()
        self.live.update(self.final)


def with_unix_path(path: str, use) -> None:
    """``use(path)`` for a unix socket path of any length: a path too long for ``sun_path``
    (108 bytes) is reached through its folder's file descriptor under ``/proc/self/fd``."""
    if len(os.fsencode(path)) < 100:
        use(path)
        return
    folder = os.open(os.path.dirname(path) or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        use(f"/proc/self/fd/{folder}/{os.path.basename(path)}")
    finally:
        os.close(folder)


def _on_interrupt(handler) -> None:
    """What SIGINT does (the kernel's interrupt); only the main thread can set it."""
    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread (the tests run the server in a thread)
        pass


def _call(snapshot: dict, request: tuple, live: dict) -> tuple:
    name = request[2]
    if type(name) is not str or name not in snapshot:
        return ("missing",)
    target = snapshot[name]
    if request[0] == "get":
        return ("ok", target)
    if request[0] == "name":
        label = getattr(target, "__name__", "")
        return ("ok", label if type(label) is str else "")
    args, kwargs = request[3], request[4]
    quiet = io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = quiet
    try:
        _on_interrupt(signal.default_int_handler)  # the grader's time limit may stop it
        with AtTheTest(live, snapshot):
            result = target(*args, **kwargs)
    except BaseException as error:  # the learner's exception, whatever it is
        return ("raised", type(error).__name__[:100], _text(error, 1000))
    finally:
        _on_interrupt(signal.SIG_IGN)
        sys.stdout, sys.stderr = saved
    return ("ok", result, args, kwargs)


def serve(path: str, snapshots: dict, live: dict, encode, decode, caps, max_request: int) -> None:
    """Answer the runner's requests on the unix socket ``path`` until it says goodbye.

    ``snapshots`` maps a test cell's index to the learner's namespace as it was there;
    ``live`` is the learner's namespace now. An interrupt (the runner's time limit) is only
    let through while a learner's function runs.
    """
    _on_interrupt(signal.SIG_IGN)
    namespaces = {index: dict(snapshot) for index, snapshot in snapshots.items()}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with_unix_path(path, listener.bind)
    listener.listen(1)
    connection, _ = listener.accept()
    listener.close()
    with connection:
        while True:
            try:
                size = _FRAME.unpack(_receive(connection, 4))[0]
                if size > max_request:
                    return
                request = decode(_receive(connection, size), caps)
            except (EOFError, OSError, ValueError):
                return
            if type(request) is not tuple or len(request) < 3 or request[1] == "bye":
                return
            number, request = request[0], request[1:]
            try:
                reply = _call(namespaces.get(request[1], {}), request, live)
            except KeyboardInterrupt:  # the runner's time-out interrupted a learner call
                reply = ("raised", "KeyboardInterrupt", "interrupted by the grader's time limit")
            try:
                _reply(connection, (number, *reply), encode, caps)
            except OSError:  # the runner has gone (it gave up on this call, or it is done)
                return
