"""S3/S5 at the till: a member shows her rotating code at a self-checkout, pays
part with network points and the rest with her wallet's payment code, and earns
double points for checking out herself, once, however often the worker runs."""

from __future__ import annotations

from tests import factories as f
from tests.conftest import T0
from tests.factories import auth
from tests.integration.test_payments_kit import wire_wallet


def _setup(db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Glow Cosmetics", at=T0)
        store = f.location(s, m, "Glow Cosmetics Hubin", 30.2590, 120.1630, at=T0)
        p = f.product(s, 801, "Hydrating serum 30 ml", at=T0, category="skincare")
        f.offer(s, m, p, 12_000, at=T0)
        f.stock(s, store, p, 4, at=T0)
        return {"key": f.api_key(s, m, at=T0), "admin": f.api_key(s, None, at=T0), "store": store.id,
                "gtin": p.gtin, "merchant": m.id}


def test_a_member_pays_with_points_and_wallet_at_a_self_checkout_and_earns_double(app, client, db, clock):
    wire_wallet(app)
    shop = _setup(db)
    key, admin = auth(shop["key"]), auth(shop["admin"])
    client.post("/api/v1/members", json={"email": "mei@example.com", "password": "a long passphrase",
                                         "name": "Mei"})
    session = client.post("/api/v1/members/sessions", json={"login": "mei@example.com",
                                                             "password": "a long passphrase"}).json()
    me = auth(session["token"])
    member_id = session["member"]["id"]
    network = client.post("/api/v1/loyalty/programmes", headers={**admin, "Idempotency-Key": "net"}, json={
        "name": "Hubin Card", "currency": "CNY", "value_minor": 1, "expiry_days": 730})
    assert network.status_code == 201, network.text
    programme = network.json()["id"]
    client.post(f"/api/v1/loyalty/programmes/{programme}/earning-rules", headers=admin,
                json={"name": "1 point per yuan", "points": 1, "per_minor": 100})
    granted = client.post(f"/api/v1/loyalty/members/{member_id}/grants", headers=admin,
                          json={"grant_id": "welcome-mei", "programme_id": programme, "points": 5_000,
                                "reason": "welcome"})
    assert granted.status_code in (200, 201), granted.text

    register = client.post("/api/v1/pos/registers", headers=key, json={
        "location_id": shop["store"], "name": "Self-checkout 1", "kind": "self_checkout"}).json()
    code = client.post("/api/v1/me/member-codes", headers=me).json()["code"]
    redeemed = client.post("/api/v1/member-codes/redeem", headers=key, json={"code": code})
    assert redeemed.status_code == 200, redeemed.text
    member_ref = redeemed.json()["member_ref"]
    assert member_id not in redeemed.text, "a merchant never sees the member's internal id"

    hold = client.post("/api/v1/loyalty/holds", headers=key, json={
        "hold_id": "kiosk-sale-0001-pts", "member_ref": member_ref, "programme_id": programme, "points": 2_000})
    assert hold.status_code == 201, hold.text
    assert hold.json()["value_minor"] == 2_000
    phone = client.post("/sandbox-wallet/codes", data={"mode": "instant"}, follow_redirects=False)
    wallet_code = phone.headers["location"].rsplit("/", 1)[1]
    paid = client.post("/api/v1/payments/counter", headers=key, json={
        "location_id": shop["store"], "amount_minor": 10_000, "flow": "payment_code", "auth_code": wallet_code})
    assert paid.status_code == 201 and paid.json()["status"] == "succeeded", paid.text

    sale = {"sale_id": "kiosk-sale-0001", "register_id": register["id"], "member_ref": member_ref,
            "lines": [{"gtin": shop["gtin"], "quantity": 1}],
            "tenders": [{"kind": "points", "amount_minor": 2_000, "hold_id": "kiosk-sale-0001-pts"},
                        {"kind": "wallet", "amount_minor": 10_000, "payment_intent_id": paid.json()["id"]}]}
    receipt = client.post("/api/v1/pos/sales", headers=key, json=sale)
    assert receipt.status_code == 201, receipt.text
    assert receipt.json()["payment"] is None and [w["id"] for w in receipt.json()["wallet_payments"]] == [
        paid.json()["id"]]
    assert client.post("/api/v1/pos/sales", headers=key, json=sale).status_code == 200  # a resend replays
    reused = client.post("/api/v1/pos/sales", headers=key, json={**sale, "sale_id": "kiosk-sale-0002"})
    assert reused.status_code in (409, 422), "one wallet payment and one hold pay one sale"

    for _ in range(3):  # the worker runs again and again: points are earned once
        app_worker(app, db, clock)
    balances = client.get("/api/v1/loyalty/me/points", headers=me).json()
    [card] = [b for b in balances if b["programme_id"] == programme]
    # 5000 granted - 2000 spent + 120 yuan x 1 point x 2 (self-checkout earns double)
    assert card["available"] == 5_000 - 2_000 + 240
    lines = client.get(f"/api/v1/loyalty/me/points/{programme}/statement", headers=me).json()
    assert sum(1 for line in lines if line["code"] == "earn") == 1


def app_worker(app, db, clock):
    from oao.worker import Worker

    Worker(db=db, clock=clock, settings=app.state.settings,
           provider_factory=app.state.payment_provider_factory).run_once()
