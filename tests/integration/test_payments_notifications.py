"""Wallet notifications: verified on the raw body, checked against our record, applied once."""

import base64
import json

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select

from oao.payments import sandbox
from oao.payments.models import PaymentIntent, RejectedNotification
from tests.factories import auth
from tests.integration.test_payments_kit import (
    approve,
    body_of,
    events,
    notify,
    place_wallet_order,
    queued_notifications,
    shop,
    wire_wallet,
)


def _paid_order(app, client, db):
    wire_wallet(app)
    sh = shop(db)
    order = place_wallet_order(client, sh)
    approve(client, order["payment"]["qr_content"])
    rows = queued_notifications(db)
    paid = next(r for r in rows if body_of(r)["status"] == "succeeded")
    scanned = next(r for r in rows if body_of(r)["status"] == "processing")
    return sh, order, paid, scanned


def _intent(db, intent_id):
    with db.read() as s:
        return s.get(PaymentIntent, intent_id).status


def _rejected(db):
    with db.read() as s:
        return [r.reason for r in s.scalars(select(RejectedNotification))]


def test_five_duplicate_notifications_and_an_out_of_order_one_leave_exactly_one_captured_payment(app, client, db):
    sh, order, paid, scanned = _paid_order(app, client, db)
    for _ in range(5):
        answer = notify(client, paid)
        assert answer.status_code == 200 and answer.text == "success"
    late_scan = notify(client, scanned)  # "user paying", sent before the payment, arrives after it
    assert late_scan.status_code == 200 and late_scan.text == "success"

    intent_id = order["payment"]["intent_id"]
    assert _intent(db, intent_id) == "succeeded"
    got = client.get(f"/api/v1/orders/{order['id']}", headers=auth(sh.key)).json()
    assert got["status"] == "confirmed"
    assert events(db, "payment.succeeded", intent_id) == 1
    assert events(db, "order.confirmed", order["id"]) == 1
    with db.read() as s:
        assert s.scalar(select(PaymentIntent).where(PaymentIntent.order_id == order["id"],
                                                    PaymentIntent.status == "succeeded")) is not None
        assert len(list(s.scalars(select(PaymentIntent).where(PaymentIntent.order_id == order["id"])))) == 1


def test_a_forged_signature_changes_nothing_and_is_logged(app, client, db):
    sh, order, paid, _ = _paid_order(app, client, db)
    tampered = paid.body.replace('"status":"succeeded"', '"status":"closed"').encode()
    assert notify(client, paid, body=tampered).status_code == 400
    impostor = Ed25519PrivateKey.generate()
    forged = base64.b64encode(impostor.sign(paid.body.encode())).decode()
    assert notify(client, paid, signature=forged).status_code == 400
    assert notify(client, paid, signature="bm90IGEgc2lnbmF0dXJl").status_code == 400

    assert _intent(db, order["payment"]["intent_id"]) == "requires_payment_method"
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(sh.key)).json()["status"] == "pending_payment"
    assert len(_rejected(db)) == 3 and all(r.startswith("invalid:") for r in _rejected(db))
    assert events(db, "payment.succeeded") == 0


def test_a_correctly_signed_notification_with_a_different_amount_is_refused_and_logged(app, client, db):
    sh, order, paid, _ = _paid_order(app, client, db)
    body = body_of(paid)
    body.update(amount_minor=body["amount_minor"] - 100, event_id="sbe_other")
    raw = json.dumps(body).encode()
    answer = notify(client, paid, body=raw, signature=sandbox.sign(app.state.settings, raw))
    assert answer.status_code == 409 and "refused" in answer.json()["detail"]
    assert _intent(db, order["payment"]["intent_id"]) == "requires_payment_method"
    assert len(_rejected(db)) == 1

    listed = client.get("/api/v1/payments/rejected-notifications", headers=auth(sh.key))
    assert listed.status_code == 403  # network admins only


def test_notifications_for_unknown_charges_or_other_merchants_are_refused(app, client, db):
    _sh, _order, paid, _ = _paid_order(app, client, db)
    for change, status in (({"out_trade_no": "ord_nope"}, 404), ({"merchant_ref": "mer_other"}, 422),
                           ({"app_id": "someone-else"}, 422)):
        raw = json.dumps({**body_of(paid), **change}).encode()
        assert notify(client, paid, body=raw, signature=sandbox.sign(app.state.settings, raw)).status_code == status
    assert len(_rejected(db)) == 3
    assert client.post("/api/v1/payments/notify/sandbox", content=b"{}").status_code == 400
    assert client.post("/api/v1/payments/notify/nowhere", content=b"{}").status_code == 404
