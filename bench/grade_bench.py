"""Benchmark: the class grader against plain serial ``nbgrader autograde``, and the floor.

Generates N learner submissions of the exercise (a realistic mix: 40 % correct, 20 % wrong
sign, 20 % blank, 20 % partial: a right update with a learning rate that is too large), then
grades them, each time in its own fresh copy of the course and as a subprocess whose wall time
and CPU time (``getrusage`` of the command and its descendants, those it leaves behind
included; for the grader's forked kernels, which ``getrusage`` does not see, the CPU time each
kernel reported before it was shut down, and each fork server's start-up) are measured:

1. plain serial ``nbgrader autograde 04_exercise`` (autograding only: no feedback, no export);
2. ``python -m autograder grade --no-feedback``: the same job (autograde, in parallel
   sandboxes, with the trusted test runner), plus the CSV and the report; the targets are
   measured on this one;
3. ``python -m autograder grade``: the same, with every feedback page too (nbgrader's
   ``generate_feedback``, which plain ``autograde`` does not do);
4. the floor: for each submission, start a kernel and run the notebook once (nbclient),
   nothing else.

Run it from the repository root::

    .venv/bin/python bench/grade_bench.py -n 200

and it prints the three times, whether every submission got the same per-cell scores from
the grader as from nbgrader (it exits 1 if not), the speed-up over nbgrader, the CPU seconds
per submission of the grader against the floor's (without and with feedback pages), and then
the grader's time per submission (``--no-feedback``) for classes of 50, 200 and 1,000
(``--scaling``), to show that its cost grows linearly with the class. It is a script, not a
test: the figures depend on the machine.
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
    auto_scores,
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


def become_subreaper() -> None:
    """Adopt every orphaned descendant (Linux ``PR_SET_CHILD_SUBREAPER``), so that
    :func:`reap_orphans` can count their CPU time."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(36, 1, 0, 0, 0) != 0:  # PR_SET_CHILD_SUBREAPER
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def reap_orphans(timeout: float = 60.0) -> None:
    """Wait for the descendants a command left behind (the grading pool's workers are
    children of multiprocessing's fork server, which exits just after the command), so that
    their CPU time reaches ``getrusage(RUSAGE_CHILDREN)``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            time.sleep(0.05)


def measure(argv: list[str], cwd: Path) -> tuple[float, float, str]:
    """Wall seconds, CPU seconds (the command and all its descendants, those it left behind
    included, from ``getrusage``) and the output of one command."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    wall = time.monotonic() - start
    reap_orphans()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if done.returncode != 0:
        print(f"warning: {argv[:4]} exited {done.returncode}: {done.stderr[-500:]}")
    return wall, cpu, done.stdout + done.stderr


def sandboxed_kernel_cpu(journal: Path) -> float:
    """CPU seconds of the grader's kernels, as each kernel reported it (see the journal).

    A forked kernel is not a child the grader waits for, so ``getrusage`` does not see it:
    each kernel reports its own CPU time before it is shut down, and the first kernel of each
    fork server also carries the server's start-up (its imports).
    """
    return sum(json.loads(line).get("kernel_cpu", 0.0) for line in journal.open())


def scores(root: Path) -> dict[str, dict[str, float | None]]:
    """Every learner's autograded test-cell scores in a course's gradebook (nbgrader's API)."""
    db_url = f"sqlite:///{root / 'gradebook.db'}"
    learners = sorted(p.name for p in (root / "submitted").iterdir())
    return {learner: auto_scores(db_url, learner, EXERCISE) for learner in learners}


def grade_with_autograder(
    root: Path, workers: int | None, feedback: bool = False, checkout: Path = REPO
) -> tuple[float, float, str]:
    """Wall and CPU seconds (kernels included) and the output of ``python -m autograder``
    (``--no-feedback`` unless ``feedback``), the grader of ``checkout`` (this one's)."""
    argv = [sys.executable, "-m", "autograder", "--root", str(root), "grade",
            str(root / "submitted"), "--no-progress"]  # fmt: skip
    if not feedback:
        argv.append("--no-feedback")
    if workers:
        argv += ["--workers", str(workers)]
    wall, cpu, out = measure(argv, checkout)
    return wall, cpu + sandboxed_kernel_cpu(root / "reports" / "journal.jsonl"), out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=200, help="number of submissions (200)")
    parser.add_argument("--workers", type=int, default=None, help="grader workers (cores)")
    parser.add_argument(
        "--scaling",
        default="50,200,1000",
        help="class sizes the grader alone grades, for its time per submission ('' for none)",
    )
    args = parser.parse_args()
    become_subreaper()
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
    wall_us, cpu_us, out = grade_with_autograder(ours, args.workers)
    phases = next((line for line in out.splitlines() if line.startswith("time:")), "")
    print(
        f"autograder grade --no-feedback: {wall_us:5.1f} s wall, {cpu_us / n:5.2f} CPU s/submission"
        " (parallel; the same job as nbgrader autograde, plus CSV and report)"
    )
    print(f"   {phases}")
    runner = sum(
        json.loads(line).get("runner_cpu", 0.0)
        for line in (ours / "reports" / "journal.jsonl").open()
    )
    print(f"   of which the trusted test runner: {runner / n:5.3f} CPU s/submission")
    full = build(n, base / "full")
    wall_full, cpu_full, out = grade_with_autograder(full, args.workers, feedback=True)
    phases = next((line for line in out.splitlines() if line.startswith("time:")), "")
    print(
        f"autograder grade (feedback):  {wall_full:7.1f} s wall, "
        f"{cpu_full / n:5.2f} CPU s/submission (and every feedback page: generate_feedback)"
    )
    print(f"   {phases}")

    floor = build(n, base / "floor")
    wall_fl, cpu_fl, _ = measure([sys.executable, "-c", FLOOR, str(floor / "submitted")], floor)
    print(
        f"floor (kernel + run, serial): {wall_fl:7.1f} s wall, {cpu_fl / n:5.2f} CPU s/submission"
    )

    theirs, mine = scores(plain), scores(ours)
    differ = [learner for learner in theirs if mine.get(learner) != theirs[learner]]
    print(
        f"same per-cell scores as nbgrader: {len(theirs) - len(differ)} of {len(theirs)}"
        + (f" (differ: {', '.join(differ[:10])})" if differ else "")
    )
    print(f"speed-up over serial nbgrader: {wall_nb / wall_us:.2f}x (target >= 4x)")
    print(f"CPU per submission / floor:    {cpu_us / cpu_fl:.2f} (target <= 0.5)")
    print(
        f"with feedback pages:           {wall_nb / wall_full:.2f}x faster, "
        f"{cpu_full / cpu_fl:.2f} of the floor's CPU"
    )
    print(f"nbgrader's CPU / floor:        {cpu_nb / cpu_fl:.2f}")

    sizes = [int(size) for size in args.scaling.split(",") if size.strip()]
    for size in sizes:
        wall, cpu, _ = grade_with_autograder(build(size, base / f"scale-{size}"), args.workers)
        print(
            f"class of {size:5d}, grade --no-feedback: {wall:7.1f} s wall, "
            f"{wall / size:6.3f} s and {cpu / size:5.2f} CPU s per submission"
        )
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
