"""Instructor tools for the gradient-descent course, built on nbgrader.

``nbgrader_config.py`` in this folder is the course's nbgrader configuration;
:mod:`autograder.coursedir` loads it for any course root, :mod:`autograder.release` executes
the instructor's notebooks and generates the learners' release from them, and
:mod:`autograder.grading` autogrades submissions and reads the scores back. Run
``python -m autograder --help`` for the command line.
"""
