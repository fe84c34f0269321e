"""The built-in sandbox wallet: the *wallet's* side, imitating Alipay face-to-face / WeChat Pay.

It runs inside OAO on its own routes (`sandbox_web.py`) with its own tables
(`sandbox_models.py`) so demos and browser tests can "pay with the phone", and
OAO talks to it over HTTP (`sandbox_client.py`) exactly as to a real wallet:

- merchant-presented QR: `precreate` answers a URL of the wallet's approve
  page; the trade is paid when a shopper approves it there, closed when it expires;
- customer-presented payment code: the wallet page shows a code; a cashier's
  `pay` with it succeeds at once, fails, or answers "user paying" until the
  shopper confirms on the phone;
- signed notifications (Ed25519 over the raw body) queued in
  `sandbox_wallet_deliveries` and POSTed by `deliver_notifications`; with
  `OAO_SANDBOX_WALLET_CHAOS` every event is sent late, several times, and an
  older event after a newer one, like real wallets do.

Requests from a merchant are authenticated with an HMAC of the body under the
app secret; both keys are derived from OAO's secret key, so nothing is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oao.config import Settings
from oao.core.clock import Clock
from oao.core.db import Database
from oao.core.ids import new_id
from oao.payments.sandbox_models import (
    CODE_MODES,
    SandboxAccount,
    SandboxDelivery,
    SandboxPaymentCode,
    SandboxRefund,
    SandboxTrade,
)

log = logging.getLogger("oao.payments.sandbox")

APP_ID = "oao-sandbox-app"
SIGNATURE_HEADER = "X-Sandbox-Signature"
APP_HEADER = "X-Sandbox-App-Id"
REQUEST_SIGNATURE_HEADER = "X-Sandbox-Request-Signature"
CODE_SECONDS = 60
MAX_DELIVERY_ATTEMPTS = 8
DELIVERY_LEASE = timedelta(seconds=30)
OPEN = ("waiting", "user_paying")


class WalletRefusal(Exception):
    """A request the wallet answers with a business error (unknown trade, amount mismatch…)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


# --- keys --------------------------------------------------------------------------------------------------

def _derive(settings: Settings, label: str) -> bytes:
    return hashlib.sha256(f"oao-sandbox-wallet:{label}:".encode() + settings.secret_key.encode()).digest()


def signing_key(settings: Settings) -> Ed25519PrivateKey:
    """The wallet's own notification key (the public half is what merchants verify with)."""
    return Ed25519PrivateKey.from_private_bytes(_derive(settings, "signing"))


def public_key(settings: Settings) -> Ed25519PublicKey:
    return signing_key(settings).public_key()


def app_secret(settings: Settings) -> bytes:
    """The secret OAO's app signs its requests to the wallet with."""
    return _derive(settings, "app-secret")


def request_signature(secret: bytes, body: bytes) -> str:
    return hmac.new(secret, body, hashlib.sha256).hexdigest()


def sign(settings: Settings, body: bytes) -> str:
    return base64.b64encode(signing_key(settings).sign(body)).decode()


# --- accounts and payment codes (the shopper's phone) --------------------------------------------------

def ensure_account(session: Session, *, now: datetime, name: str = "Xiao Ming") -> SandboxAccount:
    """The demo shopper (created on first use)."""
    account = session.scalar(select(SandboxAccount).order_by(SandboxAccount.created_at, SandboxAccount.id).limit(1))
    if account is None:
        account = SandboxAccount(id=new_id("sbu"), name=name, created_at=now)
        session.add(account)
        session.flush()
    return account


def issue_code(session: Session, *, account_id: str, mode: str, now: datetime) -> SandboxPaymentCode:
    """A fresh 18-digit payment code (Alipay codes start with 25-30) valid for a minute."""
    if mode not in CODE_MODES:
        raise WalletRefusal("INVALID_PARAMETER", f"mode must be one of {', '.join(CODE_MODES)}")
    code = SandboxPaymentCode(code="28" + "".join(secrets.choice("0123456789") for _ in range(16)),
                              account_id=account_id, mode=mode, expires_at=now + timedelta(seconds=CODE_SECONDS),
                              used_at=None, created_at=now)
    session.add(code)
    session.flush()
    return code


# --- trades (the merchant API) -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class TradeRequest:
    out_trade_no: str
    amount_minor: int
    currency: str
    merchant_id: str
    store_id: str | None
    expires_at: datetime
    notify_url: str


