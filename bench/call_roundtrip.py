"""Benchmark: one call from the trusted runner into a learner's kernel, two ways, side by side.

1. the runner's direct channel: a unix socket to the call server started in the kernel after
   the learner's cells (:mod:`autograder.callserver`), with the compact codec;
2. a full Jupyter ``execute_request`` per call (what running each call as kernel code costs),
   with the result read back as a user expression.

Both call the same learner function, ``gradient_descent_update(x, gradx, learning_rate)``,
with numbers and with a 3-element array, in one run on one kernel, and it prints the mean
round trip of each and their ratio. Run it from the repository root::

    .venv/bin/python bench/call_roundtrip.py -n 2000

The kernel is a plain local one (the sandbox adds nothing per call: both ways cross the same
process boundary). A script, not a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from jupyter_client.manager import start_new_kernel

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from autograder.runner import (  # noqa: E402
    CallLog,
    KernelChannel,
    LearnerFunction,
    server_expression,
    snapshot_expression,
)

ANSWER = (
    "def gradient_descent_update(x, gradx, learning_rate):\n    return x - learning_rate * gradx\n"
)


def wait_reply(kc, msg_id: str) -> dict:
    while True:
        reply = kc.get_shell_msg(timeout=30)
        if reply["parent_header"].get("msg_id") == msg_id:
            return reply


def per_call_execute(kc, n: int) -> float:
    """Mean seconds of one call made as its own execute_request."""
    started = time.perf_counter()
    for i in range(n):
        msg_id = kc.execute(
            "",
            silent=True,
            store_history=False,
            user_expressions={"r": f"gradient_descent_update({float(i)}, 2.0, 0.1)"},
        )
        wait_reply(kc, msg_id)
    return (time.perf_counter() - started) / n


def per_call_channel(update: LearnerFunction, n: int, array: bool) -> float:
    """Mean seconds of one call over the runner's direct channel."""
    x, g = (np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.5, -1.0])) if array else (1.0, 2.0)
    started = time.perf_counter()
    for _ in range(n):
        update(x, g, 0.1)
    return (time.perf_counter() - started) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=2000, help="calls per way (default 2000)")
    args = parser.parse_args()
    km, kc = start_new_kernel(kernel_name="python3")
    try:
        wait_reply(kc, kc.execute(ANSWER))
        expression = snapshot_expression(0)
        wait_reply(kc, kc.execute("", user_expressions={"s": expression}))
        execute = statistics.median(per_call_execute(kc, args.n // 10) for _ in range(3))
        path = str(Path(tempfile.mkdtemp()) / "calls.sock")
        kc.execute("", silent=True, user_expressions={"s": server_expression(path)})
        channel = KernelChannel(path, interrupt=km.interrupt_kernel)
        channel.connect(20)
        update = LearnerFunction(channel, 0, "gradient_descent_update", CallLog())
        scalar = statistics.median(per_call_channel(update, args.n, False) for _ in range(3))
        array = statistics.median(per_call_channel(update, args.n, True) for _ in range(3))
        channel.close()
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
    print(f"execute_request per call:   {execute * 1e6:9.0f} us")
    print(f"direct channel, numbers:    {scalar * 1e6:9.0f} us  ({execute / scalar:.0f}x faster)")
    print(f"direct channel, 3-arrays:   {array * 1e6:9.0f} us  ({execute / array:.0f}x faster)")
    print(
        f"2,150 calls (a passing exercise hand-in): {2150 * scalar:.2f} s over the channel, "
        f"{2150 * execute:.1f} s as execute requests"
    )


if __name__ == "__main__":
    main()
