"""Talking to wallet providers without ever holding a transaction open.

Every flow here is the same three steps: commit what we are about to ask
(the intent, the refund row), call the provider with no transaction open
(SQLite has one writer: a call made inside one would stall every other write,
and a provider that calls back would deadlock), then record the answer in a new
transaction. A crash between the steps loses nothing: the polling job
(`poll_open_payments`) finds the intent or refund still open and asks again
with the same merchant order number / refund id, which providers treat as the
same request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx

from oao.config import Settings
from oao.core.auth import Principal
from oao.core.clock import Clock
from oao.core.db import Database
from oao.core.errors import InvalidInput, InvalidState
from oao.payments import notifications
from oao.payments import service as payments
from oao.payments.models import PaymentIntent, PaymentRefund
from oao.payments.providers import ProviderError, ProviderOrder, WalletProvider
from oao.sharing import service as sharing

log = logging.getLogger("oao.payments.gateway")

ProviderFactory = Callable[[str], WalletProvider]
COUNTER_QR_MINUTES = 5
PROVIDERS = ("sandbox", "alipay")


def sandbox_provider(settings: Settings, http: httpx.Client) -> WalletProvider:
    """The sandbox wallet client, reaching the wallet at OAO's public URL through `http`."""
    from oao.payments import sandbox
    from oao.payments.sandbox_client import SandboxWalletClient

    base = settings.public_url.rstrip("/")
    return SandboxWalletClient(http=http, base_url=base, notify_url=f"{base}/api/v1/payments/notify/sandbox",
                               app_id=sandbox.APP_ID, app_secret=sandbox.app_secret(settings),
                               wallet_public_key=sandbox.public_key(settings))


def default_provider_factory(settings: Settings, *, http: httpx.Client | None = None) -> ProviderFactory:
    """Providers by name, built once: the sandbox always, Alipay when configured."""
    client = http or httpx.Client(timeout=httpx.Timeout(10.0, connect=5.0))
    built: dict[str, WalletProvider] = {}

    def factory(name: str) -> WalletProvider:
        if name not in built:
            if name == "sandbox":
                built[name] = sandbox_provider(settings, client)
            elif name == "alipay" and settings.alipay_app_id:
                from oao.payments import alipay  # written alongside; configured by OAO_ALIPAY_*

                built[name] = alipay.AlipayProvider.from_settings(settings, client=client)
            else:
                raise InvalidInput(f"Payment provider {name!r} is not configured here.")
        return built[name]

    return factory


def app_provider_factory(state: Any) -> ProviderFactory:
    """The app's provider factory (`app.state.payment_provider_factory`; tests put their own there)."""
    factory = getattr(state, "payment_provider_factory", None)
    if factory is None:
        factory = default_provider_factory(state.settings)
        state.payment_provider_factory = factory
    return factory


def _read(db: Database, intent_id: str) -> PaymentIntent:
    """A snapshot of the intent, usable after its read transaction ended."""
    with db.read() as session:
        intent = payments.get_intent(session, intent_id=intent_id)
        session.expunge(intent)  # a read ends in a rollback, which would expire it
        return intent


class PolicyWithholds(InvalidState):
    """The merchant's data-sharing policy withholds something a provider request cannot do without."""


def shared_order(db: Database, *, intent: PaymentIntent, now: datetime) -> ProviderOrder:
    """The ProviderOrder as the merchant's data-sharing policy lets it leave, with its disclosure committed
    before the provider is called (S4: amount and store only; line items have no path out)."""
    full = payments.provider_order(intent)
    with db.unit_of_work() as session:
        sent = sharing.project_outbound(session, owner_merchant_id=intent.merchant_id,
                                        recipient_kind="payment_provider", recipient_id=intent.provider,
                                        purpose="payment", payload_kind="payment.provider_order",
                                        payload=full.as_payload(), now=now)
        try:
            return ProviderOrder.from_payload(sent)
        except KeyError as exc:  # raised inside the transaction: nothing sent, so no disclosure either
            raise PolicyWithholds(f"The data-sharing policy of this merchant withholds {exc.args[0]} from payment "
                                  f"providers, which a wallet payment cannot do without; change the policy.") from None


