"""Fixtures for tests that drive a real browser: a live OAO server and Playwright
pages in Debian's Chromium.

`live_server` runs uvicorn in a background thread on 127.0.0.1 (a port the
kernel picks) against a fresh SQLite file. `page` is a Playwright page in
headless Chromium at OAO_CHROMIUM (default /usr/bin/chromium). Playwright's own
browser download is never used. A missing Chromium skips these tests, unless
OAO_TEST_REQUIRE_BROWSER=1 (scripts/test sets it), where it is an error.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from oao.app import create_app
from oao.config import Settings
from oao.core.db import Database
from oao.models import Base
from tests.live import serve

# The flags Chromium needs on a machine with a closed network and no GPU; without
# the background-networking ones it keeps trying to reach Google's services.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@dataclass(frozen=True)
class LiveServer:
    url: str
    database: Database

    @property
    def origin(self) -> str:
        parts = urlsplit(self.url)
        return f"{parts.scheme}://{parts.netloc}"


@pytest.fixture(scope="session")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The whole app served over real HTTP, for the lifetime of the test session."""
    db_path = tmp_path_factory.mktemp("live-server") / "oao.sqlite3"
    settings = Settings(database_url=f"sqlite:///{db_path}", embedded_worker=False)
    database = Database(settings.database_url)
    Base.metadata.create_all(database.engine)
    app = create_app(settings, db=database, start_worker=False)
    with serve(app) as url:
        yield LiveServer(url=url, database=database)
    database.dispose()


def chromium_path() -> str:
    path = os.environ.get("OAO_CHROMIUM", "/usr/bin/chromium")
    if Path(path).is_file() and os.access(path, os.X_OK):
        return path
    reason = (f"Chromium not found at {path}: install Debian's `chromium` package "
              "(scripts/test does as root) or set OAO_CHROMIUM to its binary")
    if os.environ.get("OAO_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"OAO_TEST_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """One headless Chromium per test session (per xdist worker)."""
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    # launch() gives Chromium a fresh temporary profile (user-data-dir) of its own.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def browser_context(browser) -> Iterator[object]:
    """A fresh context per test: no cookies, storage or cache shared between tests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def network_log(browser_context) -> list[str]:
    """Every URL the test's pages request, in order (recorded from the start)."""
    urls: list[str] = []
    browser_context.on("request", lambda request: urls.append(request.url))
    return urls


@pytest.fixture
def page_errors(browser_context) -> list[str]:
    """Uncaught JavaScript errors and console errors from the test's pages."""
    errors: list[str] = []

    def watch(page) -> None:
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on("console", lambda msg: errors.append(f"console: {msg.text}") if msg.type == "error" else None)

    browser_context.on("page", watch)
    return errors


@pytest.fixture
def page(browser_context, network_log, page_errors) -> object:
    return browser_context.new_page()
