"""A reference gradient-descent loop, used by the lessons to draw what descent does.

The exercise asks the learner to write the update step themselves; this module is what the
lessons use before that, and what the plots are drawn from.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

Slope = Callable[[float], float]


def descend(slope: Slope, start: float, learning_rate: float, epochs: int) -> NDArray[np.float64]:
    """Run ``epochs`` steps of ``x <- x - learning_rate * slope(x)`` from ``start``.

    The run stops early, keeping what it has, at the first step whose value is not finite
    (the descent diverged past what a float can hold).

    Parameters
    ----------
    slope : callable
        Derivative of the cost.
    start : float
        The first ``x``.
    learning_rate : float
        Size of each step, as a multiple of the slope.
    epochs : int
        Number of steps.

    Returns
    -------
    ndarray
        Every ``x`` visited, the start included: ``epochs + 1`` values unless it diverged.

    Examples
    --------
    >>> descend(lambda x: 2 * x, 4.0, 0.25, 3)
    array([4. , 2. , 1. , 0.5])
    """
    path = [float(start)]
    for _ in range(epochs):
        x = path[-1]
        step = x - learning_rate * slope(x)
        if not math.isfinite(step):
            break
        path.append(step)
    return np.array(path)


def epochs_to_converge(
    slope: Slope,
    cost: Callable[[float], float],
    start: float,
    learning_rate: float,
    target: float,
    tolerance: float,
    max_epochs: int,
) -> int | None:
    """How many steps of :func:`descend` bring ``cost`` within ``tolerance`` of ``target``.

    Returns ``None`` when it does not happen within ``max_epochs`` steps.

    Examples
    --------
    >>> epochs_to_converge(lambda x: 2 * x, lambda x: x**2 + 5, 10.0, 0.5, 5.0, 1e-3, 100)
    1
    >>> epochs_to_converge(lambda x: 2 * x, lambda x: x**2 + 5, 10.0, 1.5, 5.0, 1e-3, 100) is None
    True
    """
    path = descend(slope, start, learning_rate, max_epochs)
    for epoch, x in enumerate(path):
        if abs(cost(x) - target) <= tolerance:
            return epoch
    return None


def contraction_factor(learning_rate: float) -> float:
    """The factor ``1 - 2 * learning_rate`` that one step multiplies ``x`` by on ``x**2 + 5``.

    Descent converges exactly when its absolute value is below 1, i.e. for
    ``0 < learning_rate < 1``.

    Examples
    --------
    >>> contraction_factor(0.25)
    0.5
    """
    return 1.0 - 2.0 * learning_rate


def describe_run(path: NDArray[np.float64]) -> str:
    """Say in words what a descent path did: converges, oscillates, stalls or diverges.

    Examples
    --------
    >>> describe_run(np.array([4.0, 2.0, 1.0]))
    'converges'
    >>> describe_run(np.array([4.0, -8.0, 16.0]))
    'diverges'
    >>> describe_run(np.array([4.0, 3.9, 3.8]))
    'crawls'
    >>> describe_run(np.array([8.0, -8.0, 8.0])), describe_run(np.array([8.0, 0.0, 0.0]))
    ('bounces between 8 and -8', 'lands in one step')
    """
    sizes = np.abs(path)
    if sizes.size > 1 and sizes[0] > 0 and np.all(sizes[1:] == 0):
        return "lands in one step"
    flips = bool(np.any(np.sign(path[1:]) * np.sign(path[:-1]) < 0))
    if sizes[-1] > sizes[0] * 1.0001:
        return "diverges"
    if sizes[-1] > sizes[0] * 0.9999:
        return f"bounces between {path[0]:g} and {-path[0]:g}" if flips else "stalls"
    if sizes[-1] > sizes[0] * 0.5:
        return "crawls"
    return "oscillates, converges" if flips else "converges"
