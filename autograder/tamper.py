"""Compare a submitted notebook with the release and put nbgrader's cells back as released.

nbgrader's own sanitizing (``DeduplicateIds``, ``OverwriteCells`` with ``add_missing_cells``)
restores edited locked cells, points and deleted grade cells, but says little about it.
:func:`inspect_structure` names every change a learner made to the graded structure, so the
report can flag the submission, and :func:`restore_structure` rebuilds the order of the
graded cells from the release before nbgrader's preprocessors run, so that a reordered or
split test cell is graded where it belongs. :func:`static_signs` lists code that reaches for
the grader's machinery (monkeypatching, exits, ``ctypes``, the file system outside the
learner's folder), read from each cell's syntax tree with :mod:`ast`; those are reported
(flag ``suspicious``), never scored.
"""

from __future__ import annotations

import ast
from collections import Counter

from nbformat.notebooknode import NotebookNode


def nbgrader_metadata(cell: NotebookNode) -> object:
    """The ``nbgrader`` metadata of ``cell`` as it was handed in (any JSON value), or None."""
    metadata = cell.get("metadata")
    return metadata.get("nbgrader") if isinstance(metadata, dict) else None


def grade_id(cell: NotebookNode) -> str | None:
    """The nbgrader ``grade_id`` of ``cell``, or None (also when the learner's file has
    metadata that is not nbgrader's shape: no grade id, or one that is not text).

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell
    >>> grade_id(new_code_cell("", metadata={"nbgrader": {"grade_id": "t1"}}))
    't1'
    >>> grade_id(new_code_cell("", metadata={"nbgrader": "t1"})) is None
    True
    """
    meta = nbgrader_metadata(cell)
    gid = meta.get("grade_id") if isinstance(meta, dict) else None
    return gid if isinstance(gid, str) else None


def _nameless(cell: NotebookNode) -> bool:
    """Whether ``cell`` has nbgrader metadata that nbgrader's steps read a grade id from (a
    graded, answer, locked or task cell, or metadata that is not an object, null included),
    but no grade id.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell
    >>> _nameless(new_code_cell("", metadata={"nbgrader": {"grade": True, "points": 5}}))
    True
    >>> _nameless(new_code_cell("", metadata={"nbgrader": {"grade": False}}))
    False
    """
    metadata = cell.get("metadata")
    if not isinstance(metadata, dict) or "nbgrader" not in metadata or grade_id(cell):
        return False
    meta = metadata["nbgrader"]
    if not isinstance(meta, dict):
        return True
    return any(meta.get(flag) for flag in ("grade", "solution", "locked", "task"))


def inspect_structure(submitted: NotebookNode, release: NotebookNode) -> list[str]:
    """Every change to nbgrader's cells in ``submitted`` compared with ``release``.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> meta = lambda g, p=1: {"nbgrader": {"grade_id": g, "grade": True, "locked": True,
    ...                                     "solution": False, "points": p}}
    >>> release = new_notebook(cells=[new_code_cell("a", metadata=meta("t1")),
    ...                               new_code_cell("b", metadata=meta("t2"))])
    >>> inspect_structure(release, release)
    []
    >>> swapped = new_notebook(cells=[release.cells[1], new_code_cell("x", metadata=meta("t1", 9))])
    >>> inspect_structure(swapped, release)  # doctest: +NORMALIZE_WHITESPACE
    ['cells reordered: t2, t1', 'points of t1 changed from 1 to 9', 'locked cell t1 edited']
    >>> nameless = new_code_cell("mine", metadata={"nbgrader": {"grade": True, "points": 5}})
    >>> inspect_structure(new_notebook(cells=[*release.cells, nameless]), release)
    ['1 cells with nbgrader metadata but no grade id']
    """
    problems: list[str] = []
    released = {grade_id(c): c for c in release.cells if grade_id(c)}
    order = [grade_id(c) for c in submitted.cells if grade_id(c)]
    counts = Counter(order)
    missing = [g for g in released if g not in counts]
    if missing:
        problems.append("cells deleted: " + ", ".join(missing))
    doubled = [g for g, n in counts.items() if n > 1 and g in released]
    if doubled:
        problems.append("cells duplicated or split: " + ", ".join(doubled))
    unknown = [g for g in counts if g not in released]
    if unknown:
        problems.append("cells with unknown grade ids: " + ", ".join(unknown))
    nameless = sum(1 for c in submitted.cells if _nameless(c))
    if nameless:
        problems.append(f"{nameless} cells with nbgrader metadata but no grade id")
    seen = [g for g in dict.fromkeys(order) if g in released]
    if seen != [g for g in released if g in seen]:
        problems.append("cells reordered: " + ", ".join(seen))
    firsts: dict[str, NotebookNode] = {}
    for cell in submitted.cells:
        firsts.setdefault(grade_id(cell), cell)
    for gid, cell in firsts.items():
        if gid not in released:
            continue
        want = released[gid]
        meta, want_meta = cell.metadata.get("nbgrader", {}), want.metadata["nbgrader"]
        if want_meta.get("grade") and meta.get("points") != want_meta.get("points"):
            problems.append(
                f"points of {gid} changed from {want_meta.get('points')} to {meta.get('points')}"
            )
        for flag in ("grade", "solution", "locked"):
            if bool(meta.get(flag)) != bool(want_meta.get(flag)):
                problems.append(f"metadata '{flag}' of {gid} changed")
        if cell.cell_type != want.cell_type:
            problems.append(f"cell type of {gid} changed")
        if want_meta.get("locked") and cell.source != want.source:
            problems.append(f"locked cell {gid} edited")
    return problems


