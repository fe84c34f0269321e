"""The merchant dashboard's figures, counted from real records on both databases.

Sales at the till and the kiosk go through the POS service; online orders,
their legs and points are written as rows (placing an order through a quote
is tested elsewhere). Each test checks the per-day totals to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from oao.core.auth import Principal, Role
from oao.core.ids import new_id
from oao.fulfillment.models import Fulfillment
from oao.loyalty.models import Earning, Hold
from oao.orders.models import Order, OrderLine
from oao.pos import service as pos
from oao.pos.models import Register
from oao.pos.service import ScannedLine
from oao.pos.tenders import Tender
from oao.web.console.overview import build, period_bounds
from tests import factories as f
from tests.conftest import T0

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = T0 + timedelta(hours=1)  # Tuesday 17 November 2026, 11:00 in Hangzhou


def local(day: int, hour: int, minute: int = 0) -> datetime:
    """A time in November 2026 in Hangzhou, as aware UTC."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class Shop:
    merchant_id: str
    store_id: str
    partner_store_id: str
    counter_id: str
    kiosk_id: str
    tart: str  # GTIN; ¥12.50, ¥11.00 at the kiosk
    bun: str  # GTIN; ¥6.00
    tart_id: str
    bun_id: str
    admin: Principal


@pytest.fixture
def shop(db) -> Shop:
    with db.unit_of_work() as s:
        m = f.merchant(s, "Sweet Test", at=T0)
        partner = f.merchant(s, "Corner Partner", at=T0)
        store = f.location(s, m, "Test Bakery", 30.25, 120.20, at=T0)
        partner_store = f.location(s, partner, "Partner Corner", 30.26, 120.21, at=T0)
        tart = f.product(s, 1, "Egg tart", at=T0)
        bun = f.product(s, 2, "Red bean bun", at=T0)
        f.offer(s, m, tart, 1250, at=T0, channel_prices={"kiosk": 1100})
        f.offer(s, m, bun, 600, at=T0)
        f.stock(s, store, tart, 50, at=T0)
        f.stock(s, store, bun, 2, at=T0)  # a stock alert: 2 left
        counter = Register(id=new_id("reg"), merchant_id=m.id, location_id=store.id, name="Counter 1",
                           kind="counter", created_at=T0)
        kiosk = Register(id=new_id("reg"), merchant_id=m.id, location_id=store.id, name="Kiosk", kind="kiosk",
                         created_at=T0)
        s.add_all([counter, kiosk])
        admin = Principal(kind="staff", id="usr_test_admin", name="Admin", role=Role.MERCHANT_ADMIN,
                          merchant_id=m.id)
        return Shop(merchant_id=m.id, store_id=store.id, partner_store_id=partner_store.id, counter_id=counter.id,
                    kiosk_id=kiosk.id, tart=tart.gtin, bun=bun.gtin, tart_id=tart.id, bun_id=bun.id, admin=admin)


def sell(db, shop: Shop, register_id: str, gtin: str, quantity: int, sold_at: datetime) -> None:
    with db.unit_of_work() as s:
        pos.record_sale(s, principal=shop.admin, sale_id=new_id("sale"), register_id=register_id,
                        lines=[ScannedLine(gtin, quantity)], tenders=[Tender("cash", 100_000)], sold_at=sold_at,
                        now=NOW)


def order(db, shop: Shop, *, status: str, placed: datetime, goods: int, kind: str = "pickup",
          pickup_id: str | None = None, promised: datetime | None = None, ready: datetime | None = None,
          completed: datetime | None = None, fee: int = 0) -> str:
    """An online order of `goods` minor units of tarts (one line) with one leg, written as rows."""
    with db.unit_of_work() as s:
        o = Order(id=new_id("ord"), merchant_id=shop.merchant_id, channel="online", status=status, quote_id="q",
                  option_id="o", member_id=None, currency="CNY", subtotal_minor=goods, fees_minor=fee,
                  total_minor=goods + fee, payment_method="pay_at_pickup", payment_due_at=None, cancel_reason=None,
                  created_at=placed, updated_at=placed)
        s.add(o)
        s.flush()
        leg = Fulfillment(id=new_id("ful"), order_id=o.id, merchant_id=shop.merchant_id, kind=kind,
                          status="completed" if completed else ("cancelled" if status == "cancelled" else status),
                          source_location_id=shop.store_id,
                          pickup_location_id=(pickup_id or shop.store_id) if kind == "pickup" else None,
                          via_location_id=None, destination=None, lines=[{"product_id": shop.tart_id, "quantity": 1}],
                          transfer_id=None, promised_at=promised or placed + timedelta(hours=1), goods_arrive_at=None,
                          pickup_code=None, hold_until=None, created_at=placed, ready_at=ready, completed_at=completed,
                          cancel_reason=None)
        s.add(leg)
        s.add(OrderLine(id=new_id("oln"), order_id=o.id, merchant_id=shop.merchant_id, product_id=shop.tart_id,
                        fulfillment_id=leg.id, gtin=shop.tart, title="Egg tart", quantity=goods // 1250 or 1,
                        unit_price_minor=1250 if goods % 1250 == 0 else goods, currency="CNY"))
        return o.id


def overview(db, shop: Shop, days: int = 7):
    with db.read() as s:
        return build(s, merchant_id=shop.merchant_id, currency="CNY", zone=SHANGHAI, now=NOW, days=days)


