"""Figures have a title and labelled axes, images alt text, and lines the palette's colours."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pytest
from PIL import Image

from gdcourse.config import CYCLE
from gdcourse.descent import descend
from gdcourse.functions import make_points, mse_surface, parabola, parabola_slope
from gdcourse.plotting import (
    animate_descent,
    figure_to_png,
    image_bundle,
    plot_ball_on_surface,
    plot_cost_per_epoch,
    plot_descent_on_curve,
    plot_fit,
    plot_gradient_field,
)


def _figures():
    x, y = make_points()
    w, b = np.meshgrid(np.linspace(-1, 3, 10), np.linspace(-1, 2, 10))
    path = descend(parabola_slope, 5.0, 0.1, 10)
    return {
        "surface": plot_ball_on_surface(
            w, b, mse_surface(w, b, x, y), (0.0, 0.0, 3.0), title="S", moved_to=(0.1, 0.1, 2.0)
        ),
        "fit": plot_fit(x, y, {"guess": (1.0, 0.0)}, title="F"),
        "field": plot_gradient_field(
            lambda a, c: a**2 + c**2,
            lambda a, c: (2 * a, 2 * c),
            extent=(-1, 1, -1, 1),
            points=[(0.5, 0.5)],
            title="G",
            xlabel="a",
            ylabel="b",
        ),
        "curve": plot_descent_on_curve(parabola, {"run": path}, xlim=(-6, 6), title="C"),
        "cost": plot_cost_per_epoch({"run": parabola(path)}, title="E", log=True),
    }


@pytest.mark.parametrize("name", list(_figures()))
def test_figure_has_title_and_axis_labels(name: str):
    fig = _figures()[name]
    ax = fig.axes[0]
    assert ax.get_title(), f"{name} has no title"
    assert ax.get_xlabel() and ax.get_ylabel(), f"{name} has an unlabelled axis"
    assert ax.get_legend() is not None, f"{name} has no legend"
    plt.close("all")


def test_lines_use_the_colour_blind_safe_cycle():
    fig = plot_cost_per_epoch({"a": [1, 2], "b": [2, 1], "c": [3, 3]}, title="T")
    colours = [line.get_color() for line in fig.axes[0].get_lines()]
    assert colours == list(CYCLE[:3])
    plt.close(fig)


def test_png_renders_and_closes_the_figure():
    fig = plot_fit([0, 1], [0, 1], {"l": (1.0, 0.0)}, title="T")
    png = figure_to_png(fig)
    assert Image.open(io.BytesIO(png)).size[0] > 300
    assert not plt.fignum_exists(fig.number)


def test_image_needs_alt_text():
    with pytest.raises(ValueError, match="alt text"):
        image_bundle(b"data", "image/png", "  ")
    bundle = image_bundle(b"data", "image/png", 'A "quoted" <b> description')
    assert 'alt="A &quot;quoted&quot; &lt;b&gt; description"' in bundle["text/html"]
    assert bundle["text/plain"] == '[Figure] A "quoted" <b> description'


def test_animation_has_one_frame_per_epoch_and_repeats():
    path = descend(parabola_slope, 8.0, 0.9, 6)
    gif = animate_descent(parabola, path, xlim=(-10, 10), ylim=(0, 110), title="A")
    frames = Image.open(io.BytesIO(gif))
    assert frames.format == "GIF" and frames.n_frames == len(path)
    assert gif == animate_descent(parabola, path, xlim=(-10, 10), ylim=(0, 110), title="A")
