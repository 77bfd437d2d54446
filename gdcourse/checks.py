"""Self-checks for the exercises: specific, kind messages instead of a bare ``AssertionError``.

The visible test cells of the exercise notebooks call these functions, so what a learner sees
while working and what nbgrader's visible tests report are the same. Each check raises
:class:`AssertionError` whose message names the likely mistake, or returns a short message
saying that its checks pass (the grader runs more tests, hidden ones).

Three promises to the learner:

* A failing check shows only its message: IPython renders the error through the error's
  ``_render_traceback_`` (no lines of this module), and the checks' own frames are marked with
  ``__tracebackhide__`` when the learner's code raises inside them.
* Nothing here gives an exercise away: the expected results are written as numbers, never as
  the formula that computes them, and no docstring shows a passing answer.
* The checks look only at what the learner's function returns and at the arguments after the
  call, and compare values, never object identity. The class grader calls them with a proxy
  that runs the learner's function in another process and copies plain data back.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from gdcourse.config import EPOCHS, START_RANGE, TOLERANCE
from gdcourse.descent import descend
from gdcourse.functions import mse, numerical_gradient, parabola, parabola_slope

Update = Callable[..., object]

#: What a learner reads when a check passes: honest about the hidden tests still to come.
PASSED = "these checks pass (grading also runs hidden tests)."


def _message_only(error: Exception) -> Exception:
    """Make IPython show ``error`` as its type and message alone, without any source lines.

    IPython renders an exception that has a ``_render_traceback_`` method by calling it
    instead of formatting the traceback; plain Python still shows the usual traceback.

    Examples
    --------
    >>> _message_only(AssertionError("it moved uphill"))._render_traceback_()
    ['\\x1b[0;31mAssertionError\\x1b[0m: it moved uphill']
    """
    line = f"\x1b[0;31m{type(error).__name__}\x1b[0m: {error}"
    error._render_traceback_ = lambda: [line]  # type: ignore[attr-defined]
    return error


def _failure(message: str) -> AssertionError:
    return _message_only(AssertionError(message))  # type: ignore[return-value]


def _answer(function: Callable[..., object], *args: object) -> object:
    """Call a learner's function; if it is still the unfilled stub, say so in plain words.

    The error stays a ``NotImplementedError`` (what an unanswered cell is expected to raise).
    Any other error of the learner's code propagates with its traceback, in which IPython
    skips this module's frames.
    """
    __tracebackhide__ = True
    try:
        return function(*args)
    except NotImplementedError:
        name = getattr(function, "__name__", "your function")
        raise _message_only(
            NotImplementedError(
                f"{name} is not written yet: replace `raise NotImplementedError()` in its cell "
                "with your answer, run that cell, then run this check again."
            )
        ) from None


def _as_number(value: object, what: str) -> float:
    """Turn a learner's result into a float, or explain why it cannot be one."""
    if value is None:
        raise _failure(f"{what} returned None: did you forget the `return` statement?")
    if isinstance(value, str | bytes):
        try:
            number = float(value)
        except ValueError:
            raise _failure(f"{what} returned the text {value!r}; expected a number.") from None
        raise _failure(
            f"{what} returned the text {value!r}, not a number: remove the quotes, "
            f"so that it returns {number:g} itself."
        )
    if isinstance(value, bool):
        raise _failure(f"{what} returned {value}, a truth value; expected a number.")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _failure(
            f"{what} returned {value!r} of type {type(value).__name__}; expected a number."
        ) from None


# The probe of the update step: x = 10, gradient 4, learning rate 0.1. What a right answer
# returns, and what each common mistake returns instead, as plain numbers.
_PROBE = (10.0, 4.0, 0.1)
_RIGHT = 9.6
_MISTAKES = {
    10.4: "it moved uphill: did you add the gradient instead of subtracting it?",
    6.0: "the learning rate is ignored: the step is the gradient scaled by the learning rate.",
    14.0: "it moved uphill and ignores the learning rate.",
    0.4: "it returned only the step: return the new x, the step taken away from the old one.",
    -0.4: "it returned only the (negative) step: return the new x, not the change.",
    10.0: "x did not move: take the step away from it.",
    9.0: "it used x where the gradient belongs.",
    -30.0: "it divided by the learning rate: the step is the gradient scaled by it.",
}
# The same probe for arrays, learning rate 0.2.
_ARRAY_X = (1.0, -2.0, 3.0)
_ARRAY_GRADIENT = (0.5, 0.5, -1.0)
_ARRAY_RIGHT = (0.9, -2.1, 3.2)


