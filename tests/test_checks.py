"""The learner's self-checks name the mistake they see."""

from __future__ import annotations

import re

import numpy as np
import pytest

from gdcourse.checks import check_cost_gradient, check_gradient_descent_update, check_learning_rate
from gdcourse.functions import make_points


def correct(x, gradx, learning_rate):
    return x - learning_rate * gradx


def in_place(x, gradx, learning_rate):
    x -= learning_rate * gradx
    return x


def scalar_only(x, gradx, learning_rate):
    return float(x) - float(learning_rate) * float(gradx)


def no_return(x, gradx, learning_rate):
    x - learning_rate * gradx  # noqa: B018 - the mistake under test


WRONG_UPDATES = {
    "uphill": (
        lambda x, g, r: x + r * g,
        "moved uphill: did you add the gradient instead of subtracting",
    ),
    "no learning rate": (lambda x, g, r: x - g, "learning rate is ignored"),
    "step only": (lambda x, g, r: r * g, "only the step"),
    "no return": (no_return, "did you forget the `return`"),
    "in place": (in_place, "changed the input array in place"),
    "scalar only": (scalar_only, "works for numbers but not for numpy arrays"),
    "list arithmetic": (lambda x, g, r: [x - r * g], "expected a number"),
    "x for the gradient": (lambda x, g, r: x - r * x, "used x where the gradient belongs"),
    "divided": (lambda x, g, r: x - g / r, "divided by the learning rate"),
}


def test_correct_update_passes_without_promising_full_marks():
    message = check_gradient_descent_update(correct)
    assert message == "gradient_descent_update: these checks pass (grading also runs hidden tests)."
    assert "all" not in message and "correct" not in message


@pytest.mark.parametrize("name", WRONG_UPDATES)
def test_wrong_update_gets_its_hint(name: str):
    update, hint = WRONG_UPDATES[name]
    with pytest.raises(AssertionError, match=re.escape(hint)):
        check_gradient_descent_update(update)


@pytest.mark.parametrize("rate", [0.06, 0.1, 0.5, 0.9])
def test_converging_rates_pass(rate: float):
    assert "converges" in check_learning_rate(rate)


@pytest.mark.parametrize(
    ("rate", "hint"),
    [
        (1.5, "diverges: each step multiplies x by -2"),
        (1.0, "never converges: each step multiplies x by -1, so x jumps between"),
        (1, "learning rate 1 never converges"),
        (0.001, "learning rate 0.001 is too slow to get within"),
        (0.97, "learning rate 0.97 oscillates for too long"),
        ("0.1", "returned the text '0.1', not a number: remove the quotes"),
        (True, "a truth value"),
        (0.0, "never goes downhill"),
        (-0.1, "never goes downhill"),
        (None, "returned None"),
        ("fast", "returned the text 'fast'; expected a number"),
    ],
)
def test_bad_rates_get_their_hint(rate, hint: str):
    with pytest.raises(AssertionError, match=hint):
        check_learning_rate(rate)


def _true_gradient(w, b, x, y):
    error = w * x + b - y
    return np.array([2 * np.mean(error * x), 2 * np.mean(error)])


def _no_input_factor(w, b, x, y):
    error = w * x + b - y
    return np.array([2 * np.mean(error), 2 * np.mean(error)])


def _changes_y_in_place(w, b, x, y):
    y -= w * x + b  # the error, with its sign flipped, written over the targets
    return np.array([-2 * np.mean(y * x), -2 * np.mean(y)])


@pytest.mark.parametrize(
    ("gradient", "hint"),
    [
        (lambda w, b, x, y: -_true_gradient(w, b, x, y), "minus the gradient"),
        (lambda w, b, x, y: _true_gradient(w, b, x, y)[::-1], "swapped"),
        (lambda w, b, x, y: _true_gradient(w, b, x, y) / 2, "the factor 2 from the square"),
        (lambda w, b, x, y: _true_gradient(w, b, x, y) * x.size, "not the sum"),
        (_no_input_factor, "dJ/dw came out equal to dJ/db: each error must be multiplied"),
        (_changes_y_in_place, "changed x or y in place"),
        (lambda w, b, x, y: None, "returned None"),
        (lambda w, b, x, y: 1.0, "two numbers"),
    ],
)
def test_cost_gradient_hints(gradient, hint: str):
    x, y = make_points()
    with pytest.raises(AssertionError, match=hint):
        check_cost_gradient(gradient, x, y)


def test_cost_gradient_passes_the_right_formula():
    assert "matches" in check_cost_gradient(_true_gradient, *make_points())


def test_cost_gradient_accepts_a_tuple():
    """`return dw, db` passes, and the notebook's training loop accepts it too (np.asarray)."""

    def as_tuple(w, b, x, y):
        return tuple(_true_gradient(w, b, x, y))

    assert "matches" in check_cost_gradient(as_tuple, *make_points())


def test_checks_compare_values_not_identity():
    """The class grader calls the checks with a proxy: a fresh object for every result."""

    def proxy(function):
        def call(*args):
            copies = [np.array(a) if isinstance(a, np.ndarray) else a for a in args]
            result = function(*copies)
            for original, copy in zip(args, copies, strict=True):
                if isinstance(original, np.ndarray):
                    original[...] = copy  # in-place changes come back, as the proxy does
            return np.array(result) if isinstance(result, np.ndarray) else result

        call.__name__ = function.__name__
        return call

    assert "pass" in check_gradient_descent_update(proxy(correct))
    assert "matches" in check_cost_gradient(proxy(_true_gradient), *make_points())
    with pytest.raises(AssertionError, match="changed the input array in place"):
        check_gradient_descent_update(proxy(in_place))


def test_a_failure_shows_only_its_message_in_ipython():
    """IPython renders the error by its _render_traceback_: no line of the check's code."""
    with pytest.raises(AssertionError) as caught:
        check_gradient_descent_update(lambda x, g, r: x + r * g)
    rendered = "\n".join(caught.value._render_traceback_())
    assert "moved uphill" in rendered
    assert "expected" not in rendered and "_MISTAKES" not in rendered and "def " not in rendered


def test_unfilled_stub_is_named_in_plain_words():
    def gradient_descent_update(x, gradx, learning_rate):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError, match="gradient_descent_update is not written yet"):
        check_gradient_descent_update(gradient_descent_update)
