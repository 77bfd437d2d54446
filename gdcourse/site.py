"""Build the course as a static HTML site: an index and one page per lesson.

The site is built from the learners' **release** notebooks in ``course/``, executed on a
temporary copy, so readers see every figure and animation without a kernel but never an
answer: the release holds no solution code and no hidden tests (``tests/test_release.py``
checks that), and running it cannot add any. Building from ``solutions/`` with nbgrader's
``ClearSolutions`` and ``ClearHiddenTests`` would keep outputs that the solution code made,
including stored tracebacks that can quote hidden tests, so it is not used.

What the pages change from a plain nbconvert export:

* the stubs' ``NotImplementedError`` tracebacks (in cells tagged ``raises-exception``) become
  one line saying the cell runs once the learner has answered;
* live-widget outputs keep only their static fallback (a widget needs a kernel);
* every page gets a navigation bar (course index, previous and next lesson);
* the site needs nothing from the internet: MathJax is copied next to the pages from the
  ``jupyter_server_mathjax`` package, and the CDN scripts of nbconvert's template that the
  course does not use (require.js, mermaid) are left out.

Run ``python -m gdcourse.site OUTPUT_DIR``.
"""

from __future__ import annotations

import argparse
import html
import re
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path

import jupyter_server_mathjax
import nbformat
from jinja2 import DictLoader
from nbconvert import HTMLExporter
from nbconvert.preprocessors import ExecutePreprocessor

REPO = Path(__file__).resolve().parent.parent
COURSE = REPO / "course"
COURSE_TITLE = "Gradient descent, in Jupyter"
RAISES = "raises-exception"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
UNANSWERED = (
    "[This cell runs once you have written your answer above. Open the notebook in "
    "JupyterLab to try it.]\n"
)
MATHJAX = Path(jupyter_server_mathjax.__file__).parent / "static"
MATHJAX_URL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
# nbconvert's JupyterLab template without the scripts it would fetch from a CDN, and with
# MathJax set to the only web font that jupyter_server_mathjax ships (STIX-Web).
_TEMPLATE = DictLoader(
    {
        "course_site.html.j2": """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{%- block html_head_js_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], preferredFont: null, imageFont: null,
                                 webFont: "STIX-Web"}});
</script>
{{ super() }}
{%- endblock html_head_js_mathjax -%}
"""
    }
)
_NAV_STYLE = """
  nav.course-nav { font-family: system-ui, sans-serif; padding: 0.6rem 1rem;
         border-bottom: 1px solid #ccc; background: #f6f8fa; display: flex; gap: 1.5rem; }
  nav.course-nav a { color: #0b5cad; }
"""
_INDEX_STYLE = """
  body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto;
         padding: 0 1rem; line-height: 1.5; color: #1a1a1a; }
  ol.lessons { list-style: none; padding-left: 0; }
  ol.lessons > li { margin-bottom: 1rem; }
  ol.lessons h2 { margin-bottom: 0.2rem; }
  ol.lessons ul { margin: 0.3rem 0; }
"""


@dataclass
class Heading:
    """One heading of a page: its level (1-6), anchor id and text."""

    level: int
    anchor: str
    text: str


@dataclass
class Lesson:
    """One lesson of the site.

    Attributes
    ----------
    name : str
        The assignment folder, e.g. ``02_the_gradient``; the page is ``<name>.html``.
    title : str
        The notebook's title.
    headings : list of Heading
        The page's headings, in order (filled in when the page is rendered).
    """

    name: str
    title: str
    headings: list[Heading] = field(default_factory=list)

    @property
    def page(self) -> str:
        """The lesson page's file name.

        Examples
        --------
        >>> Lesson("02_the_gradient", "2. The gradient").page
        '02_the_gradient.html'
        """
        return f"{self.name}.html"


def lesson_notebooks(course: Path = COURSE) -> list[Path]:
    """The release notebooks ``course/<name>/<name>.ipynb``, in lesson order.

    Examples
    --------
    >>> [p.name for p in lesson_notebooks()][:2]
    ['01_why_backpropagation.ipynb', '02_the_gradient.ipynb']
    """
    return sorted(
        folder / f"{folder.name}.ipynb"
        for folder in course.iterdir()
        if (folder / f"{folder.name}.ipynb").is_file()
    )


