"""Limits measured from what a kernel did: output bytes, and the limits its sandbox hit.

:func:`message_bytes` is the size of one kernel message as it arrived (every message type:
streams, display data of any MIME type, metadata, errors, ``update_display_data``, binary
buffers), for the output cap of :mod:`autograder.execution`. :func:`grade_task` is what a
grading worker runs for one submission: the worker's :func:`~autograder.worker.grade`, then
the flags of the limits its sandbox hit (from the kernel's cgroup, see
:mod:`autograder.cgroups`, and from the errors the learner's code got: a full disk, a file
too large).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from autograder.records import Outcome, Submission

#: Errors a cell gets when its sandbox's disk quota (work folder, /tmp) or file size is hit.
DISK_ERRORS = re.compile(r"No space left on device|File too large|Disk quota exceeded")


def message_bytes(msg: dict[str, Any]) -> int:
    """Bytes of one kernel message as it arrived: its content, metadata and binary buffers.

    Counts every message type alike, so no kind of output (a non-string MIME bundle, an
    error's traceback, metadata, ``update_display_data``) gets past a byte cap.

    Examples
    --------
    >>> message_bytes({"msg_type": "stream", "content": {"name": "stdout", "text": "héllo"}})
    36
    >>> big = {"content": {"data": {"application/json": {"x": "a" * 1000}}}, "metadata": {}}
    >>> message_bytes(big) > 1000
    True
    >>> message_bytes({"content": {}, "buffers": [b"12345", memoryview(b"678")]})
    8
    """
    size = 0
    for part in ("content", "metadata"):
        value = msg.get(part)
        if value:
            text = json.dumps(value, ensure_ascii=False, default=str)
            size += len(text.encode("utf-8", "surrogatepass"))  # a kernel may send lone ones
    for buffer in msg.get("buffers") or ():
        size += memoryview(buffer).nbytes
    return size


def disk_flags(graded: str | None, disk_bytes: int) -> list[list[str]]:
    """A ``disk`` flag if any output of the executed notebook shows the disk quota was hit.

    Examples
    --------
    >>> disk_flags('"OSError: [Errno 28] No space left on device"', 2**20)
    [['disk', 'hit the disk quota (1 MiB in the work folder, 1 MiB in /tmp)']]
    >>> disk_flags("{}", 2**20)
    []
    """
    if not graded or not DISK_ERRORS.search(graded):
        return []
    mib = f"{disk_bytes / 2**20:g} MiB"
    return [["disk", f"hit the disk quota ({mib} in the work folder, {mib} in /tmp)"]]


def grade_task(task: tuple) -> Outcome:
    """Grade one submission in a pool worker, in a fresh cgroup, and flag the limits it hit.

    ``task`` is ``(submission, cgroup_set, limits)``; a task whose first item is already an
    :class:`Outcome` (the parent could not read the hand-in) is passed through.
    """
    from autograder import cgroups
    from autograder.worker import grade

    item, groups, limits = task
    if isinstance(item, Outcome):
        return item
    sub: Submission = item
    leaf = cgroups.worker_leaf(groups, os.getpid())
    cgroups.clear(leaf)
    try:
        outcome = grade(sub)
    finally:
        hit = cgroups.events(leaf)
        cgroups.clear(leaf)
    outcome.flags += cgroups.flags(hit, limits)
    outcome.flags += disk_flags(outcome.graded, limits.disk_bytes)
    return outcome
