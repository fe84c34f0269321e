"""Store console: the point of sale (/store/pos) and its printable receipts.

The page is one screen driven by static/oao/pos.js: the price list travels
with the page so scanning works offline, and the JSON endpoints below (staff
cookie + X-CSRF-Token) call the same services as the JSON API. A sale is
recorded by the id the browser made for it, so a resend after a dropped
connection (or from the offline queue) records nothing twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from oao.core.errors import Forbidden, InvalidState, Unauthorized
from oao.core.money import CURRENCY_EXPONENTS
from oao.deps import Ctx, idempotent
from oao.network import service as network
from oao.payments import gateway
from oao.payments import service as payments
from oao.pos import service, till
from oao.pos.models import Register
from oao.pos.schemas import SaleIn, TillHoldIn, TillMemberIn, TillWalletIn, TillWalletOut
from oao.pos.service import ScannedLine
from oao.pos.tenders import Tender
from oao.web.common import StaffPageDep, check_csrf, render, staff_ctx

router = APIRouter(include_in_schema=False)

SYMBOLS = {"CNY": "¥", "JPY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "HKD": "HK$"}
TENDER_NAMES = {"cash": "Cash", "card": "Card", "wallet": "Wallet", "voucher": "Voucher",
                "pay_in_store_other": "Other", "points": "Points"}


def money(amount_minor: int, currency: str) -> str:
    """¥1,234.50: what a shopper reads on a screen or a receipt."""
    exp = CURRENCY_EXPONENTS.get(currency, 2)
    sign = "-" if amount_minor < 0 else ""
    units, minor = divmod(abs(amount_minor), 10 ** exp) if exp else (abs(amount_minor), 0)
    symbol = SYMBOLS.get(currency)
    number = f"{units:,}" + (f".{minor:0{exp}d}" if exp else "")
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def _staff_json(request: Request, x_csrf_token: Annotated[str | None, Header()] = None) -> Ctx:
    """The till's fetch calls: a staff session and its CSRF token, refused as problem+json otherwise."""
    ctx = staff_ctx(request)
    if ctx is None:
        raise Unauthorized("Your staff session has ended; log in again to keep selling.")
    check_csrf(request, x_csrf_token)
    return ctx


TillDep = Annotated[Ctx, Depends(_staff_json)]


def _registers(ctx: Ctx) -> list[Register]:
    principal = ctx.principal
    if principal.merchant_id is None:
        raise Forbidden("The till is for a merchant's staff; log in with a store account.")
    with ctx.read() as session:
        registers = service.list_registers(session, principal=principal, location_id=principal.location_id)
        for register in registers:
            session.expunge(register)
    return registers


# --- the page -----------------------------------------------------------------------------------

@router.get("/store/pos", response_class=HTMLResponse)
def pos_page(request: Request, ctx: StaffPageDep) -> HTMLResponse:
    principal = ctx.principal
    registers = _registers(ctx)
    with ctx.read() as session:
        stores = {r.location_id: network.get_location(session, location_id=r.location_id).name for r in registers}
        currency = network.get_merchant(session, merchant_id=principal.merchant_id).currency
        prices = till.price_list(session, merchant_id=principal.merchant_id)
    store_name = stores.get(principal.location_id or "") or next(iter(stores.values()), "")
    config: dict[str, Any] = {
        "currency": currency, "symbol": SYMBOLS.get(currency, ""), "exponent": CURRENCY_EXPONENTS.get(currency, 2),
        # The register's clock follows the server's, so a queued sale's sold_at is never "in the future".
        "server_now": ctx.now().isoformat(),
        "registers": [{"id": r.id, "name": r.name, "kind": r.kind, "store": stores[r.location_id]}
                      for r in registers],
        # gtin14 -> [catalog GTIN, title, counter price, kiosk price]; same currency for the whole merchant.
        "prices": {p.gtin14: [p.gtin, p.title, p.store_price_minor, p.kiosk_price_minor]
                   for p in prices if p.currency == currency},
    }
    return render(request, "store/pos.html", {
        "store_nav": "pos", "store_name": store_name, "registers": registers, "config": config,
        "product_count": len(config["prices"])}, ctx=ctx)


