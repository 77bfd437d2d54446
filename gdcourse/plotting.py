"""Every figure and animation of the course.

Each ``plot_*`` function takes data and returns a :class:`matplotlib.figure.Figure` with a
title and labelled axes; :func:`show` displays it in a notebook together with its alt text.
Animations are rendered to GIF bytes by :func:`animate_descent` and shown by
:func:`show_animation`. Colours come from :mod:`gdcourse.config` (Okabe-Ito, colour-blind
safe).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping, Sequence

import matplotlib

matplotlib.use("Agg")  # figures are rendered to bytes, never to a window

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from numpy.typing import ArrayLike, NDArray  # noqa: E402
from PIL import Image  # noqa: E402

from gdcourse.config import (  # noqa: E402
    ANIMATION_DPI,
    ANIMATION_FIGSIZE,
    CYCLE,
    DPI,
    FIGSIZE,
    FRAME_MS,
    PALETTE,
    SURFACE_CMAP,
)

Cost = Callable[[NDArray[np.float64]], NDArray[np.float64]]


# --------------------------------------------------------------------------- display


def figure_to_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes and close it, so that it is not also shown twice.

    Examples
    --------
    >>> fig, ax = plt.subplots()
    >>> figure_to_png(fig)[:4]
    b'\\x89PNG'
    """
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=fig.dpi, metadata={"Software": None})
    plt.close(fig)
    return buffer.getvalue()


def image_bundle(data: bytes, mime: str, alt: str) -> dict[str, str]:
    """A notebook display bundle: an ``<img>`` carrying ``alt``, and ``alt`` as text.

    JupyterLab and static HTML render the ``<img>`` (screen readers read its alt text);
    ``text/plain`` keeps the description where images cannot be shown. The image is stored
    once, inside the ``<img>``; nbval's sanitizer masks that data when it compares outputs
    (see ``tests/nbval_sanitize.cfg``).

    Examples
    --------
    >>> sorted(image_bundle(b"GIF89a", "image/gif", "A dot.").keys())
    ['text/html', 'text/plain']
    """
    if not alt.strip():
        raise ValueError("every figure needs alt text describing what it shows")
    encoded = base64.b64encode(data).decode("ascii")
    tag = f'<img src="data:{mime};base64,{encoded}" alt="{html.escape(alt, quote=True)}"/>'
    return {"text/html": tag, "text/plain": f"[Figure] {alt}"}


def show(fig: Figure, alt: str) -> None:
    """Display ``fig`` in the notebook with its alt text ``alt``, then close it."""
    from IPython.display import display

    display(image_bundle(figure_to_png(fig), "image/png", alt), raw=True)


def show_animation(gif: bytes, alt: str) -> None:
    """Display GIF bytes from :func:`animate_descent` with the alt text ``alt``."""
    from IPython.display import display

    display(image_bundle(gif, "image/gif", alt), raw=True)


def _new_figure(title: str, xlabel: str, ylabel: str, figsize=FIGSIZE, dpi=DPI):
    fig, ax = plt.subplots(figsize=figsize, dpi=dpi, layout="constrained")
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


# --------------------------------------------------------------------------- lesson 1


def plot_ball_on_surface(
    w_grid: NDArray[np.float64],
    b_grid: NDArray[np.float64],
    cost_grid: NDArray[np.float64],
    ball: tuple[float, float, float],
    *,
    title: str,
    moved_to: tuple[float, float, float] | None = None,
) -> Figure:
    """A cost surface over two parameters, with the current parameters drawn as a ball.

    Parameters
    ----------
    w_grid, b_grid, cost_grid : ndarray
        The surface, as from ``np.meshgrid`` and a cost evaluated on it.
    ball : (w, b, cost)
        Where the ball sits.
    title : str
        Figure title.
    moved_to : (w, b, cost), optional
        Where one step downhill takes the ball; drawn as a second ball with an arrow.

    Examples
    --------
    >>> W, B = np.meshgrid(np.linspace(-1, 1, 5), np.linspace(-1, 1, 5))
    >>> fig = plot_ball_on_surface(W, B, W**2 + B**2, (1.0, 1.0, 2.0), title="Bowl")
    >>> fig.axes[0].get_title()
    'Bowl'
    """
    fig = plt.figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(w_grid, b_grid, cost_grid, cmap=SURFACE_CMAP, alpha=0.55, linewidth=0)
    ax.contour(w_grid, b_grid, cost_grid, levels=12, cmap=SURFACE_CMAP, offset=0.0, alpha=0.6)
    start_colour = PALETTE["vermillion"] if moved_to is None else PALETTE["orange"]
    ax.scatter(
        *ball,
        s=90,
        color=start_colour,
        edgecolor="black",
        depthshade=False,
        label="the ball (current weights)",
        zorder=10,
    )
    if moved_to is not None:
        ax.scatter(
            *moved_to,
            s=90,
            color=PALETTE["vermillion"],
            edgecolor="black",
            depthshade=False,
            label="after one step downhill",
            zorder=10,
        )
        ax.plot(*zip(ball, moved_to, strict=True), color="black", linewidth=2)
    ax.set_title(title)
    ax.set_xlabel("weight w")
    ax.set_ylabel("bias b")
    ax.set_zlabel("cost")
    ax.set_zlim(0.0, float(np.max(cost_grid)))
    ax.view_init(elev=30, azim=-60)
    ax.legend(loc="upper left")
    return fig


