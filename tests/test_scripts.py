"""The exercise's terminal version: gd.py and f.py run and print the right values."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

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
    assert len(lines) == 101
    first = re.match(r"EPOCH 0: cost = ([\d.]+), x = ([\d.]+), gradient = ([\d.]+)", lines[0])
    x0 = float(first.group(2))
    assert 0 <= x0 <= 10_000
    assert float(first.group(1)) == x0**2 + 5, "x must be printed under x, not the gradient"
    assert float(first.group(3)) == 2 * x0
    assert lines[-1].startswith("EPOCH 100: cost = 5.000, x = 0.000")


def test_scripts_use_the_learners_function(tmp_path: Path):
    def gradient_descent_update(x, gradx, learning_rate):  # the wrong sign, as a learner might
        return x + learning_rate * gradx

    write_scripts(gradient_descent_update, 0.1, tmp_path)
    assert "x + learning_rate * gradx" in (tmp_path / "gd.py").read_text()
    lines = run_f(tmp_path, "--seed", "1", "--epochs", "3")
    costs = [float(re.search(r"cost = ([\d.]+)", line).group(1)) for line in lines]
    assert costs == sorted(costs) and costs[0] < costs[-1]
