"""nbgrader's ``Execute`` preprocessor, hardened for hostile notebooks.

:class:`GuardedExecute` runs a sanitized submission exactly as nbgrader's ``Execute`` does
(``allow_errors``, interrupt on a cell time-out, an error output wherever the kernel replied
with an error) and adds what a batch of untrusted notebooks needs:

- a wall-clock budget for the whole notebook: cells left when it runs out are not run, and
  get an error output saying so (so their tests score 0);
- a dead kernel (``os._exit``, a segfault, the memory limit) ends the run with an error
  output in the cell that killed it and in every cell after it, instead of an exception;
- output past ``max_output_chars`` per notebook is dropped while it arrives (a learner who
  prints 100 MB does not get 100 MB into the grader's memory);
- the monkeypatch guard of :mod:`autograder.guard` around every autograded test cell.

What happened is collected in :attr:`GuardedExecute.events`, a list of ``(kind, detail)``.
"""

from __future__ import annotations

import time
from typing import Any

from nbclient.exceptions import CellControlSignal, DeadKernelError
from nbformat.notebooknode import NotebookNode
from nbgrader.preprocessors import Execute
from nbgrader.utils import is_grade
from traitlets import Float, Integer

from autograder import guard

NOT_RUN = "GraderStop"


def error_output(ename: str, evalue: str) -> NotebookNode:
    """An nbformat error output with a one-line traceback (no code shown).

    Examples
    --------
    >>> out = error_output("GraderStop", "not run")
    >>> out.output_type, out.ename, out.traceback
    ('error', 'GraderStop', ['GraderStop: not run'])
    """
    return NotebookNode(
        output_type="error", ename=ename, evalue=evalue, traceback=[f"{ename}: {evalue}"]
    )


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
    return cell.cell_type == "code" and is_grade(cell) and not meta.get("solution", False)


