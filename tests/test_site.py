"""The static site (``python -m gdcourse.site OUTPUT_DIR``): complete, self-contained, no answers.

The site is built once per test module into a temporary folder, through the real command line.
The last test opens the index and a lesson in Debian's headless chromium (skipped loudly where
chromium cannot be installed) and saves screenshots to artifacts/screenshots/site-*.png.
"""

from __future__ import annotations

import base64
import binascii
import functools
import io
import subprocess
import sys
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import nbformat
import pytest
from nbconvert.preprocessors import CellExecutionError
from PIL import Image
from playwright.sync_api import Browser

from gdcourse.site import (
    build_site,
    for_the_web,
    lesson_notebooks,
    page_headings,
    render_lesson,
)
from tests.browser.checks import expected_images
from tests.browser.fixtures import SCREENSHOTS, chromium, offline_context
from tests.notebook_tools import (
    COURSE,
    REPO,
    SOLUTIONS,
    expressions,
    read,
    secret_regions,
    solution_expressions,
)

LESSONS = [path.parent.name for path in lesson_notebooks(COURSE)]


class _Page(HTMLParser):
    """Everything the tests read from one page: its text, links, images and outside sources."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.attribute_text: list[str] = []
        self.links: list[str] = []
        self.images: list[dict[str, str]] = []
        self.sources: list[str] = []
        self.code: list[str] = []  # the text of each <code> and <pre> element
        self._code_depth = 0

    def handle_endtag(self, tag: str) -> None:
        if tag in ("code", "pre") and self._code_depth:
            self._code_depth -= 1

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        self.attribute_text.extend(attributes.get(name, "") for name in ("alt", "title", "href"))
        if tag in ("code", "pre"):
            if not self._code_depth:
                self.code.append("")
            self._code_depth += 1
        if tag == "a" and "href" in attributes:
            self.links.append(attributes["href"])
        if tag == "img":
            self.images.append(attributes)
        elif "src" in attributes:
            self.sources.append(attributes["src"])

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._code_depth:
            self.code[-1] += data


def parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def plain_text(page: _Page) -> str:
    """The page's text, then its alt, title and href values, with whitespace collapsed.

    The text nodes are joined as they are: highlighted code is split into one ``<span>`` per
    token, and joined it reads as the source line again.
    """
    return " ".join(("".join(page.text) + " " + " ".join(page.attribute_text)).split())


def image_problem(src: str, folder: Path) -> str | None:
    """Why the image at ``src`` (a data URI or a path relative to ``folder``) is broken."""
    if src.startswith("data:"):
        header, _, payload = src.partition(",")
        if ";base64" not in header:
            return f"not a base64 data URI: {header}"
        try:
            data = base64.b64decode(payload, validate=True)
        except binascii.Error as error:
            return f"bad base64: {error}"
    elif "://" in src or src.startswith("//"):
        return f"an outside address: {src[:80]}"
    elif not (folder / src).is_file():
        return f"missing file: {src}"
    else:
        data = (folder / src).read_bytes()
    try:
        Image.open(io.BytesIO(data)).verify()
    except Exception as error:  # noqa: BLE001 - any decoding failure is the finding
        return f"does not decode: {error}"
    return None


def secret_lines() -> list[str]:
    """Lines of solution code, hidden tests and model answers (as in tests/test_release.py)."""
    lines = set()
    for source in sorted(SOLUTIONS.rglob("*.ipynb")):
        for region in secret_regions(read(source)):
            lines.update(
                " ".join(line.split()) for line in region.splitlines() if len(line.strip()) >= 12
            )
    return sorted(lines)


def leaks(text: str) -> list[str]:
    return [line for line in secret_lines() if line in text]


@functools.cache
def _solution_expressions() -> dict[str, str]:
    return solution_expressions()


def leaked_expressions(page: _Page) -> list[str]:
    """Solution expressions (normalised with ``ast``) in the page's code or any line of text."""
    lines = "".join(page.text).splitlines()
    found = set().union(*(expressions(text) for text in [*page.code, *lines]))
    secrets = _solution_expressions()
    return sorted(secrets[key] for key in found & secrets.keys())


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The site, built once through the command line."""
    output = tmp_path_factory.mktemp("site")
    subprocess.run(
        [sys.executable, "-m", "gdcourse.site", str(output)],
        check=True,
        cwd=REPO,
        stdin=subprocess.DEVNULL,
    )
    return output


def test_every_page_is_built(site: Path):
    built = sorted(p.name for p in site.glob("*.html"))
    assert built == sorted(["index.html", *[f"{name}.html" for name in LESSONS]])
    assert (site / "mathjax" / "MathJax.js").is_file()


def test_index_links_every_lesson_in_order(site: Path):
    index = parse(site / "index.html")
    pages = [link for link in index.links if "#" not in link]
    assert pages == [f"{name}.html" for name in LESSONS]
    source = (site / "index.html").read_text()
    for name in LESSONS:
        assert f'<h2><a href="{name}.html">' in source, f"{name} is not a heading of the index"


def test_contents_links_point_at_headings(site: Path):
    for link in parse(site / "index.html").links:
        page, _, anchor = link.partition("#")
        if anchor:
            anchors = {h.anchor for h in page_headings((site / page).read_text())}
            assert anchor in anchors, f"{link} points at no heading"


@pytest.mark.parametrize("name", ["index", *LESSONS])
def test_images_exist_decode_and_have_alt_text(site: Path, name: str):
    page = parse(site / f"{name}.html")
    problems = [
        f"image {n}: no alt text"
        for n, img in enumerate(page.images)
        if not img.get("alt", "").strip()
    ]
    problems += [
        f"image {n}: {problem}"
        for n, img in enumerate(page.images)
        if (problem := image_problem(img.get("src", ""), site))
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_shows_every_figure(site: Path, name: str):
    notebook = f"{name}/{name}.ipynb"
    expected = sum(expected_images(read(SOLUTIONS / notebook), read(COURSE / notebook), False))
    assert len(parse(site / f"{name}.html").images) == expected


@pytest.mark.parametrize("name", ["index", *LESSONS])
def test_scripts_come_from_the_site_itself(site: Path, name: str):
    page = (site / f"{name}.html").read_text(encoding="utf-8")
    assert "cdnjs" not in page and "unpkg" not in page
    for src in parse(site / f"{name}.html").sources:
        assert (site / src.split("?")[0]).is_file(), f"{src} is not part of the site"


@pytest.mark.parametrize("name", ["index", *LESSONS])
def test_no_solution_or_hidden_test_leaks(site: Path, name: str):
    page = parse(site / f"{name}.html")
    assert not leaks(plain_text(page))
    assert not leaked_expressions(page), f"{name}.html shows a solution's expression"


def test_the_leak_check_finds_a_leak(tmp_path: Path):
    """Guard: the same check flags a page rendered from the solution notebook."""
    page = tmp_path / "leak.html"
    solution = read(SOLUTIONS / "04_exercise" / "04_exercise.ipynb")
    page.write_text(render_lesson(for_the_web(solution), "leak", ""), encoding="utf-8")
    found = leaks(plain_text(parse(page)))
    assert any("learning_rate * gradx" in line for line in found)
    assert "x - learning_rate * gradx" in leaked_expressions(parse(page))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's headless chromium for this module's tests."""
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def served(site: Path) -> Iterator[str]:
    """The site served over HTTP on a free loopback port, as a static host would; its URL."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None  # type: ignore[method-assign]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_site_in_chromium(served: str, browser: Browser):
    """The index and a lesson load with nothing from outside, images decode, math typesets."""
    context, outside = offline_context(
        browser, (served, "data:"), viewport={"width": 1100, "height": 900}
    )
    page = context.new_page()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(served + "index.html")
    page.screenshot(path=str(SCREENSHOTS / "site-index.png"), full_page=True)
    page.locator("ol.lessons h2 a").nth(2).click()
    page.wait_for_load_state()
    page.wait_for_function(
        """() => window.MathJax?.isReady && MathJax.Hub.queue.running === 0
        && MathJax.Hub.queue.pending === 0""",
        timeout=30000,
    )
    typeset = page.locator(".MathJax, .MathJax_Display").count()
    math_errors = page.locator(".MathJax_Error, [class*=merror]").count()
    broken = page.evaluate("""() => [...document.images]
        .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.alt)""")
    page.screenshot(path=str(SCREENSHOTS / f"site-{LESSONS[2]}.png"), full_page=True)
    url = page.url
    context.close()
    assert url == f"{served}{LESSONS[2]}.html"
    assert broken == []
    assert outside == [], "the site asked for outside addresses"
    assert typeset > 0 and math_errors == 0, f"{typeset} formulas typeset, {math_errors} errors"


def test_an_unexpected_error_stops_the_build(tmp_path: Path):
    """Only the stubs (cells tagged raises-exception) may fail; any other error stops the build."""
    lesson = tmp_path / "course" / "01_broken"
    lesson.mkdir(parents=True)
    stub = nbformat.v4.new_code_cell(
        "raise NotImplementedError()", metadata={"tags": ["raises-exception"]}
    )
    notebook = nbformat.v4.new_notebook(cells=[stub, nbformat.v4.new_code_cell("1 / 0")])
    nbformat.write(notebook, lesson / "01_broken.ipynb")
    with pytest.raises(CellExecutionError, match="ZeroDivisionError"):
        build_site(tmp_path / "site", course=tmp_path / "course")