def restore_structure(submitted: NotebookNode, release: NotebookNode) -> NotebookNode:
    """``submitted`` with nbgrader's cells in release order and their metadata as released.

    Answer (solution) cells keep the learner's source; locked cells get the release's source
    (``OverwriteCells`` then puts the hidden tests back from the gradebook). The learner's
    own cells stay, each after the nbgrader cell it followed. A grade id seen twice keeps its
    first copy; later copies become plain cells (nbgrader's ``DeduplicateIds`` keeps the last,
    which lets a learner append a doctored copy). Grade ids the release does not have lose
    their nbgrader metadata, and so does every other cell's (no grade id, or not
    nbgrader's shape: nbgrader's own steps would fail on it, and the learner go ungraded).

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> meta = lambda g, s=False: {"nbgrader": {"grade_id": g, "grade": not s, "solution": s,
    ...                                         "locked": not s, "points": 1}}
    >>> release = new_notebook(cells=[new_code_cell("stub", metadata=meta("a", True)),
    ...                               new_code_cell("test", metadata=meta("t"))])
    >>> mine = new_notebook(cells=[new_code_cell("test", metadata=meta("t")),
    ...                            new_code_cell("answer", metadata=meta("a", True)),
    ...                            new_code_cell("helper")])
    >>> [c.source for c in restore_structure(mine, release).cells]
    ['answer', 'helper', 'test']
    >>> mine.cells[2].metadata["nbgrader"] = {"grade": True, "points": 5}  # no grade id
    >>> restore_structure(mine, release).cells[1].metadata
    {}
    """
    released = [c for c in release.cells if grade_id(c)]
    release_ids = {grade_id(c): c for c in released}
    # the learner's cells, grouped after the nbgrader cell they follow (None: before any)
    taken: dict[str, NotebookNode] = {}
    followers: dict[str | None, list[NotebookNode]] = {None: []}
    anchor: str | None = None
    for cell in submitted.cells:
        gid = grade_id(cell)
        if gid in release_ids and gid not in taken:
            taken[gid] = cell
            anchor = gid
            followers.setdefault(gid, [])
            continue
        metadata = cell.get("metadata")
        if not isinstance(metadata, dict) or "nbgrader" in metadata:
            mine = metadata.items() if isinstance(metadata, dict) else ()
            kept = NotebookNode({k: v for k, v in mine if k != "nbgrader"})
            cell = NotebookNode({**cell, "metadata": kept})
        followers.setdefault(anchor, []).append(cell)
    cells: list[NotebookNode] = list(followers[None])
    for want in released:
        gid = grade_id(want)
        got = taken.get(gid)
        if got is None:
            cell = NotebookNode(dict(want))
        else:
            cell = NotebookNode(dict(got))
            cell.metadata = NotebookNode({**got.metadata, "nbgrader": dict(want.metadata.nbgrader)})
            if cell.cell_type != want.cell_type or want.metadata.nbgrader.get("locked"):
                cell = NotebookNode(dict(want))
        cells.append(cell)
        cells.extend(followers.get(gid, []))
    restored = NotebookNode(dict(submitted))
    restored.cells = cells
    return restored