def by_day(result, channel: str) -> dict[str, int]:
    return {d.isoformat(): v for d, v in zip(result.days, result.sales[channel], strict=True) if v}


def test_the_period_is_the_last_days_in_local_time_ending_today():
    days, start, end = period_bounds(NOW, SHANGHAI, 7)
    assert [d.isoformat() for d in (days[0], days[-1])] == ["2026-11-11", "2026-11-17"]
    assert start == local(11, 0) and end == local(18, 0)


def test_till_and_kiosk_sales_are_totalled_per_local_day_to_the_cent(db, shop):
    sell(db, shop, shop.counter_id, shop.tart, 2, local(16, 10))  # Monday: 2 × 12.50
    sell(db, shop, shop.counter_id, shop.bun, 1, local(17, 0, 30))  # Tuesday 00:30 local, still Monday in UTC
    sell(db, shop, shop.kiosk_id, shop.tart, 1, local(17, 9))  # kiosk price 11.00
    sell(db, shop, shop.counter_id, shop.tart, 1, local(10, 23, 59))  # the day before the period: not counted
    result = overview(db, shop)
    assert by_day(result, "pos") == {"2026-11-16": 2500, "2026-11-17": 600}
    assert by_day(result, "kiosk") == {"2026-11-17": 1100}
    assert result.total == 4200 and result.transactions == 3
    assert [(p.title, p.quantity, p.amount_minor) for p in result.top] == [("Egg tart", 3, 3600),
                                                                          ("Red bean bun", 1, 600)]


def test_online_orders_count_when_sold_and_partner_pickups_count_as_partner(db, shop):
    order(db, shop, status="confirmed", placed=local(15, 12), goods=2500, fee=800)  # fees are not goods
    order(db, shop, status="completed", placed=local(15, 18), goods=1250, pickup_id=shop.partner_store_id)
    order(db, shop, status="cancelled", placed=local(15, 13), goods=9999)
    order(db, shop, status="pending_payment", placed=local(17, 10), goods=7777)
    sell(db, shop, shop.counter_id, shop.tart, 1, local(15, 9))
    result = overview(db, shop)
    assert by_day(result, "online") == {"2026-11-15": 2500}
    assert by_day(result, "partner") == {"2026-11-15": 1250}
    assert by_day(result, "pos") == {"2026-11-15": 1250}
    assert result.order_kinds == {"pickup": 2, "delivery": 0, "shipping": 0}
    assert result.total == 5000


def test_the_on_time_rate_counts_promises_due_so_far_and_open_late_legs_as_late(db, shop):
    order(db, shop, status="confirmed", placed=local(16, 9), goods=1250, promised=local(16, 10),
          ready=local(16, 9, 50))  # pickup ready before the promise: kept
    order(db, shop, status="completed", placed=local(16, 9), goods=1250, kind="delivery", promised=local(16, 10),
          completed=local(16, 10, 20))  # delivered 20 minutes late
    order(db, shop, status="confirmed", placed=local(17, 8), goods=1250, promised=local(17, 9))  # not ready yet: late
    order(db, shop, status="confirmed", placed=local(17, 10), goods=1250, promised=local(17, 15))  # not due yet
    order(db, shop, status="cancelled", placed=local(16, 9), goods=1250, promised=local(16, 10))  # left out
    result = overview(db, shop)
    assert (result.kept, result.due) == (1, 3)
    assert result.order_kinds["delivery"] == 1


def test_points_issued_and_redeemed_are_net_of_returns_per_day(db, shop):
    with db.unit_of_work() as s:
        s.add(Earning(id=new_id("ern"), event_id="e1", rule_id="r", programme_id="p", member_id="m",
                      merchant_id=shop.merchant_id, sale_ref="x", spend_minor=2500, points=25, points_reversed=5,
                      line_points=[], transfer_id="t1", lot_id="l1", earned_at=local(16, 10)))
        s.add(Earning(id=new_id("ern"), event_id="e2", rule_id="r", programme_id="p", member_id="m",
                      merchant_id="someone_else", sale_ref="y", spend_minor=2500, points=99, points_reversed=0,
                      line_points=[], transfer_id="t2", lot_id="l2", earned_at=local(16, 10)))
        for hold_id, status, posted in (("h1", "posted", 300), ("h2", "voided", None)):
            s.add(Hold(id=hold_id, programme_id="p", member_id="m", account_id="a",
                       accepting_merchant_id=shop.merchant_id, points=300, status=status, posted_points=posted,
                       points_restored=100 if posted else 0, transfer_id="t", sale_ref="z",
                       expires_at=local(17, 12), created_at=local(17, 9), resolved_at=local(17, 9, 1)))
    result = overview(db, shop)
    assert result.issued[-2:] == [20, 0] and sum(result.issued) == 20
    assert result.redeemed[-1] == 200 and sum(result.redeemed) == 200


def test_stock_alerts_list_levels_at_or_below_the_threshold_sold_out_first(db, shop):
    sell(db, shop, shop.counter_id, shop.bun, 2, local(17, 9))  # the last two buns
    result = overview(db, shop)
    assert [(a.title, a.location, a.available) for a in result.alerts] == [("Red bean bun", "Test Bakery", 0)]
    assert result.alert_count == 1


def test_a_merchant_with_no_records_gets_zeros_not_errors(db, shop):
    result = overview(db, shop, days=30)
    assert len(result.days) == 30 and result.total == 0 and not result.has_sales
    assert result.on_time_rate is None and result.top == []