def plot_fit(
    x: ArrayLike, y: ArrayLike, lines: Mapping[str, tuple[float, float]], *, title: str
) -> Figure:
    """Data points and one line ``w x + b`` per entry of ``lines`` (label -> (w, b)).

    Examples
    --------
    >>> fig = plot_fit([0, 1], [0, 1], {"guess": (1.0, 0.0)}, title="Fit")
    >>> fig.axes[0].get_xlabel()
    'input x'
    """
    fig, ax = _new_figure(title, "input x", "target y")
    x = np.asarray(x, dtype=float)
    ax.scatter(x, y, color=PALETTE["black"], label="data", zorder=3)
    span = np.linspace(x.min(), x.max(), 50)
    for colour, (label, (w, b)) in zip(CYCLE, lines.items(), strict=False):
        ax.plot(span, w * span + b, color=colour, linewidth=2, label=label)
    ax.legend()
    return fig


# --------------------------------------------------------------------------- lesson 2


def plot_gradient_field(
    cost: Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]],
    gradient: Callable[[NDArray[np.float64], NDArray[np.float64]], tuple],
    *,
    extent: tuple[float, float, float, float],
    points: Sequence[tuple[float, float]],
    title: str,
    xlabel: str,
    ylabel: str,
) -> Figure:
    """Contours of a two-parameter cost with the gradient (uphill) and minus it (downhill).

    Parameters
    ----------
    cost : callable
        ``cost(a, b)`` on arrays of one shape.
    gradient : callable
        ``gradient(a, b)`` returning the two partial derivatives.
    extent : (a_min, a_max, b_min, b_max)
        The window to draw.
    points : sequence of (a, b)
        Where to draw the arrows.

    Examples
    --------
    >>> fig = plot_gradient_field(lambda a, b: a**2 + b**2, lambda a, b: (2 * a, 2 * b),
    ...     extent=(-1, 1, -1, 1), points=[(0.5, 0.5)], title="Bowl", xlabel="a", ylabel="b")
    >>> len(fig.axes[0].get_legend().get_texts())
    2
    """
    fig, ax = _new_figure(title, xlabel, ylabel)
    a, b = np.meshgrid(np.linspace(*extent[:2], 120), np.linspace(*extent[2:], 120))
    filled = ax.contourf(a, b, cost(a, b), levels=20, cmap=SURFACE_CMAP, alpha=0.85)
    fig.colorbar(filled, ax=ax, label="cost")
    pa, pb = np.array(points, dtype=float).T
    ga, gb = (np.asarray(g, dtype=float) for g in gradient(pa, pb))
    scale = 0.14 * (extent[1] - extent[0]) / max(float(np.max(np.hypot(ga, gb))), 1e-12)
    ax.quiver(
        pa,
        pb,
        ga * scale,
        gb * scale,
        color=PALETTE["vermillion"],
        angles="xy",
        scale_units="xy",
        scale=1,
        width=0.008,
        label="gradient: uphill",
    )
    ax.quiver(
        pa,
        pb,
        -ga * scale,
        -gb * scale,
        color=PALETTE["sky"],
        angles="xy",
        scale_units="xy",
        scale=1,
        width=0.008,
        label="minus gradient: downhill",
    )
    ax.scatter(pa, pb, color="white", edgecolor="black", zorder=5)
    ax.set_xlim(*extent[:2])
    ax.set_ylim(*extent[2:])
    ax.set_aspect("equal")  # so that "crosses the contours at right angles" is what one sees
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    return fig


# --------------------------------------------------------------------------- lesson 3


