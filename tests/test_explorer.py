"""The learning-rate explorer: sliders redraw the picture, and static viewers get a grid."""

from __future__ import annotations

import re

import pytest

from gdcourse.explorer import REPRESENTATIVE_RATES, learning_rate_explorer, static_grid_bundle


def _alt(html: str) -> str:
    return re.search(r'alt="([^"]*)"', html).group(1)


@pytest.fixture
def explorer():
    return learning_rate_explorer(start=8.0, learning_rate=0.1, epochs=20)


def test_sliders_redraw_the_descent(explorer):
    (rate, start), picture = explorer.children[0].children, explorer.children[1]
    assert "learning rate 0.1 " in _alt(picture.value) and "it converges" in _alt(picture.value)
    rate.value = 1.1
    assert "learning rate 1.1 " in _alt(picture.value) and "it diverges" in _alt(picture.value)
    rate.value = 0.9
    assert "oscillates" in _alt(picture.value)
    start.value = -4.0
    assert "from x = -4" in _alt(picture.value)


def test_static_fallback_is_an_image_with_alt_text():
    bundle = static_grid_bundle(8.0, 20)
    assert bundle["text/html"].startswith('<img src="data:image/png;base64,')
    assert len(REPRESENTATIVE_RATES) == 6 and "6 small plots" in _alt(bundle["text/html"])
    assert bundle["text/plain"].startswith("[Figure] 6 small plots")


def test_static_alt_text_is_read_from_the_runs():
    """Computed, not typed: another start point changes what the alt text says."""
    alt = _alt(static_grid_bundle(8.0, 20)["text/html"])
    assert "at 1 it bounces between 8 and -8" in alt and "at 1.05 it diverges" in alt
    assert "at 0.5 it lands in one step" in alt
    assert "bounces between 3 and -3" in _alt(static_grid_bundle(3.0, 20)["text/html"])
