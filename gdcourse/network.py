"""A small neural network with as many parameters as asked, for counting what a gradient costs.

Notebook 1 uses it to show why finite differences do not scale: they need two evaluations of
the cost per parameter, while backpropagation (:func:`network_gradient`) gets every partial
derivative from one forward and one backward pass.

The network has one input, ``hidden`` tanh units and one output, and all its parameters live
in one flat array: ``hidden`` input weights, ``hidden`` hidden biases, ``hidden`` output weights
and one output bias, ``3 * hidden + 1`` numbers in all.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from gdcourse.config import SEED


def network_parameters(hidden: int, seed: int = SEED) -> NDArray[np.float64]:
    """Random starting parameters of a network with ``hidden`` hidden units.

    Examples
    --------
    >>> network_parameters(10).size
    31
    """
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0 / np.sqrt(hidden), size=3 * hidden + 1)


def _split(params: NDArray[np.float64]):
    hidden = (params.size - 1) // 3
    return (
        params[:hidden],
        params[hidden : 2 * hidden],
        params[2 * hidden : 3 * hidden],
        params[3 * hidden],
    )


def network_cost(params: ArrayLike, x: ArrayLike, y: ArrayLike) -> float:
    """The forward pass and the mean squared error of the network on ``(x, y)``.

    Examples
    --------
    >>> round(network_cost(np.zeros(7), [0.0, 1.0], [1.0, 1.0]), 3)
    1.0
    """
    w_in, b_in, w_out, b_out = _split(np.asarray(params, dtype=float))
    hidden = np.tanh(np.outer(np.asarray(x, dtype=float), w_in) + b_in)
    predictions = hidden @ w_out + b_out
    return float(np.mean((predictions - np.asarray(y, dtype=float)) ** 2))


def network_gradient(params: ArrayLike, x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Every partial derivative of :func:`network_cost`, by backpropagation.

    One forward pass keeps what each layer computed; one backward pass carries the error
    from the cost back through the output layer and the tanh units to every parameter.

    Examples
    --------
    >>> from gdcourse.functions import numerical_gradient
    >>> p, x, y = network_parameters(4), np.array([0.0, 1.0, 2.0]), np.array([1.0, 0.0, 2.0])
    >>> by_hand = network_gradient(p, x, y)
    >>> estimate = numerical_gradient(lambda q: network_cost(q, x, y), p)
    >>> bool(np.allclose(by_hand, estimate, atol=1e-6))
    True
    """
    params = np.asarray(params, dtype=float)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    w_in, b_in, w_out, b_out = _split(params)
    # forward pass, keeping each layer's values
    hidden = np.tanh(np.outer(x, w_in) + b_in)
    predictions = hidden @ w_out + b_out
    # backward pass: how the cost changes with each value, from the output back to the input
    d_predictions = 2.0 * (predictions - y) / y.size
    d_w_out = hidden.T @ d_predictions
    d_b_out = d_predictions.sum()
    d_before_tanh = np.outer(d_predictions, w_out) * (1.0 - hidden**2)
    d_w_in = x @ d_before_tanh
    d_b_in = d_before_tanh.sum(axis=0)
    return np.concatenate([d_w_in, d_b_in, d_w_out, [d_b_out]])