def notebook_title(notebook: nbformat.NotebookNode, fallback: str) -> str:
    """The notebook's ``title`` metadata, else its first Markdown heading, else ``fallback``.

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# 1. Start\\nText")])
    >>> notebook_title(nb, "01_start")
    '1. Start'
    """
    if notebook.metadata.get("title"):
        return str(notebook.metadata["title"])
    for cell in notebook.cells:
        match = re.search(r"^#\s+(.+)$", cell.source, re.MULTILINE)
        if cell.cell_type == "markdown" and match:
            return match.group(1).strip()
    return fallback


def execute(path: Path, timeout: int = 600) -> nbformat.NotebookNode:
    """Run the notebook at ``path`` top to bottom in its own folder and return it with outputs.

    Only cells tagged ``raises-exception`` may fail (the stubs); any other error stops the
    build with nbconvert's ``CellExecutionError``. Widget state is not stored: the site has
    no kernel, so widgets show their static fallback.

    Examples
    --------
    Not run as a doctest (it starts a kernel)::

        executed = execute(copy_of_course / "04_exercise" / "04_exercise.ipynb")
    """
    notebook = nbformat.read(path, as_version=4)
    runner = ExecutePreprocessor(timeout=timeout, kernel_name="python3", store_widget_state=False)
    runner.preprocess(notebook, {"metadata": {"path": str(path.parent)}})
    return notebook