def update_mistake(update: Update) -> str | None:
    """The known mistake that ``update`` makes on one probe step, or None.

    The probe is one step from x = 10 with gradient 4 and learning rate 0.1; what the step
    returns is compared with what each common mistake returns (adding the gradient, ignoring
    the learning rate, returning only the step, ...). None when the step is right, when it
    matches no known mistake, or when the call fails.

    Examples
    --------
    >>> update_mistake(lambda x, gradx, learning_rate: x + learning_rate * gradx)
    'it moved uphill: did you add the gradient instead of subtracting it?'
    >>> update_mistake(lambda x, gradx, learning_rate: x)
    'x did not move: take the step away from it.'
    >>> update_mistake(lambda x, gradx, learning_rate: x * 3) is None
    True
    """
    try:
        got = float(update(*_PROBE))  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - no hint then; the test's own message stands
        return None
    return _known_mistake(got)


def _known_mistake(got: float) -> str | None:
    """The mistake whose probe result is ``got`` (see :data:`_MISTAKES`), or None."""
    return next((text for value, text in _MISTAKES.items() if math.isclose(got, value)), None)


def with_update_hint(message: str, update: Update, otherwise: str = "") -> str:
    """``message``, followed by the mistake :func:`update_mistake` recognises (else by
    ``otherwise``, if given).

    The exercise's test cells use it, so that a failure names the misconception and learners
    with the same one get the same words (the class report groups them by these words).

    Examples
    --------
    >>> with_update_hint("the loop diverged", lambda x, gradx, learning_rate: x + gradx)
    'the loop diverged: it moved uphill and ignores the learning rate.'
    >>> with_update_hint("the loop diverged", lambda x, gradx, learning_rate: x * 0.5)
    'the loop diverged'
    >>> with_update_hint("wrong", lambda x, gradx, learning_rate: x * 0.5, "look again")
    'wrong: look again'
    """
    hint = update_mistake(update) or otherwise
    return f"{message}: {hint}" if hint else message


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
    >>> check_gradient_descent_update(lambda x, gradx, learning_rate: x + learning_rate * gradx)
    Traceback (most recent call last):
    ...
    AssertionError: gradient_descent_update(10.0, 4.0, 0.1) returned 10.4, it moved uphill: ...
    """
    __tracebackhide__ = True
    x, grad, rate = _PROBE
    call = f"gradient_descent_update({x}, {grad}, {rate})"
    got = _as_number(_answer(update, x, grad, rate), call)
    if not math.isclose(got, _RIGHT, rel_tol=1e-9):
        hint = _known_mistake(got)
        raise _failure(f"{call} returned {got:g}, " + (hint or f"but it should return {_RIGHT:g}."))
    if not math.isclose(_as_number(update(x, grad, 0.0), call), x):
        raise _failure("With learning_rate = 0, x must stay where it is.")

    values, gradients = np.array(_ARRAY_X), np.array(_ARRAY_GRADIENT)
    try:
        moved = update(values, gradients, 0.2)
    except Exception as error:  # noqa: BLE001 - any failure here means the same hint
        raise _failure(
            "It works for numbers but not for numpy arrays "
            f"({type(error).__name__}: {error}): use arithmetic that numpy applies elementwise."
        ) from None
    if not np.array_equal(values, _ARRAY_X):
        raise _failure(
            "It changed the input array in place (for example with `x -= ...`): "
            "compute a new array and return it, leaving x as it was."
        )
    if moved is None:
        raise _failure("For numpy arrays it returned None: did you forget `return`?")
    try:
        moved = np.asarray(moved, dtype=float)
    except (TypeError, ValueError):
        moved = None
    if moved is None or moved.shape != values.shape or not np.allclose(moved, _ARRAY_RIGHT):
        shown = moved.tolist() if moved is not None else "something that is not an array"
        raise _failure(
            "It works for numbers but not for numpy arrays: with x = [1, -2, 3], "
            f"gradx = [0.5, 0.5, -1] and learning_rate = 0.2 it returned {shown}, "
            f"expected {list(_ARRAY_RIGHT)}."
        )
    return f"gradient_descent_update: {PASSED}"


def check_learning_rate(learning_rate: object) -> str:
    """Check that ``learning_rate`` brings ``x**2 + 5`` within the tolerance of 5 in time.

    It must do so in ``EPOCHS`` epochs from the worst start in ``START_RANGE`` without
    diverging. The messages follow notebook 3: each step multiplies ``x`` by
    ``1 - 2 * learning_rate``.

    Examples
    --------
    >>> check_learning_rate(1.5)
    Traceback (most recent call last):
    ...
    AssertionError: learning rate 1.5 diverges: ...
    >>> check_learning_rate(1)
    Traceback (most recent call last):
    ...
    AssertionError: learning rate 1 never converges: ...
    """
    __tracebackhide__ = True
    rate = _as_number(learning_rate, "choose_learning_rate()")
    if not math.isfinite(rate) or rate <= 0:
        raise _failure(f"learning rate {rate:g} never goes downhill: it must be a positive number.")
    factor = 1.0 - 2.0 * rate
    if rate == 1:
        raise _failure(
            "learning rate 1 never converges: each step multiplies x by -1, so x jumps between "
            "its start x0 and -x0 forever (notebook 3). It must be below 1."
        )
    if rate > 1:
        raise _failure(
            f"learning rate {rate:g} diverges: each step multiplies x by {factor:g}, so x swings "
            "further from the minimum every epoch. It is too large (here it must be below 1)."
        )
    worst_start = float(max(abs(s) for s in START_RANGE))
    end = descend(parabola_slope, worst_start, rate, EPOCHS)[-1]
    gap = parabola(end) - 5.0
    if gap > TOLERANCE:
        problem = (
            "is too slow"
            if rate < 0.5
            else f"oscillates for too long (each step multiplies x by {factor:g}, close to -1)"
        )
        raise _failure(
            f"learning rate {rate:g} {problem} to get within {TOLERANCE:g} of the minimum in "
            f"{EPOCHS} epochs: from x = {worst_start:g} the cost is still 5 + {gap:.3g}."
        )
    return (
        f"learning rate {rate:g}: converges within {TOLERANCE:g} of the minimum in {EPOCHS} "
        f"epochs from every start; {PASSED}"
    )


def _gradient_mistake(got: np.ndarray, estimate: np.ndarray, n: int) -> str | None:
    """Name the mistake that turns the true gradient ``estimate`` into ``got``, if it is known."""

    def same(a: object, b: object) -> bool:
        return bool(np.allclose(a, b, atol=1e-4, rtol=1e-4))

    if same(got, -estimate):
        return "minus the gradient: check the sign of the error (prediction minus target)."
    if same(got[::-1], estimate):
        return "the two partial derivatives are swapped: return [dJ/dw, dJ/db]."
    if same(got, estimate / 2):
        return "half the gradient: the factor 2 from the square is missing."
    if n > 1 and same(got, estimate * n):
        return f"{n} times the gradient: take the mean over the points, not the sum."
    if n > 1 and same(got, estimate * n / 2):
        return f"{n / 2:g} times the gradient: use the mean, not the sum, and keep the factor 2."
    if same(got[1], estimate[1]) and same(got[0], estimate[1]):
        return "dJ/dw came out equal to dJ/db: each error must be multiplied by its input x_i."
    if same(got[1], estimate[1]):
        return "dJ/db is right, dJ/dw is not: each error must be multiplied by its input x_i."
    if same(got[0], estimate[0]):
        return "dJ/dw is right, dJ/db is not."
    return None


def check_cost_gradient(cost_gradient: Callable[..., object], x, y) -> str:
    """Check ``cost_gradient(w, b, x, y)`` against a finite-difference estimate.

    The learner's function gets copies of ``x`` and ``y``; changing them in place is reported.

    Examples
    --------
    >>> x, y = np.array([0.0, 1.0]), np.array([1.0, 2.0])
    >>> check_cost_gradient(lambda w, b, x, y: None, x, y)
    Traceback (most recent call last):
    ...
    AssertionError: cost_gradient returned None: did you forget `return`?
    """
    __tracebackhide__ = True
    x, y = np.array(x, dtype=float), np.array(y, dtype=float)
    for w, b in [(0.0, 0.0), (2.0, -1.0), (-0.5, 3.0)]:
        given_x, given_y = x.copy(), y.copy()
        result = _answer(cost_gradient, w, b, given_x, given_y)
        if not (np.array_equal(given_x, x) and np.array_equal(given_y, y)):
            raise _failure(
                "cost_gradient changed x or y in place (for example with `y -= ...`): "
                "compute new arrays instead, and leave the data as it was."
            )
        if result is None:
            raise _failure("cost_gradient returned None: did you forget `return`?")
        try:
            got = np.asarray(result, dtype=float)
        except (TypeError, ValueError):
            raise _failure(
                f"cost_gradient returned {result!r}; expected two numbers, [dJ/dw, dJ/db]."
            ) from None
        if got.shape != (2,):
            raise _failure(
                f"cost_gradient should return two numbers, [dJ/dw, dJ/db]; got shape {got.shape}."
            )
        estimate = numerical_gradient(lambda p: mse(p[0], p[1], x, y), [w, b])
        if np.allclose(got, estimate, atol=1e-4):
            continue
        mistake = _gradient_mistake(got, estimate, x.size)
        raise _failure(
            f"At w={w}, b={b} it returned {got.round(4).tolist()}, but the finite-difference "
            f"estimate is {estimate.round(4).tolist()}"
            + (f": {mistake}" if mistake else ". Compare your formula with the one above.")
        )
    return f"cost_gradient: matches the finite-difference estimate; {PASSED}"
