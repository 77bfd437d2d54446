"""Self-checks for the exercises: specific, kind messages instead of a bare ``AssertionError``.

The visible test cells of the exercise notebooks call these functions, so what a learner sees
while working and what nbgrader's visible tests report are the same. Each check raises
:class:`AssertionError` whose message names the likely mistake, or returns a short success
message. (The hidden tests live only in the instructor's notebooks.)
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from gdcourse.config import EPOCHS, START_RANGE, TOLERANCE
from gdcourse.descent import descend
from gdcourse.functions import mse, numerical_gradient, parabola, parabola_slope

Update = Callable[..., object]


def _answer(function: Callable[..., object], *args: object) -> object:
    """Call a learner's function; if it is still the unfilled stub, say so in plain words.

    The error stays a ``NotImplementedError`` (what an unanswered cell is expected to raise),
    and its traceback ends here rather than inside the check's own code.
    """
    try:
        return function(*args)
    except NotImplementedError:
        name = getattr(function, "__name__", "your function")
        raise NotImplementedError(
            f"{name} is not written yet: replace `raise NotImplementedError()` in its cell "
            "with your answer, run that cell, then run this check again."
        ) from None


def _as_float(value: object, what: str) -> float:
    """Turn a learner's result into a float, or explain why it cannot be one."""
    if value is None:
        raise AssertionError(f"{what} returned None: did you forget the `return` statement?")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as error:
        raise AssertionError(
            f"{what} returned {value!r} of type {type(value).__name__}; expected a number."
        ) from error


def check_gradient_descent_update(update: Update) -> str:
    """Check a learner's ``gradient_descent_update(x, gradx, learning_rate)``.

    Raises
    ------
    AssertionError
        With a hint naming the mistake: no ``return``, a step uphill, the learning rate
        ignored, only the step returned, the input array changed in place, numbers working
        but arrays not.

    Examples
    --------
    >>> check_gradient_descent_update(lambda x, g, lr: x - lr * g)
    'gradient_descent_update: all checks passed.'
    >>> check_gradient_descent_update(lambda x, g, lr: x + lr * g)
    Traceback (most recent call last):
    ...
    AssertionError: gradient_descent_update(10.0, 4.0, 0.1) returned 10.4, it moved uphill: ...
    """
    x, grad, rate = 10.0, 4.0, 0.1
    call = f"gradient_descent_update({x}, {grad}, {rate})"
    got = _as_float(_answer(update, x, grad, rate), call)
    expected = x - rate * grad
    if not math.isclose(got, expected, rel_tol=1e-9):
        hints = {
            x + rate * grad: "it moved uphill: did you add the gradient instead of subtracting it?",
            x - grad: "the learning rate is ignored: multiply the gradient by it.",
            x + grad: "it moved uphill and ignores the learning rate.",
            rate * grad: "only the step: subtract it from x and return the new x.",
            -rate * grad: "only the (negative) step: return x minus the step.",
            x: "x did not move: subtract learning_rate * gradx from it.",
        }
        hint = next((text for value, text in hints.items() if math.isclose(got, value)), None)
        raise AssertionError(
            f"{call} returned {got:g}, " + (hint or f"but it should return {expected:g}.")
        )
    if not math.isclose(_as_float(update(x, grad, 0.0), call), x):
        raise AssertionError("With learning_rate = 0, x must stay where it is.")

    values = np.array([1.0, -2.0, 3.0])
    before = values.copy()
    gradients = np.array([0.5, 0.5, -1.0])
    try:
        moved = update(values, gradients, 0.2)
    except Exception as error:  # noqa: BLE001 - any failure here means the same hint
        raise AssertionError(
            "It works for numbers but not for numpy arrays "
            f"({type(error).__name__}: {error}): use arithmetic that numpy applies elementwise."
        ) from error
    if not np.array_equal(values, before):
        raise AssertionError(
            "It changed the input array in place (for example with `x -= ...`): "
            "compute a new array and return it, leaving x as it was."
        )
    if moved is None:
        raise AssertionError("For numpy arrays it returned None: did you forget `return`?")
    moved = np.asarray(moved, dtype=float)
    if moved.shape != values.shape or not np.allclose(moved, values - 0.2 * gradients):
        raise AssertionError(
            "It works for numbers but not for numpy arrays: with x = [1, -2, 3], "
            f"gradx = [0.5, 0.5, -1] and learning_rate = 0.2 it returned {moved.tolist()}, "
            f"expected {(values - 0.2 * gradients).tolist()}."
        )
    return "gradient_descent_update: all checks passed."


