"""The functions the course minimises, with their derivatives.

Every function accepts a float or a numpy array and works elementwise, so the same code
evaluates one point or a whole grid for a plot.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gdcourse.config import SEED


def parabola(x: ArrayLike) -> NDArray[np.float64] | float:
    """The exercise's cost ``f(x) = x**2 + 5``; its minimum is 5, at ``x = 0``.

    Examples
    --------
    >>> parabola(0.0)
    5.0
    >>> parabola(np.array([-2.0, 3.0]))
    array([ 9., 14.])
    """
    return x**2 + 5.0


def parabola_slope(x: ArrayLike) -> NDArray[np.float64] | float:
    """Derivative of :func:`parabola`: ``2 * x``.

    Examples
    --------
    >>> parabola_slope(3.0)
    6.0
    """
    return 2.0 * x


def two_valleys(x: ArrayLike) -> NDArray[np.float64] | float:
    """A non-convex cost ``x**4 - 4 x**2 + x + 6`` with a deep and a shallow valley.

    The global minimum, about 0.56, lies near ``x = -1.47``; a local one, about 2.8 higher,
    near ``x = 1.35``.

    Examples
    --------
    >>> round(two_valleys(0.0), 3)
    6.0
    """
    return x**4 - 4.0 * x**2 + x + 6.0


def two_valleys_slope(x: ArrayLike) -> NDArray[np.float64] | float:
    """Derivative of :func:`two_valleys`: ``4 x**3 - 8 x + 1``.

    Examples
    --------
    >>> two_valleys_slope(1.0)
    -3.0
    """
    return 4.0 * x**3 - 8.0 * x + 1.0


def make_points(n: int = 8, seed: int = SEED) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """A small, noisy, roughly linear data set for the one-neuron model.

    Parameters
    ----------
    n : int
        Number of points.
    seed : int
        Seed of the noise, so that every run draws the same points.

    Returns
    -------
    x, y : ndarray
        Inputs spread over ``[0, 2]`` and targets near ``1.5 * x + 0.5``.

    Examples
    --------
    >>> x, y = make_points(4)
    >>> x.shape, y.shape
    ((4,), (4,))
    """
    rng = np.random.default_rng(seed)
    x = np.linspace(0.0, 2.0, n)
    y = 1.5 * x + 0.5 + rng.normal(0.0, 0.15, size=n)
    return x, y


def neuron(w: ArrayLike, b: ArrayLike, x: ArrayLike) -> NDArray[np.float64]:
    """Forward pass of one linear neuron: ``w * x + b``.

    Examples
    --------
    >>> neuron(2.0, 1.0, np.array([0.0, 1.0]))
    array([1., 3.])
    """
    return np.asarray(w) * np.asarray(x, dtype=float) + np.asarray(b)


def mse(w: float, b: float, x: ArrayLike, y: ArrayLike) -> float:
    """Mean squared error of :func:`neuron` with weight ``w`` and bias ``b`` on ``(x, y)``.

    Examples
    --------
    >>> mse(1.0, 0.0, np.array([1.0, 2.0]), np.array([1.0, 4.0]))
    2.0
    """
    error = neuron(w, b, x) - np.asarray(y, dtype=float)
    return float(np.mean(error**2))


def mse_surface(
    w: NDArray[np.float64], b: NDArray[np.float64], x: ArrayLike, y: ArrayLike
) -> NDArray[np.float64]:
    """:func:`mse` on a grid: ``w`` and ``b`` are arrays of one shape, as from ``np.meshgrid``.

    Examples
    --------
    >>> W, B = np.meshgrid([0.0, 1.0], [0.0])
    >>> mse_surface(W, B, np.array([1.0]), np.array([1.0]))
    array([[1., 0.]])
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    errors = w[..., None] * x + b[..., None] - y
    return np.mean(errors**2, axis=-1)


def numerical_gradient(
    cost: Callable[[NDArray[np.float64]], float], params: ArrayLike, step: float = 1e-6
) -> NDArray[np.float64]:
    """Estimate the gradient of ``cost`` at ``params`` with finite differences (nudging both ways).

    Each partial derivative is ``(cost(p + h e_i) - cost(p - h e_i)) / (2 h)``: nudge one
    parameter, hold the others still, and see how the cost responds.

    Parameters
    ----------
    cost : callable
        Takes a 1-D array of parameters and returns a number.
    params : array_like
        Where to estimate the gradient.
    step : float
        The nudge ``h``.

    Returns
    -------
    ndarray
        One partial derivative per parameter.

    Examples
    --------
    >>> numerical_gradient(lambda p: p[0] ** 2 + 3 * p[1], [2.0, 0.0]).round(4)
    array([4., 3.])
    """
    point = np.asarray(params, dtype=float)
    grad = np.empty_like(point)
    for i in range(point.size):
        nudge = np.zeros_like(point)
        nudge[i] = step
        grad[i] = (cost(point + nudge) - cost(point - nudge)) / (2.0 * step)
    return grad
