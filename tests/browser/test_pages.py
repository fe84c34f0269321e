"""The home page and the API docs in a real browser, served by a live server."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]

HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
BRAND_TEAL = "rgb(15, 118, 110)"  # --brand in static/oao/site.css


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_the_api_docs_page_loads_every_operation_from_local_files_only(
        live_server, page, network_log, page_errors):
    schema = httpx.get(f"{live_server.url}/api/openapi.json").json()
    operations = [(method.upper(), path) for path, item in schema["paths"].items()
                  for method in item if method in HTTP_METHODS]

    page.goto(f"{live_server.url}/api/docs")

    expect(page.locator(".information-container .title")).to_contain_text("OAO")
    if operations:
        # Swagger UI only keeps the operations near the viewport in the DOM once a spec is this large,
        # so count what it loaded from its own state, and check the first one is drawn.
        expect(page.locator(".opblock").first).to_be_visible()
        loaded = page.evaluate("() => window.ui.specSelectors.operations().size")
        assert loaded == len(operations)
        method, path = operations[0]
        first = page.locator(f".opblock-summary-path[data-path='{path}']").first
        expect(first).to_be_visible()
        expect(page.locator(f".opblock-{method.lower()} .opblock-summary-method").first).to_have_text(method)
    else:
        expect(page.get_by_text("No operations defined in spec!")).to_be_visible()
    page.wait_for_load_state("networkidle")

    # data: URLs are inline images in Swagger UI's CSS, not network traffic.
    fetched = [url for url in network_log if not url.startswith("data:")]
    assert f"{live_server.url}/static/vendor/swagger-ui/swagger-ui-bundle.js" in fetched
    assert f"{live_server.url}/api/openapi.json" in fetched
    elsewhere = [url for url in fetched if _origin(url) != live_server.origin]
    assert elsewhere == [], f"the docs page fetched from other origins: {elsewhere}"
    assert page_errors == []


def test_the_home_page_is_styled_and_links_to_the_api_docs(live_server, page, network_log, page_errors):
    page.goto(f"{live_server.url}/")

    expect(page).to_have_title("OAO — one retail network, online and offline")
    expect(page.get_by_role("heading", level=1)).to_contain_text("One catalog, one price")
    expect(page.get_by_role("link", name="OpenAPI JSON")).to_have_attribute("href", "/api/openapi.json")
    explore = page.get_by_role("link", name="Explore the API")
    # The button colour comes from site.css, so this fails if the stylesheet did not load.
    assert explore.evaluate("el => getComputedStyle(el).backgroundColor") == BRAND_TEAL

    explore.click()

    expect(page).to_have_url(f"{live_server.url}/api/docs")
    expect(page.locator(".information-container .title")).to_contain_text("OAO")
    elsewhere = [url for url in network_log
                 if not url.startswith("data:") and _origin(url) != live_server.origin]
    assert elsewhere == []
    assert page_errors == []
