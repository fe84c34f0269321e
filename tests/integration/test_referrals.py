"""Referral commissions: a merchant may sell a partner's products only under an accepted referral
agreement; the commission of that moment is copied onto the order and carried by order.completed;
partner pickups carry the pickup merchant and the agreed fee."""

from __future__ import annotations

from sqlalchemy import select

from oao.core.outbox import OutboxEvent
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.integration.test_checkouts import GLOSS, collect, network, place, quote_leg


def agree_referral(client, referrer_key: str, seller_key: str, referrer: str, seller: str, bps: int) -> str:
    """The referrer proposes, the seller accepts: referrer may sell the seller's products for `bps`."""
    proposed = client.post("/api/v1/partner-agreements", headers=auth(referrer_key), json={
        "counterparty_merchant_id": seller,
        "terms": {"referral": {"referrer_merchant_id": referrer, "commission_bps": bps}}})
    assert proposed.status_code == 201, proposed.text
    agreement = proposed.json()["id"]
    accepted = client.post(f"/api/v1/partner-agreements/{agreement}/accept", headers=auth(seller_key),
                           json={"version": 1})
    assert accepted.status_code == 200, accepted.text
    return agreement


def kiosk_shop(db, net) -> tuple[str, str]:
    """A cosmetics shop (the referrer) next to the network of test_checkouts."""
    with db.unit_of_work() as s:
        shop = f.merchant(s, "Jade Petal Cosmetics", at=T0)
        f.location(s, shop, "Jade Petal Hubin", 30.2575, 120.1655, at=T0)
        return shop.id, f.api_key(s, shop, at=T0)


def completed_events(db) -> list[dict]:
    with db.read() as s:
        return [e.payload for e in s.scalars(select(OutboxEvent).where(OutboxEvent.type == "order.completed"))]


def _order(client, key: str, leg: dict, **body):
    return client.post("/api/v1/orders", headers=auth(key), json={**leg, "payment_method": "pay_at_pickup", **body})


def test_a_referral_without_an_accepted_agreement_is_refused(client, db):
    net = network(db)
    shop, shop_key = kiosk_shop(db, net)
    leg = quote_leg(client, shop_key, net.gloss, 1, net.online_store)
    alone = _order(client, shop_key, leg)
    assert alone.status_code == 403 and "referral" in alone.json()["detail"]
    refused = _order(client, shop_key, leg, referrer_merchant_id=shop)
    assert refused.status_code == 422, refused.text
    assert "No accepted referral agreement" in refused.json()["detail"]
    # Nobody else may name a referrer: the seller cannot make the shop earn (or owe) anything.
    seller_leg = quote_leg(client, net.online_key, net.gloss, 1, net.online_store)
    impostor = _order(client, net.online_key, seller_leg, referrer_merchant_id=shop)
    assert impostor.status_code == 403
    # A proposal not yet accepted is no agreement.
    client.post("/api/v1/partner-agreements", headers=auth(shop_key), json={
        "counterparty_merchant_id": net.online,
        "terms": {"referral": {"referrer_merchant_id": shop, "commission_bps": 800}}})
    still = _order(client, shop_key, quote_leg(client, shop_key, net.gloss, 1, net.online_store),
                   referrer_merchant_id=shop)
    assert still.status_code == 422