def trade_answer(trade: SandboxTrade | None, *, out_trade_no: str, message: str = "",
                 reversed_minor: int = 0) -> dict[str, Any]:
    if trade is None:
        return {"status": "not_found", "out_trade_no": out_trade_no, "message": message or "no such trade"}
    status = {"waiting": "processing", "user_paying": "processing"}.get(trade.status, trade.status)
    return {"status": status, "out_trade_no": trade.out_trade_no, "trade_no": trade.trade_no,
            "amount_minor": trade.amount_minor, "wallet_status": trade.status, "message": message,
            "reversed_minor": reversed_minor}


def _find(session: Session, app_id: str, out_trade_no: str, *, lock: bool = False) -> SandboxTrade | None:
    query = select(SandboxTrade).where(SandboxTrade.app_id == app_id, SandboxTrade.out_trade_no == out_trade_no)
    return session.scalar(query.with_for_update() if lock else query)


def _expire_if_due(session: Session, trade: SandboxTrade, now: datetime, settings: Settings) -> None:
    if trade.status in OPEN and trade.expires_at <= now:
        trade.status, trade.updated_at = "closed", now
        queue_notification(session, trade, settings=settings, now=now)


def _new_trade(session: Session, app_id: str, req: TradeRequest, flow: str, now: datetime) -> SandboxTrade:
    trade = SandboxTrade(trade_no=new_id("sbt"), app_id=app_id, out_trade_no=req.out_trade_no,
                         merchant_ref=req.merchant_id, store_ref=req.store_id, amount_minor=req.amount_minor,
                         currency=req.currency, refunded_minor=0, flow=flow, status="waiting", qr_token=None,
                         account_id=None, notify_url=req.notify_url, expires_at=req.expires_at, paid_at=None,
                         created_at=now, updated_at=now)
    session.add(trade)
    session.flush()
    return trade


def _same_trade(trade: SandboxTrade, req: TradeRequest) -> None:
    if (trade.amount_minor, trade.currency, trade.merchant_ref) != (req.amount_minor, req.currency,
                                                                    req.merchant_id):
        raise WalletRefusal("TRADE_MISMATCH", "out_trade_no was already used for a different amount or merchant")


def precreate(session: Session, *, app_id: str, req: TradeRequest, public_url: str, settings: Settings,
              now: datetime) -> dict[str, Any]:
    """A merchant-presented QR; asking again for the same unpaid trade gives a fresh QR."""
    if req.expires_at <= now:
        raise WalletRefusal("INVALID_PARAMETER", "the trade would already be expired")
    trade = _find(session, app_id, req.out_trade_no, lock=True)
    if trade is None:
        trade = _new_trade(session, app_id, req, "merchant_qr", now)
    _same_trade(trade, req)
    _expire_if_due(session, trade, now, settings)
    if trade.status not in OPEN:
        raise WalletRefusal("TRADE_STATUS_ERROR", f"the trade is {trade.status}")
    trade.qr_token, trade.expires_at, trade.updated_at = secrets.token_urlsafe(18), req.expires_at, now
    answer = trade_answer(trade, out_trade_no=req.out_trade_no)
    answer.update(qr_content=f"{public_url.rstrip('/')}/sandbox-wallet/qr/{trade.qr_token}",
                  expires_at=trade.expires_at.isoformat())
    return answer


def pay_with_code(session: Session, *, app_id: str, req: TradeRequest, auth_code: str, settings: Settings,
                  now: datetime) -> dict[str, Any]:
    """The cashier scanned a shopper's code: paid, refused, or "user paying" until the phone confirms."""
    trade = _find(session, app_id, req.out_trade_no, lock=True)
    if trade is not None:  # a retry of the same charge answers where it stands
        _same_trade(trade, req)
        _expire_if_due(session, trade, now, settings)
        return trade_answer(trade, out_trade_no=req.out_trade_no)
    code = session.get(SandboxPaymentCode, auth_code, with_for_update=True)
    if code is None or code.used_at is not None or code.expires_at <= now:
        return {"status": "failed", "out_trade_no": req.out_trade_no,
                "message": "the payment code is invalid, used or expired; ask the shopper to refresh it"}
    code.used_at = now
    if code.mode == "insufficient":
        return {"status": "failed", "out_trade_no": req.out_trade_no, "message": "insufficient balance"}
    trade = _new_trade(session, app_id, req, "payment_code", now)
    trade.account_id = code.account_id
    if code.mode == "instant":
        _pay(session, trade, settings=settings, now=now)
    else:
        trade.status = "user_paying"
        queue_notification(session, trade, settings=settings, now=now)
    return trade_answer(trade, out_trade_no=req.out_trade_no)


def _pay(session: Session, trade: SandboxTrade, *, settings: Settings, now: datetime) -> None:
    trade.status, trade.paid_at, trade.updated_at = "succeeded", now, now
    queue_notification(session, trade, settings=settings, now=now)


