"""Storefront pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from oao.web.common import render
from oao.web.shop import member_area

router = APIRouter(include_in_schema=False)
router.include_router(member_area.router)


@router.get("/shop", response_class=HTMLResponse)
def shop_home(request: Request) -> HTMLResponse:
    return render(request, "shop/home.html", {})
