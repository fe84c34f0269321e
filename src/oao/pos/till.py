"""What the counter screen (/store/pos) reads and does beyond recording a sale.

The till works from a price list it keeps in the browser, so scanning goes on
when the shop's Wi-Fi drops; the server still prices every sale again when it
is recorded (`service.record_sale`), so a stale list can never undercharge.
The member panel shows only what the member shares with this merchant, plus
her points in the programmes this merchant accepts (the network card, its own,
and partners' under a points agreement), at what they are worth here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oao.catalog.models import Offer, Product
from oao.config import Settings
from oao.core.auth import Principal
from oao.core.errors import Forbidden, InvalidInput, NotFound
from oao.loyalty import service as loyalty
from oao.loyalty.models import Earning
from oao.members import service as members
from oao.pos.models import PosSale

# A points hold lives while the shopper finishes paying; unposted, it is voided after this.
TILL_HOLD_TTL = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class PriceListItem:
    gtin14: str
    gtin: str
    title: str
    currency: str
    store_price_minor: int  # counters
    kiosk_price_minor: int  # kiosks and self-checkouts


@dataclass(frozen=True, slots=True)
class TillBalance:
    programme_id: str
    programme_name: str
    available: int
    value_minor: int
    currency: str


@dataclass(frozen=True, slots=True)
class TillMember:
    member_ref: str
    name: str | None  # only when she shares her name with this merchant
    balances: list[TillBalance]


@dataclass(frozen=True, slots=True)
class TillHold:
    hold_id: str
    programme_id: str
    points: int
    value_minor: int
    status: str


@dataclass(frozen=True, slots=True)
class SalePoints:
    spent: int  # points posted as tenders of the sale
    earned: int  # credited by the loyalty worker after the sale (0 until it ran)


def _merchant_of(principal: Principal) -> str:
    if principal.merchant_id is None:
        raise Forbidden("The till is for a merchant's staff.")
    return principal.merchant_id


def price_list(session: Session, *, merchant_id: str) -> list[PriceListItem]:
    """Every product the merchant sells (active offer), with its counter and kiosk price, by title."""
    # Plain columns, not ORM objects: the till page loads the whole list on every visit.
    rows = session.execute(select(Product.gtin14, Product.gtin, Product.title, Offer.currency, Offer.price_minor,
                                  Offer.channel_prices)
                           .join(Offer, Offer.product_id == Product.id)
                           .where(Offer.merchant_id == merchant_id, Offer.active.is_(True))
                           .order_by(Product.title, Product.id)).all()
    return [PriceListItem(gtin14=gtin14, gtin=gtin, title=title, currency=currency,
                          store_price_minor=int((channel_prices or {}).get("store", price_minor)),
                          kiosk_price_minor=int((channel_prices or {}).get("kiosk", price_minor)))
            for gtin14, gtin, title, currency, price_minor, channel_prices in rows]


def _balances(session: Session, *, member_id: str, merchant_id: str, now: datetime) -> list[TillBalance]:
    # The network card and this merchant's own points pay here, and a partner's points under a points
    # agreement naming this merchant as the acceptor, worth what that agreement says.
    out = []
    for b in loyalty.balances(session, member_id=member_id, now=None):
        value = loyalty.accepted_value(session, programme=loyalty.get_programme(session, programme_id=b.programme_id),
                                       accepting_merchant_id=merchant_id, at=now)
        if value is not None:
            out.append(TillBalance(programme_id=b.programme_id, programme_name=b.programme_name,
                                   available=b.available, value_minor=value.value_of(b.available),
                                   currency=b.currency))
    return out


def _shared_name(profile: dict[str, object]) -> str | None:
    name = profile.get("name")
    return str(name) if isinstance(name, str) and name.strip() else None


def member_at_till(session: Session, *, principal: Principal, code: str, now: datetime,
                   settings: Settings) -> TillMember:
    """Redeem a scanned member code: her ref for this merchant, the name she shares, her points here."""
    merchant_id = _merchant_of(principal)
    redeemed = members.redeem_member_code(session, code=code, merchant_id=merchant_id, now=now, settings=settings)
    return TillMember(member_ref=redeemed.member_ref, name=_shared_name(redeemed.profile),
                      balances=_balances(session, member_id=redeemed.member_id, merchant_id=merchant_id, now=now))


def _member_id(session: Session, *, merchant_id: str, member_ref: str) -> str:
    member_id = members.resolve_member_ref(session, merchant_id=merchant_id, member_ref=member_ref)
    if member_id is None:
        raise InvalidInput("This member is not known here; scan her member code again.")
    return member_id


def points_for_amount(session: Session, *, programme_id: str, amount_minor: int, merchant_id: str | None = None,
                      at: datetime | None = None) -> int:
    """The most points whose value (at `merchant_id`, if given) does not exceed `amount_minor`.

    A points tender must be worth exactly what it says, and non-cash tenders
    may not exceed the total, so round down: the till takes the rest in cash
    or by wallet.
    """
    points = loyalty.points_needed(session, programme_id=programme_id, amount_minor=amount_minor,
                                   accepting_merchant_id=merchant_id, at=at)
    while points > 0 and loyalty.points_value_minor(session, programme_id=programme_id, points=points,
                                                    accepting_merchant_id=merchant_id, at=at) > amount_minor:
        points -= 1
    return points


def hold_points_for(session: Session, *, principal: Principal, hold_id: str, member_ref: str, programme_id: str,
                    amount_minor: int, now: datetime) -> TillHold:
    """Hold enough of the member's points to pay `amount_minor` (or a little less); a retry holds once."""
    merchant_id = _merchant_of(principal)
    member_id = _member_id(session, merchant_id=merchant_id, member_ref=member_ref)
    if amount_minor <= 0:
        raise InvalidInput("Enter an amount to pay with points.")
    try:
        # Refuses a partner's points without a points agreement, naming both merchants.
        points = points_for_amount(session, programme_id=programme_id, amount_minor=amount_minor,
                                   merchant_id=merchant_id, at=now)
    except NotFound:
        raise InvalidInput(f"No points programme {programme_id!r}.") from None
    if programme_id not in {b.programme_id for b in _balances(session, member_id=member_id,
                                                                merchant_id=merchant_id, now=now)}:
        raise InvalidInput("The member has no points in this programme; choose another.")
    if points <= 0:
        raise InvalidInput("That amount is worth less than one point.")
    try:
        hold = loyalty.hold_points(session, hold_id=hold_id, member_id=member_id, programme_id=programme_id,
                                   points=points, accepting_merchant_id=merchant_id, now=now, ttl=TILL_HOLD_TTL)
    except loyalty.InsufficientPoints:
        raise InvalidInput(f"The member does not have {points:,} points available; "
                           "pay a smaller amount with points.") from None
    return _till_hold(session, hold_id=hold.id)


