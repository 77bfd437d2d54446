"""Write the exercise as two terminal scripts: ``gd.py`` (the update) and ``f.py`` (training).

The exercise notebook calls :func:`write_scripts` with the learner's own function, so that the
learner leaves with a working command-line version: ``python f.py`` imports
``gradient_descent_update`` from ``gd.py``, prints one line per epoch (``EPOCH 0`` is the start,
so 100 epochs are 100 updates) and ends with a verdict: converged, too slow, or diverging.
"""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path

from gdcourse.config import EPOCHS, START_RANGE, TOLERANCE

TRAINING_SCRIPT = '''\
"""Minimise f(x) = x**2 + 5 with gradient descent from a random start.

Usage: python f.py [--seed N] [--learning-rate R] [--epochs N]

EPOCH 0 is the start; each later line comes after one more update, so --epochs 100 runs
exactly 100 updates. The last line says whether the run converged, is too slow, or diverges.
"""
import argparse
import math
import random

from gd import gradient_descent_update

TOLERANCE = {tolerance!r}  # converged: the cost is within this of its minimum, 5


def f(x):
    """The cost: a parabola whose lowest value, 5, is at x = 0."""
    return x**2 + 5


def df(x):
    """The slope of f at x: its derivative, 2 x."""
    return 2 * x


def cause(learning_rate):
    """Why a run on f does not settle: below 1 descent on f converges, so the step goes uphill."""
    if 0 < learning_rate < 1:
        return (f"With the learning rate {{learning_rate}}, below 1, descent on f converges, "
                "so the update steps uphill: check its sign.")
    return f"The learning rate {{learning_rate}} is too large."


def verdict(start, x, previous, learning_rate, epochs):
    """One sentence on the finished run: converged, too slow, or not converging."""
    gap = f(x) - 5
    if gap <= TOLERANCE:
        return (f"converged: after {{epochs}} epochs the cost is within {{TOLERANCE}} "
                "of its minimum 5.")
    if abs(x) > abs(start):
        return (f"diverging: the cost grew from {{f(start):.6g}} to {{f(x):.6g}}. "
                + cause(learning_rate))
    if abs(x) == abs(start):
        return (f"not converging: x jumps between {{start:g}} and {{-start:g}} forever. "
                + cause(learning_rate))
    if x * previous < 0:
        return (f"too slow: after {{epochs}} epochs x still zig-zags around 0 and the cost is "
                f"5 + {{gap:.3g}}. A learning rate further below 1 gets there sooner.")
    return (f"too slow: after {{epochs}} epochs the cost is still 5 + {{gap:.3g}}. "
            f"A larger learning rate than {{learning_rate}} gets there sooner.")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=None, help="seed of the random start")
    parser.add_argument("--learning-rate", type=float, default={learning_rate!r})
    parser.add_argument("--epochs", type=int, default={epochs})
    args = parser.parse_args()

    start = float(random.Random(args.seed).randint({low}, {high}))
    x = previous = start
    for epoch in range(args.epochs + 1):
        if epoch > 0:  # EPOCH 0 is the start; every later epoch is one update
            previous, x = x, gradient_descent_update(x, gradx, args.learning_rate)
        try:
            cost = f(x)
        except OverflowError:  # x**2 no longer fits in a float
            cost = math.inf
        if not math.isfinite(cost):
            print(f"EPOCH {{epoch}}: stopped: the cost is {{cost}}, so the descent has diverged "
                  f"(x = {{x:.3g}}). " + cause(args.learning_rate))
            return 1
        gradx = df(x)
        print(f"EPOCH {{epoch}}: cost = {{cost:.6g}}, x = {{x:.6g}}, gradient = {{gradx:.6g}}")
    print(verdict(start, x, previous, args.learning_rate, args.epochs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
'''


def render_training_script(learning_rate: float, epochs: int = EPOCHS) -> str:
    """The text of ``f.py`` with ``learning_rate`` and ``epochs`` as its defaults.

    Examples
    --------
    >>> "default=0.1" in render_training_script(0.1)
    True
    """
    low, high = START_RANGE
    return TRAINING_SCRIPT.format(
        learning_rate=learning_rate, epochs=epochs, low=low, high=high, tolerance=TOLERANCE
    )


def render_update_module(update: Callable[..., object]) -> str:
    """The text of ``gd.py``: the source of ``update``, which must be a plain function.

    Examples
    --------
    >>> def gradient_descent_update(x, gradx, learning_rate):
    ...     return x  # a learner's answer goes here
    >>> print(render_update_module(gradient_descent_update).splitlines()[1])
    def gradient_descent_update(x, gradx, learning_rate):
    """
    source = textwrap.dedent(inspect.getsource(update))
    return '"""The gradient descent update step, written in the exercise notebook."""\n' + source


def write_scripts(
    update: Callable[..., object], learning_rate: float, folder: str | Path = "."
) -> list[Path]:
    """Write ``gd.py`` and ``f.py`` into ``folder`` and return their paths.

    Examples
    --------
    >>> import tempfile
    >>> def gradient_descent_update(x, gradx, learning_rate):
    ...     return x  # a learner's answer goes here
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     [p.name for p in write_scripts(gradient_descent_update, 0.1, folder)]
    ['gd.py', 'f.py']
    """
    folder = Path(folder)
    update_path = folder / "gd.py"
    training_path = folder / "f.py"
    update_path.write_text(render_update_module(update), encoding="utf-8")
    training_path.write_text(render_training_script(learning_rate), encoding="utf-8")
    return [update_path, training_path]
