"""HTTP routes of the settlement domain: statements (JSON, CSV, printable HTML),
the reconciliation, the settlement run, entries, and corrections (network admins)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from oao.core.clock import as_utc
from oao.core.errors import InvalidInput
from oao.deps import PROBLEM_RESPONSES, CtxDep, IdempotencyKey, idempotent
from oao.settlement import service, statements
from oao.settlement.postings import merchant_of
from oao.settlement.schemas import (
    EntryIn,
    EntryOut,
    PaymentDifferenceOut,
    PositionOut,
    ReconciliationOut,
    ReconciliationRowOut,
    RunOut,
    StatementCheckOut,
    StatementLineOut,
    StatementOut,
)

router = APIRouter(prefix="/settlement", tags=["settlement"], responses=PROBLEM_RESPONSES)
MerchantQ = Annotated[str | None, Query(min_length=1, max_length=40)]
When = Annotated[str, Query(min_length=10, max_length=40, description="ISO date or date-time (UTC if naive)")]


def _when(value: str, name: str) -> datetime:
    try:
        return as_utc(datetime.fromisoformat(value))
    except ValueError:
        raise InvalidInput(f"`{name}` must be an ISO date or date-time, not {value!r}.") from None


def _period(start: str, end: str) -> tuple[datetime, datetime]:
    a, b = _when(start, "from"), _when(end, "to")
    if b <= a:
        raise InvalidInput("`to` must be after `from` (the period is from ≤ t < to).")
    return a, b


@router.get("/statements", response_model=StatementOut,
            responses={200: {"content": {"text/csv": {}, "text/html": {}}}})
def get_statement(ctx: CtxDep, start: Annotated[str, Query(alias="from", min_length=10, max_length=40)],
                  end: Annotated[str, Query(alias="to", min_length=10, max_length=40)],
                  merchant_id: MerchantQ = None,
                  currency: Annotated[str | None, Query(min_length=3, max_length=3)] = None,
                  format: Literal["json", "csv", "html"] = "json"):  # noqa: A002 - the documented parameter name
    """A merchant's settlement statement for [from, to): opening, each entry, totals by kind, closing."""
    merchant_id = ctx.merchant_asked(merchant_id)
    a, b = _period(start, end)
    with ctx.read() as s:
        st = service.statement(s, merchant_id=merchant_id, start=a, end=b, currency=currency)
        check = service.check_statement(s, st)
    name = f"statement-{merchant_id}-{a.date().isoformat()}-{b.date().isoformat()}"
    if format == "csv":
        return Response(statements.to_csv(st), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    if format == "html":
        return HTMLResponse(statements.to_html(st))
    return StatementOut(
        merchant_id=st.merchant_id, merchant_name=st.merchant_name, currency=st.currency, start=st.start, end=st.end,
        opening_minor=st.opening_minor, totals_by_kind=st.totals_by_kind, closing_minor=st.closing_minor,
        lines=[StatementLineOut(entry_id=l.entry_id, booked_at=l.booked_at, kind=l.kind, reference=l.reference,
                                counterpart=l.counterpart, amount_minor=l.amount_minor, balance_minor=l.balance_minor)
               for l in st.lines],
        check=StatementCheckOut(ledger_closing_minor=check.ledger_closing_minor,
                                closing_matches_ledger=check.ledger_closing_minor == st.closing_minor,
                                captured_minor=check.captured_minor, proceeds_minor=check.proceeds_minor,
                                reconciled_to_payments=check.reconciled, unposted_sources=check.unposted_sources))


@router.get("/reconciliation", response_model=ReconciliationOut)
def get_reconciliation(ctx: CtxDep, merchant_id: MerchantQ = None) -> ReconciliationOut:
    """Captured wallet payments against ledger proceeds, per merchant and currency (merchants: their own)."""
    if not ctx.principal.is_network_admin:
        merchant_id = ctx.merchant_asked(merchant_id)
    with ctx.read() as s:
        rec = service.reconciliation(s, merchant_id=merchant_id)
    return ReconciliationOut(
        ok=rec.ok, unposted_sources=rec.unposted_sources, unbalanced_currencies=rec.unbalanced_currencies,
        rows=[ReconciliationRowOut(merchant_id=r.merchant_id, currency=r.currency, captured_minor=r.captured_minor,
                                   refunded_minor=r.refunded_minor, expected_minor=r.expected_minor,
                                   ledger_minor=r.ledger_minor, difference_minor=r.difference_minor,
                                   payments=[PaymentDifferenceOut(**i) for i in r.intents]) for r in rec.rows])


@router.get("/run", response_model=RunOut)
def get_run(ctx: CtxDep, start: Annotated[str, Query(alias="from", min_length=10, max_length=40)],
            end: Annotated[str, Query(alias="to", min_length=10, max_length=40)]) -> RunOut:
    """Every merchant's position for [from, to), checked against the ledger (network admins)."""
    ctx.principal.ensure_network_admin()
    a, b = _period(start, end)
    with ctx.read() as s:
        run = service.settlement_run(s, start=a, end=b)
    return RunOut(start=a, end=b, entries_read=run.entries_read, mismatches=run.mismatches,
                  positions=[PositionOut(merchant_id=merchant_of(x.account) or x.account, currency=x.currency,
                                         opening_minor=x.opening_minor, totals_by_kind=x.totals_by_kind,
                                         closing_minor=x.closing_minor, entries=x.entries) for x in run.positions])


@router.get("/entries", response_model=list[EntryOut])
def list_entries(ctx: CtxDep, merchant_id: MerchantQ = None,
                 start: Annotated[str | None, Query(alias="from", min_length=10, max_length=40)] = None,
                 end: Annotated[str | None, Query(alias="to", min_length=10, max_length=40)] = None,
                 limit: Annotated[int, Query(ge=1, le=5000)] = 500) -> list[EntryOut]:
    """Ledger entries touching a merchant's payable (merchants: their own)."""
    with ctx.read() as s:
        return [EntryOut.model_validate(e) for e in service.list_entries(
            s, principal=ctx.principal, merchant_id=merchant_id, start=_when(start, "from") if start else None,
            end=_when(end, "to") if end else None, limit=limit)]


@router.post("/entries", response_model=EntryOut, status_code=201)
def record_entry(body: EntryIn, ctx: CtxDep, request: Request, idempotency_key: IdempotencyKey = None):
    """Record a correction (network admins): a new entry, idempotent by `entry_id`."""
    ctx.principal.ensure_network_admin()
    return idempotent(ctx, request, idempotency_key, body, 201, lambda s: EntryOut.model_validate(
        service.record_entry(s, entry_id=body.entry_id, kind=body.kind, debit=body.debit, credit=body.credit,
                             amount_minor=body.amount_minor, currency=body.currency, merchant_ids=body.merchant_ids,
                             reference=body.reference, now=ctx.now())))
