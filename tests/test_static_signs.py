"""The static scan of learner code (autograder/tamper.py), read with ``ast``: each sign found
where the code does it, none in comments, strings or honest look-alikes. No kernels."""

from __future__ import annotations

import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder.tamper import REBINDS, SIGNS, cell_signs, static_signs


@pytest.mark.parametrize(
    ("source", "sign"),
    [
        ("import numpy as np\nnp.isclose = lambda *a, **k: True", "monkeypatches numpy"),
        ("import numpy.testing\nnumpy.testing.assert_allclose = print", "monkeypatches numpy"),
        ("import numpy as n\nn.allclose.__code__ = (lambda: 1).__code__", "monkeypatches numpy"),
        ("import numpy as np\nnp.isclose, y = print, 1", "monkeypatches numpy"),
        ("import builtins\nbuiltins.abs = lambda v: 0", "changes builtins"),
        ("__builtins__.abs = None", "changes builtins"),
        ("ip = get_ipython()\nip.showtraceback = None", "patches IPython"),
        ("from IPython import get_ipython", "patches IPython"),
        ("import math\nsetattr(math, 'pi', 3)", "uses setattr on a module"),
        ("import sys\nsys.exit()", "exits the kernel"),
        ("import os\nos._exit(0)", "exits the kernel"),
        ("quit()", "exits the kernel"),
        ("from os import _exit", "exits the kernel"),
        ("import ctypes\nctypes.string_at(0)", "uses ctypes"),
        ("from ctypes import string_at", "uses ctypes"),
        ("with open('/etc/passwd') as f:\n    f.read()", "reads or writes files"),
        ("import os\nos.listdir('/')", "reads or writes files"),
        ("import shutil", "reads or writes files"),
        ("from glob import glob\nglob('*')", "reads or writes files"),
        ("class A:\n    def __eq__(self, other):\n        return True", "defines __eq__"),
        ("import sys\nsys.modules['numpy'] = None", "touches sys.modules"),
        ("from sys import modules", "touches sys.modules"),
        ("def exec(code, *a):\n    pass", REBINDS.format("exec")),
        ("eval = print", REBINDS.format("eval")),
        ("def __import__(name, *a, **k):\n    pass", REBINDS.format("__import__")),
        ("class compile:\n    pass", REBINDS.format("compile")),
        ("from io import open", REBINDS.format("open")),
        ("import os as open", REBINDS.format("open")),
        ("for compile in range(3):\n    pass", REBINDS.format("compile")),
        ("if (exec := print):\n    pass", REBINDS.format("exec")),
        ("%timeit x = 1\nimport ctypes", "uses ctypes"),
    ],
)
def test_each_sign_is_found_where_the_code_does_it(source, sign):
    assert sign in cell_signs(source), source


@pytest.mark.parametrize(
    "source",
    [
        "# open the file, exit when done, sys.modules and builtins are fine in a comment\nx = 1",
        "text = 'np.isclose = 1; import ctypes; open(); sys.exit()'",
        '"""ctypes, __builtins__, get_ipython, setattr(np, ...)"""',
        "import numpy as np\ny = np.zeros(3)\ny[0] = 1\nz = np.isclose(1, 1)",
        "def f(open=1, compile=2):\n    exec_ = open + compile\n    return exec_",
        "def outer():\n    def compile(xs):\n        return xs\n    return compile([1])",
        "class Report:\n    def compile(self):\n        return 'done'",
        "%matplotlib inline\nimport numpy as np",
        "!ls",
        "from IPython.display import display\ndisplay(1)",
        "def broken(:\n    pass",  # not Python at all: it runs nothing, so it has no sign
        "import math\nmath.isclose(1, 1)",
    ],
)
def test_honest_code_and_mentions_are_not_signs(source):
    assert cell_signs(source) == set(), source


def test_only_the_learners_own_cells_are_read_and_signs_come_in_order():
    release = new_notebook(cells=[new_code_cell("import ctypes")])
    mine = new_notebook(
        cells=[
            new_code_cell("import ctypes"),  # the release's own cell: not the learner's
            new_code_cell("def compile(xs):\n    return xs\nimport sys\nsys.exit()"),
        ]
    )
    assert static_signs(mine, release) == ["exits the kernel", REBINDS.format("compile")]
    assert set(SIGNS) >= {"uses ctypes", "exits the kernel"}