# --- members and points -------------------------------------------------------------------------

@router.post("/store/pos/member")
def attach_member(body: TillMemberIn, ctx: TillDep) -> JSONResponse:
    with ctx.tx() as session:
        member = till.member_at_till(session, principal=ctx.principal, code=body.code, now=ctx.now(),
                                     settings=ctx.settings)
    return JSONResponse({"member_ref": member.member_ref, "name": member.name,
                         "balances": [{"programme_id": b.programme_id, "programme_name": b.programme_name,
                                       "available": b.available, "value_minor": b.value_minor,
                                       "currency": b.currency} for b in member.balances]})


def _hold_json(hold: till.TillHold) -> dict[str, Any]:
    return {"hold_id": hold.hold_id, "programme_id": hold.programme_id, "points": hold.points,
            "value_minor": hold.value_minor, "status": hold.status}


@router.post("/store/pos/points-holds", status_code=201)
def hold_points(body: TillHoldIn, ctx: TillDep) -> JSONResponse:
    with ctx.tx() as session:
        hold = till.hold_points_for(session, principal=ctx.principal, hold_id=body.hold_id,
                                    member_ref=body.member_ref, programme_id=body.programme_id,
                                    amount_minor=body.amount_minor, now=ctx.now())
    return JSONResponse(_hold_json(hold), status_code=201)


@router.post("/store/pos/points-holds/{hold_id}/void")
def void_points(hold_id: str, ctx: TillDep) -> JSONResponse:
    with ctx.tx() as session:
        hold = till.void_points_hold(session, principal=ctx.principal, hold_id=hold_id[:80], now=ctx.now())
    return JSONResponse(_hold_json(hold))


# --- wallet payments ----------------------------------------------------------------------------

def _wallet_json(ctx: Ctx, intent_id: str) -> dict[str, Any]:
    with ctx.read() as session:
        intent = payments.get_visible_intent(session, intent_id=intent_id, principal=ctx.principal)
        open_ = intent.status in payments.OPEN_STATUSES
        qr = (segno.make(intent.qr_content, error="m").svg_inline(scale=6, omitsize=True)
              if open_ and intent.flow == "merchant_qr" and intent.qr_content else None)
        return TillWalletOut(intent_id=intent.id, status=intent.status, flow=intent.flow,
                             amount_minor=intent.amount_minor, currency=intent.currency, qr_svg=qr,
                             pay_url=f"/pay/{intent.id}", last_error=intent.last_error).model_dump()


@router.post("/store/pos/wallet", status_code=201)
def open_wallet_payment(body: TillWalletIn, ctx: TillDep, request: Request) -> JSONResponse:
    """Show a QR for the shopper's wallet, or charge the payment code she shows; one per payment_key."""

    def run(session: Any) -> TillWalletOut:
        register = service.get_register(session, principal=ctx.principal, register_id=body.register_id)
        now = ctx.now()
        intent = payments.open_counter_payment(
            session, principal=ctx.principal, location_id=register.location_id, amount_minor=body.amount_minor,
            currency=None, flow=body.flow, provider=ctx.settings.payment_provider,
            expires_at=gateway.counter_expiry(ctx.settings, body.flow, now), now=now, register_id=register.id)
        return TillWalletOut(intent_id=intent.id, status=intent.status, flow=intent.flow,
                             amount_minor=intent.amount_minor, currency=intent.currency,
                             pay_url=f"/pay/{intent.id}", last_error=None)

    first = idempotent(ctx, request, f"till-wallet:{body.payment_key}", body, 201, run)
    intent_id = TillWalletOut.model_validate_json(first.body).intent_id
    gateway.start(ctx.db, intent_id=intent_id, now=ctx.now(), auth_code=body.auth_code,
                  provider_factory=gateway.app_provider_factory(request.app.state))
    return JSONResponse(_wallet_json(ctx, intent_id), status_code=201)


