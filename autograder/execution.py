"""The two preprocessors that grade a sanitized submission: the learner's run, then the tests.

:class:`LearnerExecute` is nbgrader's ``Execute`` with one change at its public
``preprocess_cell``: an autograded test cell is **not run** in the learner's kernel. When the run
reaches it, a snapshot keeps a copy of the learner's namespace as it is at that point (the
objects themselves, by reference), and the cell is left empty. Every other cell runs as
nbgrader runs it, with what a batch of untrusted notebooks needs on top:

- a wall-clock budget for the whole notebook: cells left when it runs out are not run, and
  get an error output saying so;
- a dead kernel (``os._exit``, a segfault, the memory limit) ends the run with an error
  output in the cell that killed it and in every cell after it, instead of an exception;
- output past ``max_output_chars`` bytes per notebook (every message type counted, see
  :func:`~autograder.limits.message_bytes`) is dropped while it arrives.

:class:`TrustedTests` then starts the call server in the kernel (after every learner cell has
run) and grades each test cell with the trusted runner (:mod:`autograder.runner`), writing the
runner's verdict as the cell's outputs; it checks that nbgrader scores each cell as the runner
judged it. What happened is collected in ``resources["autograder"]["events"]``, a list of
``(kind, detail)``.
"""

from __future__ import annotations

import logging
import queue
import secrets
import time
from pathlib import Path
from typing import Any

from jupyter_core.utils import run_sync
from nbclient.exceptions import CellControlSignal, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader import utils
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from traitlets import Float, Integer

from autograder.limits import message_bytes
from autograder.runner import (
    CallFailed,
    CallLog,
    GradingSuite,
    KernelChannel,
    error_output,
    is_test_cell,
    run_test,
    server_expression,
    snapshot_expression,
    verdict_outputs,
)

LOG = logging.getLogger("autograder")
NOT_RUN = "GraderStop"


def shared_state(resources: dict) -> dict:
    """The grader's part of ``resources``, shared by its preprocessors."""
    return resources.setdefault("autograder", {"events": [], "snapshots": {}})


