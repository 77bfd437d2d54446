"""Feedback pages, one learner at a time, safe to open; and nbgrader's CSV export.

Each page is what nbgrader's ``generate_feedback`` makes (its ``GetGrades`` preprocessor and
its ``feedback`` template), rendered here per learner so that one learner's notebook that
cannot be rendered is that learner's flag, never the class's. On top of nbgrader:

- hidden tests stay hidden: plain feedback shows them in the test cell's source and in the
  traceback of a failed test (nbgrader issues #917 and #1363); :class:`HideTestCode` keeps a
  failed test's exception name and message (the hint) and redacts any output that quotes
  hidden-test code, then nbgrader's ``ClearHiddenTests`` removes them from the source;
- learner content is inert: markdown and outputs are sanitized by nbconvert
  (``HTMLExporter.sanitize_html``: no scripts, event handlers or ``javascript:`` URLs; HTML
  and JavaScript outputs are shown as text), and every page carries a strict
  Content-Security-Policy that lets only the bundled MathJax run;
- MathJax is offline: copied beside the pages from ``jupyter_server_mathjax``, as the course
  site does (:data:`gdcourse.site.MATHJAX`);
- a page is only made from the autograded notebook of the same hand-in in the same gradebook
  (the grader stamps both into the notebook), never from another run's.
"""

from __future__ import annotations

import csv
import functools
import html
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import nbformat
import nbgrader
from jinja2 import DictLoader
from jupyter_core.paths import jupyter_config_dir
from nbconvert import HTMLExporter
from nbconvert.preprocessors import CSSHTMLHeaderPreprocessor
from nbformat.notebooknode import NotebookNode
from nbgrader.api import Gradebook
from nbgrader.plugins.export import CsvExportPlugin
from nbgrader.preprocessors import ClearHiddenTests, GetGrades, NbGraderPreprocessor
from traitlets.config import Config

from autograder.runner import is_test_cell

_HIDDEN = re.compile(r"### BEGIN HIDDEN TESTS\n(.*?)### END HIDDEN TESTS", re.DOTALL)
REDACTED = "[hidden test code removed by the grader]"


def hidden_lines(notebook: NotebookNode) -> set[str]:
    r"""The lines of hidden-test code in ``notebook`` that are long enough to recognise.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_notebook
    >>> src = "check()\n### BEGIN HIDDEN TESTS\nassert secret(1) == 2\n### END HIDDEN TESTS"
    >>> sorted(hidden_lines(new_notebook(cells=[new_code_cell(src)])))
    ['assert secret(1) == 2']
    """
    found = set()
    for cell in notebook.cells:
        for body in _HIDDEN.findall(cell.source):
            found |= {line.strip() for line in body.splitlines() if len(line.strip()) >= 12}
    return found


def redact(text: str, secret: set[str]) -> str:
    r"""``text`` with every line that contains a hidden-test line replaced.

    Examples
    --------
    >>> redact("ok\n  assert secret(1) == 2  \n", {"assert secret(1) == 2"})
    'ok\n[hidden test code removed by the grader]\n'
    """
    if not secret or not text:
        return text
    lines = text.split("\n")
    return "\n".join(REDACTED if any(s in line for s in secret) else line for line in lines)


class HideTestCode(NbGraderPreprocessor):
    """Keep hidden tests out of the feedback's outputs.

    An error in a test cell keeps one line: its name and message (the hint). Any output of
    any cell that quotes a line of hidden-test code (a learner cell can print the kernel's
    input history, ``In``, after the tests ran) has that line replaced. Run it before
    nbgrader's ``ClearHiddenTests``, which then removes the hidden tests from the source.

    Examples
    --------
    >>> from nbformat.v4 import new_code_cell, new_output
    >>> meta = {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}}
    >>> cell = new_code_cell("secret()", metadata=meta)
    >>> cell.outputs = [new_output("error", ename="AssertionError", evalue="went uphill",
    ...                            traceback=["----> 3 assert abs(got - want) < 1e-9", "..."])]
    >>> HideTestCode().preprocess_cell(cell, {}, 0)[0].outputs[0].traceback
    ['AssertionError: went uphill']
    """

    def preprocess(self, nb: NotebookNode, resources: dict) -> tuple[NotebookNode, dict]:
        self._secret = hidden_lines(nb)
        return super().preprocess(nb, resources)

    def preprocess_cell(
        self, cell: NotebookNode, resources: dict, cell_index: int
    ) -> tuple[NotebookNode, dict]:
        secret = getattr(self, "_secret", set())
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                if is_test_cell(cell):
                    output.traceback = [f"{output.ename}: {output.evalue}"]
                output.evalue = redact(output.evalue, secret)
                output.traceback = [redact(line, secret) for line in output.traceback]
            elif output.get("output_type") == "stream":
                output.text = redact(output.text, secret)
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str) and mime.startswith("text/"):
                    output.data[mime] = redact(value, secret)
        return cell, resources


