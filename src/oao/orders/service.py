"""Orders: placed from a quote option, paid (or pay-at-pickup agreed), fulfilled
leg by leg, cancelled or expired with their stock given back.

Placing an order re-checks the price and reserves every leg's stock in the
same transaction; if anything changed since the quote the shopper is told
what, and nothing is kept.

An order may be sold through another merchant (a referrer, S3's kiosk) when an
accepted referral agreement allows it; the commission is copied onto the order.
Orders of a checkout (orders/checkouts.py) share one wallet payment: it confirms
them all, and until it is paid, cancelling one cancels them all.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.config import Settings
from oao.core.auth import Principal
from oao.core.clock import as_utc
from oao.core.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.fulfillment import lifecycle
from oao.fulfillment import service as fulfillment
from oao.members import service as members
from oao.network import service as network
from oao.orders import points as order_points
from oao.orders.models import Checkout, Order, OrderLine
from oao.orders.points import PointsRequest
from oao.payments import service as payments

# Tenders settled at the counter or the door: the order is confirmed at once.
IN_STORE_METHODS = ("pay_at_pickup", "pay_on_delivery")
# Paid online through a wallet: the order waits, stock reserved, until the wallet says it is paid.
WALLET_METHODS = ("wallet_qr",)
PAYMENT_METHODS = IN_STORE_METHODS + WALLET_METHODS
# An order whose points pay its whole total: confirmed when placed, nothing else to pay.
POINTS_ONLY = "points"


def order_event(session: Session, order: Order, type_: str, now: datetime, **extra: Any) -> None:
    """Record an event of this order in the outbox (in the caller's transaction)."""
    _event(session, order, type_, now, **extra)


def _event(session: Session, order: Order, type_: str, now: datetime, **extra: Any) -> None:
    record_event(session, type=type_, subject_id=order.id, merchant_id=order.merchant_id,
                 payload={"order_id": order.id, "status": order.status, "total_minor": order.total_minor,
                          "currency": order.currency, **extra}, at=now)


def partner_facts(session: Session, order: Order) -> dict[str, Any]:
    """What settlement needs of an order between merchants: referral, checkout, partner pickup and its fee."""
    legs = lifecycle.of_order(session, order_id=order.id)
    pickup_id = next((f.pickup_location_id for f in legs if f.pickup_location_id), None)
    pickup_merchant = network.get_location(session, location_id=pickup_id).merchant_id if pickup_id else None
    facts: dict[str, Any] = {
        "merchant_id": order.merchant_id, "referrer_merchant_id": order.referrer_merchant_id,
        "referral_commission_bps": order.referral_commission_bps, "checkout_id": order.checkout_id,
        "pickup_location_id": pickup_id, "pickup_merchant_id": pickup_merchant, "total_minor": order.total_minor,
        "currency": order.currency, "subtotal_minor": order.subtotal_minor, "fees_minor": order.fees_minor,
        "pickup_fee_minor": None, "pickup_agreement_id": None}
    if pickup_merchant is not None and pickup_merchant != order.merchant_id:
        # The fee of the agreement that covered the order when it was placed (an agreement ended later
        # still covers it), so completing or cancelling it later never changes what it owes.
        terms = network.pickup_terms(session, host_merchant_id=pickup_merchant, guest_merchant_id=order.merchant_id,
                                     at=order.created_at)
        if terms is not None:
            facts.update(pickup_fee_minor=terms.fee_minor, pickup_agreement_id=terms.agreement_id,
                         pickup_agreement_version=terms.version, pickup_fee_currency=terms.currency)
    return facts


def _check_method(kind: str, method: str) -> None:
    if method not in PAYMENT_METHODS:
        raise InvalidInput(f"Unknown payment method {method!r}; use one of {', '.join(PAYMENT_METHODS)}.")
    if method == "pay_at_pickup" and kind != "pickup":
        raise InvalidInput("pay_at_pickup needs a pickup option; use pay_on_delivery for deliveries.")
    if method == "pay_on_delivery" and kind == "pickup":
        raise InvalidInput("pay_on_delivery is for delivered orders; use pay_at_pickup for pickups.")


def _recheck_prices(session: Session, option: dict[str, Any]) -> None:
    seller = option["merchant"]["id"]
    offers = catalog.active_offers(session, product_ids=[l["product_id"] for l in option["lines"]],
                                   merchant_ids=[seller])
    for line in option["lines"]:
        offer = offers.get((seller, line["product_id"]))
        if offer is None:
            raise Conflict(f"{line['title']} is no longer sold by {option['merchant']['name']}; "
                           "ask for a new quote.", product_id=line["product_id"])
        now_price = catalog.price_for(offer, "online")
        if now_price != line["unit_price_minor"]:
            raise Conflict(f"The price of {line['title']} changed from {line['unit_price_minor']} to {now_price} "
                           f"{offer.currency} (minor units) since the quote; ask for a new quote.",
                           product_id=line["product_id"], quoted_minor=line["unit_price_minor"],
                           current_minor=now_price)


def _recheck_partner_pickup(session: Session, option: dict[str, Any], now: datetime) -> None:
    """A pickup at another merchant's location needs its pickup agreement still in force now.

    The quote was made under the agreement; if it ended since, the order is refused before anything
    is reserved, and a new quote no longer offers that pickup point.
    """
    pickup = option.get("pickup_location")
    seller = option["merchant"]["id"]
    if not pickup or pickup.get("merchant_id") in (None, seller):
        return
    host = pickup["merchant_id"]
    if network.pickup_terms(session, host_merchant_id=host, guest_merchant_id=seller, at=now) is None:
        host_name = network.get_merchant(session, merchant_id=host).name
        raise Conflict(f"{pickup['name']} ({host_name}) no longer takes {option['merchant']['name']} orders for "
                       "pickup: their pickup agreement ended since the quote; quote again and choose another "
                       "option.", pickup_location_id=pickup["id"], pickup_merchant_id=host)


def _member_of(session: Session, merchant_id: str, member_ref: str | None) -> str | None:
    """The member this merchant knows by `member_ref` (from a scanned code or the shared login)."""
    if member_ref is None:
        return None
    member_id = members.resolve_member_ref(session, merchant_id=merchant_id, member_ref=member_ref)
    if member_id is None:
        raise InvalidInput(f"Member reference {member_ref!r} is not one this merchant was given.")
    return member_id


def _sale_facts(session: Session, order: Order) -> dict[str, Any]:
    """What loyalty and insights need of a completed order: who bought what, where."""
    lines = lines_of(session, order_id=order.id)
    products = catalog.products_by_ids(session, product_ids=[l.product_id for l in lines])
    legs = lifecycle.of_order(session, order_id=order.id)
    return {"sale_ref": order.id, "merchant_id": order.merchant_id, "member_id": order.member_id,
            "channel": "online", "location_id": legs[0].source_location_id if legs else None,
            "lines": [{"product_id": l.product_id, "category": getattr(products.get(l.product_id), "category", None)
                       or None, "quantity": l.quantity, "amount_minor": l.unit_price_minor * l.quantity}
                      for l in lines]}


def referral_for(session: Session, *, principal: Principal, referrer_merchant_id: str, seller_id: str,
                 seller_name: str, now: datetime) -> int:
    """The commission (basis points) the referrer earns on this seller's sale now; refused without an agreement.

    Only the referrer itself (its kiosk, its API key) or the network may name a referrer: nobody else can
    make a merchant earn, or owe, a commission.
    """
    if not (principal.is_network_admin or principal.merchant_id == referrer_merchant_id):
        raise Forbidden("Only the referring merchant itself or the network may place an order with a referrer.")
    if referrer_merchant_id == seller_id:
        raise InvalidInput(f"{seller_name} sells this itself; a merchant is not its own referrer.")
    terms = network.referral_terms(session, referrer_merchant_id=referrer_merchant_id, seller_merchant_id=seller_id,
                                   at=now)
    if terms is None:
        raise InvalidInput(f"No accepted referral agreement lets merchant {referrer_merchant_id} sell the products of "
                           f"{seller_name}; agree one first (POST /partner-agreements) or place the order without a "
                           "referrer.", referrer_merchant_id=referrer_merchant_id, seller_merchant_id=seller_id)
    return terms.commission_bps


def place_order(session: Session, *, principal: Principal, quote_id: str, option_id: str,
                member_ref: str | None = None,
                customer: dict[str, str], payment_method: str | None, now: datetime,
                settings: Settings, points: PointsRequest | None = None,
                referrer_merchant_id: str | None = None, checkout_id: str | None = None,
                member_id: str | None = None) -> Order:
    """Create the order and reserve its stock (all legs or nothing).

    With `points`, the member's points are held for that part of the total (see orders/points.py); the
    rest is paid with `payment_method`. Points that cover the whole total confirm the order at once
    (its payment method is then `points`, whatever `payment_method` said).

    With `referrer_merchant_id`, the order is sold through that merchant under an accepted referral
    agreement (the referrer may then place it although the seller is another merchant; `member_ref` is
    then the referrer's own reference for the shopper). `checkout_id` and an already resolved `member_id`
    (instead of `member_ref`) are given by orders/checkouts.py.
    """
    quote = fulfillment.get_quote(session, quote_id=quote_id, principal=principal)
    option = fulfillment.quote_option(quote, option_id=option_id, now=now)
    seller = option["merchant"]["id"]
    commission = None
    if referrer_merchant_id is not None:
        commission = referral_for(session, principal=principal, referrer_merchant_id=referrer_merchant_id,
                                  seller_id=seller, seller_name=option["merchant"]["name"], now=now)
    elif not principal.can_see_merchant(seller):
        raise Forbidden(f"This option is sold by {option['merchant']['name']}; only that merchant, the network, "
                        "or a merchant with a referral agreement (as referrer_merchant_id) can place it.")
    if payment_method is not None:
        _check_method(option["kind"], payment_method)
    _recheck_prices(session, option)
    _recheck_partner_pickup(session, option, now)
    # A referrer knows the shopper by its own reference; the order keeps the member, never that reference.
    ref_owner = seller if principal.can_see_merchant(seller) else referrer_merchant_id or seller
    order = Order(id=new_id("ord"), merchant_id=seller, channel="online", status="pending_payment",
                  quote_id=quote.id, option_id=option_id, customer_name=customer.get("name", ""),
                  customer_phone=customer.get("phone", ""), customer_email=customer.get("email", ""),
                  member_id=member_id or _member_of(session, ref_owner, member_ref),
                  currency=option["currency"], subtotal_minor=option["subtotal_minor"],
                  fees_minor=option["fee_minor"], total_minor=option["total_minor"],
                  payment_method=payment_method or "undecided",
                  payment_due_at=now + timedelta(minutes=settings.reservation_minutes), cancel_reason=None,
                  referrer_merchant_id=referrer_merchant_id, referral_commission_bps=commission,
                  checkout_id=checkout_id, created_at=now, updated_at=now)
    session.add(order)
    session.flush()
    titles = {l["product_id"]: l for l in option["lines"]}
    pickup_id = option["pickup_location"]["id"] if option["pickup_location"] else None
    hub_id = option["delivered_from"]["id"] if option.get("delivered_from") else None
    promised = as_utc(datetime.fromisoformat(option["arrive_at"]))
    # Reserve in a fixed location order so two split orders never wait on each other crosswise.
    for leg in sorted(option["legs"], key=lambda leg: leg["source"]["id"]):
        goods_arrive = as_utc(datetime.fromisoformat(leg["arrive_at"])) if leg["transfer_to"] else None
        f = lifecycle.create_for_leg(session, order_id=order.id, merchant_id=seller, kind=option["kind"], leg=leg,
                                     pickup_location_id=pickup_id, destination=option["destination"],
                                     promised_at=promised, goods_arrive_at=goods_arrive,
                                     reservation_expires_at=order.payment_due_at, now=now,
                                     via_location_id=hub_id if leg["transfer_to"] else None)
        for line in leg["lines"]:
            info = titles[line["product_id"]]
            session.add(OrderLine(id=new_id("oln"), order_id=order.id, merchant_id=seller,
                                  product_id=line["product_id"], fulfillment_id=f.id, gtin=info["gtin"],
                                  title=info["title"], quantity=line["quantity"],
                                  unit_price_minor=info["unit_price_minor"], currency=order.currency))
    _event(session, order, "order.placed", now, quote_id=quote.id, option_id=option_id, kind=option["kind"],
           referrer_merchant_id=referrer_merchant_id, referral_commission_bps=commission, checkout_id=checkout_id)
    if points is not None:
        held = order_points.hold_for_order(session, order=order, request=points, now=now)
        if held.amount_minor >= order.total_minor:
            _confirm(session, order, now, POINTS_ONLY, points_hold_id=held.hold_id)
            session.flush()
            return order
    if payment_method is not None:
        _pay(session, order=order, payment_method=payment_method, now=now, provider=settings.payment_provider)
    session.flush()
    return order


def pay(session: Session, *, order: Order, payment_method: str, now: datetime, provider: str = "sandbox") -> Order:
    """Agree an in-store tender (the order is confirmed), or open its wallet payment (it waits for it)."""
    if order.checkout_id is not None:
        raise InvalidState(f"Order {order.id} is paid with its checkout {order.checkout_id}, in one payment with "
                           "the other orders of that checkout.", checkout_id=order.checkout_id)
    return _pay(session, order=order, payment_method=payment_method, now=now, provider=provider)


def _pay(session: Session, *, order: Order, payment_method: str, now: datetime, provider: str) -> Order:
    if order.status != "pending_payment":
        raise InvalidState(f"Order {order.id} is {order.status}, not awaiting payment.")
    legs = lifecycle.of_order(session, order_id=order.id)
    _check_method(legs[0].kind, payment_method)
    if order.payment_due_at is not None and order.payment_due_at <= now:
        raise InvalidState(f"Order {order.id} was not paid in time and its stock was released; order again.")
    money_due = order_points.money_due_minor(session, order=order)
    if payment_method in WALLET_METHODS:
        # Our order id is the wallet's merchant order number; the charge lives as long as the reservation.
        intent = payments.open_wallet_intent(
            session, merchant_id=order.merchant_id, amount_minor=money_due, currency=order.currency,
            provider=provider, flow="merchant_qr", expires_at=order.payment_due_at or now, now=now,
            order_id=order.id, location_id=legs[0].source_location_id)
        if order.payment_method != payment_method:
            order.payment_method, order.updated_at = payment_method, now
            _event(session, order, "order.payment_started", now, payment_method=payment_method,
                   intent_id=intent.id)
        return order
    # Changing to an in-store tender: a wallet charge still open must not be paid as well.
    _cancel_payments(session, order, now, reason="paying in store instead")
    # Money is taken at the counter or the door: the intent waits for capture until then. It is
    # recorded before the confirmation so the events read in the order things happened.
    payments.create_intent(session, merchant_id=order.merchant_id, amount_minor=money_due,
                           currency=order.currency, method=payment_method, now=now, order_id=order.id,
                           status="requires_capture")
    if not _confirm(session, order, now, payment_method):
        # Raising rolls the whole transaction back, the intent with it.
        raise InvalidState(f"The points held for order {order.id} were released; order again.")
    return order


def _confirm(session: Session, order: Order, now: datetime, payment_method: str, **extra: Any) -> bool:
    """Paid (or payment agreed): spend the points held, confirm every leg; False if the points were released."""
    if not order_points.spend_for_order(session, order=order, now=now):
        return False
    for f in lifecycle.of_order(session, order_id=order.id):
        lifecycle.confirm(session, fulfillment=f, now=now)
    order.status, order.payment_method, order.payment_due_at, order.updated_at = (
        "confirmed", payment_method, None, now)
    _event(session, order, "order.confirmed", now, payment_method=payment_method, **extra)
    return True


def _open_intents(session: Session, order: Order) -> list[Any]:
    return [i for i in payments.intents_for_order(session, order_id=order.id)
            if i.status not in ("succeeded", "canceled")]


def _capture_payments(session: Session, order: Order, now: datetime) -> None:
    """Handed over or delivered: the in-store tender was taken."""
    for intent in _open_intents(session, order):
        payments.mark_succeeded(session, intent_id=intent.id, now=now)


def _cancel_payments(session: Session, order: Order, now: datetime, reason: str | None = None) -> None:
    """Nothing more is taken; wallet money already taken goes back (sent by payments.gateway after commit).

    Of a checkout's shared payment only this order's share goes back (an unpaid one is cancelled whole:
    the checkout's other orders are cancelled with it, see cancel_order).
    """
    reason = reason or order.cancel_reason or "cancelled"
    for intent in payments.intents_for_order(session, order_id=order.id):
        if intent.status in payments.OPEN_STATUSES:
            payments.cancel_intent(session, intent_id=intent.id, now=now, reason=reason)
        elif intent.status == "succeeded" and intent.out_trade_no is not None:
            payments.refund_remaining(session, intent_id=intent.id, now=now, reason=f"order cancelled: {reason}",
                                      order_id=order.id)


def lock_checkout(session: Session, *, checkout_id: str) -> Checkout | None:
    """Lock a checkout and then its orders (always in that order: checkout, orders by id, intents)."""
    checkout = session.scalar(select(Checkout).where(Checkout.id == checkout_id).with_for_update())
    if checkout is not None:
        list(session.scalars(select(Order).where(Order.checkout_id == checkout_id).order_by(Order.id)
                             .with_for_update()))
        session.refresh(checkout)
    return checkout


def lock_order(session: Session, *, order_id: str) -> Order | None:
    """Lock the order row (payments lock an order before its intents, as cancellations do).

    A checkout's payment names the checkout (its id is the payment's merchant order number): then the
    checkout and all its orders are locked, and None is returned.
    """
    if order_id.startswith("chk_"):
        lock_checkout(session, checkout_id=order_id)
        return None
    checkout_id = session.scalar(select(Order.checkout_id).where(Order.id == order_id))
    if checkout_id is not None:
        lock_checkout(session, checkout_id=checkout_id)
    return session.scalar(select(Order).where(Order.id == order_id).with_for_update())


def checkout_orders(session: Session, *, checkout_id: str) -> list[Order]:
    return list(session.scalars(select(Order).where(Order.checkout_id == checkout_id).order_by(Order.id)))


def checkout_event(session: Session, checkout: Checkout, type_: str, now: datetime, **extra: Any) -> None:
    """checkout.placed / .confirmed / .cancelled: the orders it holds and their merchants."""
    orders = checkout_orders(session, checkout_id=checkout.id)
    record_event(session, type=type_, subject_id=checkout.id, merchant_id=None,
                 payload={"checkout_id": checkout.id, "status": checkout.status, "total_minor": checkout.total_minor,
                          "currency": checkout.currency, "referrer_merchant_id": checkout.referrer_merchant_id,
                          "orders": [{"order_id": o.id, "merchant_id": o.merchant_id, "total_minor": o.total_minor}
                                     for o in orders], **extra}, at=now)


def _confirm_checkout(session: Session, *, checkout_id: str, intent_id: str, now: datetime) -> bool:
    """The checkout's one payment succeeded: confirm every order; False (refund it) if any stopped waiting."""
    checkout = lock_checkout(session, checkout_id=checkout_id)
    if checkout is None or checkout.status != "pending_payment":
        return False
    orders = checkout_orders(session, checkout_id=checkout_id)
    for order in orders:
        session.refresh(order)
    if any(o.status != "pending_payment" for o in orders):
        # One order was cancelled meanwhile: the others cannot be paid alone with this payment.
        _cancel_checkout(session, checkout, "another order of this checkout was cancelled before payment", now)
        return False
    for order in orders:
        if not _confirm(session, order, now, "wallet_qr", intent_id=intent_id):
            raise InvalidState(f"The points held for order {order.id} were released; order again.")
    checkout.status, checkout.payment_due_at, checkout.updated_at = "confirmed", None, now
    checkout_event(session, checkout, "checkout.confirmed", now, intent_id=intent_id)
    return True


def confirm_wallet_payment(session: Session, *, order_id: str, intent_id: str, now: datetime) -> bool:
    """The wallet paid: confirm the order in the payment's transaction; False if it no longer awaits payment.

    `order_id` is the checkout id when the payment is a checkout's: all its orders are confirmed together.
    """
    if order_id.startswith("chk_"):
        return _confirm_checkout(session, checkout_id=order_id, intent_id=intent_id, now=now)
    order = lock_order(session, order_id=order_id)
    if order is None or order.status != "pending_payment":
        return False
    session.refresh(order)
    # False (the points held for the rest were released) makes the caller refund the wallet money;
    # the unpaid order then expires as usual.
    return _confirm(session, order, now, "wallet_qr", intent_id=intent_id)


def payment_closed(session: Session, *, order_id: str, intent_id: str, now: datetime) -> bool:
    """The wallet closed a checkout's payment unpaid (declined, failed): cancel the checkout now, every order
    and reservation with it, rather than at its deadline (it can never be paid by wallet again).

    `order_id` is the intent's order_id; a single order keeps waiting for its own deadline. True if cancelled.
    """
    if not order_id.startswith("chk_"):
        return False
    checkout = lock_checkout(session, checkout_id=order_id)
    if checkout is None or checkout.status != "pending_payment":
        return False
    _cancel_checkout(session, checkout, f"the wallet payment {intent_id} failed", now)
    return True


def wallet_intent(session: Session, *, order_id: str) -> Any | None:
    """The order's wallet payment, if it has one (its merchant order number is the order id, or the id of
    the checkout it was paid with)."""
    checkout_id = session.scalar(select(Order.checkout_id).where(Order.id == order_id))
    number = checkout_id or order_id
    return next((i for i in payments.intents_for_order(session, order_id=order_id) if i.out_trade_no == number),
                None)


def get_order(session: Session, *, order_id: str, principal: Principal) -> Order:
    """The order if the caller is its seller, the network, or the merchant that referred it."""
    order = session.get(Order, order_id)
    if order is None or not (principal.can_see_merchant(order.merchant_id)
                             or (order.referrer_merchant_id is not None
                                 and principal.merchant_id == order.referrer_merchant_id)):
        raise NotFound(f"No order {order_id!r}.")
    return order


def lines_of(session: Session, *, order_id: str) -> list[OrderLine]:
    return list(session.scalars(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.id)))


