"""Expands the demo's product lines into products, offers and stock (pure, deterministic).

Every "random" choice (which store carries what, how many units) is a hash of
the seed and the names involved, not a shared random stream, so adding a
product or a store never reshuffles the rest of the demo.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass
from typing import Any

from oao.catalog.gtin import check_digit
from oao.demo import product_lines
from oao.demo.network import LOCATIONS, LocationSpec
from oao.demo.product_lines import BRANDS, Line

# A product with this shelf life or less is perishable: sold fresh, never held in the warehouse.
PERISHABLE_DAYS = 30
SOLD_OUT_SHARE = 0.03  # rows received and then sold out, so the demo shows empty shelves too


@dataclass(frozen=True)
class ProductSpec:
    gtin: str
    title: str
    brand_key: str
    brand: str
    category: str
    attributes: dict[str, Any]
    shelf_life_days: int | None
    list_price: int  # fen

    @property
    def perishable(self) -> bool:
        return self.shelf_life_days is not None and self.shelf_life_days <= PERISHABLE_DAYS


@dataclass(frozen=True)
class OfferSpec:
    merchant: str  # merchant slug
    gtin: str
    price_minor: int
    channel_prices: dict[str, int]


@dataclass(frozen=True)
class StockSpec:
    merchant: str
    location: str  # LocationSpec.key
    gtin: str
    received: int  # units received (one receipt movement)
    on_hand: int  # what is left: received, or 0 when it sold out


@dataclass(frozen=True)
class DemoCatalog:
    products: list[ProductSpec]
    offers: list[OfferSpec]
    stock: list[StockSpec]


@dataclass(frozen=True)
class StockProfile:
    share: float  # of the merchant's offers this location carries
    units: tuple[int, int]  # default (low, high)
    by_category: dict[str, tuple[int, int]]
    perishables: bool = True
    except_categories: tuple[str, ...] = ()


STOCK_PROFILES = {
    # Long-life goods in depth; nothing that would spoil on a six-hour parcel run.
    "warehouse": StockProfile(1.0, (120, 1200), {"beverages": (300, 2400), "household": (200, 1500),
                                                 "skincare": (40, 300), "makeup": (40, 300)},
                              perishables=False),
    "dark_store": StockProfile(0.75, (8, 60), {"fresh_produce": (10, 40), "dairy": (12, 48),
                                               "beverages": (24, 96)}),
    "convenience": StockProfile(0.85, (3, 24), {"beverages": (12, 48), "dairy": (4, 16), "bakery": (2, 10)}),
    "bakery_office": StockProfile(1.0, (8, 30), {"cakes": (1, 4)}),
    "bakery_home": StockProfile(1.0, (6, 20), {}, except_categories=("cakes",)),
    "fresh": StockProfile(1.0, (10, 60), {"fresh_produce": (30, 150), "meat_seafood": (10, 60),
                                          "dairy": (20, 80), "bakery": (10, 40)}),
    "cosmetics": StockProfile(1.0, (3, 20), {"makeup": (4, 24)}),
}


def draw(*parts: object) -> float:
    """A uniform number in [0, 1) fixed by the seed and the given names."""
    key = ":".join(str(p) for p in (product_lines.SEED, *parts)).encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "big") / 2**64


def _between(low: int, high: int, *parts: object) -> int:
    return low + int(draw(*parts) * (high - low + 1))


def gtin13(prefix: str, item: int) -> str:
    """A GTIN-13 from a GS1 company prefix and an item reference, with its check digit."""
    body = f"{prefix}{item:0{12 - len(prefix)}d}"
    return body + str(check_digit(body))


def expand_line(line: Line) -> list[tuple[str, str, int, dict[str, Any]]]:
    """(title, chinese name, price, attributes) for each product of a line."""
    brand = BRANDS[line.brand]
    if not line.variants:
        return [(f"{brand.name} {line.title}", f"{brand.name_zh} {line.zh}", line.price, dict(line.attrs))]
    out = []
    for v in line.variants:
        title = f"{brand.name} {line.title.format(v=v.label)}"
        zh = f"{brand.name_zh} {line.zh.format(z=v.zh)}"
        out.append((title, zh, v.price if v.price is not None else line.price, {**line.attrs, **v.attrs}))
    return out


def build_products() -> list[ProductSpec]:
    """Every product of the demo, with a GTIN-13 stable under the product's title."""
    products: list[ProductSpec] = []
    used: set[str] = set()
    for line in product_lines.PRODUCT_LINES:
        brand = BRANDS[line.brand]
        space = 10 ** (12 - len(brand.gs1_prefix))
        for title, zh, price, attrs in expand_line(line):
            item = zlib.crc32(title.encode()) % space
            while gtin13(brand.gs1_prefix, item) in used:  # rare: two titles hash alike
                item = (item + 1) % space
            code = gtin13(brand.gs1_prefix, item)
            used.add(code)
            products.append(ProductSpec(
                gtin=code, title=title, brand_key=line.brand, brand=brand.name, category=line.category,
                attributes={"name_zh": zh, "brand_zh": brand.name_zh, **attrs},
                shelf_life_days=line.shelf_life_days, list_price=price))
    return products