def query(session: Session, *, app_id: str, out_trade_no: str, settings: Settings, now: datetime) -> dict[str, Any]:
    trade = _find(session, app_id, out_trade_no, lock=True)
    if trade is not None:
        _expire_if_due(session, trade, now, settings)
    return trade_answer(trade, out_trade_no=out_trade_no)


def cancel(session: Session, *, app_id: str, out_trade_no: str, settings: Settings, now: datetime) -> dict[str, Any]:
    """Close an unpaid trade; a paid one is reversed (all its money goes back), like Alipay's trade.cancel."""
    trade = _find(session, app_id, out_trade_no, lock=True)
    if trade is None:
        return {"status": "closed", "out_trade_no": out_trade_no, "message": "no such trade; nothing to close"}
    reversed_minor = 0
    if trade.status == "succeeded":
        reversed_minor = trade.amount_minor - trade.refunded_minor
        trade.refunded_minor = trade.amount_minor
        session.add(SandboxRefund(id=new_id("sbr"), trade_no=trade.trade_no, out_request_no=f"cancel:{trade.trade_no}",
                                  amount_minor=reversed_minor, created_at=now))
    if trade.status != "closed":
        trade.status, trade.updated_at = "closed", now
        queue_notification(session, trade, settings=settings, now=now)
    message = f"reversed {reversed_minor}" if reversed_minor else "closed"
    return trade_answer(trade, out_trade_no=out_trade_no, message=message, reversed_minor=reversed_minor)


def refund(session: Session, *, app_id: str, out_trade_no: str, out_request_no: str, amount_minor: int,
           now: datetime) -> dict[str, Any]:
    """Give back part of a paid trade; the same out_request_no never refunds twice."""
    trade = _find(session, app_id, out_trade_no, lock=True)
    if trade is None:
        return {"status": "failed", "out_request_no": out_request_no, "refunded_minor": 0, "message": "no such trade"}
    done = session.scalar(select(SandboxRefund).where(SandboxRefund.trade_no == trade.trade_no,
                                                      SandboxRefund.out_request_no == out_request_no))
    if done is not None:
        if done.amount_minor != amount_minor:
            return {"status": "failed", "out_request_no": out_request_no, "refunded_minor": 0,
                    "message": "out_request_no was already used for a different amount"}
        return {"status": "succeeded", "out_request_no": out_request_no, "refunded_minor": done.amount_minor,
                "message": "already refunded"}
    if trade.status != "succeeded":
        return {"status": "failed", "out_request_no": out_request_no, "refunded_minor": 0,
                "message": f"the trade is {trade.status}"}
    if amount_minor <= 0 or trade.refunded_minor + amount_minor > trade.amount_minor:
        return {"status": "failed", "out_request_no": out_request_no, "refunded_minor": 0,
                "message": "refund amount exceeds what is left of the trade"}
    trade.refunded_minor, trade.updated_at = trade.refunded_minor + amount_minor, now
    session.add(SandboxRefund(id=new_id("sbr"), trade_no=trade.trade_no, out_request_no=out_request_no,
                              amount_minor=amount_minor, created_at=now))
    return {"status": "succeeded", "out_request_no": out_request_no, "refunded_minor": amount_minor, "message": ""}


# --- the shopper's phone ---------------------------------------------------------------------------------

def trade_by_token(session: Session, *, token: str, settings: Settings, now: datetime) -> SandboxTrade | None:
    trade = session.scalar(select(SandboxTrade).where(SandboxTrade.qr_token == token))
    if trade is not None:
        _expire_if_due(session, trade, now, settings)
    return trade


def approve_qr(session: Session, *, token: str, account_id: str, settings: Settings, now: datetime) -> SandboxTrade:
    """The shopper approves a scanned merchant QR."""
    trade = session.scalar(select(SandboxTrade).where(SandboxTrade.qr_token == token).with_for_update())
    if trade is None:
        raise WalletRefusal("QR_UNKNOWN", "This QR code is not a sandbox wallet payment (or was replaced).")
    _expire_if_due(session, trade, now, settings)
    if trade.status not in OPEN:
        raise WalletRefusal("TRADE_STATUS_ERROR", f"This payment is {trade.status}.")
    trade.account_id = account_id
    # A real wallet reports the scan before the payment; with chaos that older event arrives last.
    trade.status = "user_paying"
    queue_notification(session, trade, settings=settings, now=now - timedelta(seconds=1))
    _pay(session, trade, settings=settings, now=now)
    return trade