def list_orders(session: Session, *, principal: Principal, status: str | None, limit: int) -> list[Order]:
    query = select(Order)
    if not principal.is_network_admin:
        query = query.where(Order.merchant_id == principal.merchant_id)
    if status:
        query = query.where(Order.status == status)
    return list(session.scalars(query.order_by(Order.id.desc()).limit(limit)))


def cancel_order(session: Session, *, order: Order, reason: str, now: datetime) -> Order:
    """Cancel what has not left yet; every reservation is released.

    An unpaid order of a checkout takes the whole checkout with it (its one payment can no longer be
    paid for less); a paid one is cancelled alone and gets its share of the payment back.
    """
    # Lock first, as a wallet confirmation does, and see the status it may just have committed.
    lock_order(session, order_id=order.id)
    session.refresh(order)
    if order.status == "cancelled":
        return order
    if order.status == "completed":
        raise InvalidState(f"Order {order.id} is completed; use a return instead.")
    if order.checkout_id is not None and order.status == "pending_payment":
        checkout = session.get(Checkout, order.checkout_id)
        if checkout is not None and checkout.status == "pending_payment":
            _check_cancellable(session, checkout)
            _cancel_checkout(session, checkout, reason, now)
            return order
    return _cancel_one(session, order, reason, now)


def _check_cancellable(session: Session, checkout: Checkout) -> None:
    for sibling in checkout_orders(session, checkout_id=checkout.id):
        if sibling.status == "completed":
            raise InvalidState(f"Order {sibling.id} of checkout {checkout.id} is completed; use a return instead.")


