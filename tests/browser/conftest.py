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
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from oao.app import create_app
from oao.config import Settings
from oao.core.clock import FixedClock
from oao.core.db import Database
from oao.demo.load import DemoCredentials, load_demo
from oao.demo.network import DEMO_PASSWORD
from oao.models import Base
from tests.live import bind_local, serve, url_of

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
# Monday 23 November 2026, 10:30 in Hangzhou: every demo store is open, so quotes are same-day.
HANGZHOU_MORNING = datetime(2026, 11, 23, 2, 30, tzinfo=UTC)
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# Chromium logs every 4xx answer as "Failed to load resource"; the journeys provoke some on purpose
# (a wrong pickup code). Unexpected ones still fail: see `bad_responses`.
_EXPECTED_4XX = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")

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


def _watch_errors(context, errors: list[str]) -> None:
    def console(msg) -> None:
        if msg.type == "error" and not _EXPECTED_4XX.search(msg.text):
            errors.append(f"console: {msg.text}")

    def response(resp) -> None:
        # A server error anywhere, or a missing file of our own, is a bug whatever the page shows.
        if resp.status >= 500 or (resp.status >= 400 and "/static/" in resp.url):
            errors.append(f"HTTP {resp.status} for {resp.request.method} {resp.url}")

    def watch(page) -> None:
        page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
        page.on("console", console)

    context.on("page", watch)
    context.on("response", response)


@pytest.fixture
def page_errors(browser_context) -> Iterator[list[str]]:
    """Uncaught JavaScript errors, console errors and failed responses from the test's pages.
    Any at the end of the test fails it: no page may log an error during a journey."""
    errors: list[str] = []
    _watch_errors(browser_context, errors)
    yield errors
    assert errors == [], f"errors in the browser: {errors}"


@pytest.fixture
def page(browser_context, network_log, page_errors) -> object:
    return browser_context.new_page()


@pytest.fixture
def phone_context(browser) -> Iterator[object]:
    """A 390 px wide phone with touch, separate from `browser_context` (a second person)."""
    context = browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                  locale="en-US")
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()


@pytest.fixture
def phone_errors(phone_context) -> Iterator[list[str]]:
    errors: list[str] = []
    _watch_errors(phone_context, errors)
    yield errors
    assert errors == [], f"errors in the phone's browser: {errors}"


@pytest.fixture
def phone(phone_context, phone_errors) -> object:
    """A page on the phone."""
    return phone_context.new_page()


def screenshot(page, name: str) -> Path:
    """Save a screenshot as a test artifact (tests/browser/artifacts/<name>.png); the README tour
    uses copies of some of them in docs/screenshots."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


@dataclass
class DemoServer:
    """The Hangzhou demo network served over HTTP, with a clock the test controls and the
    embedded worker running (payments, points) as in production."""

    url: str
    database: Database
    clock: FixedClock
    credentials: DemoCredentials
    app: object

    password: str = DEMO_PASSWORD

    def staff_email(self, location_key: str, domain: str) -> str:
        return f"staff.{location_key}@{domain}"

    def log_in_staff(self, page, email: str, next_path: str = "") -> None:
        """Log in through the staff login page (the same form a person uses)."""
        page.goto(f"{self.url}/staff/login" + (f"?next={next_path}" if next_path else ""))
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(self.password)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_load_state()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoServer]:
    """A fresh database with the demo network, per test module, on 127.0.0.1."""
    sock = bind_local()
    url = url_of(sock)
    db_path = tmp_path_factory.mktemp("demo-server") / "oao.sqlite3"
    settings = Settings(database_url=f"sqlite:///{db_path}", public_url=url, embedded_worker=True,
                        worker_interval_seconds=0.3, sandbox_wallet_chaos=False)
    database = Database(settings.database_url)
    Base.metadata.create_all(database.engine)
    clock = FixedClock(HANGZHOU_MORNING)
    with database.unit_of_work() as session:
        credentials = load_demo(session, now=clock.now())
    app = create_app(settings, db=database, clock=clock, start_worker=True)
    with serve(app, sock=sock) as served:
        yield DemoServer(url=served, database=database, clock=clock, credentials=credentials, app=app)
    database.dispose()
