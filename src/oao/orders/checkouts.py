"""Checkouts: one shopper buying from several merchants at once (S3's lip gloss from the online partner).

A checkout places one order per merchant (each from that merchant's own quote,
fulfilled by that merchant) in one transaction: every order's stock is
reserved or nothing is placed. The shopper pays once: a wallet checkout opens
ONE payment for the sum, whose merchant order number is the checkout id and
whose allocations give each order its share (payments.service). When it is
paid every order is confirmed together; until then, cancelling or expiring
one order cancels them all (orders.service). A return of one order later
refunds only that order's share of the payment (orders/returns.py).

The quote engine answers options where one seller has the whole cart, so a
cart of several sellers is split first (`split_by_seller`) and each part is
quoted on its own; a checkout then takes one option of each quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.config import Settings
from oao.core.auth import Principal
from oao.core.errors import InvalidInput, NotFound
from oao.core.ids import new_id
from oao.fulfillment import lifecycle
from oao.fulfillment import service as fulfillment
from oao.members import service as members
from oao.orders import service as orders
from oao.orders.models import Checkout, Order
from oao.payments import service as payments

MAX_LEGS = 10
# `in_person`: each merchant is paid at its own handover (pay_at_pickup / pay_on_delivery by option kind).
CHECKOUT_METHODS = ("wallet_qr", "in_person")


@dataclass(frozen=True, slots=True)
class CheckoutLeg:
    """One merchant's part: an option of a quote for that merchant's lines."""

    quote_id: str
    option_id: str


def split_by_seller(session: Session, *, items: dict[str, int]) -> dict[str, dict[str, int]]:
    """The cart's lines grouped by the merchant to sell each: merchant_id -> {product_id: quantity}.

    One merchant selling everything takes the whole cart (the cheapest such); otherwise each product goes
    to its cheapest seller, a tie to the seller with the most of the cart (fewer parcels, fewer fees).
    Products nobody sells are left out (the quote says so when they are asked for).
    """
    offers = catalog.active_offers(session, product_ids=list(items))
    sellers: dict[str, dict[str, int]] = {}
    for (merchant_id, product_id), offer in offers.items():
        sellers.setdefault(merchant_id, {})[product_id] = catalog.price_for(offer, "online")
    whole = [(sum(prices[p] * q for p, q in items.items()), m) for m, prices in sellers.items()
             if set(items) <= set(prices)]
    if whole:
        return {min(whole)[1]: dict(items)}
    parts: dict[str, dict[str, int]] = {}
    for product_id, quantity in items.items():
        candidates = [(prices[product_id], -len(prices), m) for m, prices in sellers.items() if product_id in prices]
        if candidates:
            parts.setdefault(min(candidates)[2], {})[product_id] = quantity
    return parts


def _member_id(session: Session, *, principal: Principal, member_ref: str | None, referrer: str | None,
               sellers: list[str]) -> str | None:
    """The shopper behind `member_ref`: the referrer's, the caller's, or (for the network) a seller's reference."""
    if member_ref is None:
        return None
    namespaces = [referrer] if referrer else [principal.merchant_id] if principal.merchant_id else sellers
    for merchant_id in namespaces:
        if merchant_id is None:
            continue
        found = members.resolve_member_ref(session, merchant_id=merchant_id, member_ref=member_ref)
        if found is not None:
            return found
    raise InvalidInput(f"Member reference {member_ref!r} is not one this merchant was given.")