# --- one learner's page --------------------------------------------------------------------
NBGRADER_TEMPLATES = Path(nbgrader.__file__).parent / "server_extensions" / "formgrader"
#: The MathJax URL that nbgrader's feedback template hard-codes (nbconvert's macro default).
CDN_MATHJAX = (
    "https://cdnjs.cloudflare.com/ajax/libs/mathjax/2.7.7/latest.js?config=TeX-AMS_CHTML-full,Safe"
)
#: The bundled MathJax's configuration for feedback pages: a file, since the page's policy
#: runs no inline script.
MATHJAX_CONFIG = """MathJax.Hub.Config({
  tex2jax: {inlineMath: [['$', '$'], ['\\\\(', '\\\\)']], processEscapes: true,
            processEnvironments: true},
  "HTML-CSS": {availableFonts: [], preferredFont: null, imageFont: null, webFont: "STIX-Web"},
  messageStyle: "none"
});
MathJax.Ajax.loadComplete("[MathJax]/config/local/feedback.js");
"""
_CONFIG_BLOCK = re.compile(
    r"<!-- MathJax configuration -->.*?<!-- End of mathjax configuration -->", re.DOTALL
)


#: nbgrader's feedback template, with learner markdown sanitized like nbconvert's own cells
#: (nbgrader's ``markdowncell`` block renders it without ``clean_html``).
_TEMPLATE = DictLoader(
    {
        "autograder_feedback.html.j2": """{%- extends 'index.html.j2' -%}
{% block markdowncell scoped %}
<div class="cell border-box-sizing text_cell rendered">
  {{ self.empty_in_prompt() }}
  {%- if 'nbgrader' in cell.metadata and (cell.metadata.nbgrader.solution
        or cell.metadata.nbgrader.grade or cell.metadata.nbgrader.task) -%}
  <div class="panel panel-primary nbgrader_cell">
    {{ nbgrader_heading(cell) }}
    <div class="panel-body">
      <div class="text_cell_render border-box-sizing rendered_html">
        {{ cell.source | markdown2html | strip_files_prefix | clean_html }}
      </div>
    </div>
    {{ nbgrader_footer(cell) }}
  </div>
  {%- else -%}
  <div class="inner_cell">
    <div class="text_cell_render border-box-sizing rendered_html">
      {{ cell.source | markdown2html | strip_files_prefix | clean_html }}
    </div>
  </div>
  {%- endif -%}
</div>
{% endblock markdowncell %}
"""
    }
)
#: HTML a learner's markdown and outputs may keep in feedback: text structure only.
SAFE_TAGS = frozenset(
    "a abbr b blockquote br code dd del div dl dt em h1 h2 h3 h4 h5 h6 hr i img ins kbd li "
    "ol p pre q s samp small span strong sub sup table tbody td tfoot th thead tr tt u "
    "ul var".split()
)


def _safe_attribute(tag: str, name: str, value: str) -> bool:
    if name in ("class", "id", "title", "alt", "colspan", "rowspan", "align"):
        return True
    if tag == "a" and name == "href":
        return value.startswith(("http://", "https://", "mailto:", "#"))
    if tag == "img" and name == "src":
        return value.startswith("data:image/") and not value.startswith("data:image/svg")
    return tag == "img" and name in ("width", "height")


def clean_html(element: object) -> str:
    """Learner HTML made inert: only text-structure tags, no scripts, styles, event handlers,
    frames, forms, or URLs other than http(s), mailto, in-page links and inline raster images.
    The ``clean_html`` filter of the feedback template (nbconvert's keeps less: headings and
    images of the lesson would show as escaped text).

    Examples
    --------
    >>> clean_html('<h2>Hi</h2><script>x()</script><img src="x" onerror="y()">')
    '<h2>Hi</h2>&lt;script&gt;x()&lt;/script&gt;<img>'
    >>> clean_html('<a href="javascript:x()">a</a><a href="https://e.org">b</a>')
    '<a>a</a><a href="https://e.org">b</a>'
    """
    import bleach

    text = element.decode() if isinstance(element, bytes) else str(element)
    return bleach.clean(
        text,
        tags=SAFE_TAGS,
        attributes=_safe_attribute,
        protocols=["http", "https", "mailto", "data"],
    )


