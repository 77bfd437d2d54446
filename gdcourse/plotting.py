"""Every figure and animation of the course.

Each ``plot_*`` function takes data and returns a :class:`matplotlib.figure.Figure` with a
title and labelled axes; :func:`show` displays it in a notebook together with its alt text.
Animations are rendered to GIF bytes by :func:`animate_descent` and shown by
:func:`show_animation`. Colours come from :mod:`gdcourse.config` (Okabe-Ito, colour-blind
safe).

Figures are built with matplotlib's object-oriented API (:class:`~matplotlib.figure.Figure`
with an Agg canvas of its own), never through ``pyplot``: importing this module leaves the
learner's matplotlib backend and pyplot's list of open figures alone, so a learner's own
``plt.plot(...); plt.show()`` still draws inline.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from numpy.typing import ArrayLike, NDArray
from PIL import Image

from gdcourse.config import (
    ANIMATION_DPI,
    ANIMATION_FIGSIZE,
    CYCLE,
    DPI,
    FIGSIZE,
    FRAME_MS,
    PALETTE,
    SURFACE_CMAP,
)
from gdcourse.descent import descend, describe_run  # noqa: F401 - describe_run is part of this API

Cost = Callable[[NDArray[np.float64]], NDArray[np.float64]]


# --------------------------------------------------------------------------- display


def figure_to_png(fig: Figure) -> bytes:
    """Render ``fig`` to PNG bytes (with its own Agg canvas; pyplot never sees it).

    Examples
    --------
    >>> figure_to_png(Figure())[:4]
    b'\\x89PNG'
    """
    buffer = io.BytesIO()
    FigureCanvasAgg(fig).print_png(buffer, metadata={"Software": None})
    return buffer.getvalue()


def new_figure(**kwargs) -> Figure:
    """A figure outside pyplot, drawn on its own Agg canvas.

    Examples
    --------
    >>> new_figure(figsize=(2, 1), dpi=50).canvas.get_width_height()
    (100, 50)
    """
    fig = Figure(**kwargs)
    FigureCanvasAgg(fig)
    return fig


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
    fig = new_figure(figsize=figsize, dpi=dpi, layout="constrained")
    ax = fig.subplots()
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    return fig, ax


def _draw_curve(ax, cost: Cost, xlim: tuple[float, float], ylim: tuple[float, float]) -> None:
    """Draw ``cost`` over ``xlim`` on ``ax`` and fix the window to ``xlim`` x ``ylim``."""
    grid = np.linspace(*xlim, 300)
    ax.plot(grid, cost(grid), color=PALETTE["black"], linewidth=1.2)
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)


def _clipped(cost: Cost, path: NDArray[np.float64], xlim, ylim):
    """The points of ``path`` on the curve, pinned to the window's edge when they leave it."""
    shown = np.clip(path, *xlim)
    return shown, np.clip(cost(shown), *ylim)


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
    fig = new_figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
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
    for sign, colour, label in [
        (1, PALETTE["vermillion"], "gradient: uphill"),
        (-1, PALETTE["sky"], "minus gradient: downhill"),
    ]:
        ax.quiver(
            pa,
            pb,
            sign * ga * scale,
            sign * gb * scale,
            color=colour,
            angles="xy",
            scale_units="xy",
            scale=1,
            width=0.008,
            label=label,
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


def animation_figure(
    cost: Cost,
    path: NDArray[np.float64],
    *,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    title: str,
) -> tuple[Figure, Callable[[int], None]]:
    """The figure of :func:`animate_descent` and a function that draws epoch ``k`` on it.

    Examples
    --------
    >>> fig, draw = animation_figure(lambda x: x**2, np.array([1.0, 0.5]),
    ...     xlim=(-1, 1), ylim=(0, 1), title="Down")
    >>> draw(1)
    >>> fig.axes[0].texts[0].get_text()
    'epoch 1   x = 0.5'
    """
    fig, ax = _new_figure(title, "x", "cost f(x)", figsize=ANIMATION_FIGSIZE, dpi=ANIMATION_DPI)
    _draw_curve(ax, cost, xlim, ylim)
    shown, heights = _clipped(cost, path, xlim, ylim)
    (trail,) = ax.plot([], [], "o-", color=PALETTE["blue"], linewidth=1.2, markersize=4)
    (ball,) = ax.plot(
        [], [], "o", color=PALETTE["vermillion"], markersize=13, markeredgecolor="black"
    )
    label = ax.text(0.03, 0.92, "", transform=ax.transAxes)
    fig.canvas.draw()
    fig.set_layout_engine("none")  # lay out once; every frame then reuses the same geometry

    def draw(epoch: int) -> None:
        trail.set_data(shown[: epoch + 1], heights[: epoch + 1])
        ball.set_data([shown[epoch]], [heights[epoch]])
        label.set_text(f"epoch {epoch}   x = {path[epoch]:.3g}")

    return fig, draw


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
    fig, draw = animation_figure(cost, path, xlim=xlim, ylim=ylim, title=title)
    frames = []
    for epoch in range(len(path)):
        draw(epoch)
        fig.canvas.draw()
        frames.append(
            Image.frombuffer(
                "RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba()
            ).convert("RGB")
        )
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


def plot_epochs_to_converge(
    rates: ArrayLike, epochs: Sequence[int | None], *, max_epochs: int, title: str
) -> Figure:
    """Epochs each learning rate needs to converge; rates that never do are drawn at the top.

    Parameters
    ----------
    rates : array_like
        The learning rates tried.
    epochs : sequence of int or None
        For each rate, the epochs it needed, or ``None`` if it did not converge in
        ``max_epochs``.

    Examples
    --------
    >>> fig = plot_epochs_to_converge([0.1, 0.5, 1.2], [30, 1, None], max_epochs=100, title="T")
    >>> fig.axes[0].get_ylabel()
    'epochs to converge'
    """
    fig, ax = _new_figure(title, "learning rate", "epochs to converge")
    rates = np.asarray(rates, dtype=float)
    done = np.array([e is not None for e in epochs])
    counts = np.array([e if e is not None else max_epochs for e in epochs], dtype=float)
    ax.plot(rates[done], counts[done], "o", color=PALETTE["blue"], markersize=3, label="converged")
    ax.plot(
        rates[~done],
        counts[~done],
        "x",
        color=PALETTE["vermillion"],
        markersize=5,
        label=f"not within {max_epochs} epochs",
    )
    ax.axvline(1.0, color=PALETTE["black"], linestyle="--", linewidth=1, label="learning rate 1")
    ax.axvline(
        0.5,
        color=PALETTE["green"],
        linestyle=":",
        linewidth=1.5,
        label="learning rate 0.5 (mirror)",
    )
    ax.set_ylim(0, max_epochs * 1.08)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # clear of the data
    return fig


def plot_basins(
    cost: Cost,
    starts: NDArray[np.float64],
    ends: NDArray[np.float64],
    minima: Mapping[str, float],
    *,
    title: str,
    ylim: tuple[float, float],
) -> Figure:
    """The cost curve with every start point coloured by the minimum descent reached from it.

    Parameters
    ----------
    cost : callable
        The cost, on arrays.
    starts, ends : ndarray
        Where each run started and where it ended.
    minima : mapping of label -> x
        The minima to colour by; a run belongs to the nearest one (within 0.05) or, if it
        ended near none of them, to "elsewhere (did not settle)".

    Examples
    --------
    >>> fig = plot_basins(lambda x: x**2, np.array([-1.0, 1.0]), np.array([0.0, 0.0]),
    ...     {"bottom": 0.0}, title="T", ylim=(0, 1))
    >>> fig.axes[0].get_xlabel()
    'start point x'
    """
    fig, ax = _new_figure(title, "start point x", "cost f(x)")
    grid = np.linspace(float(np.min(starts)), float(np.max(starts)), 400)
    ax.plot(grid, cost(grid), color=PALETTE["black"], linewidth=1, alpha=0.6)
    labels = list(minima)
    centres = np.array([minima[label] for label in labels])
    nearest = np.argmin(np.abs(ends[:, None] - centres[None, :]), axis=1)
    settled = np.abs(ends - centres[nearest]) < 0.05
    colours = [PALETTE["blue"], PALETTE["orange"], PALETTE["green"], PALETTE["purple"]]
    for k, label in enumerate(labels):
        chosen = settled & (nearest == k)
        ax.scatter(
            starts[chosen],
            cost(starts[chosen]),
            s=14,
            color=colours[k],
            label=f"ends in the {label}",
        )
        ax.axvline(
            minima[label],
            color=colours[k],
            linestyle=":",
            linewidth=1,
            label=f"{label} bottom, x = {minima[label]:.2f}",
        )
    if np.any(~settled):
        ax.scatter(
            starts[~settled],
            cost(starts[~settled]),
            s=14,
            marker="x",
            color=PALETTE["vermillion"],
            label="does not settle",
        )
    ax.set_ylim(*ylim)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2)  # clear of the data
    return fig


