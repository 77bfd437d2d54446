"""Project files that must agree with each other."""

from __future__ import annotations

import re

import yaml

from tests.notebook_tools import REPO


def _pip_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def _conda_pins() -> dict[str, str]:
    spec = yaml.safe_load((REPO / "environment.yml").read_text())
    pins = {}
    for entry in spec["dependencies"]:
        name, _, version = entry.partition("=")
        if name not in {"python", "pip"}:
            pins[name.lower()] = version
    return pins


def test_environment_yml_mirrors_requirements():
    assert _conda_pins() == _pip_pins()


def test_required_packages_are_listed():
    assert {"jupyterlab", "nbgrader", "matplotlib", "numpy", "nbval"} <= set(_pip_pins())


def test_ci_runs_the_readme_test_command():
    readme = (REPO / "README.md").read_text()
    ci = (REPO / ".ci" / "run").read_text()
    command = re.search(r"^exec (.+)$", ci, re.MULTILINE).group(1)
    assert command == "./dev test"
    assert f"\n{command}\n" in readme, "the README must show the same test command"
