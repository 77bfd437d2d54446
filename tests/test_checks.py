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
}


def test_correct_update_passes():
    assert "all checks passed" in check_gradient_descent_update(correct)


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
        (1.5, "diverges: it is too large"),
        (1.0, "diverges"),
        (0.001, "too slow"),
        (0.97, "oscillates too long"),
        (0.0, "never goes downhill"),
        (-0.1, "never goes downhill"),
        (None, "returned None"),
        ("fast", "expected a number"),
    ],
)
def test_bad_rates_get_their_hint(rate, hint: str):
    with pytest.raises(AssertionError, match=hint):
        check_learning_rate(rate)


def _true_gradient(w, b, x, y):
    error = w * x + b - y
    return np.array([2 * np.mean(error * x), 2 * np.mean(error)])


@pytest.mark.parametrize(
    ("gradient", "hint"),
    [
        (lambda w, b, x, y: -_true_gradient(w, b, x, y), "minus the gradient"),
        (lambda w, b, x, y: _true_gradient(w, b, x, y)[::-1], "swapped"),
        (lambda w, b, x, y: _true_gradient(w, b, x, y) / 2, "factor 2"),
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


def test_unfilled_stub_is_named_in_plain_words():
    def gradient_descent_update(x, gradx, learning_rate):
        raise NotImplementedError()

    with pytest.raises(NotImplementedError, match="gradient_descent_update is not written yet"):
        check_gradient_descent_update(gradient_descent_update)
