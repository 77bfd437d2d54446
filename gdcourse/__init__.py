"""Helpers for the gradient-descent course.

The notebooks in ``course/`` import this package for everything that is not the lesson itself:
the functions being minimised (:mod:`gdcourse.functions`), a reference descent loop
(:mod:`gdcourse.descent`), figures and animations (:mod:`gdcourse.plotting`) and the
learner-facing self-checks (:mod:`gdcourse.checks`).
"""

__version__ = "0.1.0"