def confirm_code_payment(session: Session, *, trade_no: str, approve: bool, settings: Settings,
                         now: datetime) -> SandboxTrade:
    """The shopper confirms (or declines) a payment-code charge that was "user paying"."""
    trade = session.get(SandboxTrade, trade_no, with_for_update=True)
    if trade is None:
        raise WalletRefusal("TRADE_NOT_EXIST", "No such payment.")
    _expire_if_due(session, trade, now, settings)
    if trade.status != "user_paying":
        raise WalletRefusal("TRADE_STATUS_ERROR", f"This payment is {trade.status}.")
    if approve:
        _pay(session, trade, settings=settings, now=now)
    else:
        trade.status, trade.updated_at = "closed", now
        queue_notification(session, trade, settings=settings, now=now)
    return trade


def waiting_for(session: Session, *, account_id: str) -> list[SandboxTrade]:
    return list(session.scalars(select(SandboxTrade).where(SandboxTrade.account_id == account_id,
                                                           SandboxTrade.status == "user_paying")
                                .order_by(SandboxTrade.created_at)))


def recent_trades(session: Session, *, limit: int = 20) -> list[SandboxTrade]:
    return list(session.scalars(select(SandboxTrade).order_by(SandboxTrade.created_at.desc()).limit(limit)))


# --- notifications -------------------------------------------------------------------------------------------

def notification_body(trade: SandboxTrade, *, event_id: str, occurred_at: datetime) -> bytes:
    status = {"waiting": "processing", "user_paying": "processing"}.get(trade.status, trade.status)
    return json.dumps({"event_id": event_id, "app_id": trade.app_id, "out_trade_no": trade.out_trade_no,
                       "trade_no": trade.trade_no, "merchant_ref": trade.merchant_ref,
                       "amount_minor": trade.amount_minor, "currency": trade.currency, "status": status,
                       "occurred_at": occurred_at.isoformat()}, separators=(",", ":")).encode()


def queue_notification(session: Session, trade: SandboxTrade, *, settings: Settings, now: datetime,
                       rng: random.Random | None = None) -> str:
    """Queue the signed event for delivery; with chaos: late, duplicated, and scans after payments."""
    event_id = new_id("sbe")
    body = notification_body(trade, event_id=event_id, occurred_at=now)
    signature = sign(settings, body)
    copies = [timedelta(0)]
    if settings.sandbox_wallet_chaos:
        rng = rng or random.Random()
        late = timedelta(seconds=rng.randint(5, 30))
        # "processing" events are held back longest, so they arrive after the payment they preceded.
        if trade.status in OPEN:
            late += timedelta(seconds=60)
        copies = [late + timedelta(seconds=rng.randint(0, 20) * i) for i in range(rng.randint(2, 4))]
    for delay in copies:
        session.add(SandboxDelivery(id=new_id("sbd"), event_id=event_id, trade_no=trade.trade_no,
                                    url=trade.notify_url, body=body.decode(), signature=signature,
                                    deliver_after=now + delay, attempts=0, delivered_at=None, last_result=None,
                                    created_at=now))
    session.flush()
    return event_id


def deliver_notifications(db: Database, clock: Clock, settings: Settings, http: httpx.Client, *,
                          limit: int = 50) -> int:
    """POST due notifications to merchants (outside any transaction); returns how many were acknowledged."""
    now = clock.now()
    with db.unit_of_work() as session:
        due = list(session.scalars(
            select(SandboxDelivery).where(SandboxDelivery.delivered_at.is_(None), SandboxDelivery.deliver_after <= now,
                                          SandboxDelivery.attempts < MAX_DELIVERY_ATTEMPTS)
            .order_by(SandboxDelivery.deliver_after, SandboxDelivery.id).limit(limit)
            .with_for_update(skip_locked=True)))
        for row in due:  # a lease, so a second deliverer does not send the same copy meanwhile
            row.deliver_after, row.attempts = now + DELIVERY_LEASE, row.attempts + 1
        batch = [(row.id, row.url, row.body, row.signature, row.attempts) for row in due]
    acknowledged = 0
    for row_id, url, body, signature, attempts in batch:
        try:
            response = http.post(url, content=body.encode(), headers={
                "Content-Type": "application/json", SIGNATURE_HEADER: f"ed25519={signature}"})
            ok = response.status_code == 200 and response.text.strip() == "success"
            result = f"{response.status_code} {response.text[:150]}"
        except httpx.HTTPError as exc:
            ok, result = False, f"error {exc.__class__.__name__}"
        acknowledged += ok
        with db.unit_of_work() as session:
            values: dict[str, Any] = {"last_result": result[:200]}
            if ok:
                values["delivered_at"] = now
            else:  # back off: 30 s, 1, 2, 4… minutes
                values["deliver_after"] = now + timedelta(seconds=30 * 2 ** (attempts - 1))
            session.execute(update(SandboxDelivery).where(SandboxDelivery.id == row_id).values(**values))
        if not ok:
            log.info("sandbox notification %s not acknowledged: %s", row_id, result)
    return acknowledged
