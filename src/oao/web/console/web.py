"""Merchant dashboard pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from oao.web.common import AdminPageDep, render

router = APIRouter(include_in_schema=False)


@router.get("/console", response_class=HTMLResponse)
def console_home(request: Request, ctx: AdminPageDep) -> HTMLResponse:
    return render(request, "console/home.html", {}, ctx=ctx)