def _normal(source: str) -> str:
    return "\n".join(line.rstrip() for line in source.strip().splitlines())


def _signature(source: str) -> str:
    """The first ``def``/``class`` line of a cell (how an answer cell is recognised)."""
    for line in source.splitlines():
        if line.lstrip().startswith(("def ", "class ")):
            return line.split("(")[0].strip()
    return ""


def recover_metadata(
    submitted: NotebookNode, release: NotebookNode
) -> tuple[NotebookNode, list[str]]:
    r"""``submitted`` with nbgrader's metadata put back where an editor stripped it.

    Cells without nbgrader metadata are matched to the release's nbgrader cells, in order:
    locked cells (tests, set-up, instructions) by their source, then each answer cell by its
    position between the matched cells around it (a cell that defines the same function is
    preferred). Matched cells get the release's metadata; the learner's answers are kept.
    Returns the notebook and what was restored (empty when nothing was missing).

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook
    >>> meta = lambda g, s: {"nbgrader": {"grade_id": g, "grade": not s, "solution": s,
    ...                                   "locked": not s, "points": 1}}
    >>> stub = new_code_cell("def f(x):\n    raise", metadata=meta("f", True))
    >>> release = new_notebook(cells=[new_markdown_cell("Write f."), stub,
    ...                               new_code_cell("assert f(1) == 2", metadata=meta("t", False))])
    >>> mine = new_notebook(cells=[new_markdown_cell("Write f."), new_code_cell("y = 3"),
    ...                            new_code_cell("def f(x):\n    return 2 * x"),
    ...                            new_code_cell("assert f(1) == 2")])
    >>> fixed, notes = recover_metadata(mine, release)
    >>> [grade_id(c) for c in fixed.cells], notes
    ([None, None, 'f', 't'], ['nbgrader metadata restored by position and source: f, t'])
    """
    wanted = [c for c in release.cells if grade_id(c)]
    present = {grade_id(c) for c in submitted.cells if grade_id(c)}
    missing = [c for c in wanted if grade_id(c) not in present]
    if not missing:
        return submitted, []
    cells = [NotebookNode(dict(c)) for c in submitted.cells]
    free = [i for i, c in enumerate(cells) if not grade_id(c)]
    where: dict[str, int] = {}
    for i, cell in enumerate(cells):
        if grade_id(cell):
            where.setdefault(grade_id(cell), i)
    # locked cells first, by source, in order
    last = -1
    for want in wanted:
        gid = grade_id(want)
        if gid in where:
            last = max(last, where[gid])
            continue
        if want.metadata.nbgrader.get("solution"):
            continue
        for i in free:
            if i > last and cells[i].cell_type == want.cell_type:
                if _normal(cells[i].source) == _normal(want.source):
                    where[gid] = last = i
                    free.remove(i)
                    break
    # then each answer cell by its place between the cells matched around it
    order = [grade_id(c) for c in wanted]
    for k, want in enumerate(wanted):
        gid = grade_id(want)
        if gid in where:
            continue
        before = max((where[g] for g in order[:k] if g in where), default=-1)
        after = min((where[g] for g in order[k + 1 :] if g in where), default=len(cells))
        window = [i for i in free if before < i < after and cells[i].cell_type == want.cell_type]
        sign = _signature(want.source)
        same = [i for i in window if sign and _signature(cells[i].source) == sign]
        pick = (same or window or [None])[0]
        if pick is not None:
            where[gid] = pick
            free.remove(pick)
    restored = []
    by_id = {grade_id(c): c for c in wanted}
    for gid, i in sorted(where.items(), key=lambda item: item[1]):
        if grade_id(cells[i]) is None:
            mine = cells[i].get("metadata")
            metadata = NotebookNode(mine if isinstance(mine, dict) else {})
            metadata["nbgrader"] = NotebookNode(dict(by_id[gid].metadata.nbgrader))
            cells[i]["metadata"] = metadata
            restored.append(gid)
    if not restored:
        return submitted, []
    fixed = NotebookNode(dict(submitted))
    fixed.cells = cells
    return fixed, ["nbgrader metadata restored by position and source: " + ", ".join(restored)]