def place_checkout(session: Session, *, principal: Principal, legs: list[CheckoutLeg], customer: dict[str, str],
                   payment_method: str, now: datetime, settings: Settings, member_ref: str | None = None,
                   member_id: str | None = None, referrer_merchant_id: str | None = None) -> Checkout:
    """Place one order per leg (all or nothing) and open the one payment for them.

    `member_id` (a caller that knows the shopper, e.g. the storefront) wins over `member_ref`. With
    `referrer_merchant_id`, every order sold by another merchant is placed as referred by it (refused
    without an accepted referral agreement for each of those sellers).
    """
    if payment_method not in CHECKOUT_METHODS:
        raise InvalidInput(f"A checkout is paid with one of {', '.join(CHECKOUT_METHODS)}, not {payment_method!r}.")
    if not 1 <= len(legs) <= MAX_LEGS:
        raise InvalidInput(f"A checkout has 1 to {MAX_LEGS} legs, one per merchant.")
    if len({leg.quote_id for leg in legs}) != len(legs):
        raise InvalidInput("Each leg of a checkout comes from its own quote (one quote per merchant).")
    options = []
    for leg in legs:
        quote = fulfillment.get_quote(session, quote_id=leg.quote_id, principal=principal)
        options.append(fulfillment.quote_option(quote, option_id=leg.option_id, now=now))
    sellers = [o["merchant"]["id"] for o in options]
    if len(set(sellers)) != len(sellers):
        raise InvalidInput("Two legs are sold by the same merchant; quote that merchant's lines together.")
    if len({o["currency"] for o in options}) != 1:
        raise InvalidInput("Every leg of a checkout must be in the same currency.")
    shopper = member_id or _member_id(session, principal=principal, member_ref=member_ref,
                                      referrer=referrer_merchant_id, sellers=sellers)
    checkout = Checkout(id=new_id("chk"), status="pending_payment", payment_method=payment_method,
                        currency=options[0]["currency"], total_minor=sum(o["total_minor"] for o in options),
                        referrer_merchant_id=referrer_merchant_id, created_by=principal.id, payment_due_at=None,
                        cancel_reason=None, created_at=now, updated_at=now)
    session.add(checkout)
    session.flush()
    placed: list[Order] = []
    for leg, option in zip(legs, options, strict=True):
        seller = option["merchant"]["id"]
        method = None
        if payment_method == "in_person":
            method = "pay_at_pickup" if option["kind"] == "pickup" else "pay_on_delivery"
        # Raising here (sold out, price changed, no referral agreement) rolls every order back.
        placed.append(orders.place_order(
            session, principal=principal, quote_id=leg.quote_id, option_id=leg.option_id, member_ref=None,
            member_id=shopper, customer=customer, payment_method=method, now=now, settings=settings,
            referrer_merchant_id=referrer_merchant_id if referrer_merchant_id not in (None, seller) else None,
            checkout_id=checkout.id))
    if payment_method == "in_person":
        checkout.status = "confirmed"
        orders.checkout_event(session, checkout, "checkout.placed", now)
        session.flush()
        return checkout
    checkout.payment_due_at = min(o.payment_due_at for o in placed if o.payment_due_at is not None)
    first_leg = lifecycle.of_order(session, order_id=placed[0].id)
    intent = payments.open_wallet_intent(
        session, merchant_id=placed[0].merchant_id, amount_minor=checkout.total_minor, currency=checkout.currency,
        provider=settings.payment_provider, flow="merchant_qr", expires_at=checkout.payment_due_at, now=now,
        order_id=checkout.id, location_id=first_leg[0].source_location_id if first_leg else None,
        allocations=[payments.Allocation(order_id=o.id, merchant_id=o.merchant_id, amount_minor=o.total_minor)
                     for o in placed])
    for order in placed:
        order.payment_method, order.payment_due_at, order.updated_at = "wallet_qr", checkout.payment_due_at, now
        orders.order_event(session, order, "order.payment_started", now, payment_method="wallet_qr",
                      intent_id=intent.id, checkout_id=checkout.id)
    orders.checkout_event(session, checkout, "checkout.placed", now, intent_id=intent.id)
    session.flush()
    return checkout


def get_checkout(session: Session, *, checkout_id: str, principal: Principal) -> Checkout:
    """The checkout for its placer, the network, its referrer, or a merchant with an order in it."""
    checkout = session.get(Checkout, checkout_id)
    if checkout is None:
        raise NotFound(f"No checkout {checkout_id!r}.")
    if principal.is_network_admin or checkout.created_by == principal.id or (
            principal.merchant_id is not None and principal.merchant_id == checkout.referrer_merchant_id):
        return checkout
    if principal.merchant_id is not None and session.scalar(
            select(Order.id).where(Order.checkout_id == checkout_id,
                                   or_(Order.merchant_id == principal.merchant_id,
                                       Order.referrer_merchant_id == principal.merchant_id)).limit(1)):
        return checkout
    raise NotFound(f"No checkout {checkout_id!r}.")


def visible_orders(session: Session, *, checkout: Checkout, principal: Principal) -> list[Order]:
    """The checkout's orders this caller may read (a seller sees its own, not its co-sellers')."""
    everything = principal.is_network_admin or checkout.created_by == principal.id
    return [o for o in orders.checkout_orders(session, checkout_id=checkout.id)
            if everything or principal.merchant_id in (o.merchant_id, o.referrer_merchant_id)]


def payment_of(session: Session, *, checkout: Checkout) -> Any | None:
    """The checkout's one wallet payment (its merchant order number is the checkout id), if any."""
    return next((i for i in payments.intents_for_order(session, order_id=checkout.id)
                 if i.out_trade_no == checkout.id), None)
