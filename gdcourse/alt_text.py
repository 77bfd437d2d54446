"""Alt texts computed from the data a figure shows, so that they describe what is drawn.

A description typed into a notebook ("starts near 19, levels off near 0.018") stays the same
when the learner's own answer draws another curve; these functions read the numbers from the
data instead. Each returns one or two plain sentences for a screen reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from numpy.typing import ArrayLike

from gdcourse.descent import describe_run


def number(value: float) -> str:
    """A number as a reader would say it: three significant digits, no float noise.

    Examples
    --------
    >>> number(18.7112), number(0.0180012), number(-1.0), number(2.5e-9), number(1.3e12)
    ('18.7', '0.018', '-1', '2.5e-09', '1.3e+12')
    """
    return f"{value:.3g}"


def epochs(count: int) -> str:
    """``count`` epochs, in words that agree in number.

    Examples
    --------
    >>> epochs(1), epochs(30)
    ('1 epoch', '30 epochs')
    """
    return f"{count} epoch" if count == 1 else f"{count} epochs"


def trend(values: ArrayLike, log: bool = False) -> str:
    """How a sequence of costs moves: falls, rises, stays, or falls and levels off.

    Examples
    --------
    >>> trend([19.0, 5.0, 1.0, 0.1, 0.02, 0.018, 0.018])
    'falls from 19 to 0.018, most of the way within the first 2 epochs, then levels off'
    >>> trend([9.0, 9.0, 9.0])
    'stays at 9'
    >>> trend([9.0, 12.0, 40.0])
    'rises from 9 to 40'
    >>> trend([8.0, 7.9, 7.8])
    'falls from 8 to 7.8'

    On a log axis a steady fall by a constant factor is a straight line, not a levelling off:

    >>> trend([8.0, 0.8, 0.08, 0.008, 0.0008], log=True)
    'falls from 8 to 0.0008'
    """
    v = np.asarray(values, dtype=float)
    first, last = float(v[0]), float(v[-1])
    if not np.isfinite(last):
        return f"rises from {number(first)} beyond what a float can hold"
    if np.isclose(first, last, rtol=1e-3, atol=0):
        return f"stays at {number(first)}"
    if last > first:
        return f"rises from {number(first)} to {number(last)}"
    shown = np.log(v) if log and np.all(v > 0) else v  # as the eye sees it on the chart
    drop = shown[0] - shown[-1]
    most = int(np.argmax(shown[0] - shown >= 0.9 * drop))
    if most <= len(v) // 3:
        return (
            f"falls from {number(first)} to {number(last)}, most of the way within the "
            f"first {epochs(most)}, then levels off"
        )
    return f"falls from {number(first)} to {number(last)}"


def cost_curves(
    runs: Mapping[str, ArrayLike], *, quantity: str = "the cost", log: bool = False
) -> str:
    """Alt text of :func:`gdcourse.plotting.plot_cost_per_epoch`: one clause per line drawn.

    Examples
    --------
    >>> print(cost_curves({"learning rate 0.15": [18.7, 6.0, 0.5, 0.02, 0.018, 0.018]}))
    A line chart of the cost against the epoch, 0 to 5. learning rate 0.15: it falls from 18.7 to
    0.018, most of the way within the first 2 epochs, then levels off.
    """
    longest = max(np.asarray(v).size for v in runs.values())
    scale = " on a logarithmic axis" if log else ""
    parts = [f"A line chart of {quantity}{scale} against the epoch, 0 to {longest - 1}."]
    parts += [f"{label}: it {trend(values, log)}." for label, values in runs.items()]
    return " ".join(parts)


def descent_path(path: ArrayLike, *, function: str = "the parabola") -> str:
    """What a descent path on a cost curve does, from where, to where, in how many epochs.

    Examples
    --------
    >>> descent_path(np.array([8.0, 1.6, 0.32]))
    'gradient descent on the parabola from x = 8 converges, reaching x = 0.32 after 2 epochs'
    >>> descent_path(np.array([2.0, -2.4, 2.88]))
    'gradient descent on the parabola from x = 2 diverges, reaching x = 2.88 after 2 epochs'
    """
    x = np.asarray(path, dtype=float)
    return (
        f"gradient descent on {function} from x = {number(x[0])} {describe_run(x)}, reaching "
        f"x = {number(x[-1])} after {epochs(x.size - 1)}"
    )


def fit(x: ArrayLike, y: ArrayLike, lines: Mapping[str, tuple[float, float]]) -> str:
    """Alt text of :func:`gdcourse.plotting.plot_fit`: the points and each line's ends.

    Examples
    --------
    >>> print(fit([0.0, 2.0], [0.4, 3.5], {"guess": (-1.0, -1.0)}))
    2 data points with targets from 0.4 to 3.5, and the line 'guess' (w = -1, b = -1), going from -1
    at x = 0 to -3 at x = 2, which misses the points by 3.95 on average.
    """
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    low, high = float(x.min()), float(x.max())
    text = f"{x.size} data points with targets from {number(y.min())} to {number(y.max())}"
    clauses = []
    for label, (w, b) in lines.items():
        miss = float(np.mean(np.abs(w * x + b - y)))
        clauses.append(
            f"the line '{label}' (w = {number(w)}, b = {number(b)}), going from "
            f"{number(w * low + b)} at x = {number(low)} to {number(w * high + b)} at "
            f"x = {number(high)}, which misses the points by {number(miss)} on average"
        )
    return text + ", and " + "; and ".join(clauses) + "."


def surface_ball(
    w_grid: ArrayLike, b_grid: ArrayLike, cost_grid: ArrayLike, balls: Sequence[tuple]
) -> str:
    """Alt text of :func:`gdcourse.plotting.plot_ball_on_surface`: the bowl, its bottom, balls.

    Examples
    --------
    >>> W, B = np.meshgrid(np.linspace(-1, 1, 3), np.linspace(-1, 1, 3))
    >>> print(surface_ball(W, B, W**2 + B**2, [(1.0, 1.0, 2.0)]))
    A cost surface over the weight w and the bias b, lowest (cost 0) near w = 0, b = 0. A ball sits
    at w = 1, b = 1, cost 2.
    """
    cost = np.asarray(cost_grid, dtype=float)
    k = np.unravel_index(int(np.argmin(cost)), cost.shape)
    w_low, b_low = float(np.asarray(w_grid)[k]), float(np.asarray(b_grid)[k])
    text = (
        f"A cost surface over the weight w and the bias b, lowest (cost {number(cost[k])}) "
        f"near w = {number(w_low)}, b = {number(b_low)}."
    )
    where = [f"w = {number(w)}, b = {number(b)}, cost {number(c)}" for w, b, c in balls]
    if len(where) == 1:
        return f"{text} A ball sits at {where[0]}."
    return f"{text} The ball moved from {where[0]} to {where[1]}, joined by a line."


def epochs_needed(rates: ArrayLike, needed: Sequence[int | None], max_epochs: int) -> str:
    """Alt text of :func:`gdcourse.plotting.plot_epochs_to_converge`, read from the counts.

    Examples
    --------
    >>> print(epochs_needed([0.01, 0.1, 0.5, 0.9, 1.0], [None, 30, 1, 30, None], 100))
    Epochs to converge against the learning rate from 0.01 to 1. Rates from 0.1 to 0.9 converge
    within 100 epochs, fastest at 0.5 (1 epoch); the others do not.
    """
    rates = np.asarray(rates, dtype=float)
    done = [(r, e) for r, e in zip(rates, needed, strict=True) if e is not None]
    head = f"Epochs to converge against the learning rate from {number(rates[0])} to " + number(
        rates[-1]
    )
    if not done:
        return f"{head}. No rate converges within {max_epochs} epochs."
    best_rate, best = min(done, key=lambda pair: pair[1])
    return (
        f"{head}. Rates from {number(done[0][0])} to {number(done[-1][0])} converge within "
        f"{max_epochs} epochs, fastest at {number(best_rate)} ({epochs(best)}); the others do not."
    )


def basins(starts: ArrayLike, ends: ArrayLike, minima: Mapping[str, float]) -> str:
    """Alt text of :func:`gdcourse.plotting.plot_basins`: which stretch of starts ends where.

    Examples
    --------
    >>> print(basins(np.array([-2.0, -1.0, 1.0, 2.0]), np.array([-1.5, -1.5, 1.3, 1.3]),
    ...        {"deep valley": -1.5, "shallow valley": 1.3}))
    Start points from -2 to 2, coloured by where descent ends: starts from -2 to -1 end in the deep
    valley (x = -1.5); starts from 1 to 2 end in the shallow valley (x = 1.3).
    """
    starts, ends = np.asarray(starts, dtype=float), np.asarray(ends, dtype=float)
    clauses = []
    for label, centre in minima.items():
        chosen = starts[np.abs(ends - centre) < 0.05]
        if chosen.size:
            clauses.append(
                f"starts from {number(chosen.min())} to {number(chosen.max())} end in the "
                f"{label} (x = {number(centre)})"
            )
    return (
        f"Start points from {number(starts.min())} to {number(starts.max())}, coloured by "
        "where descent ends: " + "; ".join(clauses) + "."
    )