#: What each static sign says, in the order the report lists them.
SIGNS = (
    "monkeypatches numpy",
    "changes builtins",
    "patches IPython",
    "uses setattr on a module",
    "exits the kernel",
    "uses ctypes",
    "reads or writes files",
    "defines __eq__",
    "touches sys.modules",
)
#: The sign of a top-level rebinding of one of :data:`CODE_BUILTINS` (after :data:`SIGNS`).
REBINDS = "rebinds the built-in {}"
#: Built-ins that run code or open files: a learner cell that rebinds one at top level can
#: change what later code (its own or a test's) runs.
CODE_BUILTINS = frozenset({"exec", "eval", "__import__", "compile", "open"})
_IPYTHON = frozenset({"get_ipython", "showtraceback", "set_custom_exc", "InteractiveShell"})
_FILE_CALLS = {"os": {"listdir", "walk", "scandir", "remove", "unlink"}}
_FILE_MODULES = frozenset({"shutil", "glob"})


def _root_name(node: ast.AST) -> str | None:
    """The name a chain of attributes starts from: ``np`` for ``np.testing.assert_allclose``."""
    while isinstance(node, ast.Attribute):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for an attribute chain on a name, else ``""``."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return ""
    return ".".join([node.id, *reversed(parts)])


class _SignFinder(ast.NodeVisitor):
    """Walks one cell's syntax tree and collects the signs of :data:`SIGNS` it shows."""

    def __init__(self, ipython_generated: bool) -> None:
        self.found: set[str] = set()
        self.numpy = {"np", "numpy"}
        # a cell IPython rewrote (magics, ``!shell``) calls get_ipython() itself
        self.ipython_generated = ipython_generated

    # names and attributes ------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if node.id in ("builtins", "__builtins__"):
            self.found.add("changes builtins")
        elif node.id in _IPYTHON and not (node.id == "get_ipython" and self.ipython_generated):
            self.found.add("patches IPython")
        elif node.id == "ctypes":
            self.found.add("uses ctypes")
        elif node.id in _FILE_MODULES:
            self.found.add("reads or writes files")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = _dotted(node)
        if node.attr in _IPYTHON - {"get_ipython"}:
            self.found.add("patches IPython")
        if dotted == "sys.modules" or dotted.startswith("sys.modules."):
            self.found.add("touches sys.modules")
        if node.attr == "__builtins__":
            self.found.add("changes builtins")
        head, _, attr = dotted.rpartition(".")
        if attr in _FILE_CALLS.get(head, ()):
            self.found.add("reads or writes files")
        self.generic_visit(node)

    # imports -------------------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            top = alias.name.split(".")[0]
            if top == "numpy" and alias.asname:
                self.numpy.add(alias.asname)
            self._imported(top, alias.asname or top)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        top = (node.module or "").split(".")[0]
        self._imported(top, None)
        for alias in node.names:
            if top == "os" and alias.name in _FILE_CALLS["os"]:
                self.found.add("reads or writes files")
            if top in ("os", "sys") and alias.name in ("_exit", "exit"):
                self.found.add("exits the kernel")
            if top == "sys" and alias.name == "modules":
                self.found.add("touches sys.modules")
            if alias.name in _IPYTHON:
                self.found.add("patches IPython")
            self._bound(alias.asname or alias.name)

    def _imported(self, top: str, bound: str | None) -> None:
        if top in ("builtins", "__builtin__"):
            self.found.add("changes builtins")
        elif top == "ctypes":
            self.found.add("uses ctypes")
        elif top in _FILE_MODULES:
            self.found.add("reads or writes files")
        if bound:
            self._bound(bound)

    # calls and definitions -----------------------------------------------------------
    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        name = func.id if isinstance(func, ast.Name) else ""
        dotted = _dotted(func)
        if name == "setattr":
            self.found.add("uses setattr on a module")
        if name in ("exit", "quit") or dotted in ("sys.exit", "os._exit"):
            self.found.add("exits the kernel")
        if name == "open" or dotted in ("io.open", "os.open"):
            self.found.add("reads or writes files")
        self.generic_visit(node)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name == "__eq__":
            self.found.add("defines __eq__")
        self.generic_visit(node)

    visit_AsyncFunctionDef = visit_FunctionDef

    def _assigned(self, target: ast.AST) -> None:
        if isinstance(target, ast.Attribute) and _root_name(target) in self.numpy:
            self.found.add("monkeypatches numpy")
        elif isinstance(target, (ast.Tuple, ast.List)):
            for element in target.elts:
                self._assigned(element)
        elif isinstance(target, ast.Starred):
            self._assigned(target.value)

    def visit_Assign(self, node: ast.Assign) -> None:
        for target in node.targets:
            self._assigned(target)
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign | ast.AnnAssign) -> None:
        self._assigned(node.target)
        self.generic_visit(node)

    visit_AnnAssign = visit_AugAssign

    def _bound(self, name: str) -> None:
        """Only called for names bound at the cell's top level."""
        if name in CODE_BUILTINS:
            self.found.add(REBINDS.format(name))

    def top_level(self, tree: ast.Module) -> None:
        """Names the cell's own top-level statements bind (def, class, =, for, with, import)."""
        for statement in tree.body:
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self._bound(statement.name)
                continue
            targets: list[ast.AST] = []
            if isinstance(statement, ast.Assign):
                targets = list(statement.targets)
            elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
                targets = [statement.target]
            elif isinstance(statement, (ast.For, ast.AsyncFor)):
                targets = [statement.target]
            elif isinstance(statement, (ast.With, ast.AsyncWith)):
                targets = [i.optional_vars for i in statement.items if i.optional_vars]
            for target in targets:
                for name in ast.walk(target):
                    if isinstance(name, ast.Name):
                        self._bound(name.id)
            for node in ast.walk(statement):
                if isinstance(node, ast.NamedExpr):
                    self._bound(node.target.id)


