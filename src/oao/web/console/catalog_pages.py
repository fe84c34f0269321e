"""Catalog, offers (prices) and stock pages of the merchant dashboard.

Writes go through the same service calls as the JSON API (catalog.upsert_offer,
inventory.adjust_stock), after the same checks: another merchant's offer or
location is a 404, and only an admin of the merchant may change it.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oao.catalog import reports as catalog_reports
from oao.catalog import service as catalog
from oao.core.errors import InsufficientStock, InvalidInput, Problem
from oao.inventory import reports as inventory_reports
from oao.inventory import service as inventory
from oao.network import service as network
from oao.web.common import AdminPageDep, check_csrf, is_htmx
from oao.web.console.common import Scope, pick_merchant, scope_for, show, to_minor

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 25


def _pages(total: int, page_no: int) -> tuple[int, int]:
    pages = max(1, math.ceil(total / PAGE_SIZE))
    return pages, min(max(page_no, 1), pages)


# --- catalog and offers ---------------------------------------------------------------------

@router.get("/console/catalog", response_class=HTMLResponse)
def catalog_page(request: Request, ctx: AdminPageDep, merchant: str | None = None, q: str = "",
                 page: str = "1", saved: str | None = None) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "catalog")
    page_no = int(page) if page.isdigit() else 1
    with ctx.read() as session:
        _, total = catalog_reports.offered_products(session, merchant_id=scope.merchant_id, q=q, limit=1)
        pages, page_no = _pages(total, page_no)
        rows, total = catalog_reports.offered_products(session, merchant_id=scope.merchant_id, q=q,
                                                       offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    return show(request, scope, "console/catalog.html", "catalog", {
        "rows": rows, "total": total, "q": q, "page_no": page_no, "pages": pages, "saved": saved, "errors": {}})


@router.post("/console/catalog/offers/{offer_id}", response_class=HTMLResponse)
def set_price(request: Request, offer_id: str, ctx: AdminPageDep, price: Annotated[str, Form(max_length=40)] = "",
              csrf: Annotated[str, Form(max_length=200)] = "", merchant: Annotated[str, Form(max_length=40)] = "",
              q: Annotated[str, Form(max_length=200)] = "", page_no: Annotated[str, Form(alias="page")] = "1"
              ) -> Response:
    check_csrf(request, csrf)
    scope = scope_for(ctx, merchant or None)
    if scope is None:
        raise InvalidInput("Pick a merchant first.")
    error = None
    with ctx.tx() as session:
        offer = catalog.get_offer(session, offer_id=offer_id)
        ctx.principal.ensure_merchant(offer.merchant_id, "offer", offer_id)
        if offer.merchant_id != scope.merchant_id:
            raise InvalidInput("This offer belongs to another merchant than the one on this page.")
        ctx.principal.ensure_admin_of(offer.merchant_id)
        try:
            catalog.upsert_offer(session, merchant_id=offer.merchant_id, product_id=offer.product_id,
                                 price_minor=to_minor(price, offer.currency), currency=offer.currency,
                                 channel_prices=dict(offer.channel_prices or {}), active=offer.active, now=ctx.now())
        except (ValueError, InvalidInput) as exc:
            error = str(exc)
            session.rollback()
    if not is_htmx(request) and error is None:
        return RedirectResponse(scope.link("/console/catalog", q=q, page=page_no, saved=offer_id), status_code=303)
    with ctx.read() as session:
        row = catalog_reports.offered_product(session, offer_id=offer_id)
    context = {"row": row, "q": q, "page_no": page_no, "saved": offer_id if error is None else None,
               "errors": {offer_id: error} if error else {}, "price_text": price}
    if is_htmx(request):
        return show(request, scope, "console/_offer_row.html", "catalog", context, status=422 if error else 200)
    return show(request, scope, "console/catalog.html", "catalog",
                {**context, "rows": [row] if row else [], "total": 1, "pages": 1}, status=422)


# --- stock ---------------------------------------------------------------------------------

def _own_location(session, scope: Scope, location_id: str):  # noqa: ANN001, ANN202
    location = network.get_location(session, location_id=location_id)
    scope.ctx.principal.ensure_merchant(location.merchant_id, "location", location_id)
    if location.merchant_id != scope.merchant_id:
        raise InvalidInput("This location belongs to another merchant than the one on this page.")
    return location


def _stock_rows(session, location_id: str, product_ids: list[str] | None, page_no: int):  # noqa: ANN001, ANN202
    _, total = inventory_reports.levels_at(session, location_id=location_id, product_ids=product_ids, limit=1)
    pages, page_no = _pages(total, page_no)
    levels, total = inventory_reports.levels_at(session, location_id=location_id, product_ids=product_ids,
                                                offset=(page_no - 1) * PAGE_SIZE, limit=PAGE_SIZE)
    products = catalog.products_by_ids(session, product_ids=[lv.product_id for lv in levels])
    rows = [{"level": lv, "product": products.get(lv.product_id)} for lv in levels]
    return rows, total, pages, page_no


@router.get("/console/stock", response_class=HTMLResponse)
def stock_page(request: Request, ctx: AdminPageDep, merchant: str | None = None, location: str = "", q: str = "",
               page: str = "1", saved: str | None = None) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "stock")
    page_no = int(page) if page.isdigit() else 1
    with ctx.read() as session:
        locations = network.list_locations(session, merchant_id=scope.merchant_id)
        current = _own_location(session, scope, location) if location else (locations[0] if locations else None)
        rows, total, pages = [], 0, 1
        if current is not None:
            ids = catalog_reports.matching_product_ids(session, q=q) if q.strip() else None
            rows, total, pages, page_no = _stock_rows(session, current.id, ids, page_no)
        return show(request, scope, "console/stock.html", "stock", {
            "locations": locations, "current": current, "rows": rows, "total": total, "q": q, "page_no": page_no,
            "pages": pages, "saved": saved, "errors": {}})


@router.post("/console/stock/adjust", response_class=HTMLResponse)
def adjust(request: Request, ctx: AdminPageDep, location_id: Annotated[str, Form(max_length=40)],
           product_id: Annotated[str, Form(max_length=40)], delta: Annotated[str, Form(max_length=12)] = "",
           reason: Annotated[str, Form(max_length=200)] = "", csrf: Annotated[str, Form(max_length=200)] = "",
           merchant: Annotated[str, Form(max_length=40)] = "", q: Annotated[str, Form(max_length=200)] = "",
           page_no: Annotated[str, Form(alias="page")] = "1") -> Response:
    check_csrf(request, csrf)
    scope = scope_for(ctx, merchant or None)
    if scope is None:
        raise InvalidInput("Pick a merchant first.")
    error = None
    with ctx.tx() as session:
        location = _own_location(session, scope, location_id)
        ctx.principal.ensure_admin_of(location.merchant_id)
        catalog.get_product(session, product_id=product_id)
        try:
            change = int(delta.strip().lstrip("+"))
        except ValueError:
            change = None
            error = "Write the change as a whole number: 5 to add, -2 to remove."
        if change is not None:
            try:
                inventory.adjust_stock(session, merchant_id=location.merchant_id, location_id=location.id,
                                       product_id=product_id, delta=change, reason=reason.strip(), now=ctx.now())
            except (InvalidInput, InsufficientStock) as exc:
                error = exc.detail if isinstance(exc, Problem) else str(exc)
                session.rollback()
    if not is_htmx(request) and error is None:
        return RedirectResponse(scope.link("/console/stock", location=location_id, q=q, page=page_no,
                                           saved=product_id), status_code=303)
    with ctx.read() as session:
        rows, _, _, _ = _stock_rows(session, location_id, [product_id], 1)
        context = {"item": rows[0] if rows else None, "current": _own_location(session, scope, location_id), "q": q,
                   "page_no": page_no, "saved": product_id if error is None else None,
                   "errors": {product_id: error} if error else {}, "form": {"delta": delta, "reason": reason}}
        if is_htmx(request):
            return show(request, scope, "console/_stock_row.html", "stock", context, status=422 if error else 200)
        locations = network.list_locations(session, merchant_id=scope.merchant_id)
        return show(request, scope, "console/stock.html", "stock",
                    {**context, "rows": rows, "locations": locations, "total": len(rows), "pages": 1}, status=422)
