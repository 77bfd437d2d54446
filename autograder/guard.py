"""Code the grader runs inside a learner's kernel to undo and detect monkeypatching.

Learner code shares the kernel with the tests, so it can replace ``numpy.isclose``, a
builtin, ``AssertionError`` or IPython's ``showtraceback`` and make a failing test look
passed. Before the first learner cell, :data:`INSTALL` takes a snapshot of the objects tests
rely on. Before and after every test cell the grader runs :func:`check_code`:
it puts every changed object back and returns the names that had changed. A change found
*before* a test is undone, so the test runs against the real functions; a change found
*after* a test means the code under test tampered while it was tested, and the grader voids
that test.

After each test cell the guard also forgets that cell's source (input history, ``In``,
``_i`` variables, the history database, ``linecache``), so learner code that runs later
cannot print the hidden tests into its own output, or read them with ``inspect``.

This is a guard against the common cheats, not a proof: code in the same process can, with
enough effort, find the snapshot. The report also lists the static signs of tampering that
:mod:`autograder.tamper` finds in the source.
"""

from __future__ import annotations

import secrets

#: Modules whose attributes are snapshotted (those importable in the kernel).
GUARDED_MODULES = (
    "builtins",
    "math",
    "random",
    "operator",
    "numpy",
    "numpy.testing",
    "numpy.linalg",
    "sys",
)

_INSTALL_TEMPLATE = r"""
def __ag_install(key, names):
    import builtins, importlib, sys, types
    shell = get_ipython()
    mods = {}
    for name in names:
        try:
            mods[name] = importlib.import_module(name)
        except Exception:
            pass
    snaps = {name: dict(vars(mod)) for name, mod in mods.items()}
    prefixes = ("IPython", "ipykernel")
    classes = [c for c in type(shell).__mro__ if c.__module__.startswith(prefixes)]
    kernel = getattr(shell, "kernel", None)
    if kernel is not None:
        classes += [c for c in type(kernel).__mro__ if c.__module__.startswith(prefixes)]
    class_snaps = [(c, dict(vars(c))) for c in classes]
    watched = ("run_cell", "run_cell_async", "run_code", "run_ast_nodes", "showtraceback",
               "_showtraceback", "showsyntaxerror", "showindentationerror",
               "should_run_async", "do_execute", "execute_request", "send_response",
               "CustomTB", "custom_exceptions", "transform_cell",
               "input_transformer_manager", "ast_transformers")
    inst_snaps = [(obj, {k: v for k, v in vars(obj).items() if k in watched})
                  for obj in (shell, kernel) if obj is not None]
    volatile = ("__dict__", "_", "__", "___")
    volatile_prefixes = ("_i", "_o", "_dh", "_ih", "_oh", "_exit_code")
    sys_volatile = ("stdout", "stderr", "stdin", "displayhook", "last_type", "last_value",
                    "last_traceback", "last_exc", "ps1", "ps2", "path_importer_cache",
                    "modules", "path", "meta_path", "path_hooks", "argv", "flags",
                    "dont_write_bytecode")
    hook = sys.excepthook

    def same(a, b):
        if a is b:
            return True
        try:
            return (a == b) is True and type(a) is type(b)
        except Exception:
            return False

    def check():
        changed = []
        for name, mod in mods.items():
            now, was = vars(mod), snaps[name]
            for key, value in was.items():
                if key in volatile or key.startswith(volatile_prefixes):
                    continue
                if name == "sys" and key in sys_volatile:
                    continue
                if key not in now or not same(now[key], value):
                    changed.append(f"{name}.{key}")
                    now[key] = value
        for cls, was in class_snaps:
            now = vars(cls)
            for key in watched:
                if key in was and not same(now.get(key), was[key]):
                    changed.append(f"{cls.__name__}.{key}")
                    setattr(cls, key, was[key])
                elif key not in was and key in now and not isinstance(now.get(key), type(None)):
                    if callable(now[key]):
                        changed.append(f"{cls.__name__}.{key}")
                        delattr(cls, key)
        for obj, was in inst_snaps:
            now = vars(obj)
            for key in watched:
                if key in was:
                    if not same(now.get(key), was[key]):
                        changed.append(f"{type(obj).__name__}().{key}")
                        now[key] = was[key]
                elif key in now:
                    changed.append(f"{type(obj).__name__}().{key}")
                    del now[key]
        if not same(sys.excepthook, hook):
            changed.append("sys.excepthook")
            sys.excepthook = hook
        if getattr(shell, "custom_exceptions", ()) != ():
            changed.append("shell.set_custom_exc")
            shell.custom_exceptions = ()
        return ",".join(sorted(set(changed))) or "clean"

    holder = types.ModuleType(key)
    holder.check = check
    holder.last = "not run"

    def run():
        holder.last = check()

    marker = "### BEGIN " + "HIDDEN TESTS"

    def scrub():
        # forget the source of the test cell that just ran: input history, _i variables,
        # the history database and linecache (which inspect.getsource reads)
        import linecache
        hm = shell.history_manager
        for hist in (hm.input_hist_parsed, hm.input_hist_raw):
            for i, text in enumerate(hist):
                if marker in text:
                    hist[i] = ""
        for cache in (getattr(hm, "db_input_cache", []),):
            cache[:] = [row for row in cache if marker not in str(row)]
        ns = shell.user_ns
        for name, value in list(ns.items()):
            if name.startswith("_i") and isinstance(value, str) and marker in value:
                ns[name] = ""
        for entry in (ns.get("In"), ns.get("_ih")):
            if isinstance(entry, list):
                for i, text in enumerate(entry):
                    if isinstance(text, str) and marker in text:
                        entry[i] = ""
        for name, entry in list(linecache.cache.items()):
            if len(entry) > 2 and any(marker in line or key in line for line in entry[2]):
                del linecache.cache[name]
        try:
            hm.db.execute("DELETE FROM history WHERE source LIKE ? OR source_raw LIKE ?",
                          ("%" + marker + "%", "%" + marker + "%"))
        except Exception:
            pass

    holder.run = run
    holder.scrub = scrub
    sys.modules[key] = holder

__ag_install(KEY, NAMES)
del __ag_install
"""


