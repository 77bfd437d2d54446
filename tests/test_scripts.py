"""The exercise's terminal version: gd.py and f.py run and print the right values."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from gdcourse.scripts import write_scripts


def gradient_descent_update(x, gradx, learning_rate):
    return x - learning_rate * gradx


def run_f(folder: Path, *args: str) -> list[str]:
    done = subprocess.run(
        [sys.executable, "f.py", *args], cwd=folder, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def test_scripts_train_to_the_minimum(tmp_path: Path):
    write_scripts(gradient_descent_update, 0.1, tmp_path)
    lines = run_f(tmp_path, "--seed", "1")
    assert len(lines) == 102, "EPOCH 0 (the start), EPOCH 1 to 100, and the verdict"
    assert lines[-1].startswith("converged: after 100 epochs the cost is within 0.001")
    lines = lines[:-1]
    number = r"([-+\d.e]+)"
    first = re.match(rf"EPOCH 0: cost = {number}, x = {number}, gradient = {number}", lines[0])
    x0 = float(first.group(2))
    assert 0 <= x0 <= 10_000
    assert float(first.group(1)) == pytest.approx(x0**2 + 5, rel=1e-5), "x is printed as x"
    assert float(first.group(3)) == pytest.approx(2 * x0, rel=1e-5)
    last = re.match(rf"EPOCH 100: cost = {number}, x = {number}", lines[-1])
    assert float(last.group(1)) == pytest.approx(5.0) and abs(float(last.group(2))) < 1e-3


def test_scripts_use_the_learners_function(tmp_path: Path):
    def gradient_descent_update(x, gradx, learning_rate):  # the wrong sign, as a learner might
        return x + learning_rate * gradx

    write_scripts(gradient_descent_update, 0.1, tmp_path)
    assert "x + learning_rate * gradx" in (tmp_path / "gd.py").read_text()
    lines = run_f(tmp_path, "--seed", "1", "--epochs", "3")
    assert lines[-1].startswith("diverging: the cost grew")
    assert lines[-1].endswith("so the update steps uphill: check its sign.")
    costs = [float(re.search(r"cost = ([\d.e+]+)", line).group(1)) for line in lines[:-1]]
    assert costs == sorted(costs) and costs[0] < costs[-1]


def test_divergence_is_caught_not_printed_as_inf(tmp_path: Path):
    write_scripts(gradient_descent_update, 0.1, tmp_path)
    done = subprocess.run(
        [sys.executable, "f.py", "--seed", "1", "--learning-rate", "50"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert done.returncode == 1
    assert "inf" not in "\n".join(lines[:-1]) and "nan" not in done.stdout
    epoch = int(re.match(r"EPOCH (\d+): stopped", lines[-1]).group(1))
    assert 60 < epoch < 100 and "diverged" in lines[-1]
    assert lines[-1].endswith("The learning rate 50.0 is too large.")


def test_epochs_count_updates(tmp_path: Path):
    """--epochs 3 prints the start and three epochs, and x has been updated exactly 3 times."""
    write_scripts(gradient_descent_update, 0.1, tmp_path)
    lines = run_f(tmp_path, "--seed", "1", "--epochs", "3")
    xs = [float(re.search(r"x = ([-+\d.e]+)", line).group(1)) for line in lines[:-1]]
    assert [line.split(":")[0] for line in lines[:-1]] == [f"EPOCH {n}" for n in range(4)]
    assert xs[3] == pytest.approx(xs[0] * 0.8**3, rel=1e-5)


@pytest.mark.parametrize(
    ("rate", "verdict"),
    [
        ("0.1", "converged: after 100 epochs"),
        ("0.001", "too slow: after 100 epochs the cost is still 5 + "),
        ("0.999", "too slow: after 100 epochs x still zig-zags around 0"),
        ("1", "not converging: x jumps between"),
        ("1.5", "diverging: the cost grew from"),
    ],
)
def test_every_run_ends_with_a_verdict(tmp_path: Path, rate: str, verdict: str):
    write_scripts(gradient_descent_update, 0.1, tmp_path)
    last = run_f(tmp_path, "--seed", "1", "--learning-rate", rate)[-1]
    assert last.startswith(verdict), last


def _notebook_train():
    """The exercise notebook's own `f`, `df`, `verdict` and `train`, as the learner runs them."""
    import contextlib
    import io
    import math

    from gdcourse.config import EPOCHS, TOLERANCE
    from tests.notebook_tools import SOLUTIONS, read

    namespace = {"math": math, "EPOCHS": EPOCHS, "TOLERANCE": TOLERANCE}
    for cell in read(SOLUTIONS / "04_exercise" / "04_exercise.ipynb").cells:
        if cell.cell_type == "code" and cell.source.startswith(
            ("def f(x):", "def cause(", "def train(")
        ):
            exec(cell.source, namespace)  # noqa: S102 - the instructor's own notebook cells

    def run(learning_rate: float, start: float) -> list[str]:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            namespace["train"](gradient_descent_update, learning_rate, start)
        return printed.getvalue().splitlines()

    return run


@pytest.mark.parametrize("rate", ["0.1", "0.001", "0.999", "1", "1.5", "50"])
def test_the_notebook_loop_and_f_py_print_the_same(tmp_path: Path, rate: str):
    """What Task 3 prints in the notebook is what `python f.py` prints in the terminal."""
    import random

    from gdcourse.config import START_RANGE

    write_scripts(gradient_descent_update, 0.1, tmp_path)
    done = subprocess.run(
        [sys.executable, "f.py", "--seed", "7", "--learning-rate", rate],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    start = random.Random(7).randint(*START_RANGE)
    assert _notebook_train()(float(rate), start) == done.stdout.splitlines()
