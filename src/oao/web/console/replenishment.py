"""Ordering in the merchant dashboard (/console/replenishment, S8): a store's suggested purchase
order with the figures behind each quantity, editable before it is accepted or rejected; the goods
on order (expected receipts) with a "Received" button; and what to do with today's fresh leftovers.

Writes go through the same use cases as the JSON API (insights.replenishment, inventory.receipts)
after the same checks: another merchant's store or suggestion is a 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from oao.catalog import service as catalog
from oao.core.errors import Conflict, InvalidInput, Problem
from oao.insights import replenishment
from oao.inventory import receipts
from oao.network import service as network
from oao.web.common import AdminPageDep, check_csrf
from oao.web.console.common import Scope, pick_merchant, scope_for, show

router = APIRouter(include_in_schema=False)
PAGE = "/console/replenishment"


def _own_location(session, scope: Scope, location_id: str):  # noqa: ANN001, ANN202
    location = network.get_location(session, location_id=location_id)
    scope.ctx.principal.ensure_merchant(location.merchant_id, "location", location_id)
    if location.merchant_id != scope.merchant_id:
        raise InvalidInput("This location belongs to another merchant than the one on this page.")
    return location


def _scope(ctx, merchant: str) -> Scope:  # noqa: ANN001
    scope = scope_for(ctx, merchant or None)
    if scope is None:
        raise InvalidInput("Pick a merchant first.")
    return scope


def _page(request: Request, scope: Scope, location_id: str, *, message: str | None = None,
          error: str | None = None, edits: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    ctx = scope.ctx
    with ctx.read() as session:  # rendered inside: the rows expire when the read ends
        locations = network.list_locations(session, merchant_id=scope.merchant_id)
        current = _own_location(session, scope, location_id) if location_id else (locations[0] if locations else None)
        context = {"locations": locations, "current": current, "message": message, "error": error,
                   "edits": edits or {}, "suggestion": None, "lines": [], "history": [], "open_receipts": [],
                   "leftovers": None, "products": {}}
        if current is not None:
            history = replenishment.list_suggestions(session, merchant_id=scope.merchant_id, location_id=current.id,
                                                     limit=6)
            suggestion = history[0] if history else None
            lines = (replenishment.suggestion_lines(session, suggestion_ids=[suggestion.id])[suggestion.id]
                     if suggestion else [])
            open_receipts = receipts.list_open(session, location_id=current.id, limit=100)
            leftovers = replenishment.leftovers_at_close(session, merchant_id=scope.merchant_id,
                                                         location_id=current.id, now=ctx.now())
            products = catalog.products_by_ids(
                session, product_ids={line.product_id for line in lines} | {r.product_id for r in open_receipts})
            context.update(suggestion=suggestion, lines=lines, history=history[1:], open_receipts=open_receipts,
                           leftovers=leftovers, products=products)
        return show(request, scope, "console/replenishment.html", "replenishment", context, status=status)


@router.get(PAGE, response_class=HTMLResponse)
def replenishment_page(request: Request, ctx: AdminPageDep, merchant: str | None = None, location: str = "",
                       done: str | None = None) -> HTMLResponse:
    scope = scope_for(ctx, merchant)
    if scope is None:
        return pick_merchant(request, ctx, "replenishment")
    messages = {"built": "A new suggestion was built from the latest forecasts and stock.",
                "nothing": "Nothing needs ordering: stock and goods on order cover the forecast.",
                "accepted": "Accepted: the lines are now expected receipts.", "rejected": "Suggestion rejected.",
                "received": "Received: the goods were added to stock."}
    return _page(request, scope, location, message=messages.get(done or ""))


def _back(scope: Scope, location_id: str, done: str) -> RedirectResponse:
    return RedirectResponse(scope.link(PAGE, location=location_id, done=done), status_code=303)


@router.post(f"{PAGE}/build", response_class=HTMLResponse)
def build(request: Request, ctx: AdminPageDep, location_id: Annotated[str, Form(max_length=40)],
          csrf: Annotated[str, Form(max_length=200)] = "",
          merchant: Annotated[str, Form(max_length=40)] = "") -> Response:
    check_csrf(request, csrf)
    scope = _scope(ctx, merchant)
    with ctx.tx() as session:
        location = _own_location(session, scope, location_id)
        built = replenishment.suggest_purchase_orders(session, merchant_id=scope.merchant_id,
                                                      location_id=location.id, now=ctx.now())
    return _back(scope, location_id, "built" if built.created else "nothing")


@router.post(PAGE + "/{suggestion_id}/accept", response_class=HTMLResponse)
def accept(request: Request, suggestion_id: str, ctx: AdminPageDep,
           line: Annotated[list[str], Form(max_length=60)] = [],  # noqa: B006 - FastAPI reads the default
           qty: Annotated[list[str], Form(max_length=12)] = [],  # noqa: B006
           csrf: Annotated[str, Form(max_length=200)] = "", merchant: Annotated[str, Form(max_length=40)] = "",
           ) -> Response:
    check_csrf(request, csrf)
    scope = _scope(ctx, merchant)
    edits = dict(zip(line, qty, strict=False))
    with ctx.read() as session:
        suggestion = replenishment.get_suggestion(session, suggestion_id=suggestion_id)
        ctx.principal.ensure_merchant(suggestion.merchant_id, "purchase suggestion", suggestion_id)
        location_id = suggestion.location_id
    quantities: dict[str, int] = {}
    for line_id, text in edits.items():
        cleaned = text.strip()
        if not cleaned.isdigit():
            return _page(request, scope, location_id, edits=edits, status=422,
                         error=f"Write each quantity as a whole number, 0 or more (not {text!r}).")
        quantities[line_id] = int(cleaned)
    try:
        with ctx.tx() as session:
            replenishment.accept(session, suggestion_id=suggestion_id, quantities=quantities,
                                 decided_by=ctx.principal.id, now=ctx.now())
    except (InvalidInput, Conflict) as exc:
        return _page(request, scope, location_id, edits=edits, error=exc.detail,
                     status=exc.status if isinstance(exc, Problem) else 422)
    return _back(scope, location_id, "accepted")


@router.post(PAGE + "/{suggestion_id}/reject", response_class=HTMLResponse)
def reject(request: Request, suggestion_id: str, ctx: AdminPageDep, csrf: Annotated[str, Form(max_length=200)] = "",
           merchant: Annotated[str, Form(max_length=40)] = "") -> Response:
    check_csrf(request, csrf)
    scope = _scope(ctx, merchant)
    try:
        with ctx.tx() as session:
            suggestion = replenishment.get_suggestion(session, suggestion_id=suggestion_id)
            ctx.principal.ensure_merchant(suggestion.merchant_id, "purchase suggestion", suggestion_id)
            location_id = suggestion.location_id
            replenishment.reject(session, suggestion_id=suggestion_id, decided_by=ctx.principal.id, now=ctx.now())
    except Conflict as exc:
        return _page(request, scope, location_id, error=exc.detail, status=exc.status)
    return _back(scope, location_id, "rejected")


@router.post(PAGE + "/receipts/{receipt_id}/receive", response_class=HTMLResponse)
def receive(request: Request, receipt_id: str, ctx: AdminPageDep, csrf: Annotated[str, Form(max_length=200)] = "",
            merchant: Annotated[str, Form(max_length=40)] = "") -> Response:
    check_csrf(request, csrf)
    scope = _scope(ctx, merchant)
    try:
        with ctx.tx() as session:
            receipt = receipts.get_receipt(session, receipt_id=receipt_id)
            ctx.principal.ensure_merchant(receipt.merchant_id, "expected receipt", receipt_id)
            location_id = receipt.location_id
            receipts.receive(session, receipt_id=receipt_id, now=ctx.now())
    except Conflict as exc:
        return _page(request, scope, location_id, error=exc.detail, status=exc.status)
    return _back(scope, location_id, "received")
