"""What the browser tests share: the screenshot folder and a chromium that skips or fails loudly.

Each test module wraps :func:`chromium` in its own ``browser`` fixture. Where chromium is
missing, it SKIPS with its reason in the ``-ra`` summary only if this machine cannot install it
(not root, or no apt-get); where it could, the test FAILS and says to run
``tests/browser/install_browser.sh`` (``./dev test`` runs it first).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, BrowserContext, Route, sync_playwright

from tests.browser.driver import INSTALL_SCRIPT, can_install_chromium, chromium_problem, launch
from tests.notebook_tools import REPO

SCREENSHOTS = REPO / "artifacts" / "screenshots"


def require_chromium() -> None:
    """Skip (loudly) or fail the calling test when chromium is missing; see the module doc.

    Examples
    --------
    Not run as a doctest (it skips or fails the calling test)::

        def test_in_a_browser():
            require_chromium()
    """
    problem = chromium_problem()
    if problem is None:
        return
    if can_install_chromium():
        pytest.fail(
            f"{problem}, although this machine can install it: run {INSTALL_SCRIPT} "
            "(./dev test does) and look at its output",
            pytrace=False,
        )
    pytest.skip(
        f"!!! BROWSER TEST NOT RUN: {problem} and this machine cannot install it "
        f"(needs root and apt-get; see {INSTALL_SCRIPT})"
    )


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's headless chromium, closed on exit; skips or fails first if it is missing.

    Examples
    --------
    >>> @pytest.fixture(scope="module")
    ... def browser():
    ...     with chromium() as running:
    ...         yield running
    """
    require_chromium()
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()


def offline_context(
    browser: Browser, allowed: tuple[str, ...], **options: object
) -> tuple[BrowserContext, list[str]]:
    """A browser context that loads only URLs starting with one of ``allowed``; every other
    request is aborted and listed in the returned list (a page must ask for nothing else).

    Examples
    --------
    ``context, outside = offline_context(browser, ("file://", "data:"))``, then
    ``assert outside == []`` once the page has loaded.
    """
    context = browser.new_context(**options)
    outside: list[str] = []

    def only_allowed(route: Route) -> None:
        if route.request.url.startswith(allowed):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", only_allowed)
    return context, outside
