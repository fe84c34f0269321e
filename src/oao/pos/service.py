"""Registers and counter sales: scan, price, take the money, take the goods off the shelf.

A sale carries an id the register made up (`sale_id`), because a register on
a flaky shop Wi-Fi resends until it hears back. The first copy records the
sale; a resend of the same sale gets the original receipt back (no second
sale, no second stock decrement); the same id with a different sale is
refused. The unique constraint `uq_pos_sale_client_id` is what makes this hold
under concurrency: the sale row is inserted *first*, inside a savepoint, so a
racing twin blocks on the index before touching stock, then fails, rolls back
its savepoint and replays the winner's receipt.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.catalog.gtin import InvalidGtin, normalise_gtin
from oao.core.auth import Principal, Role
from oao.core.errors import Conflict, Forbidden, InsufficientStock, InvalidInput, InvalidState, NotFound
from oao.core.ids import new_id
from oao.core.money import Money
from oao.core.outbox import record_event
from oao.inventory import service as inventory
from oao.inventory.service import LineQty
from oao.loyalty import service as loyalty
from oao.members import service as members
from oao.network import service as network
from oao.payments import service as payments
from oao.payments.schemas import PaymentIntentOut
from oao.pos.models import REGISTER_KINDS, PosSale, PosSaleLine, Register
from oao.pos.schemas import Receipt, ReceiptLine, ReceiptRegister, ReceiptStore, ReceiptTender
from oao.pos.tenders import MAX_AMOUNT_MINOR, Tender, TenderError, settle

if TYPE_CHECKING:
    from oao.network.models import Location

# A register's clock may run a little ahead of ours; beyond this a sold_at in
# the future is a wrong clock or a made-up time.
SOLD_AT_SKEW = timedelta(minutes=5)
SALE_ID_LENGTH = (8, 80)


@dataclass(frozen=True, slots=True)
class ScannedLine:
    gtin: str
    quantity: int


@dataclass(frozen=True, slots=True)
class _SaleRequest:
    """What identifies a sale when it is resent under the same sale_id."""

    register_id: str
    lines: list[ScannedLine]
    tenders: list[Tender]
    member_ref: str | None
    sold_at: datetime | None


@dataclass(frozen=True, slots=True)
class _PricedLine:
    product_id: str
    gtin: str
    title: str
    category: str
    quantity: int
    unit_price_minor: int


# The sales channel a register's sales count under (loyalty earns double at self-checkout, S3).
SALES_CHANNEL = {"counter": "till", "kiosk": "kiosk", "self_checkout": "self_checkout"}


def channel_for(register_kind: str) -> str:
    """The price channel a register sells at: kiosks and self-checkouts have their own."""
    return "kiosk" if register_kind in ("kiosk", "self_checkout") else "store"


# --- registers ------------------------------------------------------------------------------

def create_register(session: Session, *, principal: Principal, location_id: str, name: str, kind: str,
                    now: datetime) -> Register:
    """Set up a till, kiosk or self-checkout in one of the merchant's stores (merchant admins)."""
    if kind not in REGISTER_KINDS:
        raise InvalidInput(f"Register kind {kind!r} is not one of {', '.join(REGISTER_KINDS)}.")
    name = name.strip()
    if not 1 <= len(name) <= 120:
        raise InvalidInput("A register name is 1 to 120 characters.")
    location = network.get_location(session, location_id=location_id)
    principal.ensure_merchant(location.merchant_id, "location", location_id)
    principal.ensure_admin_of(location.merchant_id)
    if not location.active:
        raise InvalidState(f"Location {location.name!r} is inactive; reactivate it before adding registers.")
    if not location.sells_in_store:
        raise InvalidInput(f"Location {location.name!r} ({location.kind}) does not sell in store, "
                           "so it cannot have a register.")
    register = Register(id=new_id("reg"), merchant_id=location.merchant_id, location_id=location.id, name=name,
                        kind=kind, created_at=now)
    session.add(register)
    session.flush()
    record_event(session, type="pos.register_created", subject_id=register.id, merchant_id=register.merchant_id,
                 payload={"register_id": register.id, "location_id": location.id, "name": name, "kind": kind},
                 at=now)
    return register


def get_register(session: Session, *, principal: Principal, register_id: str) -> Register:
    register = session.get(Register, register_id)
    if register is None:
        raise NotFound(f"No register {register_id!r}.")
    principal.ensure_merchant(register.merchant_id, "register", register_id)
    return register


