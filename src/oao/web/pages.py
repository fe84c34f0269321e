"""Server-rendered pages: the home page and the API docs (vendored Swagger UI).

Everything a page loads comes from /static, which this module mounts: no CDN,
so the pages work on a closed network and leak no visitor data to third parties.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from oao import __version__

WEB_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = WEB_DIR / "templates"
STATIC_DIR = WEB_DIR / "static"

templates = Jinja2Templates(directory=TEMPLATES_DIR)
templates.env.globals["oao_version"] = __version__


def mount(app: FastAPI) -> None:
    """Serve /static and the pages on `app`; `app.openapi_url` is where the docs page points."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    openapi_url = app.openapi_url or "/api/openapi.json"

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "home.html", {"openapi_url": openapi_url})

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs(request: Request) -> HTMLResponse:
        return templates.TemplateResponse(request, "api_docs.html",
                                          {"openapi_url": openapi_url, "title": app.title})
