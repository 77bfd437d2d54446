"""Every tunable constant of the course, in one place.

Notebooks, plots and checks read their seed, palette and figure sizes from here so that a
maintainer changes them once.
"""

from __future__ import annotations

#: Seed for every random draw in the notebooks and checks, so that runs repeat exactly.
SEED: int = 2026

#: The Okabe-Ito palette: distinguishable with the common forms of colour blindness.
PALETTE: dict[str, str] = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "sky": "#56B4E9",
    "purple": "#CC79A7",
    "yellow": "#F0E442",
    "black": "#000000",
}

#: Colours for a sequence of lines, in the order they are drawn.
CYCLE: tuple[str, ...] = (
    PALETTE["blue"],
    PALETTE["orange"],
    PALETTE["green"],
    PALETTE["vermillion"],
    PALETTE["purple"],
    PALETTE["sky"],
)

#: Perceptually uniform colour map that stays readable in grey scale.
SURFACE_CMAP: str = "cividis"

#: Size (inches) and resolution of every static figure.
FIGSIZE: tuple[float, float] = (6.4, 4.0)
DPI: int = 80

#: Size, resolution and frame timing of every animation: 640 x 400 pixels, with text as large
#: as in the static figures (10-point labels at 80 dpi are 11 pixels tall).
ANIMATION_FIGSIZE: tuple[float, float] = (8.0, 5.0)
ANIMATION_DPI: int = 80
FRAME_MS: int = 350

#: The exercise: minimise ``x**2 + 5`` from a random integer start in ``START_RANGE``.
EPOCHS: int = 100
START_RANGE: tuple[int, int] = (0, 10_000)
TOLERANCE: float = 1e-3
