"""An interactive learning-rate explorer: sliders that redraw a descent as they move.

:func:`learning_rate_explorer` displays one output with two representations. JupyterLab, with
a running kernel, shows live ipywidgets sliders for the learning rate and the start point that
redraw the descent path and the cost per epoch. Where widgets cannot render (nbval, a static
HTML page, a notebook opened without its kernel) the same output falls back to a static grid of
representative learning rates, so the cell never shows an error.
"""

from __future__ import annotations

from gdcourse.descent import descend
from gdcourse.functions import parabola, parabola_slope
from gdcourse.plotting import (
    describe_run,
    figure_to_png,
    image_bundle,
    plot_descent_and_cost,
    plot_rate_grid,
)

#: The rates of the static grid: crawl, converge, one step, oscillate, stall, diverge.
REPRESENTATIVE_RATES: tuple[float, ...] = (0.01, 0.1, 0.5, 0.9, 1.0, 1.05)
WINDOW = {"xlim": (-10.0, 10.0), "ylim": (0.0, 110.0)}


def explorer_image(learning_rate: float, start: float, epochs: int) -> str:
    """The HTML ``<img>`` (with alt text) of one run, as the explorer shows it.

    Examples
    --------
    >>> explorer_image(0.1, 8.0, 10).startswith('<img src="data:image/png;base64,')
    True
    """
    path = descend(parabola_slope, start, learning_rate, epochs)
    figure = plot_descent_and_cost(parabola, path, learning_rate=learning_rate, **WINDOW)
    verdict = describe_run(path)
    alt = (
        f"Gradient descent on x squared plus 5 with learning rate {learning_rate:g} from "
        f"x = {start:g}: it {verdict}. Left, the path on the curve; right, the distance "
        "from the minimum per epoch on a log scale."
    )
    return image_bundle(figure_to_png(figure), "image/png", alt)["text/html"]


def static_grid_bundle(start: float, epochs: int) -> dict[str, str]:
    """The fallback: a grid of :data:`REPRESENTATIVE_RATES`, as a display bundle.

    Examples
    --------
    >>> sorted(static_grid_bundle(8.0, 10))
    ['text/html', 'text/plain']
    """
    figure = plot_rate_grid(
        parabola,
        parabola_slope,
        REPRESENTATIVE_RATES,
        start=start,
        epochs=epochs,
        title=f"Descent from x = {start:g} at six learning rates",
        **WINDOW,
    )
    runs = [
        f"at {rate:g} it {describe_run(descend(parabola_slope, start, rate, epochs))}"
        for rate in REPRESENTATIVE_RATES
    ]
    alt = (
        f"{len(runs)} small plots of gradient descent on x squared plus 5 from x = {start:g}, "
        f"{epochs} epochs each: " + "; ".join(runs[:-1]) + f"; and {runs[-1]}."
    )
    return image_bundle(figure_to_png(figure), "image/png", alt)


def learning_rate_explorer(start: float = 8.0, learning_rate: float = 0.1, epochs: int = 30):
    """Display the explorer (live sliders where widgets render, a static grid elsewhere).

    Returns the ipywidgets container, so that a test can move its sliders.
    """
    import ipywidgets as widgets
    from IPython.display import display

    rate_slider = widgets.FloatSlider(
        value=learning_rate,
        min=0.001,
        max=1.2,
        step=0.001,
        description="learning rate",
        readout_format=".3f",
        style={"description_width": "initial"},
    )
    start_slider = widgets.FloatSlider(
        value=start,
        min=-10.0,
        max=10.0,
        step=0.5,
        description="start x",
        style={"description_width": "initial"},
    )
    picture = widgets.HTML(explorer_image(learning_rate, start, epochs))

    def redraw(_change=None) -> None:
        picture.value = explorer_image(rate_slider.value, start_slider.value, epochs)

    rate_slider.observe(redraw, names="value")
    start_slider.observe(redraw, names="value")
    explorer = widgets.VBox([widgets.HBox([rate_slider, start_slider]), picture])
    bundle = explorer._repr_mimebundle_()
    bundle.update(static_grid_bundle(start, epochs))
    display(bundle, raw=True)
    return explorer