def list_registers(session: Session, *, principal: Principal, location_id: str | None = None,
                   merchant_id: str | None = None) -> list[Register]:
    """The caller's merchant's registers (a network admin sees all, or one merchant's)."""
    if not principal.is_network_admin:
        if principal.merchant_id is None:
            return []
        merchant_id = principal.merchant_id
    query = select(Register).order_by(Register.location_id, Register.name, Register.id)
    if merchant_id is not None:
        query = query.where(Register.merchant_id == merchant_id)
    if location_id is not None:
        query = query.where(Register.location_id == location_id)
    return list(session.scalars(query))


def _ensure_may_sell(principal: Principal, register: Register, location: Location) -> None:
    """The merchant's admins and API keys sell at any of its registers; store staff only at their store."""
    principal.ensure_merchant(register.merchant_id, "register", register.id)
    if principal.role is Role.MERCHANT_ADMIN:
        return
    if principal.role is Role.STORE_STAFF:
        if principal.location_id is None:
            raise Forbidden("This store-staff account is not tied to a store, so it cannot record sales.")
        if principal.location_id != register.location_id:
            raise Forbidden(f"Register {register.name!r} is at {location.name!r}; "
                            "store staff record sales only at their own store.")
        return
    raise Forbidden("Sales are recorded by the merchant's own admins, API keys or store staff.")


# --- sales ----------------------------------------------------------------------------------

def _gtin_key(gtin: str) -> str:
    try:
        return normalise_gtin(gtin)
    except InvalidGtin:
        return gtin


def _merge_scans(lines: list[ScannedLine]) -> dict[str, int]:
    """Scanned quantities per GTIN-14, so an EAN-13 and its GTIN-14 form count as one item."""
    merged: dict[str, int] = {}
    for line in lines:
        key = _gtin_key(line.gtin)
        merged[key] = merged.get(key, 0) + line.quantity
    return merged


def _check_request(*, sale_id: str, lines: list[ScannedLine], sold_at: datetime | None, now: datetime) -> None:
    low, high = SALE_ID_LENGTH
    if not low <= len(sale_id) <= high:
        raise InvalidInput(f"sale_id must be {low} to {high} characters; {sale_id!r} has {len(sale_id)}.")
    if not lines:
        raise InvalidInput("A sale needs at least one scanned line.")
    for line in lines:
        if not isinstance(line.quantity, int) or line.quantity <= 0:
            raise InvalidInput(f"Line with GTIN {line.gtin}: quantity must be a whole number of at least 1, "
                               f"got {line.quantity!r}.")
    if sold_at is not None:
        if sold_at.tzinfo is None:
            raise InvalidInput("sold_at must carry a timezone, e.g. 2026-11-17T10:00:00+08:00.")
        if sold_at > now + SOLD_AT_SKEW:
            raise InvalidInput(f"sold_at {sold_at.isoformat()} is in the future (server time is "
                               f"{now.isoformat()}); check the register's clock.")


def _price(session: Session, *, merchant_id: str, channel: str,
           lines: list[ScannedLine]) -> tuple[list[_PricedLine], str]:
    """Look every scan up in the catalog and price it from this merchant's offer for the channel."""
    products = {}
    scanned_as: dict[str, str] = {}  # product id -> the GTIN as first scanned, for messages
    quantities: dict[str, int] = {}
    for line in lines:
        try:
            product = catalog.product_by_gtin(session, gtin=line.gtin)
        except NotFound:
            raise InvalidInput(f"Scanned GTIN {line.gtin} is not in the catalog.", gtin=line.gtin) from None
        except InvalidInput as exc:
            raise InvalidInput(f"A scanned barcode is not a valid GTIN: {exc.detail}", gtin=line.gtin) from None
        products.setdefault(product.id, product)
        scanned_as.setdefault(product.id, line.gtin)
        quantities[product.id] = quantities.get(product.id, 0) + line.quantity
    offers = catalog.active_offers(session, product_ids=list(products), merchant_ids=[merchant_id])
    missing = [pid for pid in products if (merchant_id, pid) not in offers]
    if missing:
        named = ", ".join(f"GTIN {scanned_as[pid]} ({products[pid].title})" for pid in missing)
        raise InvalidInput(f"This merchant has no active offer for {named}, so it cannot be sold here; "
                           "add an offer for it or take it out of the sale.",
                           gtins=[scanned_as[pid] for pid in missing])
    currencies = sorted({offers[(merchant_id, pid)].currency for pid in products})
    if len(currencies) != 1:
        raise InvalidInput(f"The scanned items are priced in different currencies ({', '.join(currencies)}); "
                           "one sale is paid in one currency.")
    priced = [_PricedLine(product_id=pid, gtin=p.gtin, title=p.title, category=p.category or "",
                          quantity=quantities[pid],
                          unit_price_minor=catalog.price_for(offers[(merchant_id, pid)], channel))
              for pid, p in products.items()]
    return priced, currencies[0]


