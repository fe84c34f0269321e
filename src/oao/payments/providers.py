"""The seam every wallet provider plugs into: the sandbox wallet, Alipay, and later others.

A provider is an outside party reached over the network, so nothing here runs
inside a database transaction: the payments service commits what it is about
to ask, calls the provider, then records the answer in a new transaction.

What a provider may learn is fixed by `ProviderOrder` (S4, data minimisation):
amount, currency, merchant, store and our reference. There is no field for
line items, so no adapter can send them by accident. On top of that the gateway
passes every ProviderOrder through the one outbound projection
(`oao.sharing.service.project_outbound`, payload kind "payment.provider_order"),
which applies the merchant's data-sharing policy and records a disclosure.

Names follow Alipay face-to-face / WeChat Pay, which the sandbox imitates:
`out_trade_no` is our merchant order number (our order or sale id, never
regenerated on a retry), `out_request_no` our refund id (the provider's refund
idempotency key).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

ChargeStatus = Literal["succeeded", "processing", "failed", "closed", "not_found"]
RefundStatus = Literal["succeeded", "processing", "failed"]


class ProviderError(Exception):
    """The provider could not be reached or answered something we cannot use; safe to retry."""


class InvalidNotification(Exception):
    """A notification whose signature, app or shape does not check out: it changes nothing."""


@dataclass(frozen=True, slots=True)
class ProviderOrder:
    """Everything a provider is told about a payment (and nothing more)."""

    out_trade_no: str
    amount_minor: int
    currency: str
    merchant_id: str
    store_id: str | None
    expires_at: datetime

    def as_payload(self) -> dict[str, object]:
        """The fields as a payload for the outbound projection."""
        return {name: getattr(self, name) for name in PROVIDER_ORDER_FIELDS}

    @classmethod
    def from_payload(cls, payload: Mapping[str, object]) -> ProviderOrder:
        """Rebuild from what the projection let through; KeyError names a required field it withheld."""
        missing = [n for n in PROVIDER_ORDER_FIELDS if n not in payload and n != "store_id"]
        if missing:
            raise KeyError(", ".join(missing))
        return cls(**{n: payload.get(n) for n in PROVIDER_ORDER_FIELDS})  # type: ignore[arg-type]


PROVIDER_ORDER_FIELDS = ("out_trade_no", "amount_minor", "currency", "merchant_id", "store_id", "expires_at")


@dataclass(frozen=True, slots=True)
class PrecreateResult:
    qr_content: str  # what the merchant-presented QR encodes (a URL the wallet app opens)
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class ChargeResult:
    status: ChargeStatus
    out_trade_no: str
    provider_trade_no: str | None = None
    amount_minor: int | None = None
    message: str = ""
    # A cancel that found the charge paid gives the money back (Alipay's trade.cancel does):
    # how much went back to the shopper. Zero for everything else.
    reversed_minor: int = 0


@dataclass(frozen=True, slots=True)
class RefundResult:
    status: RefundStatus
    out_request_no: str
    refunded_minor: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class Notification:
    """A verified asynchronous notification, reduced to what OAO checks against its own record."""

    event_id: str
    out_trade_no: str
    provider_trade_no: str
    app_id: str
    merchant_ref: str
    amount_minor: int
    currency: str
    status: ChargeStatus
    occurred_at: datetime


class WalletProvider(Protocol):
    name: str
    app_id: str

    def precreate(self, order: ProviderOrder) -> PrecreateResult:
        """Merchant-presented dynamic QR: a code the shopper scans; it expires at `order.expires_at`."""

    def pay_with_code(self, order: ProviderOrder, *, auth_code: str) -> ChargeResult:
        """Customer-presented payment code scanned by the cashier; may answer `processing` (user paying)."""

    def query(self, *, out_trade_no: str) -> ChargeResult:
        """Where a charge stands now: the polling fallback when notifications are late or lost."""

    def cancel(self, *, out_trade_no: str) -> ChargeResult:
        """Close an unpaid charge (and reverse it if it was paid meanwhile); safe to repeat."""

    def refund(self, *, out_trade_no: str, out_request_no: str, amount_minor: int,
               currency: str) -> RefundResult:
        """Give back part or all of a paid charge; the same `out_request_no` never refunds twice."""

    def verify_notification(self, *, raw_body: bytes, headers: Mapping[str, str]) -> Notification:
        """Check the signature over the raw body; raise InvalidNotification when it does not hold."""