def plot_descent_on_curve(
    cost: Cost,
    paths: Mapping[str, NDArray[np.float64]],
    *,
    xlim: tuple[float, float],
    title: str,
    ylim: tuple[float, float] | None = None,
) -> Figure:
    """The cost curve with each descent path (label -> visited ``x``) drawn on it as steps.

    Examples
    --------
    >>> fig = plot_descent_on_curve(lambda x: x**2, {"lr 0.1": np.array([1.0, 0.8])},
    ...     xlim=(-1, 1), title="Steps")
    >>> fig.axes[0].get_ylabel()
    'cost f(x)'
    """
    fig, ax = _new_figure(title, "x", "cost f(x)")
    grid = np.linspace(*xlim, 400)
    ax.plot(grid, cost(grid), color=PALETTE["black"], linewidth=1.5, label="f(x)")
    for colour, (label, path) in zip(CYCLE, paths.items(), strict=False):
        ax.plot(
            path, cost(path), "o-", color=colour, markersize=4, linewidth=1, alpha=0.9, label=label
        )
    ax.set_xlim(*xlim)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.legend()
    return fig


def plot_cost_per_epoch(
    costs: Mapping[str, ArrayLike], *, title: str, ylabel: str = "cost", log: bool = False
) -> Figure:
    """One line per run (label -> cost at each epoch); a log scale when ``log`` is true.

    Examples
    --------
    >>> fig = plot_cost_per_epoch({"run": [3.0, 2.0, 1.0]}, title="Cost")
    >>> fig.axes[0].get_xlabel()
    'epoch'
    """
    fig, ax = _new_figure(title, "epoch", ylabel)
    for colour, (label, values) in zip(CYCLE, costs.items(), strict=False):
        values = np.asarray(values, dtype=float)
        ax.plot(np.arange(values.size), values, "o-", color=colour, markersize=3, label=label)
    if log:
        ax.set_yscale("log")
    ax.legend()
    return fig


def animate_descent(
    cost: Cost,
    path: NDArray[np.float64],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    title: str,
) -> bytes:
    """Animate a descent path on the cost curve, one epoch per frame, as GIF bytes.

    Steps that leave the window are drawn at its edge, so a diverging run stays visible.

    Examples
    --------
    >>> gif = animate_descent(lambda x: x**2, np.array([1.0, 0.5, 0.25]),
    ...     xlim=(-1, 1), ylim=(0, 1), title="Down")
    >>> gif[:6]
    b'GIF89a'
    """
    fig, ax = _new_figure(title, "x", "cost f(x)", figsize=ANIMATION_FIGSIZE, dpi=ANIMATION_DPI)
    grid = np.linspace(*xlim, 300)
    ax.plot(grid, cost(grid), color=PALETTE["black"], linewidth=1.5)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    shown = np.clip(path, *xlim)
    heights = np.clip(cost(shown), *ylim)
    (trail,) = ax.plot([], [], "o-", color=PALETTE["blue"], linewidth=1, markersize=3)
    (ball,) = ax.plot(
        [], [], "o", color=PALETTE["vermillion"], markersize=11, markeredgecolor="black"
    )
    label = ax.text(0.03, 0.92, "", transform=ax.transAxes)
    fig.canvas.draw()
    fig.set_layout_engine("none")  # lay out once; every frame then reuses the same geometry

    frames = []
    for epoch in range(len(path)):
        trail.set_data(shown[: epoch + 1], heights[: epoch + 1])
        ball.set_data([shown[epoch]], [heights[epoch]])
        label.set_text(f"epoch {epoch}   x = {path[epoch]:.3g}")
        fig.canvas.draw()
        frames.append(
            Image.frombuffer(
                "RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba()
            ).convert("RGB")
        )
    plt.close(fig)
    return frames_to_gif(frames, FRAME_MS)


def frames_to_gif(frames: Sequence[Image.Image], frame_ms: int) -> bytes:
    """Encode RGB frames as a looping GIF that shares the last frame's palette.

    The last frame has every colour of the run drawn on it (the whole trail), so its palette
    serves all frames. It is held three times as long, so the end of a run can be read.

    Examples
    --------
    >>> frames = [Image.new("RGB", (4, 4), colour) for colour in ("white", "black")]
    >>> frames_to_gif(frames, 100)[:6]
    b'GIF89a'
    """
    palette = frames[-1].quantize(colors=128, dither=Image.Dither.NONE)
    indexed = [frame.quantize(palette=palette, dither=Image.Dither.NONE) for frame in frames]
    durations = [frame_ms] * (len(indexed) - 1) + [3 * frame_ms]
    buffer = io.BytesIO()
    indexed[0].save(
        buffer, format="GIF", save_all=True, append_images=indexed[1:], duration=durations, loop=0
    )
    return buffer.getvalue()
