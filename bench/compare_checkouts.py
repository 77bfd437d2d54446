"""Benchmark: the class grader of this checkout against another's, alternately, on the same
submissions.

For a change to the grader, measured side by side: make a checkout of the version before it
(``git worktree add /tmp/before HEAD~1``), then, from this repository's root::

    .venv/bin/python bench/compare_checkouts.py /tmp/before -n 200 --rounds 3

Each round grades a fresh copy of the same N submissions (the mix of ``grade_bench.py``) with
each checkout's ``python -m autograder grade --no-feedback``, in this repository's Python,
the two in turn and which goes first alternating from round to round (the machine's speed
drifts). It prints each run's wall time and CPU seconds per submission (kernels included,
measured as ``grade_bench.py`` measures them) with the kernels' share and the rest (the
grader's own processes), then the means and this checkout's against the other's.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path
from statistics import mean

sys.path.insert(0, str(Path(__file__).resolve().parent))

from grade_bench import (  # noqa: E402
    REPO,
    become_subreaper,
    build,
    grade_with_autograder,
    sandboxed_kernel_cpu,
)


def one_run(base: Path, root: Path, checkout: Path, n: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds per submission and the kernels' CPU seconds per submission
    of ``checkout``'s grader on a fresh copy of ``base``."""
    shutil.copytree(base, root, symlinks=True)
    try:
        wall, cpu, _ = grade_with_autograder(root, None, checkout=checkout)
        kernels = sandboxed_kernel_cpu(root / "reports" / "journal.jsonl")
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return wall, cpu / n, kernels / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("other", type=Path, help="the other checkout (its repository root)")
    parser.add_argument("-n", type=int, default=200, help="number of submissions (200)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3)")
    args = parser.parse_args()
    checkouts = {"this": REPO, "other": args.other.resolve()}
    become_subreaper()
    where = Path(tempfile.mkdtemp(prefix="compare-checkouts-"))
    base = build(args.n, where / "base")
    runs: dict[str, list[tuple[float, float, float]]] = {name: [] for name in checkouts}
    for number in range(args.rounds):
        order = list(checkouts) if number % 2 == 0 else list(reversed(checkouts))
        for name in order:
            wall, cpu, kernels = one_run(base, where / name, checkouts[name], args.n)
            runs[name].append((wall, cpu, kernels))
            print(
                f"round {number + 1} {name:5s}: {wall:6.1f} s wall, {cpu:.3f} CPU s/submission "
                f"(kernels {kernels:.3f}, the rest {cpu - kernels:.3f})",
                flush=True,
            )
    means = {name: [mean(run[i] for run in rows) for i in range(3)] for name, rows in runs.items()}
    for name, (wall, cpu, kernels) in means.items():
        print(
            f"mean {name:5s}: {wall:6.1f} s wall, {cpu:.3f} CPU s/submission "
            f"(kernels {kernels:.3f}, the rest {cpu - kernels:.3f})  [{checkouts[name]}]"
        )
    this, other = means["this"], means["other"]
    print(
        f"this / other: wall {this[0] / other[0]:.2f}, CPU {this[1] / other[1]:.2f}, "
        f"the rest {(this[1] - this[2]) / (other[1] - other[2]):.2f}"
    )
    shutil.rmtree(where, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