def install_code(key: str) -> str:
    """The code that snapshots the guarded objects and registers the checker under ``key``.

    Examples
    --------
    >>> "sys.modules[key] = holder" in install_code("_ag_x")
    True
    """
    return _INSTALL_TEMPLATE.replace("KEY", repr(key)).replace("NAMES", repr(GUARDED_MODULES))


def check_code(key: str) -> str:
    """The code that restores the snapshot and records what had changed.

    It runs as (silent) cell code, so inside IPython's builtin trap like the snapshot was.

    Examples
    --------
    >>> check_code("_ag_x")
    "__import__('sys').modules['_ag_x'].run()"
    """
    return f"__import__('sys').modules[{key!r}].run()"


def after_test_code(key: str) -> str:
    """The code run after a test cell: the check, then forgetting the test cell's source.

    Examples
    --------
    >>> after_test_code("_ag_x")
    "__import__('sys').modules['_ag_x'].run(); __import__('sys').modules['_ag_x'].scrub()"
    """
    return f"{check_code(key)}; __import__('sys').modules[{key!r}].scrub()"


def result_expression(key: str) -> str:
    """The expression whose value is what the last check found (``"clean"`` if nothing).

    Examples
    --------
    >>> result_expression("_ag_x")
    "__import__('sys').modules['_ag_x'].last"
    """
    return f"__import__('sys').modules[{key!r}].last"


def new_key() -> str:
    """A fresh, unguessable name under which one kernel's checker is registered.

    Examples
    --------
    >>> new_key().startswith("_ag_") and new_key() != new_key()
    True
    """
    return "_ag_" + secrets.token_hex(8)
