"""A small generated network for the insights tests: one cosmetics merchant with a shop, a store that
delivers to the shop's neighbourhood, a warehouse that ships parcels and a far store that does neither;
another merchant; members with consents; and a sale history written straight into the event log."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import insert
from sqlalchemy.orm import Session

from oao.core.auth import Role
from oao.core.ids import new_id
from oao.insights.models import InsightEvent
from oao.members import service as members
from oao.members.models import Member
from tests import factories as f

PASSWORD = "correct horse battery"


@dataclass
class Net:
    merchant_id: str
    other_merchant_id: str
    shop: str  # the store the kiosk stands in
    delivering: str  # 3 km away, delivers within 5 km
    warehouse: str  # ships parcels
    far: str  # 30 km away, neither delivers nor ships
    other_shop: str  # the other merchant's store
    products: list[str]  # p0..p11
    titles: dict[str, str]
    mei: str  # member id
    mei_ref: str  # her ref at the merchant
    others: list[str] = field(default_factory=list)
    admin_key: str = ""
    staff_key: str = ""
    other_key: str = ""


def member(s: Session, name: str, *, at: datetime, birth_year: int | None = None) -> str:
    """A member row without a password hash's cost (these members never log in)."""
    m = Member(id=new_id("mem"), email=f"{name.lower().replace(' ', '.')}.{new_id('x')[-6:]}@example.com",
               email_verified=True, phone=None, phone_verified=False, password_hash=None, name=name,
               birth_year=birth_year, gender=None, created_at=at, updated_at=at)
    s.add(m)
    s.flush()
    members.ensure_pairwise_key(s, now=at)
    return m.id


def build(s: Session, *, at: datetime) -> Net:
    m = f.merchant(s, "Jade Petal", at=at)
    other = f.merchant(s, "Other Beauty", at=at)
    shop = f.location(s, m, "Jade Hubin", 30.2575, 120.1655, at=at)
    delivering = f.location(s, m, "Jade Kaixuan", 30.2750, 120.1900, at=at, delivery_radius_km=5.0)
    warehouse = f.location(s, m, "Jade Warehouse", 30.2300, 120.4200, at=at, kind="warehouse",
                           shipping_lead_hours=24.0)
    far = f.location(s, m, "Jade Far Away", 30.5000, 120.1655, at=at)
    other_shop = f.location(s, other, "Other Shop", 30.2575, 120.1660, at=at)
    skin = [["dry", "normal"], ["oily"], ["dry"], None, ["sensitive", "dry"], ["oily", "combination"]]
    products, titles = [], {}
    for i in range(12):
        attributes = {"skin_type": skin[i % 6]} if skin[i % 6] else {}
        p = f.product(s, 9000 + i, f"Product {i}", at=at, category="skincare", attributes=attributes)
        products.append(p.id)
        titles[p.id] = p.title
        if i != 11:  # p11 is not offered by the merchant
            f.offer(s, m, p, 1000 + 100 * i, at=at, channel_prices={"kiosk": 900 + 100 * i})
        f.offer(s, other, p, 1500, at=at)
        f.stock(s, other_shop, p, 50, at=at)
    for i in range(6):  # p0..p5 on the shop's shelves
        f.stock(s, shop, _p(s, products[i]), 10, at=at)
    f.stock(s, warehouse, _p(s, products[6]), 10, at=at)
    f.stock(s, delivering, _p(s, products[7]), 10, at=at)
    f.stock(s, far, _p(s, products[8]), 10, at=at)
    f.stock(s, shop, _p(s, products[10]), 0, at=at)  # sold out here, nowhere else
    mei = member(s, "Mei", at=at, birth_year=at.year - 30)
    members.grant_consents(s, member_id=mei, merchant_id=m.id, data_classes=["purchase_history",
                                                                             "profile.age_band"], now=at)
    net = Net(merchant_id=m.id, other_merchant_id=other.id, shop=shop.id, delivering=delivering.id,
              warehouse=warehouse.id, far=far.id, other_shop=other_shop.id, products=products, titles=titles,
              mei=mei, mei_ref=members.member_ref_for(s, merchant_id=m.id, member_id=mei))
    net.admin_key = f.api_key(s, m, at=at, role=Role.MERCHANT_ADMIN)
    net.staff_key = f.api_key(s, m, at=at, role=Role.STORE_STAFF)
    net.other_key = f.api_key(s, other, at=at, role=Role.MERCHANT_ADMIN)
    return net


def _p(s: Session, product_id: str):  # noqa: ANN202
    from oao.catalog.models import Product

    return s.get(Product, product_id)


def add_members(s: Session, net: Net, n: int, *, at: datetime, birth_year: int | None, consent: bool) -> list[str]:
    out = []
    for i in range(n):
        mid = member(s, f"Shopper {len(net.others) + i}", at=at, birth_year=birth_year)
        if consent:
            members.grant_consents(s, member_id=mid, merchant_id=net.merchant_id,
                                   data_classes=["purchase_history", "profile.age_band"], now=at)
        out.append(mid)
    net.others += out
    return out


def sale(s: Session, net: Net, *, member_id: str | None, product_ids: list[str], at: datetime,
         location_id: str | None = None, merchant_id: str | None = None) -> None:
    """One basket straight into the event log (what the outbox consumer would write for a sale)."""
    ref = new_id("sale")
    s.execute(insert(InsightEvent), [
        {"source": ref, "source_line": i, "kind": "sale", "merchant_id": merchant_id or net.merchant_id,
         "location_id": location_id or net.shop, "channel": "pos", "product_id": pid, "member_id": member_id,
         "basket_ref": ref, "quantity": 1, "amount_minor": 1000, "currency": "CNY", "occurred_at": at}
        for i, pid in enumerate(product_ids)])


def history(s: Session, net: Net, *, now: datetime, shoppers: list[str], days: int = 120, seed: int = 7) -> int:
    """A regular history: Mei buys p0 every 10 days with p1; others buy p2 with p3 weekly and a random extra;
    guests buy p4. Returns the number of baskets."""
    rng = random.Random(seed)
    p = net.products
    baskets = 0
    for day in range(days, 0, -10):
        sale(s, net, member_id=net.mei, product_ids=[p[0], p[1]], at=now - timedelta(days=day, hours=2))
        baskets += 1
    for k, shopper in enumerate(shoppers):
        for day in range(days - k % 5, 0, -7):
            extra = p[rng.choice([5, 6, 7, 10])]
            sale(s, net, member_id=shopper, product_ids=[p[2], p[3], extra], at=now - timedelta(days=day, hours=3))
            baskets += 1
    for day in range(days, 0, -3):
        sale(s, net, member_id=None, product_ids=[p[4], p[1]], at=now - timedelta(days=day, hours=1),
             location_id=net.delivering)
        baskets += 1
    return baskets
