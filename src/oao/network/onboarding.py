"""Onboarding a merchant without IT (S13): sign up, open the first store, adopt products, sell.

Each step is one use case over a Session (never commits) built from the
domains' own services, so a shop opened here is the same as one opened
through the API: the merchant and its admin (network), the store (network)
with a counter register (pos), offers (catalog) and opening stock
(inventory). The checklist (`progress`) is read from those rows, not kept
separately, so it can never disagree with what the merchant has.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.catalog.models import Offer
from oao.core.auth import Principal, Role
from oao.core.errors import Conflict, InvalidInput
from oao.core.money import is_currency
from oao.core.outbox import OutboxEvent, record_event
from oao.inventory import service as inventory
from oao.inventory.models import StockLevel
from oao.network import service as network
from oao.network.models import Location, Merchant, StaffUser
from oao.network.schemas import check_timezone
from oao.pos import service as pos
from oao.pos.models import PosSale, Register

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,58}[a-z0-9]$")
MIN_PASSWORD = 8
MAX_ADOPT = 200  # products adopted in one form; more is a CSV import
MAX_PRICE_MINOR = 100_000_000
MAX_OPENING_STOCK = 100_000
QR_PRINTED = "onboarding.qr_printed"
COUNTER_NAME = "Counter"

_EVERY_DAY = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
# Opening hours a shop owner recognises; the dashboard's location page edits them day by day later.
HOURS_PRESETS: dict[str, tuple[str, dict[str, list[list[str]]]]] = {
    "daily_8_20": ("Every day 08:00–20:00", {d: [["08:00", "20:00"]] for d in _EVERY_DAY}),
    "daily_9_22": ("Every day 09:00–22:00", {d: [["09:00", "22:00"]] for d in _EVERY_DAY}),
    "mon_sat_9_19": ("Monday to Saturday 09:00–19:00, closed on Sunday",
                     {d: [["09:00", "19:00"]] for d in _EVERY_DAY[:6]}),
    "always": ("Open 24 hours", {d: [["00:00", "24:00"]] for d in _EVERY_DAY}),
}


# --- step 0: sign up ---------------------------------------------------------------------------

@dataclass(frozen=True)
class SignUp:
    merchant: Merchant
    user: StaffUser


def slug_from(name: str) -> str:
    """A web-safe name from a shop name ('Lin's Tea House' -> 'lins-tea-house'); '' for none."""
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.replace("'", "")).strip("-")
    return slug[:60].strip("-")


def _slug_taken(session: Session, slug: str) -> bool:
    return session.scalar(select(Merchant.id).where(Merchant.slug == slug)) is not None


def free_slug(session: Session, *, name: str) -> str:
    """The shop's slug, numbered (-2, -3, …) when another merchant already has it."""
    base = slug_from(name) or "shop"
    if not _slug_taken(session, base):
        return base
    taken = set(session.scalars(select(Merchant.slug).where(Merchant.slug.like(f"{base[:55]}-%"))))
    number = 2
    while f"{base[:55]}-{number}" in taken:
        number += 1
    return f"{base[:55]}-{number}"


