"""Routes for purchase suggestions and leftovers (mounted by insights/api.py).

Merchant-scoped like every route: another merchant's suggestion or store is a
404. Merchant admins act for any of their stores, store staff for their own.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.core.auth import Principal, Role
from oao.core.errors import Forbidden
from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, idempotent
from oao.insights import replenishment
from oao.insights.models import PurchaseSuggestion
from oao.insights.schemas import (
    LeftoverDecisionOut,
    LeftoversOut,
    PurchaseSuggestionAcceptIn,
    PurchaseSuggestionLineOut,
    PurchaseSuggestionOut,
    PurchaseSuggestionsBuildIn,
    PurchaseSuggestionsBuiltOut,
)
from oao.inventory.schemas import ExpectedReceiptOut
from oao.network import service as network

router = APIRouter(prefix="/insights", tags=["insights"], responses=PROBLEM_RESPONSES)


def suggestion_out(session: Session, suggestion: PurchaseSuggestion) -> PurchaseSuggestionOut:
    lines = replenishment.suggestion_lines(session, suggestion_ids=[suggestion.id])[suggestion.id]
    products = catalog.products_by_ids(session, product_ids=[line.product_id for line in lines])
    accepted = suggestion.status == "accepted"
    receipts = replenishment.receipts_of(session, suggestion_id=suggestion.id) if accepted else []
    return PurchaseSuggestionOut(
        id=suggestion.id, merchant_id=suggestion.merchant_id, location_id=suggestion.location_id,
        status=suggestion.status, created_at=suggestion.created_at, expected_at=suggestion.expected_at,
        decided_at=suggestion.decided_at, decided_by=suggestion.decided_by,
        lines=[PurchaseSuggestionLineOut(
            id=line.id, product_id=line.product_id, gtin=products[line.product_id].gtin if line.product_id in products
            else "", title=products[line.product_id].title if line.product_id in products else line.product_id,
            suggested_quantity=line.suggested_quantity, quantity=line.quantity, reason=line.reason)
            for line in lines],
        receipts=[ExpectedReceiptOut.model_validate(r) for r in receipts])


def _may_act_at(principal: Principal, location_id: str) -> None:
    if principal.role is Role.STORE_STAFF and principal.location_id != location_id:
        raise Forbidden("You work at another store; only its own staff or a merchant admin can order for it.")


def _visible(session: Session, principal: Principal, suggestion_id: str) -> PurchaseSuggestion:
    suggestion = replenishment.get_suggestion(session, suggestion_id=suggestion_id)
    principal.ensure_merchant(suggestion.merchant_id, "purchase suggestion", suggestion_id)
    return suggestion


@router.post("/purchase-suggestions", response_model=PurchaseSuggestionsBuiltOut, status_code=201,
             summary="Build suggested purchase orders now, from the latest forecasts and stock")
def build_suggestions(body: PurchaseSuggestionsBuildIn, ctx: CtxDep, request: Request,
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """One suggestion per store with something to order; each replaces that store's earlier proposal."""
    merchant_id = ctx.merchant_asked(body.merchant_id)

    def run(session: Session) -> PurchaseSuggestionsBuiltOut:
        if body.location_id is not None:
            location = network.get_location(session, location_id=body.location_id)
            ctx.principal.ensure_merchant(location.merchant_id, "location", body.location_id)
            _may_act_at(ctx.principal, location.id)
        elif ctx.principal.role is Role.STORE_STAFF:
            raise Forbidden("Store staff build suggestions for their own store: give `location_id`.")
        built = replenishment.suggest_purchase_orders(
            session, merchant_id=merchant_id, location_id=body.location_id, now=ctx.now(),
            lead_time_days=body.lead_time_days, review_days=body.review_days, service_level=body.service_level,
            economics=replenishment.Economics(cost_share=body.cost_share, markdown_share=body.markdown_share))
        return PurchaseSuggestionsBuiltOut(suggestions=[suggestion_out(session, s) for s in built.created],
                                           superseded=built.superseded)

    return idempotent(ctx, request, idempotency_key, body, 201, run)


@router.get("/purchase-suggestions", response_model=list[PurchaseSuggestionOut],
            summary="Suggested purchase orders, newest first")
