"""HTTP side of the sandbox wallet: its merchant API (`/sandbox-wallet/api/...`) and the shopper's
phone pages (`/sandbox-wallet/...`). Not part of OAO's own API, so kept out of the OpenAPI schema.

The merchant API answers business outcomes with 200 and a `status` (like a real wallet's
`code`/`sub_code`); a request that is malformed or not signed by the app answers 4xx.
"""

from __future__ import annotations

import hmac
from datetime import datetime
from typing import Annotated, Any

import segno
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from oao.core.clock import as_utc
from oao.core.errors import BadRequest, NotFound, Unauthorized
from oao.payments import sandbox
from oao.web.pages import templates

router = APIRouter(prefix="/sandbox-wallet", include_in_schema=False)
_REF = r"^[A-Za-z0-9_.:-]{1,64}$"


class _TradeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out_trade_no: str = Field(pattern=_REF)
    amount_minor: int = Field(gt=0, le=2_147_483_647)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    merchant_id: str = Field(pattern=_REF)
    store_id: str | None = Field(None, pattern=_REF)
    expires_at: datetime
    notify_url: str = Field(min_length=8, max_length=500, pattern=r"^https?://")


class _PayIn(_TradeIn):
    auth_code: str = Field(pattern=r"^[0-9]{10,32}$")


class _RefIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    out_trade_no: str = Field(pattern=_REF)


class _RefundIn(_RefIn):
    out_request_no: str = Field(pattern=_REF)
    amount_minor: int = Field(gt=0, le=2_147_483_647)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


def _trade_request(body: _TradeIn) -> sandbox.TradeRequest:
    return sandbox.TradeRequest(out_trade_no=body.out_trade_no, amount_minor=body.amount_minor,
                                currency=body.currency, merchant_id=body.merchant_id, store_id=body.store_id,
                                expires_at=as_utc(body.expires_at), notify_url=body.notify_url)


def _authenticate(request: Request, raw: bytes) -> str:
    settings = request.app.state.settings
    app_id = request.headers.get(sandbox.APP_HEADER, "")
    given = request.headers.get(sandbox.REQUEST_SIGNATURE_HEADER, "")
    expected = sandbox.request_signature(sandbox.app_secret(settings), raw)
    if app_id != sandbox.APP_ID or not hmac.compare_digest(given, expected):
        raise Unauthorized("The request is not signed by a known sandbox app.")
    return app_id


def _parse(model: type[BaseModel], raw: bytes) -> Any:
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise BadRequest(f"Malformed sandbox wallet request: {exc.errors()[0]['msg']}") from None


async def _api(request: Request, model: type[BaseModel], op: Any) -> JSONResponse:
    raw = await request.body()
    app_id = _authenticate(request, raw)
    body = _parse(model, raw)
    state = request.app.state

    def run() -> dict[str, Any]:
        with state.db.unit_of_work() as session:
            try:
                return op(session, app_id, body, state.settings, state.clock.now())
            except sandbox.WalletRefusal as refusal:
                session.rollback()
                return {"status": "failed", "code": refusal.code, "message": refusal.message}

    return JSONResponse(await run_in_threadpool(run))


@router.post("/api/precreate")
async def api_precreate(request: Request) -> JSONResponse:
    return await _api(request, _TradeIn, lambda s, app, b, st, now: sandbox.precreate(
        s, app_id=app, req=_trade_request(b), public_url=st.public_url, settings=st, now=now))


@router.post("/api/pay")
async def api_pay(request: Request) -> JSONResponse:
    return await _api(request, _PayIn, lambda s, app, b, st, now: sandbox.pay_with_code(
        s, app_id=app, req=_trade_request(b), auth_code=b.auth_code, settings=st, now=now))


@router.post("/api/query")
async def api_query(request: Request) -> JSONResponse:
    return await _api(request, _RefIn, lambda s, app, b, st, now: sandbox.query(
        s, app_id=app, out_trade_no=b.out_trade_no, settings=st, now=now))


@router.post("/api/cancel")
async def api_cancel(request: Request) -> JSONResponse:
    return await _api(request, _RefIn, lambda s, app, b, st, now: sandbox.cancel(
        s, app_id=app, out_trade_no=b.out_trade_no, settings=st, now=now))