def check_sign_up(session: Session, *, shop_name: str, your_name: str, email: str, password: str,
                  currency: str, slug: str = "") -> dict[str, str]:
    """{field: what to fix} for a sign-up form; empty when it can go ahead."""
    errors: dict[str, str] = {}
    if not shop_name.strip():
        errors["shop_name"] = "Give your shop a name."
    elif len(shop_name.strip()) > 200:
        errors["shop_name"] = "A shop name has at most 200 characters."
    if not your_name.strip():
        errors["your_name"] = "Tell us your name, as your staff will see it."
    elif len(your_name.strip()) > 200:
        errors["your_name"] = "A name has at most 200 characters."
    email = email.strip().lower()
    if not EMAIL.match(email) or len(email) > 254:
        errors["email"] = "Write an email address such as lin@example.com."
    elif session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        errors["email"] = "An account with this email already exists. Log in instead, or use another email."
    if len(password) < MIN_PASSWORD:
        errors["password"] = f"Choose a password of at least {MIN_PASSWORD} characters."
    elif len(password) > 200:
        errors["password"] = "A password has at most 200 characters."
    if not is_currency(currency):
        errors["currency"] = f"{currency!r} is not a currency we know; pick one from the list."
    slug = slug.strip().lower()
    if slug:
        if not SLUG.match(slug):
            errors["slug"] = ("A web name uses lower-case letters, digits and dashes (2 to 60), "
                              "such as lins-tea-house.")
        elif _slug_taken(session, slug):
            errors["slug"] = (f"Another shop already uses “{slug}”. Try "
                              f"“{free_slug(session, name=slug)}” or another name.")
    return errors


def sign_up(session: Session, *, shop_name: str, your_name: str, email: str, password: str, currency: str,
            now: datetime, slug: str = "") -> SignUp:
    """Create the merchant and its first merchant admin; a taken email or slug is a Conflict."""
    errors = check_sign_up(session, shop_name=shop_name, your_name=your_name, email=email, password=password,
                           currency=currency, slug=slug)
    if errors:
        problem = Conflict if set(errors) <= {"email", "slug"} else InvalidInput
        raise problem(next(iter(errors.values())),
                      errors=[{"field": name, "message": message} for name, message in errors.items()])
    merchant = network.create_merchant(session, name=shop_name.strip(), currency=currency, now=now,
                                       slug=slug.strip().lower() or free_slug(session, name=shop_name))
    user = network.add_staff_user(session, email=email, name=your_name.strip(), password=password,
                                  role=Role.MERCHANT_ADMIN, merchant_id=merchant.id, location_id=None, now=now)
    return SignUp(merchant=merchant, user=user)


# --- step 1: the first store ----------------------------------------------------------------------

@dataclass(frozen=True)
class OpenedStore:
    location: Location
    register: Register


def open_store(session: Session, *, principal: Principal, name: str, address: str, latitude: float,
               longitude: float, timezone: str, hours_preset: str, accepts_pickups: bool,
               now: datetime) -> OpenedStore:
    """A store that sells in person (and takes pickups if asked), with a counter register for the till."""
    merchant_id = principal.merchant_id
    principal.ensure_admin_of(merchant_id)
    if merchant_id is None:
        raise InvalidInput("Pick the merchant this store belongs to.")
    if hours_preset not in HOURS_PRESETS:
        raise InvalidInput(f"Pick opening hours from the list, not {hours_preset!r}.")
    try:
        timezone = check_timezone(timezone)
    except ValueError as exc:
        raise InvalidInput(str(exc)) from None
    location = network.create_location(
        session, merchant_id=merchant_id, now=now, name=name.strip(), kind="store", latitude=latitude,
        longitude=longitude, address=address.strip(), timezone=timezone,
        opening_hours=HOURS_PRESETS[hours_preset][1], sells_in_store=True, accepts_pickups=accepts_pickups)
    register = pos.create_register(session, principal=principal, location_id=location.id, name=COUNTER_NAME,
                                   kind="counter", now=now)
    return OpenedStore(location=location, register=register)


# --- step 2: products from the shared catalog -------------------------------------------------------

@dataclass(frozen=True)
class Adoption:
    """One ticked product: the merchant's price and how many it has on the shelf today."""

    product_id: str
    price_minor: int
    opening_stock: int = 0


@dataclass
class Adopted:
    offers: list[Offer] = field(default_factory=list)
    stocked_units: int = 0


