"""Figures have a title and labelled axes, images alt text, and lines the palette's colours."""

from __future__ import annotations

import io
import os
import subprocess
import sys

import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.collections import Collection
from matplotlib.lines import Line2D
from matplotlib.text import Text
from PIL import Image

from gdcourse.config import CYCLE
from gdcourse.descent import descend, epochs_to_converge
from gdcourse.functions import (
    make_points,
    mse_surface,
    parabola,
    parabola_slope,
    two_valleys,
    two_valleys_slope,
)
from gdcourse.plotting import (
    animate_descent,
    animation_figure,
    figure_to_png,
    image_bundle,
    plot_ball_on_surface,
    plot_basins,
    plot_cost_per_epoch,
    plot_descent_and_cost,
    plot_descent_on_curve,
    plot_epochs_to_converge,
    plot_fit,
    plot_gradient_field,
    plot_rate_grid,
)


def _figures():
    x, y = make_points()
    w, b = np.meshgrid(np.linspace(-1, 3, 10), np.linspace(-1, 2, 10))
    path = descend(parabola_slope, 5.0, 0.1, 10)
    rates = np.round(np.arange(0.01, 1.2001, 0.01), 3)
    needed = [epochs_to_converge(parabola_slope, parabola, 8.0, r, 5.0, 1e-3, 100) for r in rates]
    starts = np.linspace(-2.4, 2.4, 61)
    ends = np.array([descend(two_valleys_slope, x, 0.02, 200)[-1] for x in starts])
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
        "epochs": plot_epochs_to_converge(rates, needed, max_epochs=100, title="T"),
        "basins": plot_basins(
            two_valleys,
            starts,
            ends,
            {"deep valley": -1.473, "shallow valley": 1.347},
            title="B",
            ylim=(0, 16),
        ),
    }


def _all_figures():
    """Every kind of figure, the small multiples and two-panel ones included."""
    return {
        **_figures(),
        "grid": plot_rate_grid(
            parabola,
            parabola_slope,
            [0.01, 0.1, 0.5, 0.9, 1.0, 1.05],
            start=8.0,
            epochs=10,
            xlim=(-10, 10),
            ylim=(0, 110),
            title="R",
        ),
        "explorer": plot_descent_and_cost(
            parabola,
            descend(parabola_slope, 8.0, 0.1, 10),
            learning_rate=0.1,
            xlim=(-10, 10),
            ylim=(0, 110),
        ),
        "animation": animation_figure(
            parabola,
            descend(parabola_slope, 8.0, 0.1, 10),
            xlim=(-10, 10),
            ylim=(0, 110),
            title="A",
        )[0],
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


def test_png_renders_and_pyplot_never_sees_a_figure():
    before = plt.get_fignums()
    figures = _all_figures()
    png = figure_to_png(figures["fit"])
    assert Image.open(io.BytesIO(png)).size[0] > 300
    assert plt.get_fignums() == before, "a course figure was registered with pyplot"


def test_importing_the_helpers_keeps_the_learners_backend():
    """A learner's own plt.plot(...); plt.show() must still draw inline after the imports."""
    inline = "module://matplotlib_inline.backend_inline"
    code = (
        "import sys, matplotlib\n"
        "import gdcourse.plotting, gdcourse.explorer, gdcourse.checks, gdcourse.scripts\n"
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, MPLBACKEND=inline),
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.split() == [inline, "False"]


def _text_px(fig) -> list[tuple[float, str]]:
    texts = [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return [(t.get_fontsize() * fig.dpi / 72, t.get_text()) for t in texts]


@pytest.mark.parametrize("name", list(_all_figures()))
def test_text_is_at_least_10_pixels(name: str):
    fig = _all_figures()[name]
    fig.canvas.draw()
    small = [(round(px, 1), text) for px, text in _text_px(fig) if px < 10]
    assert not small, f"{name}: text smaller than 10 px: {small[:5]}"


def test_animation_is_640_pixels_wide_with_readable_text():
    path = descend(parabola_slope, 8.0, 0.1, 3)
    gif = animate_descent(parabola, path, xlim=(-10, 10), ylim=(0, 110), title="A")
    assert Image.open(io.BytesIO(gif)).size[0] >= 640
    fig, draw = animation_figure(parabola, path, xlim=(-10, 10), ylim=(0, 110), title="A")
    draw(3)
    assert min(px for px, _ in _text_px(fig)) >= 10


def _display_points(artist, ax) -> np.ndarray:
    """Points along a line or a scatter, in display pixels (lines sampled between vertices)."""
    if isinstance(artist, Line2D):
        xy = artist.get_transform().transform(artist.get_xydata())
        if len(xy) > 1:
            steps = np.linspace(0, 1, 40)[:, None]
            xy = np.concatenate([a + steps * (b - a) for a, b in zip(xy, xy[1:], strict=False)])
        return xy
    return artist.get_offset_transform().transform(artist.get_offsets())


def _within(box, points: np.ndarray) -> np.ndarray:
    if not len(points):
        return np.zeros(0, dtype=bool)
    x, y = points[:, 0], points[:, 1]
    return (box.x0 <= x) & (x <= box.x1) & (box.y0 <= y) & (y <= box.y1)


@pytest.mark.parametrize("name", [n for n in _figures() if n != "surface"])  # 3-D: no flat window
def test_legend_stays_clear_of_the_data(name: str):
    fig = _figures()[name]
    fig.canvas.draw()
    ax = fig.axes[0]
    box = ax.get_legend().get_window_extent()
    window = ax.get_window_extent()
    for artist in [*ax.get_lines(), *[c for c in ax.collections if c.get_offsets().size]]:
        points = _display_points(artist, ax)
        hidden = _within(box, points) & _within(window, points)
        assert not hidden.any(), f"{name}: the legend covers part of {artist.get_label()!r}"
    whole = fig.bbox
    corners = np.array([[box.x0, box.y0], [box.x1, box.y1]])
    assert _within(whole, corners).all(), f"{name}: the legend is cut off by the figure's edge"


@pytest.mark.parametrize("name", list(_figures()))
def test_every_marked_line_is_in_the_legend(name: str):
    """Apart from the cost curve itself, every line drawn (dotted guides too) is explained."""
    ax = _figures()[name].axes[0]
    legend = {text.get_text() for text in ax.get_legend().get_texts()}
    unlabelled = [line for line in ax.get_lines() if line.get_label().startswith("_")]
    assert len(unlabelled) <= 1, f"{name}: {len(unlabelled)} lines without a legend entry"
    for line in ax.get_lines():
        if not line.get_label().startswith("_"):
            assert line.get_label() in legend, f"{name}: {line.get_label()!r} not in the legend"
    for collection in ax.collections:
        if isinstance(collection, Collection) and not collection.get_label().startswith("_"):
            assert collection.get_label() in legend


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


def test_small_multiples_titles_fit_side_by_side():
    """The explorer's static grid: no panel title runs into its neighbour or off the figure."""
    fig = _all_figures()["grid"]
    fig.canvas.draw()
    boxes = [ax.title.get_window_extent() for ax in fig.axes if ax.get_visible()]
    for box in boxes:
        assert box.x0 >= fig.bbox.x0 and box.x1 <= fig.bbox.x1
    for left, right in zip(boxes, boxes[1:], strict=False):
        if abs(left.y0 - right.y0) < 1:  # same row
            assert left.x1 <= right.x0, "two panel titles overlap"