def test_the_agreed_commission_is_copied_at_placement_and_carried_by_order_completed(client, db):
    net = network(db)
    shop, shop_key = kiosk_shop(db, net)
    agreement = agree_referral(client, shop_key, net.online_key, shop, net.online, 800)
    placed = _order(client, shop_key, quote_leg(client, shop_key, net.gloss, 1, net.online_store),
                    referrer_merchant_id=shop)
    assert placed.status_code == 201, placed.text
    order = placed.json()
    assert order["merchant_id"] == net.online and order["referrer_merchant_id"] == shop
    assert order["referral_commission_bps"] == 800
    # The referrer may read the order it sold; the seller fulfils it.
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(shop_key)).status_code == 200

    # New terms later do not change an order already placed.
    raised = client.post(f"/api/v1/partner-agreements/{agreement}/versions", headers=auth(shop_key), json={
        "terms": {"referral": {"referrer_merchant_id": shop, "commission_bps": 1500}}})
    assert raised.status_code == 201, raised.text
    accepted = client.post(f"/api/v1/partner-agreements/{agreement}/accept", headers=auth(net.online_key),
                           json={"version": 2})
    assert accepted.status_code == 200, accepted.text
    collect(client, net.online_key, net.online_store,
            client.get(f"/api/v1/orders/{order['id']}", headers=auth(net.online_key)).json())

    [event] = completed_events(db)
    assert event["order_id"] == order["id"] and event["referrer_merchant_id"] == shop
    assert event["referral_commission_bps"] == 800 and event["checkout_id"] is None
    assert event["total_minor"] == GLOSS and event["subtotal_minor"] == GLOSS and event["fees_minor"] == 0
    assert event["currency"] == "CNY" and event["merchant_id"] == net.online
    assert event["pickup_location_id"] == net.online_store and event["pickup_merchant_id"] == net.online
    assert event["pickup_fee_minor"] is None  # its own store: no partner pickup fee

    later = _order(client, shop_key, quote_leg(client, shop_key, net.gloss, 1, net.online_store),
                   referrer_merchant_id=shop)
    assert later.json()["referral_commission_bps"] == 1500


def test_a_checkout_with_a_referrer_refers_only_the_orders_of_its_partners(client, db):
    net = network(db)
    shop, shop_key = kiosk_shop(db, net)
    agree_referral(client, shop_key, net.online_key, shop, net.online, 600)
    legs = [quote_leg(client, net.admin, net.tart, 1, net.bakery_store),
            quote_leg(client, net.admin, net.gloss, 1, net.online_store)]
    refused = place(client, net.admin, legs, referrer_merchant_id=shop)
    assert refused.status_code == 422 and "Sweet Lane Bakery" in refused.json()["detail"], refused.text
    ok = place(client, net.admin, [quote_leg(client, net.admin, net.gloss, 1, net.online_store)],
               referrer_merchant_id=shop)
    assert ok.status_code == 201, ok.text
    [order] = ok.json()["orders"]
    assert order["referrer_merchant_id"] == shop and order["referral_commission_bps"] == 600


def test_a_partner_pickup_carries_the_pickup_merchant_and_the_agreed_fee(client, db):
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
        chain = f.merchant(s, "Daily Corner", at=T0)
        cake = f.product(s, 941, "Mango mousse cake", at=T0, category="bakery")
        f.offer(s, bakery, cake, 19800, at=T0)
        office = f.location(s, bakery, "Sweet Lane Raffles Tower", 30.2460, 120.2120, at=T0)
        corner = f.location(s, chain, "Daily Corner Wenhui", 30.2940, 120.1660, at=T0, accepts_pickups=True,
                            accepts_partner_pickups=True)
        agreement = f.pickup_agreement(s, chain, bakery, at=T0, fee=150)
        f.stock(s, office, cake, 2, at=T0)
        key, chain_key = f.api_key(s, bakery, at=T0), f.api_key(s, chain, at=T0)
        ids = (bakery.id, chain.id, cake.id, office.id, corner.id, agreement.id)
    bakery_id, chain_id, cake_id, office_id, corner_id, agreement_id = ids
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": cake_id, "quantity": 1}], "pickup_location_id": corner_id}).json()
    option = next(o for o in quote["options"] if o["pickup_location"]["id"] == corner_id)
    order = client.post("/api/v1/orders", headers=auth(key), json={
        "quote_id": quote["id"], "option_id": option["id"], "payment_method": "pay_at_pickup"}).json()
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(key))
    client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(key))
    assert client.post(f"/api/v1/transfers/{leg['transfer_id']}/receive", headers=auth(chain_key)).status_code == 200
    code = client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()["fulfillments"][0]["pickup_code"]
    handed = client.post(f"/api/v1/locations/{corner_id}/handover", json={"code": code}, headers=auth(chain_key))
    assert handed.status_code == 200, handed.text

    [event] = completed_events(db)
    assert event["merchant_id"] == bakery_id and event["pickup_location_id"] == corner_id
    assert event["pickup_merchant_id"] == chain_id
    assert event["pickup_fee_minor"] == 150 and event["pickup_agreement_id"] == agreement_id
    assert event["referrer_merchant_id"] is None and event["referral_commission_bps"] is None
    assert office_id != corner_id