def _cancel_checkout(session: Session, checkout: Checkout, reason: str, now: datetime) -> None:
    """Every order of an unpaid checkout is cancelled, and its one payment with them."""
    for sibling in checkout_orders(session, checkout_id=checkout.id):
        session.refresh(sibling)
        if sibling.status in ("pending_payment", "confirmed"):
            _cancel_one(session, sibling, reason, now)
    if checkout.status != "confirmed":
        checkout.status, checkout.cancel_reason, checkout.updated_at = "cancelled", reason, now
        checkout_event(session, checkout, "checkout.cancelled", now, reason=reason)


def _cancel_one(session: Session, order: Order, reason: str, now: datetime) -> Order:
    for f in lifecycle.of_order(session, order_id=order.id):
        lifecycle.cancel(session, fulfillment=f, reason=reason, now=now)
    order.status, order.cancel_reason, order.updated_at = "cancelled", reason, now
    _cancel_payments(session, order, now)
    order_points.release_for_order(session, order=order, now=now)
    _event(session, order, "order.cancelled", now, reason=reason, **partner_facts(session, order))
    return order


def sync_status(session: Session, *, order_id: str, now: datetime) -> Order:
    """After a leg moves: the order is completed once every leg is done (cancelled legs aside)."""
    order = session.get(Order, order_id)
    if order is None:
        raise NotFound(f"No order {order_id!r}.")
    legs = lifecycle.of_order(session, order_id=order_id)
    live = [f for f in legs if f.status != "cancelled"]
    if order.status == "confirmed" and live and all(f.status == "completed" for f in live):
        order.status, order.updated_at = "completed", now
        _capture_payments(session, order, now)
        _event(session, order, "order.completed", now, **{**partner_facts(session, order),
                                                          **_sale_facts(session, order)})
    elif order.status == "pending_payment" and not live and order.checkout_id is not None:
        # Its legs were cancelled before the checkout was paid: the checkout cannot be paid without it.
        checkout = lock_checkout(session, checkout_id=order.checkout_id)
        if checkout is not None and checkout.status == "pending_payment":
            _cancel_checkout(session, checkout, legs[0].cancel_reason if legs else "cancelled", now)
    elif order.status in ("pending_payment", "confirmed") and not live:
        order.status, order.updated_at = "cancelled", now
        order.cancel_reason = legs[0].cancel_reason if legs else "cancelled"
        _cancel_payments(session, order, now)
        order_points.release_for_order(session, order=order, now=now)
        _event(session, order, "order.cancelled", now, reason=order.cancel_reason, **partner_facts(session, order))
    return order


