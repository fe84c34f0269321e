"""Builds small networks straight through the ORM, for tests of any domain.

Deliberately independent of the services under test, so a broken service
cannot hide behind a broken fixture.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from oao.catalog.gtin import normalise_gtin
from oao.catalog.models import Offer, Product
from oao.core.auth import Role
from oao.core.geo import search_cell
from oao.core.ids import new_id
from oao.inventory.models import StockLevel, StockMovement
from oao.network import service as network_service
from oao.network.models import Location, Merchant, PartnerAgreement, PartnerAgreementVersion

ALWAYS_OPEN = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
DAYTIME = {day: [["08:00", "21:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def gtin13(n: int) -> str:
    """A valid GTIN-13 with company prefix 690 and the check digit computed."""
    body = f"690{n:09d}"
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def merchant(s: Session, name: str, *, at: datetime, currency: str = "CNY") -> Merchant:
    m = Merchant(id=new_id("mer"), name=name, slug=name.lower().replace(" ", "-") + "-" + new_id("x")[-6:],
                 currency=currency, created_at=at)
    s.add(m)
    s.flush()
    return m


def location(s: Session, m: Merchant, name: str, lat: float, lon: float, *, at: datetime,
             kind: str = "store", hours: dict[str, Any] | None = None, **caps: Any) -> Location:
    loc = Location(id=new_id("loc"), merchant_id=m.id, name=name, kind=kind, latitude=lat, longitude=lon,
                   search_cell=search_cell(lat, lon), address=caps.pop("address", f"{name} street 1"),
                   timezone=caps.pop("timezone", "Asia/Shanghai"), opening_hours=hours or ALWAYS_OPEN,
                   closures=caps.pop("closures", []), created_at=at, active=True,
                   sells_in_store=caps.pop("sells_in_store", kind == "store"),
                   accepts_pickups=caps.pop("accepts_pickups", kind in ("store", "pickup_point")),
                   accepts_partner_pickups=caps.pop("accepts_partner_pickups", False),
                   delivery_radius_km=caps.pop("delivery_radius_km", 0.0),
                   pick_minutes=caps.pop("pick_minutes", 15),
                   delivery_capacity_per_hour=caps.pop("delivery_capacity_per_hour", 0),
                   delivery_fee_minor=caps.pop("delivery_fee_minor", 0),
                   shipping_lead_hours=caps.pop("shipping_lead_hours", None),
                   shipping_fee_minor=caps.pop("shipping_fee_minor", 0))
    assert not caps, f"unknown location fields {caps}"
    s.add(loc)
    s.flush()
    return loc


def product(s: Session, n: int, title: str, *, at: datetime, **fields: Any) -> Product:
    code = gtin13(n)
    p = Product(id=new_id("prd"), gtin=code, gtin14=normalise_gtin(code), title=title,
                brand=fields.pop("brand", "Acme"), category=fields.pop("category", "general"),
                attributes=fields.pop("attributes", {}), perishable=fields.pop("perishable", False),
                shelf_life_days=fields.pop("shelf_life_days", None), created_by_merchant_id=None, created_at=at)
    assert not fields
    s.add(p)
    s.flush()
    return p


def offer(s: Session, m: Merchant, p: Product, price_minor: int, *, at: datetime,
          channel_prices: dict[str, int] | None = None) -> Offer:
    o = Offer(id=new_id("ofr"), merchant_id=m.id, product_id=p.id, price_minor=price_minor, currency=m.currency,
              channel_prices=channel_prices or {}, active=True, updated_at=at)
    s.add(o)
    s.flush()
    return o


def stock(s: Session, loc: Location, p: Product, on_hand: int, *, at: datetime) -> StockLevel:
    level = StockLevel(id=new_id("stk"), merchant_id=loc.merchant_id, location_id=loc.id, product_id=p.id,
                       on_hand=on_hand, reserved=0, updated_at=at)
    s.add(level)
    s.add(StockMovement(id=new_id("mov"), merchant_id=loc.merchant_id, location_id=loc.id, product_id=p.id,
                        kind="receipt", quantity=on_hand, reason="test setup", reference=None, at=at))
    s.flush()
    return level


def pickup_agreement(s: Session, host: Merchant, guest: Merchant, *, at: datetime, fee: int = 0) -> PartnerAgreement:
    """An agreement the host proposed and the guest accepted at `at`: pickup only."""
    a = PartnerAgreement(id=new_id("agr"), proposer_merchant_id=host.id, counterparty_merchant_id=guest.id,
                         pair_key="|".join(sorted((host.id, guest.id))), status="active", current_version=1,
                         latest_version=1, created_at=at, accepted_at=at, ended_at=None, ended_by_merchant_id=None)
    s.add(a)
    s.flush()
    terms = {"pickup": {"host_merchant_id": host.id, "fee_minor": fee, "currency": host.currency},
             "referral": None, "points": None, "data_sharing": None}
    s.add(PartnerAgreementVersion(id=new_id("agv"), agreement_id=a.id, version=1, terms=terms, status="accepted",
                                  proposed_by_merchant_id=host.id, proposed_at=at, decided_at=at,
                                  decided_by_merchant_id=guest.id))
    s.flush()
    return a


def api_key(s: Session, m: Merchant | None, *, at: datetime, role: Role | None = None) -> str:
    token, _ = network_service.create_api_key(s, merchant_id=m.id if m else None, name="test key", now=at,
                                              role=role)
    return token


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def staff_user(s: Session, m: Merchant | None, email: str, *, at: datetime,
               password: str = "correct horse battery", role: Role = Role.STORE_STAFF,
               location: Location | None = None):
    """A staff account that can log in with POST /sessions."""
    user = network_service.create_staff_user(s, email=email, name=email.split("@")[0], password=password,
                                             role=role, merchant_id=m.id if m else None,
                                             location_id=location.id if location else None, now=at)
    s.flush()
    return user
