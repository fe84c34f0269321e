"""S3 — the kiosk's endless aisle earns the shop its commission: the lip gloss the shop does not
carry, ordered at its kiosk from the online partner, is the partner's order (fulfilled and delivered
by the partner) with the shop as referrer at the commission of their accepted referral agreement,
and its order.completed event carries both for settlement."""

from __future__ import annotations

import re

from sqlalchemy import select

from oao.core.outbox import OutboxEvent
from oao.members import service as members
from oao.network.models import Merchant
from oao.orders.models import Order
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.integration.test_payments_kit import approve, wire_wallet
from tests.integration.test_referrals import agree_referral
from tests.integration.test_store_kiosk_pages import _kiosk_client, _member, _network


def _keys(db, net) -> tuple[str, str]:
    with db.unit_of_work() as s:
        return (f.api_key(s, s.get(Merchant, net["shop"]), at=T0),
                f.api_key(s, s.get(Merchant, net["partner"]), at=T0))


def _order_gloss_at_the_kiosk(client, db, app, net, csrf) -> Order:
    quoted = client.post(f"/store/kiosk/partner/{net['p']['gloss']}/quote",
                         data={"area": "riverside", "street": "8 Wulin Road", "quantity": 1, "csrf": csrf})
    assert quoted.status_code == 200, quoted.text
    quote_id = re.search(r'name="quote_id" value="([^"]+)"', quoted.text).group(1)
    option_id = re.search(r'name="option_id" value="([^"]+)"', quoted.text).group(1)
    paying = client.post(f"/store/kiosk/partner/{net['p']['gloss']}/order",
                         data={"quote_id": quote_id, "option_id": option_id, "csrf": csrf})
    assert paying.status_code == 200 and "<svg" in paying.text, paying.text
    with db.read() as s:
        order = s.scalars(select(Order).order_by(Order.created_at.desc(), Order.id.desc())).first()
        s.expunge(order)
        return order


def test_the_lip_gloss_ordered_at_the_kiosk_earns_the_shop_its_agreed_commission(app, client, db, clock):
    wallet = wire_wallet(app)
    net = _network(db)
    shop_key, partner_key = _keys(db, net)
    member_id, _ = _member(db, net)
    agree_referral(client, shop_key, partner_key, net["shop"], net["partner"], 1000)  # 10 % to the shop

    csrf = _kiosk_client(client, net)
    with db.unit_of_work() as s:
        code = members.issue_member_code(s, member_id=member_id, now=T0, settings=app.state.settings).code
    client.post("/store/kiosk/member", data={"code": code, "csrf": csrf})
    order = _order_gloss_at_the_kiosk(client, db, app, net, csrf)
    assert order.merchant_id == net["partner"] and order.member_id == member_id
    assert order.referrer_merchant_id == net["shop"] and order.referral_commission_bps == 1000

    # She pays the kiosk's QR with her phone; the kiosk sees the partner's order confirmed.
    seen = client.get(f"/api/v1/orders/{order.id}", headers=auth(partner_key)).json()
    assert approve(client, seen["payment"]["qr_content"]).status_code == 200
    for _ in range(6):
        clock.advance(seconds=20)
        wallet.deliver(clock)
    status = client.post("/store/kiosk/partner-pay/status", data={"csrf": csrf}, follow_redirects=False)
    assert status.status_code == 303 and status.headers["location"] == "/store/kiosk/partner-done"

    # The partner fulfils and delivers it from its warehouse.
    leg = client.get(f"/api/v1/orders/{order.id}", headers=auth(partner_key)).json()["fulfillments"][0]
    for step in ("pick", "pack", "deliver"):
        moved = client.post(f"/api/v1/fulfillments/{leg['id']}/{step}", headers=auth(partner_key))
        assert moved.status_code == 200, (step, moved.text)
    done = client.get(f"/api/v1/orders/{order.id}", headers=auth(shop_key)).json()  # the referrer may read it
    assert done["status"] == "completed" and done["referrer_merchant_id"] == net["shop"]

    with db.read() as s:
        [completed] = [e.payload for e in s.scalars(select(OutboxEvent).where(OutboxEvent.type == "order.completed"))]
    assert completed["merchant_id"] == net["partner"] and completed["referrer_merchant_id"] == net["shop"]
    assert completed["referral_commission_bps"] == 1000 and completed["total_minor"] == done["total_minor"]
    assert completed["pickup_location_id"] is None and completed["pickup_merchant_id"] is None


def test_without_a_referral_agreement_the_kiosk_order_carries_no_referrer(app, client, db):
    wire_wallet(app)
    net = _network(db)
    csrf = _kiosk_client(client, net)
    client.post("/store/kiosk/guest", data={"csrf": csrf})
    order = _order_gloss_at_the_kiosk(client, db, app, net, csrf)
    assert order.merchant_id == net["partner"]
    assert order.referrer_merchant_id is None and order.referral_commission_bps is None
