"""HTTP routes of the insights domain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from oao.core.errors import InvalidInput
from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, idempotent
from oao.insights import importer, service, serving
from oao.insights.models import TransactionImport
from oao.insights.replenishment_api import router as replenishment_router
from oao.insights.schemas import (
    RecommendationOut,
    RecommendationsOut,
    TrainingRunIn,
    TrainingRunOut,
    TransactionImportOut,
    TransactionImportsOut,
)
from oao.members.api import MemberCtxDep

router = APIRouter(tags=["insights"], responses=PROBLEM_RESPONSES)

# --- event log and imports ---





def _import_out(row: TransactionImport) -> TransactionImportOut:
    already = max(0, row.rows_total - row.rows_imported - row.rows_rejected) if row.status == "finished" else 0
    return TransactionImportOut(id=row.id, merchant_id=row.merchant_id, source_name=row.source_name, status=row.status,
                      mapping=row.mapping or {}, rows_total=row.rows_total, rows_imported=row.rows_imported,
                      rows_rejected=row.rows_rejected, rows_already_imported=already,
                      products_created=row.products_created, members_created=row.members_created,
                      errors=row.errors or [], started_at=row.started_at, finished_at=row.finished_at)


@router.get("/insights/imports", response_model=TransactionImportsOut)
def list_transaction_imports(ctx: CtxDep,
                             merchant_id: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
                             limit: Annotated[int, Query(ge=1, le=200)] = 50) -> TransactionImportsOut:
    """Your merchant's `oao import transactions` runs, newest first, each with its row-error report.
    Network admins name the merchant with `merchant_id`; another merchant's imports are never listed."""
    merchant_id = ctx.merchant_asked(merchant_id)
    with ctx.read() as session:
        rows = importer.list_imports(session, merchant_id=merchant_id, limit=limit)
        return TransactionImportsOut(items=[_import_out(r) for r in rows])


@router.get("/insights/imports/{import_id}", response_model=TransactionImportOut)
def get_transaction_import(import_id: str, ctx: CtxDep) -> TransactionImportOut:
    """One import run and its report (another merchant's is a 404)."""
    with ctx.read() as session:
        row = importer.get_import(session, import_id=import_id[:40])
        ctx.principal.ensure_merchant(row.merchant_id, "import", import_id)
        return _import_out(row)

# --- recommendations and training runs ---




_CHANNELS = ("store", "kiosk", "online")
_KindQ = Annotated[str | None, Query(max_length=40, description="for_you, bought_together, popular_here, "
                                       "popular_age_band, due_soon or attributes; leave out for a blend")]
_LimitQ = Annotated[int, Query(description="1 to 50")]
_ProductQ = Annotated[str | None, Query(max_length=40, description="bought_together: one product id")]
_BasketQ = Annotated[str | None, Query(max_length=900, description="bought_together: product ids, comma-separated")]
_ReadingQ = Annotated[str | None, Query(max_length=300, description="attributes: a reading the kiosk just took, "
                                          "e.g. `skin_type:dry` (used for this request only)")]


def _channel(channel: str) -> str:
    if channel not in _CHANNELS:
        raise InvalidInput(f"channel must be one of {', '.join(_CHANNELS)}, not {channel!r}.")
    return channel


def _answer_out(answer: serving.Answer) -> RecommendationsOut:
    return RecommendationsOut(kind=answer.kind, location_id=answer.location_id, personal=answer.personal,
                               notes=answer.notes,
                               items=[RecommendationOut(**{f: getattr(i, f) for f in RecommendationOut.model_fields})
                                      for i in answer.items])