def start(db: Database, *, intent_id: str, now: datetime, provider_factory: ProviderFactory,
          auth_code: str | None = None) -> PaymentIntent:
    """Ask the provider for the QR, or charge the scanned payment code, of a committed intent."""
    intent = _read(db, intent_id)
    if intent.status not in ("requires_payment_method", "processing") or intent.out_trade_no is None:
        return intent
    try:
        order = shared_order(db, intent=intent, now=now)
    except PolicyWithholds as exc:
        # Nothing is sent; the intent says why (like a provider failure), so every screen shows it.
        with db.unit_of_work() as session:
            payments.note_provider_error(session, intent_id=intent_id, message=str(exc), now=now)
        return _read(db, intent_id)
    provider = provider_factory(intent.provider)
    try:
        if intent.flow == "merchant_qr":
            if intent.qr_content and intent.expires_at and intent.expires_at > now:
                return intent  # the QR already shown is still good
            qr = provider.precreate(order)
            with db.unit_of_work() as session:
                payments.record_qr(session, intent_id=intent_id, qr_content=qr.qr_content, expires_at=qr.expires_at,
                                   now=now)
        else:
            if not auth_code:
                return intent
            result = provider.pay_with_code(order, auth_code=auth_code)
            with db.unit_of_work() as session:
                notifications.apply_charge(session, intent_id=intent_id, status=result.status,
                                           provider_trade_no=result.provider_trade_no, now=now,
                                           message=result.message)
    except ProviderError as exc:
        log.warning("provider %s failed for %s: %s", intent.provider, intent_id, exc)
        with db.unit_of_work() as session:
            payments.note_provider_error(session, intent_id=intent_id, message=str(exc), now=now)
    return _read(db, intent_id)


def close(db: Database, *, intent_id: str, now: datetime, provider_factory: ProviderFactory) -> PaymentIntent:
    """Tell the provider a cancelled charge is closed (it reverses any money taken meanwhile)."""
    intent = _read(db, intent_id)
    if intent.status != "canceled" or intent.out_trade_no is None or intent.closed_at is not None:
        return intent
    try:
        result = provider_factory(intent.provider).cancel(out_trade_no=intent.out_trade_no)
    except ProviderError as exc:
        with db.unit_of_work() as session:
            payments.note_provider_error(session, intent_id=intent_id, message=f"close: {exc}", now=now)
        return _read(db, intent_id)
    if result.status in ("closed", "not_found", "failed"):
        with db.unit_of_work() as session:
            payments.mark_provider_closed(session, intent_id=intent_id, now=now, reversed_minor=result.reversed_minor,
                                          message=result.message)
    return _read(db, intent_id)


def cancel(db: Database, *, intent_id: str, now: datetime, provider_factory: ProviderFactory,
           reason: str = "cancelled at the counter", principal: Principal | None = None) -> PaymentIntent:
    """Stop a wallet payment: cancelled here first (a late success can no longer count), then closed there."""
    with db.unit_of_work() as session:
        intent = (payments.get_visible_intent(session, intent_id=intent_id, principal=principal) if principal
                  else payments.get_intent(session, intent_id=intent_id))
        if intent.out_trade_no is None:
            raise InvalidState(f"Payment {intent_id} is not a wallet payment; cancel its order instead.")
        if intent.order_id is not None:
            raise InvalidState(f"Payment {intent_id} belongs to order {intent.order_id}; cancel the order.")
        payments.cancel_intent(session, intent_id=intent_id, now=now, reason=reason)
    return close(db, intent_id=intent_id, now=now, provider_factory=provider_factory)


def refresh(db: Database, *, intent_id: str, now: datetime, provider_factory: ProviderFactory) -> PaymentIntent:
    """Ask the provider where an open charge stands; past its deadline, cancel it."""
    intent = _read(db, intent_id)
    if intent.out_trade_no is None:
        return intent
    if intent.status == "canceled":
        return close(db, intent_id=intent_id, now=now, provider_factory=provider_factory)
    if intent.status not in payments.OPEN_STATUSES:
        return intent
    try:
        result = provider_factory(intent.provider).query(out_trade_no=intent.out_trade_no)
    except ProviderError as exc:
        with db.unit_of_work() as session:
            payments.note_provider_error(session, intent_id=intent_id, message=f"query: {exc}", now=now)
        result = None
    with db.unit_of_work() as session:
        payments.note_polled(session, intent_id=intent_id, now=now)
        if result is not None and result.status != "not_found":
            notifications.apply_charge(session, intent_id=intent_id, status=result.status,
                                       provider_trade_no=result.provider_trade_no, now=now,
                                       reversed_minor=result.reversed_minor, message=result.message)
        intent = payments.get_intent(session, intent_id=intent_id)
        if intent.status in payments.OPEN_STATUSES and intent.expires_at is not None and intent.expires_at <= now:
            if intent.order_id is not None:
                return intent  # the order's own expiry cancels it (and this intent with it)
            payments.cancel_intent(session, intent_id=intent_id, now=now,
                                   reason="the shopper did not complete the payment in time")
        else:
            return intent
    return close(db, intent_id=intent_id, now=now, provider_factory=provider_factory)