def list_suggestions(ctx: CtxDep, merchant_id: Annotated[str | None, Query(max_length=40)] = None,
                     location: Annotated[str | None, Query(max_length=40)] = None,
                     status: Literal["proposed", "accepted", "rejected", "superseded"] | None = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 20) -> list[PurchaseSuggestionOut]:
    merchant_id = ctx.merchant_asked(merchant_id)
    with ctx.read() as session:
        if location is not None:
            loc = network.get_location(session, location_id=location)
            ctx.principal.ensure_merchant(loc.merchant_id, "location", location)
        rows = replenishment.list_suggestions(session, merchant_id=merchant_id, location_id=location, status=status,
                                              limit=limit)
        return [suggestion_out(session, s) for s in rows]


@router.get("/purchase-suggestions/{suggestion_id}", response_model=PurchaseSuggestionOut)
def read_suggestion(suggestion_id: str, ctx: CtxDep) -> PurchaseSuggestionOut:
    with ctx.read() as session:
        return suggestion_out(session, _visible(session, ctx.principal, suggestion_id))


@router.post("/purchase-suggestions/{suggestion_id}/accept", response_model=PurchaseSuggestionOut,
             summary="Accept (with edited quantities): each line becomes an expected receipt, once")
def accept_suggestion(suggestion_id: str, ctx: CtxDep, request: Request,
                      body: PurchaseSuggestionAcceptIn | None = None,
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """A second accept is a 409 (the same Idempotency-Key replays the first answer instead)."""
    def run(session: Session) -> PurchaseSuggestionOut:
        suggestion = _visible(session, ctx.principal, suggestion_id)
        _may_act_at(ctx.principal, suggestion.location_id)
        suggestion, _ = replenishment.accept(session, suggestion_id=suggestion.id,
                                             quantities=body.quantities if body else None,
                                             decided_by=ctx.principal.id, now=ctx.now())
        return suggestion_out(session, suggestion)

    return idempotent(ctx, request, idempotency_key, body, 200, run)


@router.post("/purchase-suggestions/{suggestion_id}/reject", response_model=PurchaseSuggestionOut)
def reject_suggestion(suggestion_id: str, ctx: CtxDep, request: Request,
                      idempotency_key: IdempotencyKey = None) -> JSONResponse:
    def run(session: Session) -> PurchaseSuggestionOut:
        suggestion = _visible(session, ctx.principal, suggestion_id)
        _may_act_at(ctx.principal, suggestion.location_id)
        return suggestion_out(session, replenishment.reject(session, suggestion_id=suggestion.id,
                                                            decided_by=ctx.principal.id, now=ctx.now()))

    return idempotent(ctx, request, idempotency_key, None, 200, run)


def leftovers_out(report: replenishment.LeftoverReport) -> LeftoversOut:
    return LeftoversOut(
        location_id=report.location_id, at=report.at, closes_at=report.closes_at,
        open_share_left=round(report.open_share_left, 4), without_forecast=report.without_forecast,
        decisions=[LeftoverDecisionOut(
            product_id=r.product_id, title=r.title, leftover=r.leftover, forecast_today=round(r.forecast_today, 3),
            remaining_demand=round(r.remaining_demand, 3), price_minor=r.price_minor, currency=r.currency,
            **{k: v for k, v in r.decision.as_dict().items()}) for r in report.rows])


@router.get("/leftovers", response_model=LeftoversOut,
            summary="Perishable stock left today: keep, mark down, move to another channel or write off")
def leftovers(ctx: CtxDep, location: Annotated[str, Query(min_length=1, max_length=40)],
              channel: Annotated[str | None, Query(max_length=60, description="another outlet for leftovers, "
                                                   "e.g. a partner or a food-rescue app")] = None,
              channel_share: Annotated[float, Query(ge=0, le=1, description="what it pays, as a share of "
                                                    "the price")] = 0.0,
              markdown_share: Annotated[float, Query(ge=0, le=1)] = 0.5) -> LeftoversOut:
    """Advice only: applying a markdown price is a price change (PUT the offer's price)."""
    with ctx.read() as session:
        loc = network.get_location(session, location_id=location)
        ctx.principal.ensure_merchant(loc.merchant_id, "location", location)
        report = replenishment.leftovers_at_close(
            session, merchant_id=loc.merchant_id, location_id=loc.id, now=ctx.now(),
            economics=replenishment.Economics(markdown_share=markdown_share), channel=channel,
            channel_share=channel_share)
    return leftovers_out(report)
