"""S4: a wallet provider learns the amount, currency, merchant, store and our reference, never the
basket. Every outbound request of a full order-with-lines flow is captured and scanned."""

import httpx

from oao.payments.providers import ProviderOrder
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.integration.test_payments_kit import approve, wire_wallet


def _text(request: httpx.Request) -> str:
    return " ".join([str(request.url), *(f"{k}: {v}" for k, v in request.headers.items()),
                     request.content.decode("utf-8", "replace")])


def test_no_sku_gtin_or_item_name_reaches_the_wallet_in_a_whole_order_flow(app, client, db, clock):
    wallet = wire_wallet(app)
    with db.unit_of_work() as s:
        m = f.merchant(s, "Herbal Corner", at=T0)
        store = f.location(s, m, "Herbal Corner Xixi", 30.2700, 120.0800, at=T0)
        products = [f.product(s, 700 + n, title, at=T0) for n, title in enumerate(
            ("Dragon Well green tea 250g", "Goji berries premium", "Chrysanthemum flower tea"))]
        for p in products:
            f.offer(s, m, p, 4800, at=T0)
            f.stock(s, store, p, 10, at=T0)
        key = f.api_key(s, m, at=T0)
        lines = [(p.id, p.gtin, p.gtin14, p.title) for p in products]
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": pid, "quantity": 2} for pid, *_ in lines], "pickup_location_id": store.id}).json()
    order = client.post("/api/v1/orders", headers=auth(key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "wallet_qr"}).json()
    approve(client, order["payment"]["qr_content"])
    wallet.poll(clock)
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(key)).json()["status"] == "confirmed"
    refund = client.post(f"/api/v1/payments/intents/{order['payment']['intent_id']}/refunds", headers=auth(key),
                         json={"refund_id": "r-tea", "amount_minor": 4800, "reason": "Goji berries premium"})
    assert refund.status_code == 201

    outbound = [r for r in wallet.requests if "/sandbox-wallet/api/" in r.url.path]
    assert {r.url.path.rsplit("/", 1)[1] for r in outbound} >= {"precreate", "query", "refund"}
    for request in outbound:
        text = _text(request)
        assert order["id"] in text or "refund" not in request.url.path
        for product_id, gtin, gtin14, title in lines:
            for secret in (product_id, gtin, gtin14, title, title.split()[0]):
                assert secret not in text, f"{secret!r} leaked in {request.url}"
        assert "quantity" not in text and "lines" not in text


def test_the_provider_order_has_no_field_for_line_items():
    assert set(ProviderOrder.__dataclass_fields__) == {"out_trade_no", "amount_minor", "currency", "merchant_id",
                                                       "store_id", "expires_at"}