def _receipt_number(*, sale_id: str, location: Location, sold_at: datetime) -> str:
    """`R-<store>-<local date>-<time>-<rand>`, derived from the sale's own id.

    A per-store counter would need a lock or a retry loop to stay unique when
    two tills ring up at once; the sale id is already unique, so the number
    reuses its millisecond clock (6 chars, ordered within a day) and 4 random
    chars. Crockford base32 has no I, L, O or U, so it reads aloud well.
    """
    body = sale_id.split("_", 1)[1].upper()
    store = location.id.split("_", 1)[1][-4:].upper()
    local_day = sold_at.astimezone(ZoneInfo(location.timezone)).strftime("%Y%m%d")
    return f"R-{store}-{local_day}-{body[4:10]}-{body[-4:]}"


def _find_sale(session: Session, *, merchant_id: str, client_sale_id: str) -> PosSale | None:
    return session.scalar(select(PosSale).where(PosSale.merchant_id == merchant_id,
                                                PosSale.client_sale_id == client_sale_id))


def _sale_lines(session: Session, *, sale_id: str) -> list[PosSaleLine]:
    return list(session.scalars(select(PosSaleLine).where(PosSaleLine.sale_id == sale_id)
                                .order_by(PosSaleLine.id)))


def _difference(session: Session, sale: PosSale, request: _SaleRequest) -> str | None:
    """What makes this request a different sale from the one recorded under its sale_id, if anything."""
    if sale.register_id != request.register_id:
        return f"it was rung up at register {sale.register_id}"
    recorded = {_gtin_key(line.gtin): line.quantity for line in _sale_lines(session, sale_id=sale.id)}
    if recorded != _merge_scans(request.lines):
        return "it has different lines"
    recorded_tenders = sorted((t["kind"], t["amount_minor"], t.get("reference") or "") for t in sale.tenders)
    if recorded_tenders != sorted((t.kind, t.amount_minor, t.reference or "") for t in request.tenders):
        return "it has different tenders"
    if sale.member_ref != request.member_ref:
        return "it has a different member"
    # A resend without sold_at is the same sale: the first copy was stamped with the time it arrived.
    if request.sold_at is not None and request.sold_at != sale.sold_at:
        return f"it was sold at {sale.sold_at.isoformat()}"
    return None


def _replay(session: Session, sale: PosSale, request: _SaleRequest) -> PosSale:
    difference = _difference(session, sale, request)
    if difference is not None:
        raise Conflict(f"Sale id {sale.client_sale_id!r} was already used for a different sale ({difference}, "
                       f"receipt {sale.receipt_number}); give a new sale a new sale_id.",
                       pos_sale_id=sale.id, receipt_number=sale.receipt_number)
    return sale


def _sell_stock(session: Session, *, sale: PosSale, priced: list[_PricedLine], location: Location,
                now: datetime) -> None:
    try:
        inventory.sell_now(session, merchant_id=sale.merchant_id, location_id=sale.location_id,
                           lines=[LineQty(p.product_id, p.quantity) for p in priced], reference=sale.id, now=now)
    except InsufficientStock as exc:
        short = next((p for p in priced if p.product_id == exc.extra.get("product_id")), None)
        if short is None:
            raise
        available = exc.extra.get("available", 0)
        raise InsufficientStock(
            f"Only {available} of {short.title!r} (GTIN {short.gtin}) can be sold at {location.name}; "
            f"the sale has {short.quantity}. Units held for online orders are not sold at the counter.",
            product_id=short.product_id, gtin=short.gtin, available=available, requested=short.quantity) from None


def _member_of(session: Session, *, merchant_id: str, member_ref: str | None) -> str | None:
    """The member behind the reference this merchant got from a scanned member code (None: not a member)."""
    if member_ref is None:
        return None
    member_id = members.resolve_member_ref(session, merchant_id=merchant_id, member_ref=member_ref)
    if member_id is None and member_ref.startswith("mr_"):
        raise InvalidInput(f"Member reference {member_ref!r} is not one this merchant was given; scan the "
                           "member's code again.")
    return member_id


