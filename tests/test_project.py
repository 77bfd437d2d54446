"""Project files that must agree with each other."""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import subprocess
import sys

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.notebook_tools import COURSE, REPO, read


def _pip_pins() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def _environment() -> dict:
    return yaml.safe_load((REPO / "environment.yml").read_text())


def _pip_section() -> list[str]:
    sections = [e["pip"] for e in _environment()["dependencies"] if isinstance(e, dict)]
    return [line for section in sections for line in section]


def _conda_pins() -> dict[str, str]:
    pins = {}
    for entry in _environment()["dependencies"]:
        if isinstance(entry, dict):  # the pip section
            continue
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


def test_environment_installs_the_course_package():
    """conda env create and Binder (repo2docker) both install gdcourse from the repository."""
    assert "-e ." in _pip_section(), "environment.yml's pip section must install `-e .`"
    project = (REPO / "pyproject.toml").read_text()
    assert re.search(r'packages = \[[^]]*"gdcourse"', project), "pyproject must ship gdcourse"


def _imports(source: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def _learner_imports() -> set[str]:
    """Top-level modules the notebooks import, and those the course package itself imports."""
    names = set()
    for path in sorted(COURSE.rglob("*.ipynb")):
        for cell in read(path).cells:
            if cell.cell_type == "code":
                names |= _imports(cell.source)
    for module in sorted((REPO / "gdcourse").glob("*.py")):
        names |= _imports(module.read_text(encoding="utf-8"))
    return names - set(sys.stdlib_module_names) - {"gdcourse"}


def _installed_by(pins: set[str]) -> set[str]:
    """The distributions that installing ``pins`` brings in (read from this venv's metadata)."""
    seen, todo = set(), [canonicalize_name(p) for p in pins]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        try:
            requires = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        for line in requires:
            requirement = Requirement(line)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonicalize_name(requirement.name))
    return seen


def test_every_notebook_import_is_installed_by_environment_yml():
    """What Binder and conda install (the conda pins and what they pull in) covers every import."""
    distributions = importlib.metadata.packages_distributions()
    installed = _installed_by(set(_conda_pins()))
    missing = {}
    for module in sorted(_learner_imports()):
        providers = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not providers & installed:
            missing[module] = sorted(providers) or ["(not installed here either)"]
    assert not missing, f"imported by the course but not installed by environment.yml: {missing}"
    assert {"numpy", "matplotlib", "ipywidgets", "IPython", "PIL"} <= _learner_imports()


def test_binder_starts_in_the_course_folder():
    """repo2docker runs `start` before JupyterLab: it must end in the course folder."""
    start = REPO / "start"
    assert os.access(start, os.X_OK), "start must be executable"
    assert start.read_text().rstrip().endswith('exec "$@"')
    done = subprocess.run(
        ["bash", str(start), "pwd"], cwd="/", capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == str(COURSE)


@pytest.mark.parametrize("where", ["README.md"])
def test_readme_has_a_launch_on_binder_link(where: str):
    readme = (REPO / where).read_text()
    link = re.search(r"\(https://mybinder\.org/v2/gh/[^)\s]+\)", readme)
    assert link and "urlpath=lab" in link.group(0)
    assert "conda env create -f environment.yml" in readme
    assert "pip install -e ." not in readme.split("## conda", 1)[1].split("##", 1)[0], (
        "the conda section still asks for a manual install: environment.yml does it"
    )


def test_importing_nbformat_builds_no_iri_grammars():
    """jsonschema 4.25+ imports rfc3987-syntax, which builds its grammars at import (1.7 CPU s
    in every grading worker and nbgrader command): requirements.txt pins the release before."""
    code = "import sys, nbformat, nbgrader.api; print('rfc3987_syntax' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", "importing nbformat imported rfc3987_syntax"
