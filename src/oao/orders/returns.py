"""Returns of online orders at any of the seller's stores (S11).

One transaction takes the goods back and decides what the shopper gets:

- money back to the original money tenders (wallet, cash at pickup) in
  proportion to what each paid, never more than what is left of it;
- points spent on the order given back, and points earned on the returned
  lines taken back, in the same proportion (the loyalty ledger does both);
- the units received into the returning store's stock.

A return carries the store's own id for it (`return_id`), like a POS sale:
a resend replays the recorded return, the same id with different lines is
refused. Wallet refunds are recorded here and sent to the provider after the
commit (a provider is never called inside a transaction); the payments
service retries them until the provider confirms.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.core.auth import Principal, Role
from oao.core.errors import Conflict, Forbidden, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.inventory import service as inventory
from oao.loyalty import service as loyalty
from oao.network import service as network
from oao.orders.models import Order, OrderLine, OrderReturn, OrderReturnLine
from oao.payments import service as payments

RETURN_ID_LENGTH = (8, 80)
MAX_RETURN_LINES = 200


@dataclass(frozen=True, slots=True)
class ReturnedLine:
    order_line_id: str
    quantity: int


def _check(*, return_id: str, lines: list[ReturnedLine], reason: str) -> None:
    low, high = RETURN_ID_LENGTH
    if not low <= len(return_id) <= high:
        raise InvalidInput(f"return_id must be {low} to {high} characters; {return_id!r} has {len(return_id)}.")
    if not lines:
        raise InvalidInput("A return needs at least one line.")
    if len(lines) > MAX_RETURN_LINES:
        raise InvalidInput(f"A return has at most {MAX_RETURN_LINES} lines.")
    seen: set[str] = set()
    for line in lines:
        if line.order_line_id in seen:
            raise InvalidInput(f"Order line {line.order_line_id} appears twice; give it once with the total "
                               "quantity.")
        seen.add(line.order_line_id)
        if not isinstance(line.quantity, int) or not 1 <= line.quantity <= 100_000:
            raise InvalidInput(f"Order line {line.order_line_id}: quantity must be a whole number from 1 to "
                               f"100000, got {line.quantity!r}.")
    if len(reason) > 200:
        raise InvalidInput("A return reason is at most 200 characters.")


def _find(session: Session, *, merchant_id: str, return_id: str) -> OrderReturn | None:
    return session.scalar(select(OrderReturn).where(OrderReturn.merchant_id == merchant_id,
                                                    OrderReturn.client_return_id == return_id))


def return_lines(session: Session, *, return_: OrderReturn) -> list[OrderReturnLine]:
    return list(session.scalars(select(OrderReturnLine).where(OrderReturnLine.return_id == return_.id)
                                .order_by(OrderReturnLine.id)))


def get_return(session: Session, *, return_pk: str) -> OrderReturn:
    ret = session.get(OrderReturn, return_pk)
    if ret is None:
        raise NotFound(f"No return {return_pk!r}.")
    return ret


def returns_of(session: Session, *, order_id: str) -> list[OrderReturn]:
    return list(session.scalars(select(OrderReturn).where(OrderReturn.order_id == order_id).order_by(OrderReturn.id)))


def _replay(session: Session, existing: OrderReturn, *, order_id: str, location_id: str,
            lines: list[ReturnedLine]) -> OrderReturn:
    recorded = {line.order_line_id: line.quantity for line in return_lines(session, return_=existing)}
    asked = {line.order_line_id: line.quantity for line in lines}
    if existing.order_id != order_id or existing.location_id != location_id or recorded != asked:
        raise Conflict(f"Return id {existing.client_return_id!r} was already used for a different return "
                       f"({existing.id}); give a new return a new return_id.", return_id=existing.id)
    return existing


def _ensure_may_take_back(session: Session, principal: Principal, order: Order, location_id: str) -> str:
    location = network.get_location(session, location_id=location_id)
    if location.merchant_id != order.merchant_id:
        principal.ensure_merchant(location.merchant_id, "location", location_id)
        raise InvalidInput(f"{location.name} belongs to another merchant; an order is returned at one of the "
                           "seller's own stores.")
    if not location.active or not location.sells_in_store:
        raise InvalidInput(f"{location.name} does not take customers in store, so it cannot accept returns.")
    if principal.role is Role.STORE_STAFF and principal.location_id != location_id:
        raise Forbidden("Store staff take returns at their own store only.")
    return location.name


def _returned_so_far(session: Session, order_id: str) -> dict[str, int]:
    rows = session.execute(select(OrderReturnLine.order_line_id, func.sum(OrderReturnLine.quantity))
                           .join(OrderReturn, OrderReturn.id == OrderReturnLine.return_id)
                           .where(OrderReturn.order_id == order_id).group_by(OrderReturnLine.order_line_id))
    return {line_id: int(qty) for line_id, qty in rows}


def split_in_proportion(amount: int, weights: list[int]) -> list[int]:
    """Split `amount` over `weights` in proportion, largest remainder first, so the parts add up exactly."""
    total = sum(weights)
    if total <= 0 or amount <= 0:
        return [0 for _ in weights]
    parts = [amount * w // total for w in weights]
    order = sorted(range(len(weights)), key=lambda i: (-(amount * weights[i] % total), i))
    for i in order[:amount - sum(parts)]:
        parts[i] += 1
    return parts


def _money_refunds(session: Session, order: Order, goods_minor: int, return_pk: str,
                   now: datetime) -> tuple[int, list[dict[str, object]]]:
    """Refund the money tenders in proportion to what each paid; the rest of the value was paid in points."""
    paid = [i for i in payments.intents_for_order(session, order_id=order.id) if i.status == "succeeded"]
    # A checkout's one payment paid several orders: only this order's share of it counts (and is refunded).
    shares = [payments.share_of(session, intent=i, order_id=order.id) for i in paid]
    money_paid = sum(shares)
    if order.total_minor <= 0 or money_paid <= 0:
        return 0, []
    money_share = goods_minor * min(money_paid, order.total_minor) // order.total_minor
    parts = split_in_proportion(money_share, shares)
    refunds: list[dict[str, object]] = []
    given = 0
    for index, (intent, amount) in enumerate(zip(paid, parts, strict=True)):
        # Never more than is left of this payment (an earlier refund or a reversal took some).
        amount = min(amount, payments.refundable_for_order(session, intent=intent, order_id=order.id))
        if amount <= 0:
            continue
        refund, _ = payments.reserve_refund(session, intent_id=intent.id, refund_id=f"{return_pk}-{index}",
                                            amount_minor=amount, reason=f"return {return_pk} of order {order.id}",
                                            now=now, order_id=order.id)
        given += amount
        refunds.append({"intent_id": intent.id, "refund_id": refund.refund_id, "id": refund.id,
                        "amount_minor": amount, "method": intent.method, "provider": intent.provider,
                        "status": refund.status})
    return given, refunds


def accept_return(session: Session, *, principal: Principal, order_id: str, return_id: str, location_id: str,
                  lines: list[ReturnedLine], reason: str, now: datetime) -> tuple[OrderReturn, bool]:
    """Take goods of a completed order back at a store: refund, points and stock in one go; (return, created)."""
    _check(return_id=return_id, lines=lines, reason=reason)
    order = session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None or not principal.can_see_merchant(order.merchant_id):
        raise NotFound(f"No order {order_id!r}.")
    existing = _find(session, merchant_id=order.merchant_id, return_id=return_id)
    if existing is not None:
        return _replay(session, existing, order_id=order_id, location_id=location_id, lines=lines), False
    if order.status != "completed":
        raise InvalidState(f"Order {order.id} is {order.status}; only goods the shopper has received can be "
                           "returned (cancel an order that is not completed yet).")
    _ensure_may_take_back(session, principal, order, location_id)

    order_lines = {line.id: line for line in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id))}
    already = _returned_so_far(session, order.id)
    for line in lines:
        bought = order_lines.get(line.order_line_id)
        if bought is None:
            raise InvalidInput(f"Order line {line.order_line_id!r} is not a line of order {order.id}.")
        left = bought.quantity - already.get(bought.id, 0)
        if line.quantity > left:
            raise InvalidInput(f"{bought.title}: {line.quantity} returned but only {left} of {bought.quantity} "
                               "bought are not returned yet.", order_line_id=bought.id, returnable=left)

    goods = sum(order_lines[l.order_line_id].unit_price_minor * l.quantity for l in lines)
    ret = OrderReturn(id=new_id("ret"), client_return_id=return_id, order_id=order.id, merchant_id=order.merchant_id,
                      location_id=location_id, currency=order.currency, goods_minor=goods, money_refund_minor=0,
                      points_refund_minor=0, reason=reason.strip(), refunds=[], created_at=now,
                      created_by=principal.id)
    try:
        with session.begin_nested():  # claim the return id first: a racing resend waits, fails, replays
            session.add(ret)
            session.flush()
    except IntegrityError:
        winner = _find(session, merchant_id=order.merchant_id, return_id=return_id)
        if winner is None:
            raise
        return _replay(session, winner, order_id=order_id, location_id=location_id, lines=lines), False

    body = ret.id.split("_", 1)[1]
    for index, line in enumerate(lines):
        bought = order_lines[line.order_line_id]
        session.add(OrderReturnLine(id=f"rtl_{body}_{index:03d}", return_id=ret.id, order_line_id=bought.id,
                                    product_id=bought.product_id, quantity=line.quantity,
                                    amount_minor=bought.unit_price_minor * line.quantity))
        inventory.receive_stock(session, merchant_id=order.merchant_id, location_id=location_id,
                                product_id=bought.product_id, quantity=line.quantity, now=now, kind="return",
                                reason=f"returned from order {order.id}", reference=ret.id)
    money, refunds = _money_refunds(session, order, goods, ret.id, now)
    points = loyalty.reverse_for_return(session, return_id=ret.id, sale_ref=order.id, returned_minor=goods,
                                        sale_total_minor=order.total_minor, now=now)
    ret.money_refund_minor, ret.points_refund_minor, ret.refunds = money, goods - money, refunds
    ret.points_reversed, ret.points_restored = points.points_reversed, points.points_restored
    session.flush()
    record_event(session, type="order.returned", subject_id=ret.id, merchant_id=order.merchant_id,
                 payload={"return_id": ret.id, "order_id": order.id, "sale_ref": order.id,
                          "member_id": order.member_id, "location_id": location_id, "channel": "online",
                          "currency": order.currency, "goods_minor": goods, "money_refund_minor": money,
                          "refund_minor": money, "merchant_id": order.merchant_id,
                          "referrer_merchant_id": order.referrer_merchant_id,
                          "referral_commission_bps": order.referral_commission_bps,
                          "checkout_id": order.checkout_id, "order_total_minor": order.total_minor,
                          "points_reversed": ret.points_reversed, "points_restored": ret.points_restored,
                          "lines": [{"product_id": order_lines[l.order_line_id].product_id,
                                     "quantity": l.quantity,
                                     "amount_minor": order_lines[l.order_line_id].unit_price_minor * l.quantity}
                                    for l in lines]},
                 at=now)
    return ret, True