def _take_payments(session: Session, *, sale: PosSale, settlement_method: str, now: datetime):  # noqa: ANN202
    """Claim the wallet payments and points holds the tenders name; book the rest as money taken at the till."""
    by_reference = 0
    for tender in sale.tenders:
        if tender["kind"] == "wallet" and tender.get("reference"):
            payments.attach_to_sale(session, intent_id=tender["reference"], pos_sale_id=sale.id,
                                    merchant_id=sale.merchant_id, location_id=sale.location_id,
                                    amount_minor=tender["amount_minor"], currency=sale.currency, now=now)
            by_reference += tender["amount_minor"]
        elif tender["kind"] == "points":
            _spend_points(session, sale=sale, hold_id=tender["reference"], amount_minor=tender["amount_minor"],
                          now=now)
            by_reference += tender["amount_minor"]
    at_till = sale.total_minor - by_reference
    if at_till <= 0 and by_reference:
        return None
    till_kinds = {t["kind"] for t in sale.tenders if not (t["kind"] in ("wallet", "points") and t.get("reference"))}
    method = settlement_method if not by_reference else (till_kinds.pop() if len(till_kinds) == 1 else "split")
    return payments.record_in_store_payment(session, merchant_id=sale.merchant_id, amount_minor=at_till,
                                            currency=sale.currency, method=method, now=now, pos_sale_id=sale.id)


def _spend_points(session: Session, *, sale: PosSale, hold_id: str, amount_minor: int, now: datetime) -> None:
    """Spend the member's held points on this sale; the hold must be this merchant's, for this member and value."""
    try:
        hold = loyalty.get_hold(session, hold_id=hold_id)
    except NotFound:
        raise InvalidInput(f"No points hold {hold_id!r}; hold the member's points first.") from None
    if hold.accepting_merchant_id != sale.merchant_id:
        raise InvalidInput(f"No points hold {hold_id!r}; hold the member's points first.")
    member_id = _member_of(session, merchant_id=sale.merchant_id, member_ref=sale.member_ref)
    if member_id is None or member_id != hold.member_id:
        raise InvalidInput("The points hold belongs to another member than the sale's; scan the member code "
                           "of the member whose points pay.")
    value = loyalty.hold_value_minor(session, hold_id=hold.id, points=hold.points)
    if value != amount_minor:
        raise InvalidInput(f"The points hold is worth {value} {sale.currency} (minor units) but the points tender "
                           f"says {amount_minor}.", hold_value_minor=value)
    loyalty.post_hold(session, hold_id=hold_id, now=now, sale_ref=sale.id)


