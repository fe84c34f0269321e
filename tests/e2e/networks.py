"""Small, realistic networks in Hangzhou for the end-to-end stories."""

from __future__ import annotations

from dataclasses import dataclass

from oao.core.auth import Role
from oao.core.db import Database
from oao.network import service as network_service
from tests import factories as f
from tests.conftest import T0

SHOPPER_HOME = (30.2100, 120.2100)  # a residential block in Binjiang
PASSWORD = "correct horse battery"


@dataclass
class S1Network:
    platform_key: str
    shoes_id: str
    corner_mart_id: str
    sports_store_id: str
    warehouse_id: str


def build_s1(db: Database) -> S1Network:
    """Running shoes: a platform warehouse 30 km out, a busy sports store 3.5 km away that
    delivers, and a partner convenience store at the foot of the shopper's building."""
    with db.unit_of_work() as s:
        platform = f.merchant(s, "CloudMall", at=T0)
        quickmart = f.merchant(s, "QuickMart", at=T0)
        shoes = f.product(s, 101, "Trail running shoes, size 38", at=T0, category="sports")
        f.offer(s, platform, shoes, 59900, at=T0)
        warehouse = f.location(s, platform, "CloudMall Xiaoshan warehouse", 30.1800, 120.4900, at=T0,
                               kind="warehouse", shipping_lead_hours=6.0, shipping_fee_minor=1000,
                               accepts_pickups=False)
        sports = f.location(s, platform, "CloudMall Sports Binjiang", 30.2100, 120.2465, at=T0,
                            hours=f.DAYTIME, pick_minutes=20, delivery_radius_km=5.0,
                            delivery_capacity_per_hour=6, delivery_fee_minor=800, accepts_pickups=False)
        corner = f.location(s, quickmart, "QuickMart Block 5", 30.2103, 120.2101, at=T0,
                            kind="store", accepts_pickups=True, accepts_partner_pickups=True)
        f.pickup_agreement(s, quickmart, platform, at=T0, fee=300)
        f.stock(s, warehouse, shoes, 200, at=T0)
        f.stock(s, sports, shoes, 30, at=T0)
        key = f.api_key(s, platform, at=T0)
        return S1Network(key, shoes.id, corner.id, sports.id, warehouse.id)


@dataclass
class S2Network:
    bakery_key: str
    cake_id: str
    office_id: str
    home_id: str
    office_staff_email: str
    home_staff_email: str


def build_s2(db: Database) -> S2Network:
    """The birthday cake is stocked only at the office-tower branch; the father lives near
    the small home branch 6 km away."""
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
        cake = f.product(s, 201, "Strawberry birthday cake, 8 inch", at=T0, category="bakery",
                         perishable=True, shelf_life_days=2)
        f.offer(s, bakery, cake, 26800, at=T0)
        office = f.location(s, bakery, "Sweet Lane Raffles Tower", 30.2460, 120.2120, at=T0,
                            hours=f.DAYTIME, pick_minutes=15)
        home = f.location(s, bakery, "Sweet Lane Wenhui Road", 30.2950, 120.1650, at=T0,
                          hours=f.DAYTIME, pick_minutes=5, delivery_radius_km=3.0,
                          delivery_capacity_per_hour=6, delivery_fee_minor=800)
        f.stock(s, office, cake, 3, at=T0)
        network_service.create_staff_user(s, email="office@sweetlane.example", name="Li Na", password=PASSWORD,
                                          role=Role.STORE_STAFF, merchant_id=bakery.id, location_id=office.id,
                                          now=T0)
        network_service.create_staff_user(s, email="home@sweetlane.example", name="Wang Fang",
                                          password=PASSWORD, role=Role.STORE_STAFF, merchant_id=bakery.id,
                                          location_id=home.id, now=T0)
        key = f.api_key(s, bakery, at=T0)
        return S2Network(key, cake.id, office.id, home.id, "office@sweetlane.example", "home@sweetlane.example")