_ATTACHMENT = re.compile(r"\(attachment:([^)\s]+)\)")


def drop_missing_attachments(notebook: NotebookNode) -> NotebookNode:
    """Markdown references to attachments a cell does not have are made plain text (nbconvert
    stops on them).

    Examples
    --------
    >>> from nbformat.v4 import new_markdown_cell, new_notebook
    >>> nb = new_notebook(cells=[new_markdown_cell("![plot](attachment:gone.png)")])
    >>> drop_missing_attachments(nb).cells[0].source
    '![plot](#missing-attachment-gone.png)'
    """
    for cell in notebook.cells:
        if cell.cell_type != "markdown" or "attachment:" not in cell.source:
            continue
        have = set(cell.get("attachments", {}) or {})

        def keep(match: re.Match, have: set = have) -> str:
            name = match.group(1)
            return match.group(0) if name in have else f"(#missing-attachment-{name})"

        cell.source = _ATTACHMENT.sub(keep, cell.source)
    return notebook


def content_policy() -> str:
    """The Content-Security-Policy of a feedback page: only scripts from the page's own place
    (the bundled MathJax; learner content has none left after sanitizing) may run, images
    and fonts inline or bundled, no network, no forms, no ``<base>``.

    Examples
    --------
    >>> content_policy().split("; ")[:2]
    ["default-src 'none'", "script-src 'self'"]
    """
    return (
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline' 'self'; "
        "font-src data: 'self'; img-src data:; base-uri 'none'; form-action 'none'"
    )


def install_mathjax(feedback_dir: Path) -> Path:
    """Copy the bundled MathJax (the course site's, :data:`gdcourse.site.MATHJAX`) into
    ``feedback_dir/mathjax`` with the feedback configuration; return that folder."""
    from gdcourse.site import MATHJAX

    target = feedback_dir / "mathjax"
    if not (target / "MathJax.js").exists():
        shutil.copytree(MATHJAX, target, dirs_exist_ok=True)
    config = target / "config" / "local" / "feedback.js"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(MATHJAX_CONFIG)
    return target


def feedback_exporter() -> HTMLExporter:
    """nbconvert's HTML exporter with nbgrader's feedback template, learner content sanitized
    (made once per run: compiling the template is most of a page's cost)."""
    return HTMLExporter(
        template_name="feedback",
        extra_loaders=[_TEMPLATE],
        template_file="autograder_feedback.html.j2",
        extra_template_basedirs=[str(NBGRADER_TEMPLATES / "templates")],
        extra_template_paths=[
            str(NBGRADER_TEMPLATES / "static" / "node_modules" / "bootstrap" / "dist" / "css")
        ],
        sanitize_html=True,
        filters={"clean_html": clean_html},
    )


def render_page(
    notebook: NotebookNode,
    resources: dict,
    exporter: HTMLExporter | None = None,
    mathjax: str = "../../mathjax/",
    config: Config | None = None,
) -> str:
    """One feedback page from an autograded notebook (``resources["nbgrader"]`` names the
    learner and the gradebook): nbgrader's grades and template, hidden tests removed,
    learner content sanitized, a strict Content-Security-Policy, MathJax offline (at the
    relative URL ``mathjax``: pages are ``feedback/<student>/<assignment>/<notebook>.html``).
    Each step gets the course's nbgrader ``config``."""
    notebook = drop_missing_attachments(notebook)
    for step in (GetGrades, HideTestCode, ClearHiddenTests, CSSHTMLHeaderPreprocessor):
        notebook, resources = step(config=config or Config()).preprocess(notebook, resources)
    page, _ = (exporter or feedback_exporter()).from_notebook_node(notebook, resources=resources)
    return harden(page, mathjax)


