"""Benchmark: the class grader against plain serial ``nbgrader autograde``, and the floor.

Generates N learner submissions of the exercise (a realistic mix: 40 % correct, 20 % wrong
sign, 20 % blank, 20 % partial: a right update with a learning rate that is too large), then
grades them three ways, each in its own fresh copy of the course and each as a subprocess
whose wall time and CPU time (``getrusage`` of the command and its descendants; for the
grader's sandboxed kernels, which the sandbox's reaper hides from ``getrusage``, the CPU
time each kernel reported before it was shut down) are measured:

1. plain serial ``nbgrader autograde 04_exercise`` (autograding only: no feedback, no export);
2. ``python -m autograder grade`` (autograde in parallel sandboxes, feedback, CSV, report);
3. the floor: for each submission, start a kernel and run the notebook once (nbclient),
   nothing else.

Run it from the repository root (as root: the grader's sandbox needs it)::

    .venv/bin/python bench/grade_bench.py -n 200

and it prints the three times, the speed-up over nbgrader, and the CPU seconds per
submission of the grader against the floor's. It is a script, not a test: the figures
depend on the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.corpus.cases import (  # noqa: E402
    CORRECT,
    EXERCISE,
    RATE,
    WRONG_SIGN,
    answered,
    make_course,
    read_releases,
)

FLOOR = """
import sys, time, nbformat
from pathlib import Path
from nbclient import NotebookClient
for path in sorted(Path(sys.argv[1]).glob("*/04_exercise/04_exercise.ipynb")):
    nb = nbformat.read(path, as_version=4)
    NotebookClient(nb, timeout=60, allow_errors=True, kernel_name="python3").execute(
        cwd=str(path.parent))
"""


def mix(n: int) -> list[dict[str, str]]:
    """The answers of ``n`` learners: correct, wrong sign, blank, partial, in that ratio.

    Examples
    --------
    >>> [len(a) for a in mix(5)]
    [2, 2, 2, 0, 2]
    """
    kinds = [
        {"gradient_descent_update": CORRECT, "choose_learning_rate": RATE},
        {"gradient_descent_update": CORRECT, "choose_learning_rate": RATE},
        {"gradient_descent_update": WRONG_SIGN, "choose_learning_rate": RATE},
        {},
        {"gradient_descent_update": CORRECT, "choose_learning_rate": RATE.replace("0.1", "1.5")},
    ]
    return [kinds[i % len(kinds)] for i in range(n)]


def build(n: int, where: Path) -> Path:
    """A fresh course with ``n`` submissions in ``submitted/`` (and its assignments in
    ``gradebook.db``, which plain nbgrader needs)."""
    import nbformat

    root = make_course(where, REPO, keep_gradebook=True)
    release = read_releases(root / "course")[EXERCISE]
    for i, answers in enumerate(mix(n)):
        target = root / "submitted" / f"learner{i:04d}" / EXERCISE / f"{EXERCISE}.ipynb"
        target.parent.mkdir(parents=True)
        nbformat.write(answered(release, answers), target)
    return root


def measure(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the command and every descendant it waited for, from
    ``getrusage``) and the output of one command."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(f"warning: {argv[:4]} exited {done.returncode}: {done.stderr[-500:]}")
    return wall, cpu, done.stdout + done.stderr


def sandboxed_kernel_cpu(journal: Path) -> float:
    """CPU seconds of the grader's kernels, as each kernel reported it (see the journal).

    bubblewrap's reaper does not pass its children's CPU time on to ``getrusage``, so the
    grader asks each kernel for its own before shutting it down.
    """
    return sum(json.loads(line).get("kernel_cpu", 0.0) for line in journal.open())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="number of submissions (200)")
    parser.add_argument("--workers", type=int, default=None, help="grader workers (cores)")
    args = parser.parse_args()
    n = args.n
    base = Path(tempfile.mkdtemp(prefix="grade-bench-"))
    print(f"{n} submissions, {os.cpu_count()} cores, in {base}")

    plain = build(n, base / "plain")
    config = plain / "autograder" / "nbgrader_config.py"
    wall_nb, cpu_nb, _ = measure(
        [
            sys.executable,
            "-m",
            "nbgrader",
            "autograde",
            EXERCISE,
            f"--NbGrader.config_file={config}",
        ],
        plain,
    )
    print(
        f"nbgrader autograde (serial):  {wall_nb:7.1f} s wall, {cpu_nb / n:5.2f} CPU s/submission"
    )

    ours = build(n, base / "ours")
    argv = [sys.executable, "-m", "autograder", "--root", str(ours), "grade",
            str(ours / "submitted"), "--no-progress"]  # fmt: skip
    if args.workers:
        argv += ["--workers", str(args.workers)]
    wall_us, cpu_us, out = measure(argv, REPO)
    cpu_us += sandboxed_kernel_cpu(ours / "reports" / "journal.jsonl")
    phases = next((line for line in out.splitlines() if line.startswith("time:")), "")
    print(
        f"autograder grade (parallel):  {wall_us:7.1f} s wall, {cpu_us / n:5.2f} CPU s/submission"
    )
    print(f"   {phases}")
    runner = sum(
        json.loads(line).get("runner_cpu", 0.0)
        for line in (ours / "reports" / "journal.jsonl").open()
    )
    print(f"   of which the trusted test runner: {runner / n:5.3f} CPU s/submission")

    floor = build(n, base / "floor")
    wall_fl, cpu_fl, _ = measure([sys.executable, "-c", FLOOR, str(floor / "submitted")], floor)
    print(
        f"floor (kernel + run, serial): {wall_fl:7.1f} s wall, {cpu_fl / n:5.2f} CPU s/submission"
    )

    print(f"speed-up over serial nbgrader: {wall_nb / wall_us:.2f}x (target >= 1.8x)")
    print(f"CPU per submission / floor:    {cpu_us / cpu_fl:.2f} (target <= 1.3)")
    print(f"nbgrader's CPU / floor:        {cpu_nb / cpu_fl:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