def due_unpaid(session: Session, *, now: datetime, limit: int = 100) -> list[Order]:
    """Unpaid orders (not of a checkout) past their payment deadline, claimed with SKIP LOCKED for one worker."""
    return list(session.scalars(
        select(Order).where(Order.status == "pending_payment", Order.payment_due_at < now,
                            Order.checkout_id.is_(None))
        .order_by(Order.payment_due_at).limit(limit).with_for_update(skip_locked=True)))


def due_unpaid_checkouts(session: Session, *, now: datetime, limit: int = 100) -> list[Checkout]:
    """Unpaid checkouts past their deadline, claimed checkout row first (the lock order payments use too)."""
    return list(session.scalars(
        select(Checkout).where(Checkout.status == "pending_payment", Checkout.payment_due_at < now)
        .order_by(Checkout.payment_due_at).limit(limit).with_for_update(skip_locked=True)))


def expire_unpaid(session: Session, *, now: datetime, limit: int = 100) -> int:
    """Cancel what was not paid in time; returns how many orders were cancelled."""
    orders = due_unpaid(session, now=now, limit=limit)
    for order in orders:
        cancel_order(session, order=order, reason="not paid in time", now=now)
    cancelled = len(orders)
    for checkout in due_unpaid_checkouts(session, now=now, limit=limit):
        lock_checkout(session, checkout_id=checkout.id)
        cancelled += sum(1 for o in checkout_orders(session, checkout_id=checkout.id) if o.status == "pending_payment")
        _cancel_checkout(session, checkout, "not paid in time", now)
    return cancelled


def expire_no_shows(session: Session, *, now: datetime, limit: int = 100) -> int:
    """Ready pickups nobody collected within the hold period: cancelled, stock back on the shelf."""
    legs = lifecycle.due_no_shows(session, now=now, limit=limit)
    for f in legs:
        lifecycle.cancel(session, fulfillment=f, reason="not collected within the hold period", now=now)
        sync_status(session, order_id=f.order_id, now=now)
    return len(legs)


def pickup_location_name(session: Session, location_id: str | None) -> str | None:
    return network.get_location(session, location_id=location_id).name if location_id else None