class GuardedExecute(Execute):
    """nbgrader's ``Execute`` with a notebook budget, crash handling, output cap and guard."""

    notebook_timeout = Float(120.0, help="wall-clock seconds for the whole notebook").tag(
        config=True
    )
    max_output_chars = Integer(200_000, help="characters of output kept per notebook").tag(
        config=True
    )

    def preprocess(
        self, nb: NotebookNode, resources: Any = None, km: Any = None
    ) -> tuple[NotebookNode, dict]:
        from nbclient import NotebookClient

        NotebookClient.__init__(self, nb, km)
        self.reset_execution_trackers()
        self._check_assign_resources(resources)
        self.events: list[tuple[str, str]] = []
        self.kernel_cpu = 0.0
        self._chars = 0
        self._truncated = False
        self._key = guard.new_key()
        started = time.monotonic()
        cell_timeout = self.timeout
        with self.setup_kernel():
            info = self.wait_for_reply(self.kc.kernel_info())
            self.nb.metadata["language_info"] = info["content"]["language_info"]
            self._guard_install()
            stop: tuple[str, str] | None = None
            for index, cell in enumerate(self.nb.cells):
                if cell.cell_type != "code" or not cell.source.strip():
                    continue
                if stop is not None:
                    cell.outputs = [error_output(NOT_RUN, stop[1])]
                    continue
                left = self.notebook_timeout - (time.monotonic() - started)
                if left <= 0:
                    budget = f"{self.notebook_timeout:g} s"
                    stop = ("timeout", f"not run: the notebook's {budget} ran out")
                    self.events.append(("timeout", f"time limit reached before cell {index}"))
                    cell.outputs = [error_output(NOT_RUN, stop[1])]
                    continue
                self.timeout = max(1, int(min(cell_timeout, left)))
                try:
                    test = is_test_cell(cell)
                    if test:
                        before = self._guard_check()
                        if before != "clean":
                            self.events.append(("monkeypatch", f"before cell {index}: {before}"))
                    self.preprocess_cell(cell, resources, index)
                    if any(o.get("ename") == "CellTimeoutError" for o in cell.outputs):
                        self.events.append(("timeout", f"cell {index} timed out"))
                    if test:
                        after = self._guard_check(after_test=True)
                        if after != "clean":
                            self.events.append(("monkeypatch", f"during cell {index}: {after}"))
                            cell.outputs.append(
                                error_output(
                                    "TamperingDetected",
                                    f"this test changed {after} while it ran: it scores 0",
                                )
                            )
                except CellControlSignal as error:
                    # no reply even after an interrupt: the kernel is stuck, stop here
                    self.events.append(("timeout", f"cell {index}: kernel unresponsive"))
                    cell.outputs.append(error_output("CellTimeoutError", str(error)[:200]))
                    stop = ("timeout", "not run: the kernel stopped responding earlier")
                except DeadKernelError:
                    self.events.append(("crash", f"the kernel died in cell {index}"))
                    cell.outputs.append(
                        error_output(
                            "KernelDied",
                            "the kernel stopped while running this cell (a crash, os._exit, "
                            "or the memory limit)",
                        )
                    )
                    stop = ("crash", "not run: the kernel died in an earlier cell")
            self.timeout = cell_timeout
            self.kernel_cpu = self._kernel_cpu() if stop is None or stop[0] != "crash" else 0.0
        if self._truncated:
            self.events.append(("output", f"output over {self.max_output_chars} characters cut"))
        return self.nb, self.resources

    def _kernel_cpu(self) -> float:
        """CPU seconds the kernel (and what it started) used, as the kernel reports it.

        The sandbox's reaper does not pass the kernel's CPU time on to the grader's rusage, so
        the benchmark adds this up instead. Only statistics: never used for a grade.
        """
        expression = (
            "(lambda r, c: r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime)"
            "(__import__('resource').getrusage(0), __import__('resource').getrusage(-1))"
        )
        try:
            status, value = self._user_expression("", expression)
            return float(value) if status == "ok" else 0.0
        except Exception:
            return 0.0

    # --- the guard -------------------------------------------------------------------------
    def _user_expression(self, code: str, expression: str | None) -> tuple[str, str]:
        """Run ``code`` silently, evaluate ``expression``; return (reply status, its value)."""
        expressions = {"g": expression} if expression else {}
        msg_id = self.kc.execute(
            code, silent=True, store_history=False, user_expressions=expressions
        )
        reply = self.wait_for_reply(msg_id)
        if reply is None:
            return "timeout", ""
        content = reply["content"]
        if content.get("status") != "ok":
            return content.get("status", "error"), content.get("evalue", "")
        if not expression:
            return "ok", ""
        value = content.get("user_expressions", {}).get("g", {})
        if value.get("status") != "ok":
            return "error", value.get("evalue", "")
        return "ok", value.get("data", {}).get("text/plain", "").strip("'\"")

    def _guard_install(self) -> None:
        status, detail = self._user_expression(guard.install_code(self._key), None)
        if status != "ok":
            raise RuntimeError(f"the grader's guard did not install: {detail}")

    def _guard_check(self, after_test: bool = False) -> str:
        code = guard.after_test_code(self._key) if after_test else guard.check_code(self._key)
        status, value = self._user_expression(code, guard.result_expression(self._key))
        if status != "ok":
            return f"the grader's guard was removed or broken ({value or status})"
        return value

    # --- the output cap --------------------------------------------------------------------
    def output(
        self, outs: list[NotebookNode], msg: dict, display_id: str | None, cell_index: int
    ) -> NotebookNode | None:
        content = msg.get("content", {})
        size = len(content.get("text", "")) + sum(
            len(v) if isinstance(v, str) else 100 for v in content.get("data", {}).values()
        )
        if msg.get("msg_type") != "error":
            self._chars += size
            if self._chars > self.max_output_chars:
                if not self._truncated:
                    self._truncated = True
                    outs.append(
                        NotebookNode(
                            output_type="stream",
                            name="stderr",
                            text=f"\n... output cut by the grader after {self.max_output_chars}"
                            " characters ...\n",
                        )
                    )
                return None
        return super().output(outs, msg, display_id, cell_index)