@router.get("/members/{member_ref}/recommendations", response_model=RecommendationsOut)
def member_recommendations(member_ref: Annotated[str, Path(min_length=1, max_length=80)], ctx: CtxDep,
                           location: Annotated[str, Query(min_length=1, max_length=40)], kind: _KindQ = None,
                           limit: _LimitQ = 10, product: _ProductQ = None, basket: _BasketQ = None,
                           reading: _ReadingQ = None, channel: str = "store") -> RecommendationsOut:
    """Suggestions for a member at one of your locations: `member_ref` is the ref your merchant knows her by
    (from redeeming her member code). Only what she can get (in stock there, or delivered or shipped by
    another of your locations), and only non-personal answers without her purchase-history consent."""
    kind = serving.check_kind(kind)
    serving.check_limit(limit)
    basket_ids = serving.parse_basket(product, basket)
    pairs = serving.parse_reading(reading)
    with ctx.read() as session:
        loc = serving.merchant_location(session, location_id=location)
        ctx.principal.ensure_merchant(loc.merchant_id, "location", location)
        member_id = serving.resolve_member(session, merchant_id=loc.merchant_id, member_ref=member_ref)
        answer = serving.recommend(session, merchant_id=loc.merchant_id, location=loc, member_id=member_id,
                                    kind=kind, limit=limit, now=ctx.now(), channel=_channel(channel),
                                    basket=basket_ids, reading=pairs)
    return _answer_out(answer)


@router.get("/me/recommendations", response_model=RecommendationsOut)
def my_recommendations(mctx: MemberCtxDep, merchant: Annotated[str, Query(min_length=1, max_length=40)],
                       location: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
                       kind: _KindQ = None, limit: _LimitQ = 10, product: _ProductQ = None,
                       basket: _BasketQ = None, reading: _ReadingQ = None) -> RecommendationsOut:
    """The member's own suggestions at a merchant (a member session), at one of its locations or from any of
    them; the same consent rules apply: what she lets the merchant use is what shapes the answer."""
    kind = serving.check_kind(kind)
    serving.check_limit(limit)
    basket_ids = serving.parse_basket(product, basket)
    pairs = serving.parse_reading(reading)
    with mctx.read() as session:
        loc = serving.merchant_location(session, location_id=location, merchant_id=merchant) if location else None
        if loc is None:
            serving.require_merchant(session, merchant_id=merchant)
        answer = serving.recommend(session, merchant_id=merchant, location=loc, member_id=mctx.member_id,
                                    kind=kind, limit=limit, now=mctx.now(), channel="online", basket=basket_ids,
                                    reading=pairs)
    return _answer_out(answer)


@router.post("/insights/runs", response_model=TrainingRunOut, status_code=202)
def request_training_run(body: TrainingRunIn, ctx: CtxDep, request: Request,
                         idempotency_key: IdempotencyKey = None) -> JSONResponse:
    """Ask for a training run (merchant admins): the worker trains soon; a run already waiting is returned."""
    merchant_id = body.merchant_id or ctx.principal.merchant_id
    if merchant_id is None:
        raise InvalidInput("Name the merchant: `merchant_id`.")
    ctx.principal.ensure_merchant(merchant_id, "merchant", merchant_id)
    ctx.principal.ensure_admin_of(merchant_id)
    return idempotent(ctx, request, idempotency_key, body, 202, lambda s: TrainingRunOut.model_validate(
        service.request_run(s, merchant_id=merchant_id, kind=body.kind, now=ctx.now())))


@router.get("/insights/runs", response_model=list[TrainingRunOut])
def list_training_runs(ctx: CtxDep, merchant_id: Annotated[str | None, Query(max_length=40)] = None,
                       kind: Annotated[str | None, Query(max_length=40)] = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 50) -> list[TrainingRunOut]:
    """Training runs, newest first, with status, seconds, peak memory and the sale lines they used."""
    with ctx.read() as session:
        return [TrainingRunOut.model_validate(r) for r in service.list_runs(
            session, principal=ctx.principal, merchant_id=merchant_id, kind=kind, limit=limit)]


# --- purchase suggestions and leftovers ---
# Its routes live in insights/replenishment_api.py (one router, included here under /insights).


router.include_router(replenishment_router)
