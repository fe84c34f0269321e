"""Alipay face-to-face payments (当面付) through the documented OpenAPI gateway.

A `WalletProvider`: merchant-presented dynamic QR (alipay.trade.precreate), customer-presented
payment code (alipay.trade.pay, scene bar_code), the polling fallback (alipay.trade.query),
cancel (alipay.trade.cancel) and partial refunds (alipay.trade.refund), plus verification of
Alipay's asynchronous notifications (trade_status_sync).

Every request is a form POST of the common parameters (app_id, method, format=JSON,
charset=utf-8, sign_type=RSA2, timestamp in Beijing time, version=1.0, notify_url) and
`biz_content`, signed with the application's key. Every answer must carry Alipay's signature
over the `<method>_response` text, or it is not believed (ProviderError, safe to retry).

What Alipay learns is fixed by ProviderOrder (S4): the order reference, the amount, the store
id; the subject is "Order <out_trade_no>", never item names. Only CNY: amounts travel as yuan
strings ("12.34") and come back as integer fen.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from zoneinfo import ZoneInfo

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from oao.core.clock import Clock, SystemClock
from oao.payments.alipay_sign import (
    load_private_key,
    load_public_key,
    rsa2_sign,
    rsa2_verify,
    sign_content,
    signed_response_node,
)
from oao.payments.providers import (
    ChargeResult,
    ChargeStatus,
    InvalidNotification,
    Notification,
    PrecreateResult,
    ProviderError,
    ProviderOrder,
    RefundResult,
)

BEIJING = ZoneInfo("Asia/Shanghai")  # Alipay's timestamps are Beijing time without an offset
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
PRODUCT_CODE = "FACE_TO_FACE_PAYMENT"
NOTIFICATION_ACK = "success"  # the plain-text body Alipay expects back, or it redelivers
NOTIFY_PATH = "/api/v1/payments/notify/alipay"
PRECREATE_MAX_MINUTES = 120  # a precreated code stays scannable for at most two hours

SUCCESS, PROCESSING, UNKNOWN, BUSINESS_FAILED = "10000", "10003", "20000", "40004"

TRADE_STATUS: dict[str, ChargeStatus] = {
    "WAIT_BUYER_PAY": "processing",
    "TRADE_SUCCESS": "succeeded",
    "TRADE_FINISHED": "succeeded",
    "TRADE_CLOSED": "closed",
}


class AlipayRequestError(ValueError):
    """An order Alipay face-to-face cannot take (wrong currency, already expired): no call was made."""


def yuan(amount_minor: int) -> str:
    """Integer fen as the yuan string Alipay wants: 1234 -> "12.34"."""
    if not isinstance(amount_minor, int) or isinstance(amount_minor, bool) or amount_minor <= 0:
        raise AlipayRequestError(f"An Alipay amount is a positive number of fen, not {amount_minor!r}.")
    return f"{amount_minor // 100}.{amount_minor % 100:02d}"


def fen(amount: object) -> int:
    """A yuan string from Alipay as integer fen; refuses anything with fractions of a fen."""
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise ProviderError(f"Alipay sent an amount that is not a number: {amount!r}") from None
    minor = value * 100
    if not value.is_finite() or minor != minor.to_integral_value() or minor < 0:
        raise ProviderError(f"Alipay sent an amount that is not whole fen: {amount!r}")
    return int(minor)


def _beijing(text: str) -> datetime:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=BEIJING)


def _reason(node: Mapping[str, Any]) -> str:
    parts = [str(node.get(k)) for k in ("code", "msg", "sub_code", "sub_msg") if node.get(k)]
    return " ".join(parts) or "no answer"


class AlipayProvider:
    """The Alipay OpenAPI as a WalletProvider; one instance per Alipay application."""

    name = "alipay"
    currencies = frozenset({"CNY"})

    def __init__(self, *, app_id: str, private_key: rsa.RSAPrivateKey, alipay_public_key: rsa.RSAPublicKey,
                 gateway: str = "https://openapi.alipay.com/gateway.do", notify_url: str | None = None,
                 seller_id: str | None = None, client: httpx.Client | None = None, clock: Clock | None = None,
                 timeout: float = 15.0) -> None:
        if not app_id:
            raise AlipayRequestError("An Alipay provider needs the application id.")
        self.app_id = app_id
        self.gateway = gateway
        self.notify_url = notify_url
        self.seller_id = seller_id
        self._private_key = private_key
        self._alipay_key = alipay_public_key
        self._client = client or httpx.Client(timeout=timeout)
        self._clock = clock or SystemClock()

    @classmethod
    def from_settings(cls, settings: Any, client: httpx.Client | None = None,
                      clock: Clock | None = None) -> AlipayProvider:
        """Build from OAO_ALIPAY_* settings; notifications go to OAO_PUBLIC_URL + NOTIFY_PATH."""
        try:
            private = load_private_key(Path(settings.alipay_private_key_file).read_bytes())
            public = load_public_key(Path(settings.alipay_public_key_file).read_bytes())
        except OSError as exc:
            raise AlipayRequestError(f"Cannot read an Alipay key file: {exc}") from None
        return cls(app_id=settings.alipay_app_id, private_key=private, alipay_public_key=public,
                   gateway=settings.alipay_gateway, notify_url=settings.public_url.rstrip("/") + NOTIFY_PATH,
                   client=client, clock=clock)

    # -- the gateway ------------------------------------------------------------------------

    def _call(self, method: str, biz: Mapping[str, str], *, notify: bool = False) -> dict[str, Any]:
        """POST one signed call; return the verified response node (ProviderError otherwise)."""
        params = {
            "app_id": self.app_id,
            "method": method,
            "format": "JSON",
            "charset": "utf-8",
            "sign_type": "RSA2",
            "timestamp": self._clock.now().astimezone(BEIJING).strftime(TIME_FORMAT),
            "version": "1.0",
            "biz_content": json.dumps(dict(biz), ensure_ascii=False, separators=(",", ":")),
        }
        if notify and self.notify_url:
            params["notify_url"] = self.notify_url
        params["sign"] = rsa2_sign(self._private_key, sign_content(params))
        try:
            response = self._client.post(
                self.gateway, data=params,
                headers={"Content-Type": "application/x-www-form-urlencoded;charset=utf-8"})
        except httpx.HTTPError as exc:
            raise ProviderError(f"Alipay {method} could not be reached: {exc}") from None
        if response.status_code != 200:
            raise ProviderError(f"Alipay {method} answered HTTP {response.status_code}.")
        node_text, sign, node = signed_response_node(response.text, method)
        if not node:
            raise ProviderError(f"Alipay {method} answered something that is not an OpenAPI response.")
        if node_text is None or sign is None:
            # The gateway leaves errors about the call itself (bad app id, bad signature) unsigned.
            raise ProviderError(f"Alipay {method} answered without a signature: {_reason(node)}")
        if not rsa2_verify(self._alipay_key, node_text, sign):
            raise ProviderError(f"Alipay {method} answer failed signature verification; not believed.")
        return node

    def _check_echo(self, method: str, node: Mapping[str, Any], out_trade_no: str) -> None:
        echoed = node.get("out_trade_no")
        if echoed is not None and echoed != out_trade_no:
            raise ProviderError(f"Alipay {method} answered about {echoed!r}, not {out_trade_no!r}.")

    def _order_biz(self, order: ProviderOrder) -> dict[str, str]:
        if order.currency != "CNY":
            raise AlipayRequestError(f"Alipay face-to-face takes CNY only, not {order.currency}.")
        biz = {"out_trade_no": order.out_trade_no, "total_amount": yuan(order.amount_minor),
               "subject": f"Order {order.out_trade_no}", "product_code": PRODUCT_CODE}
        if order.store_id:
            biz["store_id"] = order.store_id[:32]
        return biz

    def _minutes_left(self, order: ProviderOrder, cap: int | None = None) -> int:
        # Round down so Alipay never accepts a payment after OAO considers the order expired.
        minutes = math.floor((order.expires_at - self._clock.now()).total_seconds() / 60)
        if minutes < 1:
            raise AlipayRequestError("The order expires in less than a minute; Alipay's shortest timeout is 1m.")
        return min(minutes, cap) if cap else min(minutes, 15 * 24 * 60)

    # -- WalletProvider ---------------------------------------------------------------------

    def precreate(self, order: ProviderOrder) -> PrecreateResult:
        """Merchant-presented dynamic QR: Alipay's qr_code, valid until the order's expiry (at most 2 h)."""
        biz = self._order_biz(order)
        minutes = self._minutes_left(order, PRECREATE_MAX_MINUTES)
        biz["timeout_express"] = f"{minutes}m"
        node = self._call("alipay.trade.precreate", biz, notify=True)
        if node.get("code") != SUCCESS or not node.get("qr_code"):
            raise ProviderError(f"Alipay precreate refused {order.out_trade_no}: {_reason(node)}")
        self._check_echo("alipay.trade.precreate", node, order.out_trade_no)
        return PrecreateResult(qr_content=str(node["qr_code"]),
                               expires_at=self._clock.now().replace(microsecond=0) + timedelta(minutes=minutes))

    def pay_with_code(self, order: ProviderOrder, *, auth_code: str) -> ChargeResult:
        """Charge a scanned payment code; 10003 (user paying) and 20000 (unknown) answer processing."""
        if order.currency != "CNY":
            return ChargeResult("failed", order.out_trade_no, message=f"Alipay takes CNY only, not {order.currency}.")
        if not re.fullmatch(r"[0-9]{16,24}", auth_code or ""):
            return ChargeResult("failed", order.out_trade_no, message="Not an Alipay payment code.")
        biz = self._order_biz(order) | {"scene": "bar_code", "auth_code": auth_code,
                                        "timeout_express": f"{self._minutes_left(order)}m"}
        node = self._call("alipay.trade.pay", biz, notify=True)
        code = node.get("code")
        self._check_echo("alipay.trade.pay", node, order.out_trade_no)
        if code == SUCCESS:
            return ChargeResult("succeeded", order.out_trade_no, provider_trade_no=node.get("trade_no"),
                                amount_minor=fen(node.get("total_amount", "0")), message=_reason(node))
        if code in (PROCESSING, UNKNOWN) or (code == BUSINESS_FAILED and node.get("sub_code") == "ACQ.SYSTEM_ERROR"):
            # The shopper is confirming on the phone, or the outcome is unknown: poll, then cancel.
            return ChargeResult("processing", order.out_trade_no, provider_trade_no=node.get("trade_no"),
                                message=_reason(node))
        if code == BUSINESS_FAILED and node.get("sub_code") == "ACQ.TRADE_HAS_SUCCESS":
            # A retry of a charge that went through: the poll will find it paid.
            return ChargeResult("processing", order.out_trade_no, message=_reason(node))
        if code == BUSINESS_FAILED and node.get("sub_code") == "ACQ.TRADE_HAS_CLOSE":
            return ChargeResult("closed", order.out_trade_no, message=_reason(node))
        if code == BUSINESS_FAILED:
            return ChargeResult("failed", order.out_trade_no, message=_reason(node))
        raise ProviderError(f"Alipay pay for {order.out_trade_no} was refused: {_reason(node)}")

    def query(self, *, out_trade_no: str) -> ChargeResult:
        """alipay.trade.query by our order number; ACQ.TRADE_NOT_EXIST is not_found."""
        node = self._call("alipay.trade.query", {"out_trade_no": out_trade_no})
        code = node.get("code")
        if code == BUSINESS_FAILED and node.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return ChargeResult("not_found", out_trade_no, message=_reason(node))
        if code != SUCCESS:
            raise ProviderError(f"Alipay query for {out_trade_no} failed: {_reason(node)}")
        self._check_echo("alipay.trade.query", node, out_trade_no)
        status = TRADE_STATUS.get(str(node.get("trade_status")))
        if status is None:
            raise ProviderError(f"Alipay reported an unknown trade_status {node.get('trade_status')!r}.")
        amount = node.get("total_amount")
        return ChargeResult(status, out_trade_no, provider_trade_no=node.get("trade_no"),
                            amount_minor=fen(amount) if amount is not None else None,
                            message=str(node.get("trade_status")))

    def cancel(self, *, out_trade_no: str) -> ChargeResult:
        """alipay.trade.cancel: closes an unpaid trade, reverses a paid one; retry_flag=Y means try again."""
        node = self._call("alipay.trade.cancel", {"out_trade_no": out_trade_no})
        code = node.get("code")
        if code == BUSINESS_FAILED and node.get("sub_code") == "ACQ.TRADE_NOT_EXIST":
            return ChargeResult("not_found", out_trade_no, message=_reason(node))
        if code != SUCCESS:
            raise ProviderError(f"Alipay cancel for {out_trade_no} failed: {_reason(node)}")
        if node.get("retry_flag") == "Y":
            raise ProviderError(f"Alipay asks to retry the cancel of {out_trade_no}.")
        self._check_echo("alipay.trade.cancel", node, out_trade_no)
        return ChargeResult("closed", out_trade_no, provider_trade_no=node.get("trade_no"),
                            message=f"action={node.get('action', 'close')}")

    def refund(self, *, out_trade_no: str, out_request_no: str, amount_minor: int,
               currency: str) -> RefundResult:
        """alipay.trade.refund with our refund id as out_request_no, so a repeat never refunds twice."""
        if currency != "CNY":
            return RefundResult("failed", out_request_no, 0, message=f"Alipay refunds CNY only, not {currency}.")
        biz = {"out_trade_no": out_trade_no, "refund_amount": yuan(amount_minor), "out_request_no": out_request_no}
        node = self._call("alipay.trade.refund", biz)
        code = node.get("code")
        if code == SUCCESS:
            self._check_echo("alipay.trade.refund", node, out_trade_no)
            # fund_change=N on a repeated out_request_no: Alipay refunded that id once already.
            return RefundResult("succeeded", out_request_no, amount_minor,
                                message=f"fund_change={node.get('fund_change', '')} "
                                        f"refund_fee={node.get('refund_fee', '')}".strip())
        if code == UNKNOWN or (code == BUSINESS_FAILED and node.get("sub_code") == "ACQ.SYSTEM_ERROR"):
            return RefundResult("processing", out_request_no, 0, message=_reason(node))
        if code == BUSINESS_FAILED:
            return RefundResult("failed", out_request_no, 0, message=_reason(node))
        raise ProviderError(f"Alipay refund {out_request_no} was refused: {_reason(node)}")

    def verify_notification(self, *, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        """Check an asynchronous notification (form POST) against Alipay's key and this app."""
        try:
            pairs = parse_qsl(raw_body.decode("ascii"), keep_blank_values=True, strict_parsing=True,
                              encoding="utf-8", errors="strict")
        except (UnicodeDecodeError, ValueError):
            raise InvalidNotification("The notification body is not a URL-encoded form.") from None
        params = dict(pairs)
        if len(params) != len(pairs):
            raise InvalidNotification("The notification repeats a parameter.")
        missing = [k for k in ("sign", "sign_type", "app_id", "notify_id", "notify_time", "out_trade_no",
                               "trade_no", "trade_status", "total_amount") if not params.get(k)]
        if missing:
            raise InvalidNotification(f"The notification lacks {', '.join(missing)}.")
        if params["sign_type"] != "RSA2":
            raise InvalidNotification(f"The notification is signed with {params['sign_type']}, not RSA2.")
        if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
            raise InvalidNotification("The notification is not in UTF-8, which this app asks for.")
        if not rsa2_verify(self._alipay_key, sign_content(params, exclude=("sign", "sign_type")), params["sign"]):
            raise InvalidNotification("The notification's signature does not verify with Alipay's public key.")
        if params["app_id"] != self.app_id:
            raise InvalidNotification(f"The notification is for app {params['app_id']}, not {self.app_id}.")
        if self.seller_id and params.get("seller_id") != self.seller_id:
            raise InvalidNotification("The notification is for another seller.")
        status = TRADE_STATUS.get(params["trade_status"])
        if status is None:
            raise InvalidNotification(f"Unknown trade_status {params['trade_status']!r}.")
        try:
            amount = fen(params["total_amount"])
            occurred_at = _beijing(params["notify_time"])
        except (ProviderError, ValueError):
            raise InvalidNotification("The notification's amount or time is malformed.") from None
        return Notification(
            event_id=params["notify_id"], out_trade_no=params["out_trade_no"], provider_trade_no=params["trade_no"],
            app_id=params["app_id"], merchant_ref=params.get("seller_id", ""), amount_minor=amount, currency="CNY",
            status=status, occurred_at=occurred_at.astimezone(ZoneInfo("UTC")),
        )