def for_the_web(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of an executed release notebook as the site shows it (see the module doc).

    Examples
    --------
    >>> cell = nbformat.v4.new_code_cell("check()", metadata={"tags": [RAISES]}, outputs=[
    ...     nbformat.v4.new_output("error", ename="NotImplementedError", evalue="",
    ...                            traceback=["..."])])
    >>> shown = for_the_web(nbformat.v4.new_notebook(cells=[cell])).cells[0].outputs
    >>> [(o.output_type, o.text.startswith("[This cell runs")) for o in shown]
    [('stream', True)]
    """
    web = nbformat.from_dict(notebook)
    for cell in web.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for output in cell.outputs:
            if output.output_type == "error" and RAISES in cell.metadata.get("tags", []):
                output = nbformat.v4.new_output("stream", name="stdout", text=UNANSWERED)
            output.get("data", {}).pop(WIDGET_MIME, None)
            outputs.append(output)
        cell.outputs = outputs
    return web


class _HeadingParser(HTMLParser):
    """Collects ``<h1>``-``<h6>`` elements that have an ``id``, without the ``¶`` anchor link."""

    def __init__(self) -> None:
        super().__init__()
        self.headings: list[Heading] = []
        self._open: Heading | None = None
        self._in_anchor_link = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if re.fullmatch(r"h[1-6]", tag) and attributes.get("id"):
            self._open = Heading(int(tag[1]), str(attributes["id"]), "")
        elif tag == "a" and "anchor-link" in (attributes.get("class") or ""):
            self._in_anchor_link = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._in_anchor_link = False
        elif self._open and tag == f"h{self._open.level}":
            self._open.text = " ".join(self._open.text.split())
            self.headings.append(self._open)
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open and not self._in_anchor_link:
            self._open.text += data


def page_headings(page: str) -> list[Heading]:
    """The headings with anchors of an HTML page, in order.

    Examples
    --------
    >>> page_headings('<h2 id="Set-up">Set up<a class="anchor-link" href="#Set-up">¶</a></h2>')
    [Heading(level=2, anchor='Set-up', text='Set up')]
    """
    parser = _HeadingParser()
    parser.feed(page)
    return parser.headings


def navigation(lessons: Sequence[Lesson], index: int) -> str:
    """The navigation bar of lesson ``index``: the course index, previous and next lesson.

    Examples
    --------
    >>> lessons = [Lesson("01_a", "1. A"), Lesson("02_b", "2. B")]
    >>> "next: 2. B" in navigation(lessons, 0) and "previous" not in navigation(lessons, 0)
    True
    """
    links = ['<a href="index.html">Course contents</a>']
    if index > 0:
        before = lessons[index - 1]
        links.append(f'<a href="{before.page}">previous: {html.escape(before.title)}</a>')
    if index + 1 < len(lessons):
        after = lessons[index + 1]
        links.append(f'<a href="{after.page}">next: {html.escape(after.title)}</a>')
    return f'<nav class="course-nav">{" ".join(links)}</nav>'


def render_lesson(notebook: nbformat.NotebookNode, title: str, nav: str) -> str:
    """The lesson page: nbconvert's JupyterLab-style HTML with ``nav`` at the top of the body.

    Images in Markdown cells are embedded as data URIs; the page needs no other file than
    MathJax in ``mathjax/`` beside it (see :func:`build_site`).

    Examples
    --------
    >>> nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Hi")])
    >>> page = render_lesson(nb, "Hi", "<nav>n</nav>")
    >>> "<nav>n</nav>" in page and "<title>Hi</title>" in page
    True
    """
    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[_TEMPLATE],
        template_file="course_site.html.j2",
        embed_images=True,
        mathjax_url=MATHJAX_URL,
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    body = body.replace("</head>", f"<style>{_NAV_STYLE}</style>\n</head>", 1)
    return re.sub(r"(<body[^>]*>)", lambda m: f"{m.group(1)}\n{nav}", body, count=1)


def render_index(lessons: Sequence[Lesson]) -> str:
    """The index page: the course title, then each lesson linked in order with its headings.

    Examples
    --------
    >>> lesson = Lesson("01_a", "1. A", [Heading(1, "A", "1. A"), Heading(2, "Why", "Why")])
    >>> page = render_index([lesson])
    >>> '<a href="01_a.html">1. A</a>' in page and '<a href="01_a.html#Why">Why</a>' in page
    True
    """
    items = []
    for lesson in lessons:
        sections = "".join(
            f'<li><a href="{lesson.page}#{html.escape(h.anchor, quote=True)}">'
            f"{html.escape(h.text)}</a></li>"
            for h in lesson.headings
            if h.level == 2
        )
        items.append(
            f'<li><h2><a href="{lesson.page}">{html.escape(lesson.title)}</a></h2>'
            + (f"<ul>{sections}</ul>" if sections else "")
            + "</li>"
        )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(COURSE_TITLE)}</title>\n<style>{_INDEX_STYLE}</style>\n</head>\n<body>\n"
        f"<h1>{html.escape(COURSE_TITLE)}</h1>\n"
        "<p>A self-paced course on gradient descent. Read the lessons in order; the figures and "
        "animations are shown as the notebooks produce them. To run the code and answer the "
        "exercises, open the notebooks in JupyterLab.</p>\n"
        f'<ol class="lessons">\n{"".join(items)}\n</ol>\n</body>\n</html>\n'
    )


def build_site(output: Path, course: Path = COURSE) -> list[Path]:
    """Execute a copy of every release notebook in ``course`` and write the site to ``output``.

    Parameters
    ----------
    output : pathlib.Path
        The folder to write ``index.html``, one ``<lesson>.html`` per lesson and ``mathjax/``
        into (created if needed; existing files are overwritten).
    course : pathlib.Path
        The release folder, ``course/`` of the repository by default. It is not modified.

    Returns
    -------
    list of pathlib.Path
        The pages written: the index first, then the lessons in order.

    Examples
    --------
    Not run as a doctest (it runs every lesson, about 15 s)::

        pages = build_site(Path("build/site"))  # index.html first, then each lesson
    """
    output.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gdcourse-site-") as scratch:
        copy = Path(scratch) / "course"
        shutil.copytree(course, copy, ignore=shutil.ignore_patterns("*.py", ".ipynb_checkpoints"))
        notebooks = [for_the_web(execute(path)) for path in lesson_notebooks(copy)]
    names = [path.parent.name for path in lesson_notebooks(course)]
    lessons = [
        Lesson(name, notebook_title(nb, name)) for name, nb in zip(names, notebooks, strict=True)
    ]
    pages = []
    for index, (lesson, notebook) in enumerate(zip(lessons, notebooks, strict=True)):
        page = render_lesson(notebook, lesson.title, navigation(lessons, index))
        lesson.headings = page_headings(page)
        pages.append(output / lesson.page)
        pages[-1].write_text(page, encoding="utf-8")
    (output / "index.html").write_text(render_index(lessons), encoding="utf-8")
    shutil.copytree(MATHJAX, output / "mathjax", dirs_exist_ok=True)
    return [output / "index.html", *pages]


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m gdcourse.site OUTPUT_DIR [--course COURSE_DIR]``."""
    summary = (__doc__ or "").splitlines()[0]
    parser = argparse.ArgumentParser(prog="python -m gdcourse.site", description=summary)
    parser.add_argument("output", type=Path, help="folder to write the site into")
    parser.add_argument("--course", type=Path, default=COURSE, help="release folder (course/)")
    args = parser.parse_args(argv)
    pages = build_site(args.output, args.course)
    print(f"wrote {len(pages)} pages; open {pages[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