def _round_fen(value: float) -> int:
    return round(value / 10.0) * 10


def sellers(product: ProductSpec) -> list[str]:
    """The merchants offering a product: its own label's owner, or a share of its category's sellers."""
    if product.brand_key in product_lines.EXCLUSIVE_BRANDS:
        return [product_lines.EXCLUSIVE_BRANDS[product.brand_key]]
    forced = {merchant for merchant, title in product_lines.CHANNEL_PRICES if title == product.title}
    shares = product_lines.CATEGORY_SELLERS[product.category]
    return [m for m, share in shares.items() if m in forced or draw("sells", m, product.gtin) < share]


def build_offers(products: list[ProductSpec]) -> list[OfferSpec]:
    offers = []
    for p in products:
        for merchant in sellers(p):
            price = _round_fen(p.list_price * product_lines.PRICE_MARKUP.get(merchant, 1.0))
            channel = dict(product_lines.CHANNEL_PRICES.get((merchant, p.title), {}))
            offers.append(OfferSpec(merchant, p.gtin, price, channel))
    return offers


def _stocks(profile: StockProfile, product: ProductSpec) -> bool:
    if product.category in profile.except_categories:
        return False
    return profile.perishables or not product.perishable


def build_stock(products: list[ProductSpec], offers: list[OfferSpec],
                locations: tuple[LocationSpec, ...] = LOCATIONS) -> list[StockSpec]:
    """Opening stock per location: a share of its merchant's offers, in quantities that fit the place."""
    by_gtin = {p.gtin: p for p in products}
    offered: dict[str, list[str]] = {}
    for o in offers:
        offered.setdefault(o.merchant, []).append(o.gtin)
    rows = []
    for loc in locations:
        profile = STOCK_PROFILES[loc.stock_profile]
        for gtin in offered.get(loc.merchant, []):
            product = by_gtin[gtin]
            if not _stocks(profile, product) or draw("stocks", loc.merchant, loc.key, gtin) >= profile.share:
                continue
            low, high = profile.by_category.get(product.category, profile.units)
            received = _between(low, high, "units", loc.merchant, loc.key, gtin)
            # The whole cakes stay available: S2 starts from one on the office shelf.
            sold_out = (product.category != "cakes"
                        and draw("sold_out", loc.merchant, loc.key, gtin) < SOLD_OUT_SHARE)
            rows.append(StockSpec(loc.merchant, loc.key, gtin, received, 0 if sold_out else received))
    return rows


def build_catalog() -> DemoCatalog:
    products = build_products()
    offers = build_offers(products)
    return DemoCatalog(products, offers, build_stock(products, offers))
