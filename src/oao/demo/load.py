"""Writes the Hangzhou demo network into the database (`oao demo`).

One call inside the caller's transaction; it never commits. Rows are written
in bulk: calling `inventory.service.receive_stock` once per stock row took
4 s on SQLite and 7.5 s on PostgreSQL for 3000 rows, so the opening stock is
inserted directly as StockLevel rows plus their receipt movements (and a sale
movement for rows that already sold out), which keeps the history consistent
with on-hand. Passwords are hashed once: argon2 costs ~0.25 s a hash, and every
demo login shares the documented demo password anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from oao.catalog.gtin import normalise_gtin
from oao.catalog.models import Offer, Product
from oao.core.auth import Principal, Role, hash_password
from oao.core.errors import Conflict
from oao.core.geo import search_cell
from oao.core.ids import new_id
from oao.core.outbox import record_event
from oao.demo.catalog import DemoCatalog, build_catalog
from oao.demo.network import (
    AGREEMENTS,
    CURRENCY,
    DEMO_PASSWORD,
    LOCATIONS,
    MERCHANTS,
    NETWORK_ADMIN_EMAIL,
    NETWORK_ADMIN_NAME,
    TIMEZONE,
)
from oao.demo.product_lines import EXCLUSIVE_BRANDS
from oao.inventory.models import StockLevel, StockMovement
from oao.loyalty import programmes as loyalty_programmes
from oao.loyalty import service as loyalty
from oao.members import service as members
from oao.network.models import Location, Merchant, StaffUser
from oao.network.service import accept_version, create_api_key, propose_agreement
from oao.pos.models import Register

_BATCH = 1000  # rows per bulk INSERT; keeps PostgreSQL parameter lists well under its limits


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    role: str
    merchant: str | None  # merchant name; None for the network admin
    store: str | None  # location name for store staff


@dataclass(frozen=True)
class DemoApiKey:
    merchant: str | None  # None: the network key
    role: str
    token: str


@dataclass
class DemoCredentials:
    logins: list[DemoLogin] = field(default_factory=list)
    api_keys: list[DemoApiKey] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)


def demo_emails() -> list[str]:
    """Every staff login the demo creates."""
    domains = {m.slug: m.email_domain for m in MERCHANTS}
    return ([NETWORK_ADMIN_EMAIL] + [f"admin@{m.email_domain}" for m in MERCHANTS]
            + [f"staff.{loc.key}@{domains[loc.merchant]}" for loc in LOCATIONS])


def demo_loaded(session: Session) -> bool:
    """Whether the demo merchants already exist (so `oao demo` runs only once)."""
    slugs = [m.slug for m in MERCHANTS]
    return session.scalar(select(Merchant.id).where(Merchant.slug.in_(slugs)).limit(1)) is not None


def load_demo(session: Session, *, now: datetime) -> DemoCredentials:
    """Create the Hangzhou demo network; returns the logins and the API keys (shown once)."""
    if demo_loaded(session):
        raise Conflict("The demo network is already loaded; its API keys were shown when it was created. "
                       "Start from an empty database to load it again.")
    taken = list(session.scalars(select(StaffUser.email).where(StaffUser.email.in_(demo_emails()))))
    if taken:
        raise Conflict(f"Cannot load the demo: staff login {taken[0]!r} already exists.")
    catalog = build_catalog()
    merchants = _merchants(session, now=now)
    locations = _locations(session, merchants, now=now)
    product_ids = _products(session, catalog, merchants, now=now)
    offers = _offers(session, catalog, merchants, product_ids, now=now)
    levels = _stock(session, catalog, merchants, locations, product_ids, now=now)
    creds = DemoCredentials()
    _staff(session, creds, merchants, locations, now=now)
    _api_keys(session, creds, merchants, now=now)
    _loyalty(session, creds, now=now)
    creds.counts = {"merchants": len(merchants), "locations": len(locations), "products": len(product_ids),
                    "offers": offers, "stock_levels": levels, "logins": len(creds.logins)}
    record_event(session, type="demo.loaded", subject_id="network", merchant_id=None,
                 payload={"merchant_ids": [m.id for m in merchants.values()], "counts": creds.counts}, at=now)
    session.flush()
    return creds


def _merchants(session: Session, *, now: datetime) -> dict[str, Merchant]:
    merchants = {m.slug: Merchant(id=new_id("mer"), name=m.name, slug=m.slug, currency=CURRENCY,
                                  created_at=now) for m in MERCHANTS}
    session.add_all(merchants.values())
    session.flush()
    _agreements(session, {slug: m.id for slug, m in merchants.items()}, now=now)
    return merchants


def _agreements(session: Session, ids: dict[str, str], *, now: datetime) -> None:
    """Each demo agreement proposed by one merchant and accepted by the other, as in real life."""
    for spec in AGREEMENTS:
        agreement = propose_agreement(session, proposer_merchant_id=ids[spec.proposer],
                                      counterparty_merchant_id=ids[spec.counterparty], terms=spec.terms(ids), now=now)
        accept_version(session, agreement_id=agreement.id, version=1, accepting_merchant_id=ids[spec.counterparty],
                       now=now)


def _locations(session: Session, merchants: dict[str, Merchant], *,
               now: datetime) -> dict[tuple[str, str], Location]:
    locations = {}
    for spec in LOCATIONS:
        merchant = merchants[spec.merchant]
        loc = Location(
            id=new_id("loc"), merchant_id=merchant.id, name=spec.name, kind=spec.kind, latitude=spec.lat,
            longitude=spec.lon, search_cell=search_cell(spec.lat, spec.lon), address=spec.address,
            timezone=TIMEZONE, opening_hours=spec.hours, closures=[], active=True,
            sells_in_store=spec.sells_in_store, accepts_pickups=spec.accepts_pickups,
            accepts_partner_pickups=spec.accepts_partner_pickups, delivery_radius_km=spec.delivery_radius_km,
            pick_minutes=spec.pick_minutes, delivery_capacity_per_hour=spec.delivery_capacity_per_hour,
            delivery_fee_minor=spec.delivery_fee_minor, shipping_lead_hours=spec.shipping_lead_hours,
            shipping_fee_minor=spec.shipping_fee_minor, created_at=now)
        locations[(spec.merchant, spec.key)] = loc
    session.add_all(locations.values())
    session.flush()
    session.add_all(Register(id=new_id("reg"), merchant_id=loc.merchant_id, location_id=loc.id, name=name,
                             kind=kind, created_at=now)
                    for spec in LOCATIONS for loc in [locations[(spec.merchant, spec.key)]]
                    for name, kind in spec.registers)
    session.flush()
    return locations


def _bulk(session: Session, model: type, rows: list[dict]) -> None:
    for start in range(0, len(rows), _BATCH):
        session.execute(insert(model), rows[start:start + _BATCH])


def _products(session: Session, catalog: DemoCatalog, merchants: dict[str, Merchant], *,
              now: datetime) -> dict[str, str]:
    """Product id per GTIN. The catalog is shared by the network, so a GTIN already known is reused."""
    by_gtin14 = {normalise_gtin(p.gtin): p for p in catalog.products}
    found = session.execute(select(Product.gtin14, Product.id).where(Product.gtin14.in_(list(by_gtin14))))
    known = {gtin14: product_id for gtin14, product_id in found}
    ids: dict[str, str] = {}
    rows = []
    for gtin14, p in by_gtin14.items():
        if gtin14 in known:
            ids[p.gtin] = known[gtin14]
            continue
        ids[p.gtin] = new_id("prd")
        owner = EXCLUSIVE_BRANDS.get(p.brand_key)  # an own label is created by its merchant
        rows.append({"id": ids[p.gtin], "gtin": p.gtin, "gtin14": gtin14, "title": p.title, "brand": p.brand,
                     "category": p.category, "attributes": p.attributes, "perishable": p.perishable,
                     "shelf_life_days": p.shelf_life_days,
                     "created_by_merchant_id": merchants[owner].id if owner else None, "created_at": now})
    _bulk(session, Product, rows)
    return ids


def _offers(session: Session, catalog: DemoCatalog, merchants: dict[str, Merchant],
            product_ids: dict[str, str], *, now: datetime) -> int:
    rows = [{"id": new_id("ofr"), "merchant_id": merchants[o.merchant].id, "product_id": product_ids[o.gtin],
             "price_minor": o.price_minor, "currency": CURRENCY, "channel_prices": o.channel_prices,
             "active": True, "updated_at": now} for o in catalog.offers]
    _bulk(session, Offer, rows)
    return len(rows)


def _stock(session: Session, catalog: DemoCatalog, merchants: dict[str, Merchant],
           locations: dict[tuple[str, str], Location], product_ids: dict[str, str], *, now: datetime) -> int:
    levels, movements = [], []
    for s in catalog.stock:
        where = {"merchant_id": merchants[s.merchant].id, "product_id": product_ids[s.gtin],
                 "location_id": locations[(s.merchant, s.location)].id}
        levels.append({"id": new_id("stk"), **where, "on_hand": s.on_hand, "reserved": 0, "updated_at": now})
        movements.append({"id": new_id("mov"), **where, "kind": "receipt", "quantity": s.received,
                          "reason": "demo opening stock", "reference": None, "at": now})
        sold = s.received - s.on_hand
        if sold:
            movements.append({"id": new_id("mov"), **where, "kind": "sale", "quantity": -sold,
                              "reason": "sold out before the demo", "reference": None, "at": now})
    _bulk(session, StockLevel, levels)
    _bulk(session, StockMovement, movements)
    return len(levels)


def _staff(session: Session, creds: DemoCredentials, merchants: dict[str, Merchant],
           locations: dict[tuple[str, str], Location], *, now: datetime) -> None:
    password_hash = hash_password(DEMO_PASSWORD)
    names = {m.slug: m.name for m in MERCHANTS}

    def add(email: str, name: str, role: Role, merchant: str | None, loc: Location | None) -> None:
        session.add(StaffUser(id=new_id("usr"), email=email, name=name, password_hash=password_hash,
                              role=role.value, merchant_id=merchants[merchant].id if merchant else None,
                              location_id=loc.id if loc else None, active=True, created_at=now))
        creds.logins.append(DemoLogin(email, DEMO_PASSWORD, role.value,
                                      names[merchant] if merchant else None, loc.name if loc else None))

    add(NETWORK_ADMIN_EMAIL, NETWORK_ADMIN_NAME, Role.NETWORK_ADMIN, None, None)
    for m in MERCHANTS:
        add(f"admin@{m.email_domain}", m.admin_name, Role.MERCHANT_ADMIN, m.slug, None)
        for spec in LOCATIONS:
            if spec.merchant == m.slug:
                add(f"staff.{spec.key}@{m.email_domain}", spec.staff_name, Role.STORE_STAFF, m.slug,
                    locations[(m.slug, spec.key)])
    session.flush()


DEMO_MEMBER_EMAIL = "mei@example.com"
WELCOME_POINTS = 5_000


def _loyalty(session: Session, creds: DemoCredentials, *, now: datetime) -> None:
    """The network card (1 point per yuan anywhere, double at self-checkouts) and a member with welcome points."""
    operator = Principal(kind="demo", id="demo", name="demo loader", role=Role.NETWORK_ADMIN, merchant_id=None)
    card = loyalty_programmes.create_programme(session, principal=operator, merchant_id=None, name="Hangzhou Card",
                                               currency=CURRENCY, value_minor=1, value_points=1, expiry_days=730,
                                               tiers=[{"name": "Silver", "min_spend_minor": 100_000},
                                                      {"name": "Gold", "min_spend_minor": 500_000}], now=now)
    loyalty_programmes.create_rule(session, principal=operator, programme_id=card.id, merchant_id=None,
                                   name="1 point per yuan", points=1, per_minor=100, now=now)
    member = members.sign_up(session, email=DEMO_MEMBER_EMAIL, phone=None, password=DEMO_PASSWORD, name="Mei",
                             now=now)
    loyalty.grant_points(session, principal=operator, grant_id="demo-welcome", member_id=member.id,
                         programme_id=card.id, points=WELCOME_POINTS, reason="welcome to the Hangzhou Card", now=now)
    creds.logins.append(DemoLogin(email=DEMO_MEMBER_EMAIL, password=DEMO_PASSWORD, role="member (shopper)",
                                  merchant=None, store=f"{WELCOME_POINTS} points"))


def _api_keys(session: Session, creds: DemoCredentials, merchants: dict[str, Merchant], *,
              now: datetime) -> None:
    token, key = create_api_key(session, merchant_id=None, name="Demo network key", now=now)
    creds.api_keys.append(DemoApiKey(None, key.role, token))
    for m in MERCHANTS:
        token, key = create_api_key(session, merchant_id=merchants[m.slug].id, name=f"{m.name} demo key",
                                    now=now)
        creds.api_keys.append(DemoApiKey(m.name, key.role, token))


def _table(headers: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(str(v)) for v in column) for column in zip(headers, *rows, strict=False)]
    return ["  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=False)).rstrip() for row in (headers, *rows)]


def format_credentials(creds: DemoCredentials) -> str:
    """A plain-text table of the demo logins and API keys, for the terminal."""
    lines = [f"Demo logins (every password: {DEMO_PASSWORD})", ""]
    lines += _table(("ROLE", "EMAIL", "MERCHANT", "STORE"),
                    [(lg.role, lg.email, lg.merchant or "(network)", lg.store or "-") for lg in creds.logins])
    lines += ["", "API keys (shown only now: the database keeps only their hashes)", ""]
    lines += _table(("MERCHANT", "ROLE", "TOKEN"),
                    [(k.merchant or "(network)", k.role, k.token) for k in creds.api_keys])
    if creds.counts:
        summary = ", ".join(f"{n} {what.replace('_', ' ')}" for what, n in creds.counts.items())
        lines += ["", f"Loaded: {summary}"]
    return "\n".join(lines) + "\n"
