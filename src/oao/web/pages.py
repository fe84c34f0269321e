"""Server-rendered pages: the home page, the API docs (vendored Swagger UI), the staff
login, and the three audience apps: storefront (/shop), store console (/store) and
merchant dashboard (/console).

Everything a page loads comes from /static, which this module mounts: no CDN,
so the pages work on a closed network and leak no visitor data to third parties.
"""

from __future__ import annotations

import time
from importlib import import_module
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from oao import __version__

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["oao_version"] = __version__

# Audience apps under oao.web: each package's `web` module exposes `router`.
WEB_APPS = ["shop", "store", "console"]
# Paths whose errors a person reads: they get an HTML page (or an htmx fragment), not problem+json.
PAGE_PREFIXES = ("/shop", "/store", "/console", "/staff", "/join")


def _wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return request.url.path.startswith(PAGE_PREFIXES) and "application/json" not in accept


def _install_page_errors(app: FastAPI) -> None:
    from oao.core.errors import Problem
    from oao.core.http import problem_response
    from oao.web.common import LoginRequired

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Response:
        if request.headers.get("HX-Request") == "true":
            # htmx follows this header with a full page load instead of swapping a login form into a fragment.
            return Response(status_code=204, headers={"HX-Redirect": exc.login_url})
        return RedirectResponse(exc.login_url, status_code=303)

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> Response:
        if not _wants_html(request):
            return problem_response(exc, request)
        template = "error_fragment.html" if request.headers.get("HX-Request") == "true" else "error.html"
        return templates.TemplateResponse(request, template, {"openapi_url": "/api/openapi.json", "problem": exc,
                                                              "csrf": "", "staff": None},
                                          status_code=exc.status)


def _install_server_timing(app: FastAPI) -> None:
    @app.middleware("http")
    async def _server_timing(request: Request, call_next: Any) -> Response:
        # How long the app took to answer, for browsers' dev tools and benchmarks/page_render.py.
        started = time.perf_counter()
        response = await call_next(request)
        response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.2f}"
        return response


def mount(app: FastAPI) -> None:
    """Serve /static and the pages on `app`; `app.openapi_url` is where the docs page points."""
    _install_server_timing(app)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    _install_page_errors(app)
    app.include_router(import_module("oao.web.staff").router)
    app.include_router(import_module("oao.web.onboarding").router)
    for name in WEB_APPS:
        app.include_router(import_module(f"oao.web.{name}.web").router)
    openapi_url = app.openapi_url or "/api/openapi.json"

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "home.html", {"openapi_url": openapi_url})

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "api_docs.html",
                                          {"openapi_url": openapi_url, "title": app.title})