class LearnerExecute(Execute):
    """nbgrader's ``Execute`` that runs the learner's cells only, with a snapshot at each
    test cell, a notebook budget, crash handling and an output cap.

    The kernel manager (passed to :meth:`preprocess`, or ``resources["autograder"]["km"]``) is
    left running (nbclient does not stop a kernel it was handed) for :class:`TrustedTests`; the
    caller shuts it down.
    """

    notebook_timeout = Float(120.0, help="wall-clock seconds for the whole notebook").tag(
        config=True
    )
    max_output_chars = Integer(200_000, help="bytes of output kept per notebook").tag(config=True)

    def preprocess(
        self, nb: NotebookNode, resources: Any = None, km: Any = None
    ) -> tuple[NotebookNode, dict]:
        self._state = shared_state(resources)
        self._bytes = 0
        self._truncated = False
        self._stop: tuple[str, str] | None = None
        self._started = time.monotonic()
        self._cell_timeout = self.timeout
        try:
            nb, resources = super().preprocess(nb, resources, km=km or self._state.get("km"))
        finally:
            self.timeout = self._cell_timeout
            # for TrustedTests, and for the caller to stop even when the run failed
            self._state["kc"] = getattr(self, "kc", None)
        if self._truncated:
            self._event("output", f"output over {self.max_output_chars} bytes cut")
        self._state["kernel_alive"] = (
            self._stop is None
            or self._stop[0] != "crash"
            or (
                "stop_before" in self._state  # stopped on purpose before the crash: still alive
            )
        )
        self._state["km"] = self.km
        return nb, resources

    def _event(self, kind: str, detail: str) -> None:
        self._state["events"].append((kind, detail))

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict, index: int
    ) -> tuple[NotebookNode, dict]:
        if cell.cell_type != "code" or not cell.source.strip():
            return cell, resources
        if self._stop is None and index == self._state.get("stop_before", -1):
            cell.outputs = [
                error_output("KernelDied", "this cell stopped the kernel (a crash, os._exit or the "
                             "memory limit): it and the cells after it were not run again")
            ]  # fmt: skip
            self._stop = ("crash", "not run: a cell above stopped the kernel")
            self._state["died_in"] = index
            return cell, resources
        if self._stop is not None:
            cell.outputs = [error_output(NOT_RUN, self._stop[1])]
            return cell, resources
        left = self.notebook_timeout - (time.monotonic() - self._started)
        if left <= 0:
            self._stop = ("timeout", f"not run: the notebook's {self.notebook_timeout:g} s ran out")
            self._event("timeout", f"time limit reached before cell {index}")
            cell.outputs = [error_output(NOT_RUN, self._stop[1])]
            return cell, resources
        self.timeout = max(1, int(min(self._cell_timeout, left)))
        try:
            if is_test_cell(cell):
                cell.outputs = []
                self._snapshot(cell, index)
                return cell, resources
            cell, resources = super().preprocess_cell(cell, resources, index)
            if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
                self._event("timeout", f"cell {index} timed out")
        except CellControlSignal as error:
            # no reply even after an interrupt: the kernel is stuck, stop here
            self._event("timeout", f"cell {index}: kernel unresponsive")
            cell.outputs.append(error_output("CellTimeoutError", str(error)[:200]))
            self._stop = ("timeout", "not run: the kernel stopped responding earlier")
        except DeadKernelError:
            self._event("crash", f"the kernel died in cell {index}")
            self._state["died_in"] = index
            cell.outputs.append(
                error_output(
                    "KernelDied",
                    "the kernel stopped while running this cell (a crash, os._exit, "
                    "or the memory limit)",
                )
            )
            self._stop = ("crash", "not run: the kernel died in an earlier cell")
        return cell, resources

    def _snapshot(self, cell: NotebookNode, index: int) -> None:
        """Keep, in the kernel, the learner's namespace as it is now (a silent request)."""
        grade_id = cell.metadata.nbgrader["grade_id"]
        msg_id = self.kc.execute(
            "", silent=True, store_history=False, user_expressions={"s": snapshot_expression(index)}
        )
        self._reply_within(msg_id, self.timeout, f"the snapshot at cell {index}")
        self._state["snapshots"][grade_id] = index

    def _reply_within(self, msg_id: str, seconds: float, what: str) -> dict:
        """The kernel's reply to ``msg_id`` within ``seconds`` of wall time, however many other
        messages a hostile kernel sends meanwhile (nbclient's own wait counts only silences)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                msg = run_sync(self.kc.get_shell_msg)(timeout=min(left, 1.0))
            except queue.Empty:
                if not run_sync(self.kc.is_alive)():
                    raise DeadKernelError("Kernel died") from None
                continue
            if msg.get("parent_header", {}).get("msg_id") == msg_id:
                return msg
        run_sync(self.km.interrupt_kernel)()
        raise CellControlSignal(f"no reply to {what} within {seconds:g} s")

    # --- the output cap (nbclient's message hook) ---------------------------------------------
    def _process(self, msg: dict, cell: NotebookNode, cell_index: int) -> NotebookNode | None:
        """nbclient's handling of one message; a malformed one (the learner's kernel can send
        anything) is dropped with a flag instead of stopping the grading of the hand-in."""
        try:
            return super().process_message(msg, cell, cell_index)
        except CellControlSignal:
            raise
        except Exception as error:
            self._event("invalid", f"a malformed {msg.get('msg_type')!r} message was dropped "
                        f"({type(error).__name__})")  # fmt: skip
            return None

    def process_message(
        self, msg: dict, cell: NotebookNode, cell_index: int
    ) -> NotebookNode | None:
        """Count the raw bytes of every output message (streams, display data of any MIME type,
        metadata, ``update_display_data``, errors, buffers) and drop output past the cap; an
        error still arrives, cut to a few hundred characters, so a failure stays a failure."""
        if msg.get("msg_type") not in OUTPUT_MESSAGES:
            return self._process(msg, cell, cell_index)
        self._bytes += message_bytes(msg)
        if self._bytes <= self.max_output_chars:
            return self._process(msg, cell, cell_index)
        if not self._truncated:
            self._truncated = True
            cell.outputs.append(
                NotebookNode(
                    output_type="stream",
                    name="stderr",
                    text=f"\n... the grader cut the output at {self.max_output_chars} bytes ...\n",
                )
            )
        if msg["msg_type"] == "error":
            content = msg["content"]
            ename, evalue = str(content.get("ename", "Error"))[:100], str(content.get("evalue"))
            cell.outputs.append(error_output(ename, evalue[:300]))
        return None


#: The kernel messages that make outputs, all counted by the output cap.
OUTPUT_MESSAGES = {
    "stream",
    "display_data",
    "update_display_data",
    "execute_result",
    "error",
    "clear_output",
}


class TrustedTests(NbGraderPreprocessor):
    """Grade every autograded test cell with the trusted runner, against the learner's kernel
    that :class:`LearnerExecute` left running.

    ``resources["autograder"]`` must hold the ``suite`` (:class:`~autograder.runner.GradingSuite`
    of the instructor's notebook), the ``workdir`` (for the call server's socket), and what
    :class:`LearnerExecute` put there.
    """

    test_timeout = Float(30.0, help="seconds each test cell may run").tag(config=True)
    connect_timeout = Float(20.0, help="seconds for the call server to start").tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        state = shared_state(resources)
        suite: GradingSuite = state["suite"]
        started = time.process_time()
        channel = self._start_server(state)
        try:
            for index, cell in enumerate(nb.cells):
                if is_test_cell(cell):
                    self._grade_cell(cell, index, suite, channel, state)
        finally:
            calls = channel.calls if channel else 0
            if channel is not None:
                channel.close()
            state["calls"] = calls
            state["runner_cpu"] = time.process_time() - started
            state["kernel_cpu"] = self._kernel_cpu(state)
        return nb, resources

    def _start_server(self, state: dict) -> KernelChannel | None:
        if not state.get("kernel_alive") or state.get("kc") is None:
            return None
        # a name the learner's code cannot know in advance, so it cannot be bound first
        path = str(Path(state["workdir"]) / f".grader-{secrets.token_hex(8)}.sock")
        km = state["km"]
        channel = KernelChannel(
            path, interrupt=run_sync(km.interrupt_kernel), peer_uid=state.get("uid")
        )
        state["kc"].execute(
            "", silent=True, store_history=False, user_expressions={"s": server_expression(path)}
        )
        try:
            channel.connect(self.connect_timeout)
        except CallFailed as failure:
            state["events"].append(("crash", f"the call server did not start: {failure}"))
        return channel

    def _grade_cell(
        self,
        cell: NotebookNode,
        index: int,
        suite: GradingSuite,
        channel: KernelChannel | None,
        state: dict,
    ) -> None:
        grade_id = cell.metadata.nbgrader["grade_id"]
        stopped = [o for o in cell.get("outputs", []) if o.get("ename") == NOT_RUN]
        if stopped or grade_id not in suite.tests:
            if not stopped:
                cell.outputs = [error_output(NOT_RUN, "not graded: no such test in the source")]
            return
        snapshot = state["snapshots"].get(grade_id)
        suite.setup_namespace(grade_id)  # built once per worker, outside the test's time
        log = CallLog(deadline=time.monotonic() + self.test_timeout)
        if channel is None or snapshot is None:
            died = state.get("died_in")
            reason = (
                f"not run: the learner's kernel died in cell {died}, before the tests could call it"
                if died is not None
                else "not run: the learner's kernel stopped answering before the tests"
            )
            cell.outputs = [error_output(NOT_RUN, reason)]
            return

        def namespace() -> dict:
            return suite.namespace(grade_id, snapshot, channel, log)

        verdict = run_test(suite.tests[grade_id].source, grade_id, namespace, log, log.left())
        cell.outputs = verdict_outputs(verdict)
        if verdict.status == "timeout" or "took longer" in verdict.evalue:
            state["events"].append(("timeout", f"test {grade_id} timed out"))
        score, max_score = utils.determine_grade(cell, LOG)
        if bool(score is not None and score >= max_score) != verdict.passed:
            state["events"].append(
                ("mismatch", f"{grade_id}: nbgrader scored {score}, the runner said {verdict}")
            )
        state.setdefault("verdicts", {})[grade_id] = verdict

    @staticmethod
    def _kernel_cpu(state: dict) -> float:
        """CPU seconds the kernel used, as it reports itself (for the benchmark only).

        The sandbox's reaper hides the kernel from the grader's rusage; never used for a grade.
        """
        kc = state.get("kc")
        if kc is None or not state.get("kernel_alive"):
            return 0.0
        expression = (
            "(lambda r, c: r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime)"
            "(__import__('resource').getrusage(0), __import__('resource').getrusage(-1))"
        )
        try:
            msg_id = kc.execute(
                "", silent=True, store_history=False, user_expressions={"cpu": expression}
            )
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                reply = run_sync(kc.get_shell_msg)(timeout=max(deadline - time.monotonic(), 0.01))
                if reply["parent_header"].get("msg_id") == msg_id:
                    value = reply["content"]["user_expressions"]["cpu"]["data"]["text/plain"]
                    return float(value)
        except Exception:  # only statistics
            return 0.0
        return 0.0
