"""Server-rendered pages. For now: the home page and the API docs (vendored Swagger UI)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import HTMLResponse


def mount(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def home() -> HTMLResponse:
        return HTMLResponse("<!doctype html><title>OAO</title><h1>OAO</h1><p><a href='/api/docs'>API docs</a></p>")