def plot_rate_grid(
    cost: Cost,
    slope: Callable[[float], float],
    rates: Sequence[float],
    *,
    start: float,
    epochs: int,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
    title: str,
) -> Figure:
    """Small multiples: the descent path on the cost curve for each learning rate in ``rates``.

    Examples
    --------
    >>> fig = plot_rate_grid(lambda x: x**2, lambda x: 2 * x, [0.1, 0.9], start=1.0,
    ...     epochs=5, xlim=(-2, 2), ylim=(0, 4), title="T")
    >>> [ax.get_title() for ax in fig.axes]
    ['rate 0.1: converges', 'rate 0.9: oscillates, converges']
    """
    columns = min(3, len(rates))
    rows = -(-len(rates) // columns)
    fig = new_figure(figsize=(3.0 * columns, 2.4 * rows), dpi=DPI, layout="constrained")
    axes = fig.subplots(rows, columns, sharey=True, squeeze=False)
    for ax, rate in zip(axes.flat, rates, strict=False):
        path = descend(slope, start, rate, epochs)
        _draw_curve(ax, cost, xlim, ylim)
        ax.plot(
            *_clipped(cost, path, xlim, ylim),
            "o-",
            color=PALETTE["blue"],
            markersize=3,
            linewidth=0.8,
        )
        ax.set_title(f"rate {rate:g}: {describe_run(path)}")
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    for ax in axes[:, 0]:
        ax.set_ylabel("cost f(x)")
    for ax in list(axes.flat)[len(rates) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fig


def plot_descent_and_cost(
    cost: Cost,
    path: NDArray[np.float64],
    *,
    learning_rate: float,
    xlim: tuple[float, float],
    ylim: tuple[float, float],
) -> Figure:
    """Two panels for one run: the path on the cost curve, and ``|x|`` per epoch (log scale).

    ``|x|`` is the distance from the minimum at 0; an exact 0 is drawn at 1e-16, the bottom of
    the log axis.

    Examples
    --------
    >>> fig = plot_descent_and_cost(lambda x: x**2 + 5, np.array([8.0, 6.4, 5.12]),
    ...     learning_rate=0.1, xlim=(-10, 10), ylim=(0, 110))
    >>> [ax.get_xlabel() for ax in fig.axes]
    ['x', 'epoch']
    """
    fig = new_figure(figsize=(8.0, 3.2), dpi=DPI, layout="constrained")
    left, right = fig.subplots(1, 2)
    _draw_curve(left, cost, xlim, ylim)
    shown, heights = _clipped(cost, path, xlim, ylim)
    left.plot(shown, heights, "o-", color=PALETTE["blue"], markersize=3, linewidth=0.8)
    left.plot(shown[:1], heights[:1], "o", color=PALETTE["vermillion"], markersize=8, label="start")
    left.set(
        xlabel="x",
        ylabel="cost f(x)",
        title=f"learning rate {learning_rate:g}: {describe_run(path)}",
    )
    left.legend(loc="upper center")
    distance = np.maximum(np.abs(path), 1e-16)
    right.plot(np.arange(path.size), distance, "o-", color=PALETTE["orange"], markersize=3)
    right.set(
        yscale="log",
        xlabel="epoch",
        ylabel="|x|, log scale",
        title="distance from the minimum per epoch",
    )
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return fig
