"""The dashboard's overview figures for one merchant and period, from the records themselves.

How each figure is counted (all per day in the merchant's local time zone,
over the last N days including today):
- Sales by channel: goods value (minor units, fees excluded) of
  * online: orders placed in the period that became sales (confirmed or
    completed; unpaid and cancelled ones never did), by `Order.created_at`;
  * partner: such orders recorded with channel "partner", or collected at
    another merchant's store under a pickup agreement (sold through a partner);
  * kiosk: orders recorded with channel "kiosk", and till sales at kiosk and
    self-checkout registers;
  * POS till: sales at counter registers, by the register's `sold_at`.
- Orders by fulfillment kind: those same online orders, by the kind of their legs.
- On-time rate: legs whose promised time fell in the period and has passed
  (cancelled ones left out); kept = ready by the promise for a pickup, at the
  door by the promise for a delivery or parcel. A leg still open after its
  promise counts as late.
- Stock alerts: stock levels whose available units (on hand minus reserved)
  are at or below the threshold, sold out first.
- Points: earnings on this merchant's sales (issued) and points holds posted
  at this merchant (redeemed), each net of what returns gave back.
- Top products: units and goods value over online orders and till sales.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from oao.catalog import service as catalog
from oao.fulfillment import reports as fulfillment_reports
from oao.inventory import reports as inventory_reports
from oao.loyalty import reports as loyalty_reports
from oao.network import service as network
from oao.orders import reports as order_reports
from oao.pos import reports as pos_reports

CHANNELS = (("online", "Online"), ("pos", "POS till"), ("kiosk", "Kiosk & self-checkout"), ("partner", "Partner"))
KINDS = (("pickup", "Pickup"), ("delivery", "Delivery"), ("shipping", "Parcel"))
PERIODS = (7, 30)
DEFAULT_LOW_STOCK = 3
TOP_PRODUCTS = 8
STOCK_ALERTS = 8


@dataclass
class StockAlert:
    title: str
    gtin: str
    location: str
    on_hand: int
    reserved: int
    available: int


@dataclass
class TopProduct:
    product_id: str
    title: str
    quantity: int = 0
    amount_minor: int = 0


@dataclass
class Overview:
    days: list[date]
    sales: dict[str, list[int]]  # channel -> goods value per day
    transactions: int
    order_kinds: dict[str, int]
    due: int
    kept: int
    alerts: list[StockAlert]
    alert_count: int
    low_stock: int
    issued: list[int]
    redeemed: list[int]
    top: list[TopProduct] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(sum(v) for v in self.sales.values())

    def channel_total(self, channel: str) -> int:
        return sum(self.sales[channel])

    @property
    def on_time_rate(self) -> float | None:
        return self.kept / self.due if self.due else None

    @property
    def orders(self) -> int:
        return sum(self.order_kinds.values())

    @property
    def has_sales(self) -> bool:
        return self.transactions > 0


def period_bounds(now: datetime, zone: ZoneInfo, days: int) -> tuple[list[date], datetime, datetime]:
    """The local days of the period (oldest first) and its [start, end) in UTC-aware datetimes."""
    today = now.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start = datetime.combine(first, time(0), tzinfo=zone)
    end = datetime.combine(today + timedelta(days=1), time(0), tzinfo=zone)
    return [first + timedelta(days=i) for i in range(days)], start, end


def order_channel(recorded: str, pickup_merchants: set[str], merchant_id: str) -> str:
    """The dashboard channel of an online order (see the module docstring)."""
    if recorded == "partner" or any(m != merchant_id for m in pickup_merchants):
        return "partner"
    return "kiosk" if recorded == "kiosk" else "online"


def till_channel(register_kind: str) -> str:
    return "pos" if register_kind == "counter" else "kiosk"


def build(session: Session, *, merchant_id: str, currency: str, zone: ZoneInfo, now: datetime, days: int,
          low_stock: int = DEFAULT_LOW_STOCK) -> Overview:
    dates, start, end = period_bounds(now, zone, days)
    index = {d: i for i, d in enumerate(dates)}

    def day_of(at: datetime) -> int | None:
        return index.get(at.astimezone(zone).date())

    sales = {key: [0] * len(dates) for key, _ in CHANNELS}
    orders = [o for o in order_reports.sold_orders(session, merchant_id=merchant_id, start=start, end=end)
              if o.currency == currency]
    legs = fulfillment_reports.legs_for_orders(session, order_ids=[o.order_id for o in orders])
    location_merchant = {loc.id: loc.merchant_id for loc in network.locations_by_ids(
        session, location_ids={leg.pickup_location_id for leg in legs if leg.pickup_location_id})}
    pickup_merchants: dict[str, set[str]] = {}
    kinds: dict[str, set[str]] = {key: set() for key, _ in KINDS}
    for leg in legs:
        kinds.setdefault(leg.kind, set()).add(leg.order_id)
        if leg.pickup_location_id in location_merchant:
            pickup_merchants.setdefault(leg.order_id, set()).add(location_merchant[leg.pickup_location_id])
    for o in orders:
        i = day_of(o.placed_at)
        if i is not None:
            sales[order_channel(o.channel, pickup_merchants.get(o.order_id, set()), merchant_id)][i] += o.goods_minor
    tills = [t for t in pos_reports.sales(session, merchant_id=merchant_id, start=start, end=end)
             if t.currency == currency]
    for t in tills:
        i = day_of(t.sold_at)
        if i is not None:
            sales[till_channel(t.register_kind)][i] += t.total_minor

    due_legs = fulfillment_reports.legs_due(session, merchant_id=merchant_id, start=start, end=min(end, now))
    kept = sum(1 for leg in due_legs if (at := leg.kept_promise_at()) is not None and at <= leg.promised_at)

    issued, redeemed = [0] * len(dates), [0] * len(dates)
    for move in loyalty_reports.points_issued(session, merchant_id=merchant_id, start=start, end=end):
        if (i := day_of(move.at)) is not None:
            issued[i] += move.points
    for move in loyalty_reports.points_redeemed(session, merchant_id=merchant_id, start=start, end=end):
        if (i := day_of(move.at)) is not None:
            redeemed[i] += move.points

    return Overview(days=dates, sales=sales, transactions=len(orders) + len(tills),
                    order_kinds={key: len(ids) for key, ids in kinds.items()}, due=len(due_legs), kept=kept,
                    **_alerts(session, merchant_id=merchant_id, threshold=low_stock), low_stock=low_stock,
                    issued=issued, redeemed=redeemed, top=_top(session, merchant_id=merchant_id, start=start, end=end))


def _alerts(session: Session, *, merchant_id: str, threshold: int) -> dict[str, object]:
    rows, count = inventory_reports.low_stock(session, merchant_id=merchant_id, threshold=threshold,
                                              limit=STOCK_ALERTS)
    products = catalog.products_by_ids(session, product_ids=[r.product_id for r in rows])
    names = {loc.id: loc.name for loc in network.locations_by_ids(session, location_ids={r.location_id for r in rows})}
    alerts = [StockAlert(title=products[r.product_id].title if r.product_id in products else r.product_id,
                         gtin=products[r.product_id].gtin if r.product_id in products else "",
                         location=names.get(r.location_id, r.location_id), on_hand=r.on_hand, reserved=r.reserved,
                         available=r.available) for r in rows]
    return {"alerts": alerts, "alert_count": count}


def _top(session: Session, *, merchant_id: str, start: datetime, end: datetime) -> list[TopProduct]:
    merged: dict[str, TopProduct] = {}
    for rows in (order_reports.top_products(session, merchant_id=merchant_id, start=start, end=end),
                 pos_reports.top_products(session, merchant_id=merchant_id, start=start, end=end)):
        for r in rows:
            item = merged.setdefault(r.product_id, TopProduct(product_id=r.product_id, title=r.title))
            item.quantity += r.quantity
            item.amount_minor += r.amount_minor
    return sorted(merged.values(), key=lambda p: (-p.amount_minor, -p.quantity, p.title))[:TOP_PRODUCTS]
