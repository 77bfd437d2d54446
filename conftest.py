"""Repository-wide pytest settings: what ``--doctest-modules`` must not import."""

collect_ignore = ["autograder/nbgrader_config.py"]  # needs nbgrader's get_config()
# Scripts that the exercise notebook writes next to itself while it runs.
collect_ignore_glob = ["solutions/*/*.py", "course/*/*.py"]