def check_learning_rate(learning_rate: object) -> str:
    """Check that ``learning_rate`` brings ``x**2 + 5`` within the tolerance of 5 in time.

    It must do so in ``EPOCHS`` epochs from the worst start in ``START_RANGE`` without
    diverging.

    Examples
    --------
    >>> check_learning_rate(0.1)
    'learning rate 0.1: converges within 0.001 of the minimum in 100 epochs.'
    >>> check_learning_rate(1.5)
    Traceback (most recent call last):
    ...
    AssertionError: learning rate 1.5 diverges: it is too large (here it must be below 1).
    """
    rate = _as_float(learning_rate, "choose_learning_rate()")
    if not math.isfinite(rate) or rate <= 0:
        raise AssertionError(
            f"learning rate {rate:g} never goes downhill: it must be a positive number."
        )
    if rate >= 1:
        raise AssertionError(
            f"learning rate {rate:g} diverges: it is too large (here it must be below 1)."
        )
    worst_start = float(max(abs(s) for s in START_RANGE))
    end = descend(parabola_slope, worst_start, rate, EPOCHS)[-1]
    gap = parabola(end) - 5.0
    if gap > TOLERANCE:
        direction = "too slow" if rate < 0.5 else "oscillates too long (too close to 1)"
        raise AssertionError(
            f"learning rate {rate:g} is {direction} to get within {TOLERANCE:g} of the minimum "
            f"in {EPOCHS} epochs: from x = {worst_start:g} the cost is still 5 + {gap:.3g}."
        )
    return (
        f"learning rate {rate:g}: converges within {TOLERANCE:g} of the minimum in {EPOCHS} epochs."
    )


def check_cost_gradient(cost_gradient: Callable[..., object], x, y) -> str:
    """Check ``cost_gradient(w, b, x, y)`` against a finite-difference estimate.

    Examples
    --------
    >>> x, y = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    >>> def grad(w, b, x, y):
    ...     error = w * x + b - y
    ...     return np.array([2 * np.mean(error * x), 2 * np.mean(error)])
    >>> check_cost_gradient(grad, x, y)
    'cost_gradient: matches the finite-difference estimate.'
    """
    for w, b in [(0.0, 0.0), (2.0, -1.0), (-0.5, 3.0)]:
        result = _answer(cost_gradient, w, b, x, y)
        if result is None:
            raise AssertionError("cost_gradient returned None: did you forget `return`?")
        got = np.asarray(result, dtype=float)
        if got.shape != (2,):
            raise AssertionError(
                f"cost_gradient should return two numbers, [dJ/dw, dJ/db]; got shape {got.shape}."
            )
        estimate = numerical_gradient(lambda p: mse(p[0], p[1], x, y), [w, b])
        if np.allclose(got, -estimate, atol=1e-4) and not np.allclose(estimate, 0, atol=1e-4):
            raise AssertionError(
                f"At w={w}, b={b} it returned {got.round(4).tolist()}, minus the gradient: "
                "check the sign of the error (prediction minus target)."
            )
        if np.allclose(got[::-1], estimate, atol=1e-4) and not np.allclose(
            got, estimate, atol=1e-4
        ):
            raise AssertionError("The two partial derivatives are swapped: return [dJ/dw, dJ/db].")
        if not np.allclose(got, estimate, atol=1e-4):
            raise AssertionError(
                f"At w={w}, b={b} it returned {got.round(4).tolist()}, but nudging w and b "
                f"suggests {estimate.round(4).tolist()}. Is the factor 2 there? Is it a mean?"
            )
    return "cost_gradient: matches the finite-difference estimate."