def _till_hold(session: Session, *, hold_id: str) -> TillHold:
    hold = loyalty.get_hold(session, hold_id=hold_id)
    points = hold.posted_points or hold.points
    return TillHold(hold_id=hold.id, programme_id=hold.programme_id, points=points, status=hold.status,
                    value_minor=loyalty.hold_value_minor(session, hold_id=hold.id, points=points))


def void_points_hold(session: Session, *, principal: Principal, hold_id: str, now: datetime) -> TillHold:
    """Give held points back when the tender is taken off or the sale is abandoned; once."""
    merchant_id = _merchant_of(principal)
    hold = loyalty.get_hold(session, hold_id=hold_id)
    if hold.accepting_merchant_id != merchant_id:
        raise InvalidInput(f"No points hold {hold_id!r}.")
    if hold.status == "pending":
        loyalty.void_hold(session, hold_id=hold_id, now=now)
    return _till_hold(session, hold_id=hold_id)


def sale_points(session: Session, *, sale: PosSale) -> SalePoints:
    """Points spent as tenders of the sale and points it earned (for the receipt)."""
    spent = 0
    for tender in sale.tenders:
        if tender["kind"] == "points" and tender.get("reference"):
            hold = loyalty.get_hold(session, hold_id=tender["reference"])
            spent += hold.posted_points or 0
    earned = session.scalar(select(func.coalesce(func.sum(Earning.points - Earning.points_reversed), 0))
                            .where(Earning.sale_ref == sale.id))
    return SalePoints(spent=spent, earned=int(earned or 0))
