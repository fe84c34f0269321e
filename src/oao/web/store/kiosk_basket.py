"""The kiosk's basket priced at the register's channel, and the points it will earn.

Prices come from the merchant's offers at the register's price channel, the
same lookup `pos.service.record_sale` does when the sale is recorded, so the
total the shopper sees is the total she pays. The points preview runs the
loyalty programme's own pure earning function (`loyalty.earning.earn`) over
the merchant's active rules at the register's sales channel, so "double at
self-checkout" is shown only where a rule really doubles it, and the number is
the one the loyalty worker will credit.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.core.errors import InvalidInput, NotFound
from oao.core.money import Money
from oao.loyalty import earning
from oao.loyalty.programmes import rules_for_merchant
from oao.pos.bestsellers import available_here
from oao.pos.service import SALES_CHANNEL, channel_for

SYMBOLS = {"CNY": "¥", "USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "HKD": "HK$"}


def money(amount_minor: int, currency: str) -> str:
    """'¥12.50': how a price reads on a shop screen."""
    text = Money(amount_minor, currency).format()  # "12.50 CNY"
    symbol = SYMBOLS.get(currency)
    return f"{symbol}{text.rsplit(' ', 1)[0]}" if symbol else text


@dataclass(frozen=True, slots=True)
class BasketLine:
    product_id: str
    gtin: str
    title: str
    brand: str
    category: str
    quantity: int
    unit_price_minor: int
    available: int

    @property
    def total_minor(self) -> int:
        return self.unit_price_minor * self.quantity


@dataclass(frozen=True, slots=True)
class Basket:
    lines: list[BasketLine]
    currency: str

    @property
    def total_minor(self) -> int:
        return sum(line.total_minor for line in self.lines)

    @property
    def items(self) -> int:
        return sum(line.quantity for line in self.lines)


@dataclass(frozen=True, slots=True)
class EarnPreview:
    points: int  # what this basket earns at this register
    counter_points: int  # what it would earn at a staffed till
    multiplier_pct: int  # the register channel's multiplier (100 = x1)
    programme: str

    @property
    def boosted(self) -> bool:
        return self.points > self.counter_points

    @property
    def multiplier_words(self) -> str:
        if self.multiplier_pct == 200:
            return "double"
        if self.multiplier_pct == 300:
            return "triple"
        return f"×{Decimal(self.multiplier_pct) / 100:g}"


def sellable_product(session: Session, *, merchant_id: str, gtin: str):  # noqa: ANN201 - a catalog Product
    """The product behind a scanned or tapped GTIN, if this merchant sells it (422 with a reason if not)."""
    try:
        product = catalog.product_by_gtin(session, gtin=gtin.strip())
    except NotFound:
        raise InvalidInput(f"We could not find a product with barcode {gtin.strip()}. Ask a member of staff.",
                           gtin=gtin) from None
    if (merchant_id, product.id) not in catalog.active_offers(session, product_ids=[product.id],
                                                              merchant_ids=[merchant_id]):
        raise InvalidInput(f"{product.title} is not sold in this shop. Try “Order from our partner”.")
    return product


def price_basket(session: Session, *, merchant_id: str, location_id: str, register_kind: str,
                 basket: dict[str, int], currency: str) -> Basket:
    """The visit's basket with this register's prices and what is on the shelf for each line."""
    if not basket:
        return Basket(lines=[], currency=currency)
    products = {gtin: catalog.product_by_gtin(session, gtin=gtin) for gtin in basket}
    offers = catalog.active_offers(session, product_ids=[p.id for p in products.values()],
                                   merchant_ids=[merchant_id])
    shelf = available_here(session, location_id=location_id)
    channel = channel_for(register_kind)
    lines = []
    for gtin, quantity in basket.items():
        product = products[gtin]
        offer = offers.get((merchant_id, product.id))
        if offer is None:
            continue  # withdrawn since it was added: the basket drops it rather than failing at the till
        currency = offer.currency
        lines.append(BasketLine(product_id=product.id, gtin=product.gtin, title=product.title, brand=product.brand,
                                category=product.category or "", quantity=quantity,
                                unit_price_minor=catalog.price_for(offer, channel),
                                available=shelf.get(product.id, 0)))
    return Basket(lines=lines, currency=currency)


def _rule(row, currency: str) -> earning.Rule:  # noqa: ANN001 - an EarningRule row
    return earning.Rule(currency=currency, points=row.points, per_minor=row.per_minor,
                        category_multipliers=dict(row.category_multipliers or {}),
                        product_multipliers=dict(row.product_multipliers or {}),
                        channel_multipliers=dict(row.channel_multipliers or {}),
                        min_basket_minor=row.min_basket_minor, cap_points=row.cap_points, cap_period=row.cap_period)


def earn_preview(session: Session, *, merchant_id: str, register_kind: str, basket: Basket) -> EarnPreview | None:
    """Points this basket earns at a register of this kind under the merchant's active rules (None: no rule)."""
    rules = rules_for_merchant(session, merchant_id=merchant_id)
    if not rules or not basket.lines:
        return None
    channel = SALES_CHANNEL[register_kind]
    sale = earning.Sale(merchant_id=merchant_id, channel=channel, currency=basket.currency,
                        total_minor=basket.total_minor,
                        lines=[earning.SaleLine(product_id=line.product_id, category=line.category or None,
                                                quantity=line.quantity, amount_minor=line.total_minor)
                               for line in basket.lines])
    at_till = replace(sale, channel=SALES_CHANNEL["counter"])
    points = counter = 0
    multiplier, programme = 100, ""
    for row, prog in rules:
        rule = _rule(row, prog.currency)
        here = earning.earn(rule, sale).points
        points += here
        counter += earning.earn(rule, at_till).points
        if here and not programme:
            programme, multiplier = prog.name, rule.channel_multipliers.get(channel, 100)
    if not programme:
        programme = rules[0][1].name
    return EarnPreview(points=points, counter_points=counter, multiplier_pct=multiplier, programme=programme)
