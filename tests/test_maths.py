"""The functions, the reference descent, and the learning-rate theory the lessons teach."""

from __future__ import annotations

import numpy as np
import pytest

from gdcourse.descent import contraction_factor, descend, epochs_to_converge
from gdcourse.functions import (
    make_points,
    mse,
    mse_surface,
    numerical_gradient,
    parabola,
    parabola_slope,
    two_valleys,
    two_valleys_slope,
)


@pytest.mark.parametrize("x", [-3.0, -0.2, 0.7, 2.5])
def test_slopes_match_finite_differences(x: float):
    assert numerical_gradient(lambda p: parabola(p[0]), [x])[0] == pytest.approx(parabola_slope(x))
    assert numerical_gradient(lambda p: two_valleys(p[0]), [x])[0] == pytest.approx(
        two_valleys_slope(x), rel=1e-6
    )


def test_two_valleys_has_a_global_and_a_local_minimum():
    left = descend(two_valleys_slope, -1.0, 0.02, 500)[-1]
    right = descend(two_valleys_slope, 1.0, 0.02, 500)[-1]
    assert left == pytest.approx(-1.473, abs=1e-3) and right == pytest.approx(1.347, abs=1e-3)
    assert two_valleys(right) - two_valleys(left) == pytest.approx(2.8, abs=0.05)


def test_mse_surface_agrees_with_mse():
    x, y = make_points()
    w, b = np.meshgrid([-1.0, 0.5, 2.0], [0.0, 1.5])
    grid = mse_surface(w, b, x, y)
    assert grid.shape == (2, 3)
    assert grid[1, 2] == pytest.approx(mse(2.0, 1.5, x, y))


def test_make_points_is_seeded():
    assert np.array_equal(make_points(seed=3)[1], make_points(seed=3)[1])
    assert not np.array_equal(make_points(seed=3)[1], make_points(seed=4)[1])


@pytest.mark.parametrize("rate", [0.001, 0.1, 0.5, 0.9, 1.0, 1.1])
def test_each_step_multiplies_x_by_the_contraction_factor(rate: float):
    path = descend(parabola_slope, 3.0, rate, 5)
    assert np.allclose(path[1:], path[:-1] * contraction_factor(rate))


@pytest.mark.parametrize(
    ("rate", "converges"), [(0.05, True), (0.5, True), (0.95, True), (1.0, False), (1.2, False)]
)
def test_converges_exactly_below_one(rate: float, converges: bool):
    result = epochs_to_converge(parabola_slope, parabola, 10_000.0, rate, 5.0, 1e-3, 1000)
    assert (result is not None) == converges


def test_rates_r_and_one_minus_r_take_the_same_number_of_epochs():
    for rate in (0.1, 0.3, 0.45):
        a = epochs_to_converge(parabola_slope, parabola, 50.0, rate, 5.0, 1e-3, 500)
        b = epochs_to_converge(parabola_slope, parabola, 50.0, 1 - rate, 5.0, 1e-3, 500)
        assert a == b


def test_divergence_stops_at_the_first_non_finite_value():
    path = descend(parabola_slope, 1.0, 5.0, 10_000)
    assert np.all(np.isfinite(path)) and len(path) < 10_001