def record_sale(session: Session, *, principal: Principal, sale_id: str, register_id: str,
                lines: list[ScannedLine], tenders: list[Tender], member_ref: str | None = None,
                sold_at: datetime | None = None, now: datetime) -> tuple[PosSale, bool]:
    """Record a counter sale once per register-made sale_id; returns (sale, created)."""
    _check_request(sale_id=sale_id, lines=lines, sold_at=sold_at, now=now)
    register = session.get(Register, register_id)
    if register is None:
        raise NotFound(f"No register {register_id!r}.")
    location = network.get_location(session, location_id=register.location_id)
    _ensure_may_sell(principal, register, location)
    request = _SaleRequest(register_id=register_id, lines=lines, tenders=tenders, member_ref=member_ref,
                           sold_at=sold_at)
    existing = _find_sale(session, merchant_id=register.merchant_id, client_sale_id=sale_id)
    if existing is not None:
        return _replay(session, existing, request), False
    if not location.active:
        raise InvalidState(f"Store {location.name!r} is inactive; its registers cannot record sales.")

    priced, currency = _price(session, merchant_id=register.merchant_id, channel=channel_for(register.kind),
                              lines=lines)
    total = sum(p.unit_price_minor * p.quantity for p in priced)
    if total > MAX_AMOUNT_MINOR:
        raise InvalidInput(f"A sale total of {Money(total, currency).format()} is more than one sale can hold; "
                           "split it into several sales.")
    try:
        settlement = settle(total_minor=total, currency=currency, tenders=tenders)
    except TenderError as exc:
        raise InvalidInput(str(exc)) from None

    sold_at = sold_at or now
    member_id = _member_of(session, merchant_id=register.merchant_id, member_ref=member_ref)
    pos_id = new_id("pos")
    sale = PosSale(id=pos_id, client_sale_id=sale_id, merchant_id=register.merchant_id,
                   location_id=location.id, register_id=register.id,
                   receipt_number=_receipt_number(sale_id=pos_id, location=location, sold_at=sold_at),
                   member_ref=member_ref, currency=currency, total_minor=total,
                   change_minor=settlement.change_minor,
                   tenders=[{"kind": t.kind, "amount_minor": t.amount_minor, "reference": t.reference}
                            for t in settlement.tenders],
                   sold_at=sold_at, recorded_at=now, recorded_by=principal.id)
    try:
        # Claim the sale_id before touching stock: a racing twin waits here, then fails and replays.
        with session.begin_nested():
            session.add(sale)
            session.flush()
    except IntegrityError:
        winner = _find_sale(session, merchant_id=register.merchant_id, client_sale_id=sale_id)
        if winner is None:
            raise
        return _replay(session, winner, request), False

    body = pos_id.split("_", 1)[1]
    for index, p in enumerate(priced):
        # Ids derived from the sale's and numbered, so ordering by id keeps the scan order.
        session.add(PosSaleLine(id=f"psl_{body}_{index:03d}", sale_id=pos_id, product_id=p.product_id,
                                gtin=p.gtin, title=p.title, quantity=p.quantity,
                                unit_price_minor=p.unit_price_minor))
    _sell_stock(session, sale=sale, priced=priced, location=location, now=now)
    intent = _take_payments(session, sale=sale, settlement_method=settlement.method, now=now)
    session.flush()
    record_event(session, type="pos.sale_recorded", subject_id=pos_id, merchant_id=sale.merchant_id,
                 payload={"pos_sale_id": pos_id, "client_sale_id": sale_id, "receipt_number": sale.receipt_number,
                          "location_id": location.id, "register_id": register.id,
                          "sale_ref": pos_id, "merchant_id": sale.merchant_id,
                          "channel": SALES_CHANNEL[register.kind], "price_channel": channel_for(register.kind),
                          "member_ref": member_ref, "member_id": member_id,
                          "currency": currency, "total_minor": total,
                          "payment_intent_id": intent.id if intent else None,
                          "payment_method": settlement.method, "sold_at": sold_at.isoformat(),
                          "lines": [{"product_id": p.product_id, "gtin": p.gtin, "title": p.title,
                                     "category": p.category or None, "quantity": p.quantity,
                                     "unit_price_minor": p.unit_price_minor,
                                     "amount_minor": p.unit_price_minor * p.quantity,
                                     "line_total_minor": p.unit_price_minor * p.quantity} for p in priced]},
                 at=now)
    return sale, True


def get_sale(session: Session, *, principal: Principal, sale_id: str) -> PosSale:
    sale = session.get(PosSale, sale_id)
    if sale is None:
        raise NotFound(f"No sale {sale_id!r}.")
    principal.ensure_merchant(sale.merchant_id, "sale", sale_id)
    return sale


def receipt(session: Session, *, sale: PosSale) -> Receipt:
    """The receipt of a recorded sale, as printed at the till and returned on every resend."""
    location = network.get_location(session, location_id=sale.location_id)
    register = session.get(Register, sale.register_id)
    assert register is not None  # a foreign key guarantees it
    intent = payments.intent_for_sale(session, pos_sale_id=sale.id)
    wallets = [i for i in payments.intents_for_sale(session, pos_sale_id=sale.id) if i.provider != payments.IN_STORE]
    lines = [ReceiptLine(product_id=line.product_id, gtin=line.gtin, title=line.title, quantity=line.quantity,
                         unit_price_minor=line.unit_price_minor,
                         line_total_minor=line.unit_price_minor * line.quantity)
             for line in _sale_lines(session, sale_id=sale.id)]
    tenders = [ReceiptTender(kind=t["kind"], amount_minor=t["amount_minor"], reference=t.get("reference"))
               for t in sale.tenders]
    return Receipt(id=sale.id, sale_id=sale.client_sale_id, receipt_number=sale.receipt_number,
                   merchant_id=sale.merchant_id,
                   store=ReceiptStore(location_id=location.id, name=location.name, address=location.address),
                   register_=ReceiptRegister(id=register.id, name=register.name, kind=register.kind),
                   sold_at=sale.sold_at, recorded_at=sale.recorded_at, currency=sale.currency, lines=lines,
                   total_minor=sale.total_minor, tenders=tenders,
                   tendered_minor=sum(t.amount_minor for t in tenders), change_minor=sale.change_minor,
                   member_ref=sale.member_ref,
                   payment=PaymentIntentOut.model_validate(intent) if intent is not None else None,
                   wallet_payments=[PaymentIntentOut.model_validate(i) for i in wallets])