@router.post("/store/pos/wallet/{intent_id}/refresh")
def refresh_wallet_payment(intent_id: str, ctx: TillDep, request: Request) -> JSONResponse:
    """Where the shopper's payment stands (the till polls this while the QR is shown)."""
    _wallet_json(ctx, intent_id[:40])  # visibility first
    gateway.refresh(ctx.db, intent_id=intent_id[:40], now=ctx.now(),
                    provider_factory=gateway.app_provider_factory(request.app.state))
    return JSONResponse(_wallet_json(ctx, intent_id[:40]))


@router.post("/store/pos/wallet/{intent_id}/cancel")
def cancel_wallet_payment(intent_id: str, ctx: TillDep, request: Request) -> JSONResponse:
    current = _wallet_json(ctx, intent_id[:40])
    if current["status"] == "succeeded":
        raise InvalidState("This wallet payment has already been paid; finish the sale with it.")
    gateway.cancel(ctx.db, intent_id=intent_id[:40], now=ctx.now(), principal=ctx.principal,
                   provider_factory=gateway.app_provider_factory(request.app.state))
    return JSONResponse(_wallet_json(ctx, intent_id[:40]))


# --- sales and receipts -------------------------------------------------------------------------

@router.post("/store/pos/sales", status_code=201)
def record_sale(body: SaleIn, ctx: TillDep) -> JSONResponse:
    """Record the sale rung up in the browser: 201 the first time, 200 with the same receipt on a resend."""
    with ctx.tx() as session:
        sale, created = service.record_sale(
            session, principal=ctx.principal, sale_id=body.sale_id, register_id=body.register_id,
            lines=[ScannedLine(line.gtin, line.quantity) for line in body.lines],
            tenders=[Tender(t.kind, t.amount_minor, t.reference()) for t in body.tenders],
            member_ref=body.member_ref, sold_at=body.sold_at, now=ctx.now())
        receipt = service.receipt(session, sale=sale)
    return JSONResponse({"id": receipt.id, "sale_id": receipt.sale_id, "receipt_number": receipt.receipt_number,
                         "currency": receipt.currency, "total_minor": receipt.total_minor,
                         "change_minor": receipt.change_minor, "created": created,
                         "receipt_url": f"/store/pos/receipts/{receipt.id}"},
                        status_code=201 if created else 200)


def _local(at: datetime, timezone: str) -> str:
    return at.astimezone(ZoneInfo(timezone)).strftime("%a %d %b %Y, %H:%M")


def _receipt_context(ctx: Ctx, sale_id: str) -> dict[str, Any]:
    with ctx.read() as session:
        sale = service.get_sale(session, principal=ctx.principal, sale_id=sale_id[:40])
        if ctx.principal.location_id is not None and sale.location_id != ctx.principal.location_id:
            raise Forbidden("This receipt is from another store.")
        receipt = service.receipt(session, sale=sale)
        location = network.get_location(session, location_id=sale.location_id)
        timezone, store_name = location.timezone, location.name
        points = till.sale_points(session, sale=sale)
    return {"receipt": receipt, "points": points, "sold_at": _local(receipt.sold_at, timezone),
            "money": lambda amount: money(amount, receipt.currency), "tender_names": TENDER_NAMES,
            "store_nav": "pos", "store_name": store_name}


@router.get("/store/pos/receipts/{sale_id}", response_class=HTMLResponse)
def receipt_page(sale_id: str, request: Request, ctx: StaffPageDep) -> HTMLResponse:
    return render(request, "store/receipt.html", _receipt_context(ctx, sale_id), ctx=ctx)


@router.get("/store/pos/receipts/{sale_id}/points", response_class=HTMLResponse)
def receipt_points(sale_id: str, request: Request, ctx: StaffPageDep,
                   poll_try: Annotated[int, Query(ge=0, le=100)] = 0) -> Response:
    """The points lines of a receipt; polled until the loyalty worker has credited the sale's points."""
    return render(request, "store/receipt_points.html", {**_receipt_context(ctx, sale_id), "poll_try": poll_try},
                  ctx=ctx)
