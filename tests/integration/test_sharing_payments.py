"""S4 through the one projection: a wallet provider's requests carry amount and store, never the basket, even
when the merchant's policy tries to permit line items; every request is a disclosure in the merchant's log."""

from __future__ import annotations

import httpx

from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.integration.test_payments_kit import approve, wire_wallet


def _text(request: httpx.Request) -> str:
    return " ".join([str(request.url), *(f"{k}: {v}" for k, v in request.headers.items()),
                     request.content.decode("utf-8", "replace")])


def shop(db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Herbal Corner", at=T0)
        store = f.location(s, m, "Herbal Corner Xixi", 30.2700, 120.0800, at=T0)
        products = [f.product(s, 800 + n, title, at=T0, brand="Longjing Co") for n, title in enumerate(
            ("Dragon Well green tea 250g", "Goji berries premium"))]
        for p in products:
            f.offer(s, m, p, 4800, at=T0)
            f.stock(s, store, p, 10, at=T0)
        key = f.api_key(s, m, at=T0)
        return m.id, store.id, key, [(p.id, p.gtin, p.gtin14, p.title) for p in products]


def pay_order(client, key, store_id, lines):
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": pid, "quantity": 1} for pid, *_ in lines], "pickup_location_id": store_id}).json()
    return client.post("/api/v1/orders", headers=auth(key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "wallet_qr"}).json()


def test_line_items_never_reach_the_provider_even_if_the_policy_permits_them(app, client, db, clock):
    wallet = wire_wallet(app)
    merchant_id, store_id, key, lines = shop(db)
    permit_all = client.put("/api/v1/sharing/policies/payment_provider/*", headers=auth(key), json={
        "permissions": [{"data_class": c, "purposes": ["payment"]}
                        for c in ("order_reference", "basket_total", "merchant_reference", "payment_status",
                                  "line_items", "product_sales", "catalog")]})
    assert permit_all.status_code == 200
    order = pay_order(client, key, store_id, lines)
    approve(client, order["payment"]["qr_content"])
    wallet.poll(clock)
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()["status"] == "confirmed"
    refund = client.post(f"/api/v1/payments/intents/{order['payment']['intent_id']}/refunds", headers=auth(key),
                         json={"refund_id": "r-tea", "amount_minor": 4800, "reason": "Dragon Well green tea 250g"})
    assert refund.status_code == 201

    outbound = [r for r in wallet.requests if "/sandbox-wallet/api/" in r.url.path]
    assert {r.url.path.rsplit("/", 1)[1] for r in outbound} >= {"precreate", "refund"}
    for request in outbound:
        text = _text(request)
        for product_id, gtin, gtin14, title in lines:
            for secret in (product_id, gtin, gtin14, title, "Longjing"):
                assert secret not in text, f"{secret!r} leaked in {request.url}"

    log = client.get("/api/v1/sharing/disclosures", headers=auth(key),
                     params={"recipient_kind": "payment_provider"}).json()
    kinds = [d["payload_kind"] for d in log]
    assert "payment.provider_order" in kinds and "payment.provider_refund" in kinds
    for entry in log:
        assert entry["recipient_id"] == "sandbox" and entry["purpose"] == "payment"
        assert not {"line_items", "product_sales", "catalog"} & set(entry["classes_sent"])
    assert set(log[-1]["classes_sent"]) == {"order_reference", "basket_total", "merchant_reference",
                                            "payment_status"}


def test_a_policy_withholding_the_amount_stops_the_wallet_payment_instead_of_sending_less(app, client, db):
    wallet = wire_wallet(app)
    _, store_id, key, lines = shop(db)
    assert client.put("/api/v1/sharing/policies/payment_provider/sandbox", headers=auth(key), json={
        "prohibitions": [{"data_class": "basket_total", "purposes": None}]}).status_code == 200
    order = pay_order(client, key, store_id, lines[:1])
    assert not [r for r in wallet.requests if "/sandbox-wallet/api/" in r.url.path]
    intent = client.get(f"/api/v1/payments/intents/{order['payment']['intent_id']}", headers=auth(key)).json()
    assert "data-sharing policy" in intent["last_error"] and "amount_minor" in intent["last_error"]
    assert client.get("/api/v1/sharing/disclosures", headers=auth(key)).json() == []  # nothing left