def execute_refund(db: Database, *, refund_pk: str, now: datetime, provider_factory: ProviderFactory) -> PaymentRefund:
    """Send a reserved refund to the provider (again, with the same refund id) and record the answer."""
    with db.read() as session:
        row = payments.get_refund(session, refund_pk=refund_pk)
        intent = payments.get_intent(session, intent_id=row.intent_id)
        session.expunge_all()
    if row.status != "pending" or intent.out_trade_no is None:
        return row
    with db.unit_of_work() as session:
        # The refund request leaves OAO too: through the projection, with its disclosure (never the reason).
        sent = sharing.project_outbound(
            session, owner_merchant_id=intent.merchant_id, recipient_kind="payment_provider",
            recipient_id=row.provider, purpose="payment", payload_kind="payment.provider_refund", now=now,
            payload={"out_trade_no": intent.out_trade_no, "out_request_no": row.refund_id,
                     "amount_minor": row.amount_minor, "currency": row.currency})
        if set(sent) != {"out_trade_no", "out_request_no", "amount_minor", "currency"}:
            raise PolicyWithholds("The data-sharing policy of this merchant withholds what a refund needs from "
                                  "payment providers; change the policy.")
    try:
        result = provider_factory(row.provider).refund(out_trade_no=sent["out_trade_no"],
                                                       out_request_no=sent["out_request_no"],
                                                       amount_minor=sent["amount_minor"], currency=sent["currency"])
        status, message = result.status, result.message
    except ProviderError as exc:
        status, message = "processing", str(exc)  # unknown outcome: stays pending, asked again later
    with db.unit_of_work() as session:
        return payments.record_refund_result(session, refund_pk=refund_pk, status=status, message=message, now=now)


def refund(db: Database, *, intent_id: str, refund_id: str, amount_minor: int, reason: str, now: datetime,
           provider_factory: ProviderFactory, principal: Principal | None = None) -> tuple[PaymentRefund, bool]:
    """Refund part of a payment: reserve (capped, idempotent by refund id), call the provider, record."""
    with db.unit_of_work() as session:
        if principal is not None:
            payments.get_visible_intent(session, intent_id=intent_id, principal=principal)
        row, created = payments.reserve_refund(session, intent_id=intent_id, refund_id=refund_id,
                                               amount_minor=amount_minor, reason=reason, now=now)
    if row.status == "pending":
        row = execute_refund(db, refund_pk=row.id, now=now, provider_factory=provider_factory)
    return row, created


def settle_order(db: Database, *, order_id: str, now: datetime, provider_factory: ProviderFactory) -> None:
    """After an order was cancelled: close its wallet charges and send its refunds now, not at the next poll."""
    with db.read() as session:
        intents = payments.intents_for_order(session, order_id=order_id)
        refunds = [r.id for i in intents for r in payments.refunds_of(session, intent_id=i.id) if r.status == "pending"]
        session.expunge_all()
    for intent in intents:
        if intent.status == "canceled" and intent.out_trade_no is not None and intent.closed_at is None:
            close(db, intent_id=intent.id, now=now, provider_factory=provider_factory)
    for refund_pk in refunds:
        execute_refund(db, refund_pk=refund_pk, now=now, provider_factory=provider_factory)


def poll_open_payments(db: Database, clock: Clock, settings: Settings, provider_factory: ProviderFactory, *,
                       limit: int = 100) -> int:
    """The fallback for late or lost notifications: query open charges, close cancelled ones, resend refunds.

    Manages its own transactions (never one open during a provider call); returns how many it looked at.
    """
    now = clock.now()
    with db.read() as session:
        intent_ids = payments.intents_to_poll(session, limit=limit)
        refund_ids = payments.pending_refunds(session, limit=limit)
    handled = 0
    for intent_id in intent_ids:
        try:
            refresh(db, intent_id=intent_id, now=now, provider_factory=provider_factory)
            handled += 1
        except Exception:  # noqa: BLE001 - one bad charge must not stop the others; logged, retried next round
            log.exception("polling payment %s failed", intent_id)
    for refund_pk in refund_ids:
        try:
            execute_refund(db, refund_pk=refund_pk, now=now, provider_factory=provider_factory)
            handled += 1
        except Exception:  # noqa: BLE001
            log.exception("sending refund %s failed", refund_pk)
    return handled


def counter_expiry(settings: Settings, flow: str, now: datetime) -> datetime:
    """How long a counter payment may stay open: the payment-code timeout, or a few minutes for a QR."""
    if flow == "payment_code":
        return now + timedelta(seconds=settings.payment_code_timeout_seconds)
    return now + timedelta(minutes=COUNTER_QR_MINUTES)