def harden(page: str, mathjax: str) -> str:
    """``page`` with the bundled MathJax in place of the CDN's, no inline script, and the
    Content-Security-Policy first in its head. Only the template's own head is changed: the
    learner's content comes later in the page, and is sanitized.

    Examples
    --------
    >>> page = f"<html><head><script src='{CDN_MATHJAX}'></script></head><body></body></html>"
    >>> out = harden(page, "../../mathjax/")
    >>> "Content-Security-Policy" in out and "cdnjs" not in out
    True
    """
    head_end = page.find("</head>")
    head, body = (page[:head_end], page[head_end:]) if head_end >= 0 else ("", page)
    local = mathjax + "MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe,local/feedback"
    head = head.replace(CDN_MATHJAX, html.escape(local))
    head = _CONFIG_BLOCK.sub("", head)
    policy = html.escape(content_policy())
    meta = f'<meta http-equiv="Content-Security-Policy" content="{policy}">'
    head = re.sub(r"<head[^>]*>", lambda m: m.group(0) + "\n" + meta, head, count=1)
    return head + body


def make_feedback(course, outcomes: list, dirs, map_: Callable | None = None) -> None:
    """Write one feedback page per graded learner into the run's ``feedback/``; a learner
    whose page cannot be made gets a ``feedback`` flag (and no stale page).

    ``map_`` (an ordered map such as a process pool's ``imap``) renders the pages in parallel,
    with :func:`feedback_task`; without it they are rendered here, one after the other.
    """
    install_mathjax(dirs.feedback)
    tasks = [(course, outcome, dirs) for outcome in outcomes]
    for outcome, flag in zip(outcomes, (map_ or map)(feedback_task, tasks), strict=True):
        if flag:
            outcome.flags.append(flag)


@functools.cache
def _exporter() -> HTMLExporter:
    """This process's exporter (see :func:`feedback_exporter`), made on its first page."""
    return feedback_exporter()


def page_path(dirs, outcome) -> Path:
    """Where the feedback page of ``outcome`` goes in the run's ``feedback/``."""
    return dirs.feedback / outcome.student / outcome.assignment / f"{outcome.notebook}.html"


def remove_pages(dirs, outcomes: list) -> None:
    """Delete the feedback pages of ``outcomes`` (graded again without feedback: an old page
    would show an old grade)."""
    for outcome in outcomes:
        page_path(dirs, outcome).unlink(missing_ok=True)


def feedback_task(task: tuple) -> list[str] | None:
    """Write the feedback page of one ``(course, outcome, dirs)``; return a ``feedback`` flag
    if it could not be made (then no page, not even a stale one, is left)."""
    from autograder.grading import autograded_path, not_graded

    course, outcome, dirs = task
    target = page_path(dirs, outcome)
    source = autograded_path(dirs, outcome)
    if not_graded(outcome) or not source.exists():
        target.unlink(missing_ok=True)
        return None
    try:
        notebook = nbformat.read(source, as_version=4)
        stamp = notebook.metadata.get("autograder", {})
        if stamp.get("digest") != outcome.digest or stamp.get("db_url") != course.db_url:
            raise ValueError(
                f"{source} is not this hand-in's autograded notebook in this gradebook"
            )
        resources = {
            "nbgrader": {
                "student": outcome.student,
                "assignment": outcome.assignment,
                "notebook": outcome.notebook,
                "db_url": course.db_url,
            },
            "metadata": {"name": outcome.notebook},
            "config_dir": jupyter_config_dir(),
        }
        page = render_page(notebook, resources, _exporter(), config=course.config)
    except Exception as error:  # this learner's page only
        target.unlink(missing_ok=True)
        return ["feedback", f"no feedback page: {type(error).__name__}: {error}"[:400]]
    target.parent.mkdir(parents=True, exist_ok=True)
    part = target.with_suffix(".html.part")
    part.write_text(page, encoding="utf-8")
    os.replace(part, target)
    return None


def export_grades(course, target: Path, skip: set[tuple[str, str]] = frozenset()) -> Path:
    """nbgrader's CSV export of the gradebook (one row per student and assignment), without
    the ``(student, assignment)`` pairs in ``skip`` (hand-ins the grader could not grade: an
    LMS must not import a 0 for them)."""
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "grades.csv"
        plugin = CsvExportPlugin(to=str(raw), config=course.config)
        with Gradebook(course.db_url, course.course_id) as gb:
            plugin.export(gb)
        with open(raw, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    header, body = rows[0], rows[1:]
    who, what = header.index("student_id"), header.index("assignment")
    kept = [row for row in body if (row[who], row[what]) not in skip]
    part = target.with_suffix(".csv.part")
    with open(part, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, *kept])
    os.replace(part, target)
    return target
