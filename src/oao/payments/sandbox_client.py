"""OAO's WalletProvider for the sandbox wallet: plain HTTP with httpx, as to any real wallet.

The httpx client is injected, so tests route it into the app in-process and
capture every outbound request (the S4 test scans them for line items). What
goes out is built from `ProviderOrder` only.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from oao.core.clock import as_utc
from oao.payments import sandbox
from oao.payments.providers import (
    ChargeResult,
    InvalidNotification,
    Notification,
    PrecreateResult,
    ProviderError,
    ProviderOrder,
    RefundResult,
)

CHARGE_STATUSES = ("succeeded", "processing", "failed", "closed", "not_found")


class SandboxWalletClient:
    name = "sandbox"

    def __init__(self, *, http: httpx.Client, base_url: str, notify_url: str, app_id: str, app_secret: bytes,
                 wallet_public_key: Ed25519PublicKey) -> None:
        self.http, self.base_url, self.notify_url = http, base_url.rstrip("/"), notify_url
        self.app_id, self._secret, self._wallet_key = app_id, app_secret, wallet_public_key

    def _call(self, op: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", sandbox.APP_HEADER: self.app_id,
                   sandbox.REQUEST_SIGNATURE_HEADER: sandbox.request_signature(self._secret, body)}
        try:
            response = self.http.post(f"{self.base_url}/sandbox-wallet/api/{op}", content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise ProviderError(f"sandbox wallet unreachable: {exc.__class__.__name__}") from exc
        if response.status_code != 200:
            raise ProviderError(f"sandbox wallet answered {response.status_code} to {op}")
        try:
            answer = response.json()
        except ValueError as exc:
            raise ProviderError(f"sandbox wallet answered {op} with something that is not JSON") from exc
        if not isinstance(answer, dict):
            raise ProviderError(f"sandbox wallet answered {op} with an unexpected shape")
        return answer

    def _order(self, order: ProviderOrder) -> dict[str, Any]:
        # Exactly the ProviderOrder fields (S4): no lines, no products, no shopper.
        return {"out_trade_no": order.out_trade_no, "amount_minor": order.amount_minor, "currency": order.currency,
                "merchant_id": order.merchant_id, "store_id": order.store_id,
                "expires_at": order.expires_at.isoformat(), "notify_url": self.notify_url}

    @staticmethod
    def _charge(answer: dict[str, Any], out_trade_no: str) -> ChargeResult:
        status = answer.get("status")
        if status not in CHARGE_STATUSES:
            raise ProviderError(f"sandbox wallet answered an unknown status {status!r}")
        return ChargeResult(status=status, out_trade_no=str(answer.get("out_trade_no") or out_trade_no),
                            provider_trade_no=answer.get("trade_no"), amount_minor=answer.get("amount_minor"),
                            message=str(answer.get("message") or ""),
                            reversed_minor=int(answer.get("reversed_minor") or 0))

    def precreate(self, order: ProviderOrder) -> PrecreateResult:
        answer = self._call("precreate", self._order(order))
        if answer.get("status") == "failed" or not answer.get("qr_content"):
            raise ProviderError(f"sandbox wallet refused the QR: {answer.get('message', '')}")
        return PrecreateResult(qr_content=answer["qr_content"],
                               expires_at=as_utc(datetime.fromisoformat(answer["expires_at"])))

    def pay_with_code(self, order: ProviderOrder, *, auth_code: str) -> ChargeResult:
        return self._charge(self._call("pay", {**self._order(order), "auth_code": auth_code}), order.out_trade_no)

    def query(self, *, out_trade_no: str) -> ChargeResult:
        return self._charge(self._call("query", {"out_trade_no": out_trade_no}), out_trade_no)

    def cancel(self, *, out_trade_no: str) -> ChargeResult:
        return self._charge(self._call("cancel", {"out_trade_no": out_trade_no}), out_trade_no)

    def refund(self, *, out_trade_no: str, out_request_no: str, amount_minor: int, currency: str) -> RefundResult:
        answer = self._call("refund", {"out_trade_no": out_trade_no, "out_request_no": out_request_no,
                                       "amount_minor": amount_minor, "currency": currency})
        status = answer.get("status")
        if status not in ("succeeded", "processing", "failed"):
            raise ProviderError(f"sandbox wallet answered an unknown refund status {status!r}")
        return RefundResult(status=status, out_request_no=out_request_no,
                            refunded_minor=int(answer.get("refunded_minor") or 0),
                            message=str(answer.get("message") or ""))

    def verify_notification(self, *, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        header = next((v for k, v in headers.items() if k.lower() == sandbox.SIGNATURE_HEADER.lower()), "")
        if not header.startswith("ed25519="):
            raise InvalidNotification("missing or unknown signature scheme")
        try:
            self._wallet_key.verify(base64.b64decode(header[len("ed25519="):], validate=True), raw_body)
        except (InvalidSignature, ValueError):
            raise InvalidNotification("the signature does not match the body") from None
        try:
            data = json.loads(raw_body)
            note = Notification(event_id=str(data["event_id"]), out_trade_no=str(data["out_trade_no"]),
                                provider_trade_no=str(data["trade_no"]), app_id=str(data["app_id"]),
                                merchant_ref=str(data["merchant_ref"]), amount_minor=int(data["amount_minor"]),
                                currency=str(data["currency"]), status=data["status"],
                                occurred_at=as_utc(datetime.fromisoformat(data["occurred_at"])))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidNotification(f"signed but malformed: {exc.__class__.__name__}") from None
        if note.status not in CHARGE_STATUSES or not note.event_id or len(note.event_id) > 80:
            raise InvalidNotification("signed but with an unknown status or event id")
        return note
