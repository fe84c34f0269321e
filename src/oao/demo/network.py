"""The demo network in Hangzhou, as plain data: merchants, their locations and pickup agreements.

Coordinates are real places (WGS84, rounded); street addresses use real street
names. Merchants are invented. `product_lines.py` says what they sell,
`catalog.py` expands that into products, offers and stock, `load.py` writes
everything to the database.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TIMEZONE = "Asia/Shanghai"
CURRENCY = "CNY"
DEMO_PASSWORD = "demo-password"
NETWORK_ADMIN_EMAIL = "admin@oao.example"
NETWORK_ADMIN_NAME = "Network Operator (Qian Yue)"

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _every_day(open_: str, close: str) -> dict[str, list[list[str]]]:
    return {d: [[open_, close]] for d in DAYS}


ALL_DAY = _every_day("00:00", "24:00")
CONVENIENCE_DAY = _every_day("07:00", "23:00")
LATE_NIGHT = _every_day("06:30", "01:00")  # closes after midnight (close before open)
# An office-tower bakery follows office life: early weekdays, short Saturday, shut on Sunday.
OFFICE_BAKERY = {**{d: [["07:00", "20:00"]] for d in DAYS[:5]}, "sat": [["09:00", "17:00"]], "sun": []}
HOME_BAKERY = _every_day("07:00", "21:30")
WAREHOUSE = _every_day("06:00", "22:00")  # dispatch hours
DARK_STORE = _every_day("07:00", "23:30")
MALL = {**{d: [["10:00", "22:00"]] for d in DAYS[:4]}, **{d: [["10:00", "22:30"]] for d in DAYS[4:]}}
FRESH_MARKET = _every_day("07:30", "22:00")


@dataclass(frozen=True)
class MerchantSpec:
    slug: str
    name: str
    email_domain: str
    admin_name: str


@dataclass(frozen=True)
class LocationSpec:
    merchant: str  # MerchantSpec.slug
    key: str  # short name, unique within the merchant; staff email is staff.<key>@<domain>
    name: str
    kind: str  # store | warehouse | pickup_point | dark_store
    lat: float
    lon: float
    address: str
    hours: dict[str, list[list[str]]]
    staff_name: str
    stock_profile: str  # how catalog.py stocks it (see STOCK_PROFILES there)
    sells_in_store: bool = True
    accepts_pickups: bool = False
    accepts_partner_pickups: bool = False
    delivery_radius_km: float = 0.0
    pick_minutes: int = 15
    delivery_capacity_per_hour: int = 0
    delivery_fee_minor: int = 0
    shipping_lead_hours: float | None = None
    shipping_fee_minor: int = 0
    registers: tuple[tuple[str, str], ...] = (("Counter 1", "counter"),)  # (name, kind)


@dataclass(frozen=True)
class AgreementSpec:
    """An accepted agreement: `proposer` proposed, `counterparty` accepted (merchant slugs)."""

    proposer: str
    counterparty: str
    pickup_host: str | None = None  # whose partner pickup points accept the other's parcels
    pickup_fee_minor: int = 0  # per parcel, paid by the guest to the host
    referrer: str | None = None  # who may sell the other's products (S3 endless aisle)
    commission_bps: int = 0  # of the referred sale, to the referrer

    def terms(self, ids: dict[str, str]) -> dict[str, Any]:
        """The terms document (see oao.network.terms) with merchant ids for slugs."""
        pickup = referral = None
        if self.pickup_host is not None:
            pickup = {"host_merchant_id": ids[self.pickup_host], "fee_minor": self.pickup_fee_minor,
                      "currency": CURRENCY}
        if self.referrer is not None:
            referral = {"referrer_merchant_id": ids[self.referrer], "commission_bps": self.commission_bps}
        return {"pickup": pickup, "referral": referral, "points": None, "data_sharing": None}


BAKERY, CONVENIENCE, ONLINE, COSMETICS, FRESH = (
    "sweet-lane-bakery", "daily-corner", "qiantang-online", "jade-petal-cosmetics", "blue-harbour-fresh")

MERCHANTS = (
    MerchantSpec(BAKERY, "Sweet Lane Bakery", "sweetlane.example", "Chen Jing"),
    MerchantSpec(CONVENIENCE, "Daily Corner", "dailycorner.example", "Wang Wei"),
    MerchantSpec(ONLINE, "Qiantang Online", "qiantangonline.example", "Zhang Min"),
    MerchantSpec(COSMETICS, "Jade Petal Cosmetics", "jadepetal.example", "Lin Xue"),
    MerchantSpec(FRESH, "Blue Harbour Fresh", "blueharbour.example", "Zhou Hao"),
)

_SHOP: dict[str, Any] = {"accepts_pickups": True}
_PICKUP_POINT: dict[str, Any] = {"accepts_pickups": True, "accepts_partner_pickups": True, "pick_minutes": 5}
_DARK: dict[str, Any] = {"sells_in_store": False, "delivery_radius_km": 3.0, "pick_minutes": 5,
                         "delivery_capacity_per_hour": 40, "delivery_fee_minor": 500, "registers": ()}

LOCATIONS = (
    # S2: the birthday cake lives in the office tower; the home branch is ~2.5 km away and delivers.
    LocationSpec(BAKERY, "office", "Sweet Lane Bakery · Qianjiang New Town", "store", 30.2465, 120.2095,
                 "Ground floor, 18 Fuchun Road, Qianjiang New Town, Shangcheng District, Hangzhou",
                 OFFICE_BAKERY, "Huang Ting", "bakery_office", **_SHOP, pick_minutes=10),
    LocationSpec(BAKERY, "home", "Sweet Lane Bakery · Caihe", "store", 30.2655, 120.1955,
                 "Shop 3, 56 Caihe Road, Shangcheng District, Hangzhou",
                 HOME_BAKERY, "Zhao Lei", "bakery_home", **_SHOP, pick_minutes=15, delivery_radius_km=3.0,
                 delivery_capacity_per_hour=6, delivery_fee_minor=800),
    LocationSpec(CONVENIENCE, "wulin", "Daily Corner · Wulin Square", "store", 30.2715, 120.1635,
                 "12 Tiyuchang Road, Gongshu District, Hangzhou", ALL_DAY, "Liu Yang", "convenience",
                 **_PICKUP_POINT),
    LocationSpec(CONVENIENCE, "hubin", "Daily Corner · Hubin", "store", 30.2585, 120.1660,
                 "88 Pinghai Road, Shangcheng District, Hangzhou", ALL_DAY, "Sun Qiang", "convenience",
                 **_PICKUP_POINT),
    LocationSpec(CONVENIENCE, "huanglong", "Daily Corner · Huanglong", "store", 30.2690, 120.1385,
                 "20 Shuguang Road, Xihu District, Hangzhou", CONVENIENCE_DAY, "Ma Li", "convenience",
                 **_PICKUP_POINT),
    LocationSpec(CONVENIENCE, "wensan", "Daily Corner · Wensan Road", "store", 30.2775, 120.1240,
                 "455 Wensan Road, Xihu District, Hangzhou", CONVENIENCE_DAY, "Zhu Yan", "convenience",
                 **_PICKUP_POINT),
    # At the foot of the bakery's office tower: S2's partner pickup point.
    LocationSpec(CONVENIENCE, "cbd", "Daily Corner · Citizen Center", "store", 30.2490, 120.2055,
                 "9 Minxin Road, Qianjiang New Town, Shangcheng District, Hangzhou", ALL_DAY, "Hu Jun",
                 "convenience", **_PICKUP_POINT),
    LocationSpec(CONVENIENCE, "caihe", "Daily Corner · Caihe", "store", 30.2695, 120.1990,
                 "301 Qiutao North Road, Shangcheng District, Hangzhou", CONVENIENCE_DAY, "Guo Mei",
                 "convenience", **_PICKUP_POINT),
    LocationSpec(CONVENIENCE, "binjiang", "Daily Corner · Binjiang Xingguang", "store", 30.2085, 120.2120,
                 "1 Jiangnan Avenue, Binjiang District, Hangzhou", ALL_DAY, "He Tao", "convenience",
                 **_PICKUP_POINT),
    LocationSpec(CONVENIENCE, "xiaohe", "Daily Corner · Xiaohe Street", "store", 30.2995, 120.1480,
                 "36 Xiaohe Road, Gongshu District, Hangzhou", CONVENIENCE_DAY, "Gao Peng", "convenience",
                 **_PICKUP_POINT),
    LocationSpec(CONVENIENCE, "eaststation", "Daily Corner · Hangzhou East Station", "store", 30.2915,
                 120.2125, "Tiancheng Road, East Station Square, Shangcheng District, Hangzhou", ALL_DAY,
                 "Luo Jia", "convenience", **_PICKUP_POINT),
    LocationSpec(CONVENIENCE, "xiasha", "Daily Corner · Xiasha University Town", "store", 30.3125, 120.3470,
                 "2nd Avenue, Qiantang District, Hangzhou", LATE_NIGHT, "Zheng Kai", "convenience",
                 **_PICKUP_POINT),
    # The platform ships parcels from a warehouse ~25 km east, and runs two dark stores in town.
    LocationSpec(ONLINE, "xiaoshan", "Qiantang Online · Xiaoshan Warehouse", "warehouse", 30.2300, 120.4200,
                 "Airport Logistics Park, Xiaoshan District, Hangzhou", WAREHOUSE, "Liang Yu", "warehouse",
                 sells_in_store=False, pick_minutes=30, shipping_lead_hours=6.0, shipping_fee_minor=1000,
                 registers=()),
    LocationSpec(ONLINE, "xixi", "Qiantang Online · Xixi Dark Store", "dark_store", 30.2840, 120.1100,
                 "Wen'er West Road, Xihu District, Hangzhou", DARK_STORE, "Wu Xiaoyu", "dark_store", **_DARK),
    LocationSpec(ONLINE, "changhe", "Qiantang Online · Binjiang Dark Store", "dark_store", 30.2000, 120.1950,
                 "Changhe Road, Binjiang District, Hangzhou", DARK_STORE, "Xu Lin", "dark_store", **_DARK),
    # S3: the kiosk that recognises members and reads skin profiles.
    LocationSpec(COSMETICS, "hubin", "Jade Petal · Hubin", "store", 30.2575, 120.1655,
                 "2F, 50 Dongpo Road, Hubin, Shangcheng District, Hangzhou", MALL, "Yang Fan", "cosmetics",
                 **_SHOP, pick_minutes=10,
                 registers=(("Counter 1", "counter"), ("Skin scan kiosk", "kiosk"))),
    # S8: picked in 10 minutes, 5 km radius, enough riders that orders land within ~30 minutes.
    LocationSpec(FRESH, "kaixuan", "Blue Harbour Fresh · Kaixuan", "store", 30.2750, 120.1900,
                 "B1, 258 Kaixuan Road, Shangcheng District, Hangzhou", FRESH_MARKET, "Li Na", "fresh",
                 **_SHOP, pick_minutes=10, delivery_radius_km=5.0, delivery_capacity_per_hour=120,
                 delivery_fee_minor=0,
                 registers=(("Counter 1", "counter"), ("Counter 2", "counter"),
                            ("Self-checkout 1", "self_checkout"))),
)

AGREEMENTS = (
    # S2: Daily Corner's stores take the bakery's and the platform's parcels for a fee.
    AgreementSpec(proposer=CONVENIENCE, counterparty=BAKERY, pickup_host=CONVENIENCE, pickup_fee_minor=100),
    AgreementSpec(proposer=CONVENIENCE, counterparty=ONLINE, pickup_host=CONVENIENCE, pickup_fee_minor=150),
    # S3: the cosmetics kiosk sells the online partner's products for 8 % commission.
    AgreementSpec(proposer=COSMETICS, counterparty=ONLINE, referrer=COSMETICS, commission_bps=800),
)
