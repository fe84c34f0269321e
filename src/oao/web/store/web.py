"""Store console (/store): the landing page; each area's routes live in its own module."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from oao.web.common import StaffPageDep
from oao.web.store import floor, kiosk, pos

router = APIRouter(include_in_schema=False)
for area in (pos, kiosk, floor):
    router.include_router(area.router)


@router.get("/store")
def store_home(ctx: StaffPageDep) -> RedirectResponse:
    # The till is what a counter opens most; the nav reaches the rest.
    return RedirectResponse("/store/pos", status_code=303)