def parse_cell(source: str) -> tuple[ast.Module | None, bool]:
    """The syntax tree of a code cell and whether IPython had to rewrite it first (magics,
    ``!shell``, ``?help``); ``(None, False)`` if it is not Python even then (such a cell
    raises ``SyntaxError`` when run, so it runs nothing to flag).

    Examples
    --------
    >>> tree, rewritten = parse_cell("%timeit x = 1")
    >>> type(tree).__name__, rewritten
    ('Module', True)
    >>> parse_cell("def (:")
    (None, False)
    """
    try:
        return ast.parse(source), False
    except (SyntaxError, ValueError):
        pass
    from IPython.core.inputtransformer2 import TransformerManager

    try:
        return ast.parse(TransformerManager().transform_cell(source)), True
    except (SyntaxError, ValueError):
        return None, False


def cell_signs(source: str) -> set[str]:
    """The static signs (:data:`SIGNS`, :data:`REBINDS`) in one code cell's source.

    Examples
    --------
    >>> sorted(cell_signs("import numpy as n\\nn.testing.assert_allclose = print"))
    ['monkeypatches numpy']
    >>> cell_signs("# open the notebook, exit when done\\ntext = 'sys.modules'")
    set()
    >>> cell_signs("def compile(parts):\\n    return ' '.join(parts)")
    {'rebinds the built-in compile'}
    >>> cell_signs("def f(open=1):\\n    compile = 2\\n    return open + compile")
    set()
    """
    tree, rewritten = parse_cell(source)
    if tree is None:
        return set()
    finder = _SignFinder(ipython_generated=rewritten and "get_ipython" not in source)
    finder.visit(tree)
    finder.top_level(tree)
    return finder.found


def static_signs(notebook: NotebookNode, release: NotebookNode) -> list[str]:
    """Signs of tampering in the learner's own code (code cells not in the release), read
    from each cell's syntax tree (so words in comments and strings are not signs).

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> mine = new_notebook(cells=[new_code_cell("import numpy as np\\nnp.isclose = 1")])
    >>> static_signs(mine, new_notebook())
    ['monkeypatches numpy']
    >>> static_signs(mine, mine)
    []
    """
    given = {c.source for c in release.cells}
    found: set[str] = set()
    for cell in notebook.cells:
        if cell.cell_type == "code" and cell.source not in given:
            found |= cell_signs(cell.source)
    order = {sign: i for i, sign in enumerate(SIGNS)}
    return sorted(found, key=lambda sign: (order.get(sign, len(SIGNS)), sign))