def adopt_products(session: Session, *, principal: Principal, location_id: str, picks: list[Adoption],
                   now: datetime) -> Adopted:
    """Offers at the merchant's own prices plus opening stock at one store, all or nothing."""
    if not picks:
        raise InvalidInput("Tick at least one product and give its price.")
    if len(picks) > MAX_ADOPT:
        raise InvalidInput(f"Adopt at most {MAX_ADOPT} products at once; import a CSV for more.")
    location = network.get_location(session, location_id=location_id)
    principal.ensure_merchant(location.merchant_id, "location", location_id)
    principal.ensure_admin_of(location.merchant_id)
    merchant = network.get_merchant(session, merchant_id=location.merchant_id)
    if len({p.product_id for p in picks}) != len(picks):
        raise InvalidInput("Each product can be adopted once per form.")
    for pick in picks:
        if not 0 < pick.price_minor <= MAX_PRICE_MINOR:
            raise InvalidInput("Every ticked product needs a price above zero.")
        if not 0 <= pick.opening_stock <= MAX_OPENING_STOCK:
            raise InvalidInput(f"Opening stock is a whole number from 0 to {MAX_OPENING_STOCK:,}.")
    out = Adopted()
    for pick in picks:
        offer, _ = catalog.upsert_offer(session, merchant_id=merchant.id, product_id=pick.product_id,
                                        price_minor=pick.price_minor, currency=merchant.currency, now=now)
        out.offers.append(offer)
        if pick.opening_stock:
            inventory.receive_stock(session, merchant_id=merchant.id, location_id=location.id,
                                    product_id=pick.product_id, quantity=pick.opening_stock, now=now,
                                    reason="opening stock")
            out.stocked_units += pick.opening_stock
    return out


# --- step 3 and the checklist ------------------------------------------------------------------------

def mark_qr_printed(session: Session, *, principal: Principal, location_id: str, now: datetime) -> None:
    """The merchant says the store's QR codes are on the counter (ticks step 3 of the checklist)."""
    location = network.get_location(session, location_id=location_id)
    principal.ensure_merchant(location.merchant_id, "location", location_id)
    principal.ensure_admin_of(location.merchant_id)
    record_event(session, type=QR_PRINTED, subject_id=location.id, merchant_id=location.merchant_id,
                 payload={"location_id": location.id}, at=now)


@dataclass(frozen=True)
class Progress:
    """What a new merchant has done so far; each step is read from the rows it creates."""

    merchant_id: str
    stores: list[Location]
    registers: int
    offers: int
    stocked: int  # products with units on hand in any of its stores
    qr_printed: bool
    sales: int

    @property
    def steps(self) -> dict[str, bool]:
        return {"store": bool(self.stores) and self.registers > 0, "products": self.offers > 0,
                "qr": self.qr_printed, "sale": self.sales > 0}

    @property
    def done(self) -> int:
        return sum(self.steps.values())

    @property
    def next_step(self) -> str | None:
        return next((name for name, done in self.steps.items() if not done), None)


def progress(session: Session, *, merchant_id: str) -> Progress:
    stores = network.list_locations(session, merchant_id=merchant_id, kinds=["store"])
    count: Any = func.count()
    registers = session.scalar(select(count).select_from(Register).where(Register.merchant_id == merchant_id))
    offers = session.scalar(select(count).select_from(Offer).where(Offer.merchant_id == merchant_id,
                                                                   Offer.active.is_(True)))
    stocked = session.scalar(select(func.count(func.distinct(StockLevel.product_id)))
                             .where(StockLevel.merchant_id == merchant_id, StockLevel.on_hand > 0))
    printed = session.scalar(select(OutboxEvent.id).where(OutboxEvent.type == QR_PRINTED,
                                                          OutboxEvent.merchant_id == merchant_id).limit(1))
    sales = session.scalar(select(count).select_from(PosSale).where(PosSale.merchant_id == merchant_id))
    return Progress(merchant_id=merchant_id, stores=stores, registers=int(registers or 0), offers=int(offers or 0),
                    stocked=int(stocked or 0), qr_printed=printed is not None, sales=int(sales or 0))