@router.post("/api/refund")
async def api_refund(request: Request) -> JSONResponse:
    return await _api(request, _RefundIn, lambda s, app, b, st, now: sandbox.refund(
        s, app_id=app, out_trade_no=b.out_trade_no, out_request_no=b.out_request_no, amount_minor=b.amount_minor,
        now=now))


@router.get("/api/public-key")
def api_public_key(request: Request) -> Response:
    from cryptography.hazmat.primitives import serialization

    pem = sandbox.public_key(request.app.state.settings).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return Response(pem, media_type="application/x-pem-file")


# --- the shopper's phone ---------------------------------------------------------------------------------

def _page(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    context.setdefault("openapi_url", "/api/openapi.json")
    return templates.TemplateResponse(request, f"payments/{name}", context, status_code=status_code)


def _svg(content: str) -> str:
    return segno.make(content, error="m").svg_inline(scale=6, dark="#10233f")


@router.get("", response_class=HTMLResponse)
def wallet_home(request: Request) -> HTMLResponse:
    state = request.app.state
    with state.db.unit_of_work() as session:
        account = sandbox.ensure_account(session, now=state.clock.now())
        waiting = sandbox.waiting_for(session, account_id=account.id)
        recent = sandbox.recent_trades(session)
        return _page(request, "sandbox_home.html", {"account": account, "waiting": waiting, "recent": recent})


@router.post("/codes")
def new_code(request: Request, mode: Annotated[str, Form(max_length=20)] = "instant") -> Response:
    state = request.app.state
    with state.db.unit_of_work() as session:
        account = sandbox.ensure_account(session, now=state.clock.now())
        try:
            code = sandbox.issue_code(session, account_id=account.id, mode=mode, now=state.clock.now())
        except sandbox.WalletRefusal as refusal:
            raise BadRequest(refusal.message) from None
        return RedirectResponse(f"/sandbox-wallet/codes/{code.code}", status_code=303)


@router.get("/codes/{code}", response_class=HTMLResponse)
def show_code(request: Request, code: str) -> HTMLResponse:
    state = request.app.state
    with state.db.read() as session:
        row = session.get(sandbox.SandboxPaymentCode, code[:32])
        if row is None:
            raise NotFound("No such payment code.")
        return _page(request, "sandbox_code.html", {"code": row, "qr_svg": _svg(row.code),
                                                    "expired": row.expires_at <= state.clock.now()})


@router.post("/trades/{trade_no}/{answer}")
def answer_trade(request: Request, trade_no: str, answer: str) -> Response:
    if answer not in ("confirm", "decline"):
        raise NotFound("Confirm or decline a payment.")
    state = request.app.state
    with state.db.unit_of_work() as session:
        try:
            sandbox.confirm_code_payment(session, trade_no=trade_no[:40], approve=answer == "confirm",
                                         settings=state.settings, now=state.clock.now())
        except sandbox.WalletRefusal as refusal:
            session.rollback()
            return _page(request, "sandbox_result.html", {"ok": False, "message": refusal.message}, 409)
    return RedirectResponse("/sandbox-wallet", status_code=303)


@router.get("/qr/{token}", response_class=HTMLResponse)
def scan_qr(request: Request, token: str) -> HTMLResponse:
    state = request.app.state
    with state.db.unit_of_work() as session:
        trade = sandbox.trade_by_token(session, token=token[:64], settings=state.settings, now=state.clock.now())
        if trade is None:
            return _page(request, "sandbox_result.html", {"ok": False, "message": "Unknown or replaced QR code."},
                         404)
        return _page(request, "sandbox_approve.html", {"trade": trade, "token": token})


@router.post("/qr/{token}", response_class=HTMLResponse)
def approve_qr(request: Request, token: str) -> HTMLResponse:
    state = request.app.state
    with state.db.unit_of_work() as session:
        account = sandbox.ensure_account(session, now=state.clock.now())
        try:
            trade = sandbox.approve_qr(session, token=token[:64], account_id=account.id, settings=state.settings,
                                       now=state.clock.now())
        except sandbox.WalletRefusal as refusal:
            session.rollback()
            return _page(request, "sandbox_result.html", {"ok": False, "message": refusal.message}, 409)
        return _page(request, "sandbox_result.html", {"ok": True, "trade": trade,
                                                      "message": "Paid. You can close this page."})
