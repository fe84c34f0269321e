"""The loyalty API: merchants run their programmes and rules, the operator
publishes conversion rates and looks members up, a checkout holds points and
posts them, every POST replays under its Idempotency-Key, and bad input is a
clear 4xx, never a 500."""

import pytest

from oao.core.outbox import record_event
from oao.loyalty import service as loyalty
from oao.members import service as members
from oao.network import service as network
from tests import factories as f
from tests.conftest import T0


@pytest.fixture
def net(db):
    with db.unit_of_work() as s:
        bakery, cinema = f.merchant(s, "Bakery", at=T0), f.merchant(s, "Cinema", at=T0)
        return {"bakery": bakery.id, "cinema": cinema.id, "admin": f.auth(f.api_key(s, None, at=T0)),
                "baker": f.auth(f.api_key(s, bakery, at=T0)), "usher": f.auth(f.api_key(s, cinema, at=T0))}


def test_a_merchant_runs_its_programme_and_a_checkout_spends_points_elsewhere(client, db, net):
    with db.unit_of_work() as s:
        ann = members.sign_up(s, email="ann@example.com", phone=None, password="correct horse battery", name="Ann",
                              now=T0).id
    r = client.post("/api/v1/loyalty/programmes", headers={**net["baker"], "Idempotency-Key": "p1"},
                    json={"name": "Sweet points", "currency": "CNY", "value_minor": 5, "expiry_days": 365})
    assert r.status_code == 201, r.text
    programme = r.json()
    assert programme["merchant_id"] == net["bakery"]
    again = client.post("/api/v1/loyalty/programmes", headers={**net["baker"], "Idempotency-Key": "p1"},
                        json={"name": "Sweet points", "currency": "CNY", "value_minor": 5, "expiry_days": 365})
    assert (again.status_code, again.json()["id"]) == (201, programme["id"])
    r = client.post(f"/api/v1/loyalty/programmes/{programme['id']}/earning-rules", headers=net["baker"],
                    json={"name": "1 per CNY", "points": 1, "per_minor": 100, "category_multipliers": {"cakes": 200}})
    assert r.status_code == 201, r.text
    assert r.json()["channel_multipliers"] == {"kiosk": 200, "self_checkout": 200}
    assert client.post(f"/api/v1/loyalty/programmes/{programme['id']}/earning-rules", headers=net["usher"],
                       json={"name": "x", "points": 1, "per_minor": 100}).status_code == 403
    r = client.post(f"/api/v1/loyalty/programmes/{programme['id']}/conversion-rate", headers=net["baker"],
                    json={"network_points": 1, "per_points": 2})
    assert r.status_code == 403, "only the operator publishes rates"

    with db.unit_of_work() as s:
        record_event(s, type="order.completed", subject_id="ord_1", merchant_id=net["bakery"], at=T0, payload={
            "member_id": ann, "merchant_id": net["bakery"], "location_id": None, "channel": "online",
            "currency": "CNY", "total_minor": 10_000, "sale_ref": "ord_1",
            "lines": [{"product_id": "prd_1", "category": "cakes", "quantity": 1, "amount_minor": 10_000}]})
    with db.unit_of_work() as s:
        assert loyalty.accrue_from_outbox(s, now=T0) == 1

    r = client.get(f"/api/v1/loyalty/members/{ann}/balances", headers=net["admin"])
    assert r.status_code == 200, r.text
    assert [(b["available"], b["value_minor"]) for b in r.json()] == [(200, 1000)]
    assert client.get(f"/api/v1/loyalty/members/{ann}/balances", headers=net["baker"]).status_code == 403

    with db.unit_of_work() as s:
        ann_at_cinema = members.member_ref_for(s, merchant_id=net["cinema"], member_id=ann)
    hold = {"hold_id": "chk_1", "member_ref": ann_at_cinema, "programme_id": programme["id"], "points": 120}
    r = client.post("/api/v1/loyalty/holds", headers={**net["usher"], "Idempotency-Key": "h0"}, json=hold)
    assert (r.status_code, r.json()["type"]) == (422, "/problems/points-not-accepted"), "no points agreement yet"
    with db.unit_of_work() as s:
        # The cinema accepts Bakery points at the bakery's own value (5 fen each) under a points agreement.
        agreement = network.propose_agreement(s, proposer_merchant_id=net["bakery"], now=T0,
                                              counterparty_merchant_id=net["cinema"], terms={"points": {
                                                  "acceptor_merchant_id": net["cinema"], "value_minor": 5,
                                                  "issuer_programme_id": programme["id"], "value_points": 1}})
        network.accept_version(s, agreement_id=agreement.id, version=1, accepting_merchant_id=net["cinema"], now=T0)
    r = client.post("/api/v1/loyalty/holds", headers={**net["usher"], "Idempotency-Key": "h1"}, json=hold)
    assert r.status_code == 201, r.text
    assert (r.json()["status"], r.json()["value_minor"]) == ("pending", 600)
    assert r.json()["member_ref"] == ann_at_cinema and "member_id" not in r.json()
    r = client.post("/api/v1/loyalty/holds", headers={**net["usher"], "Idempotency-Key": "h2"},
                    json={**hold, "hold_id": "chk_2", "points": 81})
    assert (r.status_code, r.json()["type"]) == (409, "/problems/insufficient-points")
    assert client.post("/api/v1/loyalty/holds/chk_1/post", headers=net["baker"], json={}).status_code == 404
    r = client.post("/api/v1/loyalty/holds/chk_1/post", headers=net["usher"], json={"points": 100})
    assert (r.status_code, r.json()["status"], r.json()["posted_points"]) == (200, "posted", 100)
    r = client.post("/api/v1/loyalty/holds/chk_1/void", headers=net["usher"])
    assert r.status_code == 409, "a posted hold cannot be voided"

    entries = client.get("/api/v1/loyalty/settlement-entries", headers=net["usher"]).json()
    assert [(e["debtor_merchant_id"], e["creditor_merchant_id"], e["amount_minor"]) for e in entries] == [
        (net["bakery"], net["cinema"], 500)]
    assert client.get("/api/v1/loyalty/settlement-entries", headers=net["baker"]).json() == entries
    lines = client.get(f"/api/v1/loyalty/members/{ann}/statement?programme_id={programme['id']}",
                       headers=net["admin"]).json()
    assert [(line["code"], line["points"], line["balance_after"]) for line in lines] == [
        ("earn", 200, 200), ("hold", -120, 80), ("spend", 20, 100)]
    transfers = client.get("/api/v1/loyalty/transfers", headers=net["usher"]).json()
    assert {t["code"] for t in transfers} == {"hold", "spend"}, "the cinema sees what touched its accounts"


@pytest.mark.parametrize("path, body", [
    ("/api/v1/loyalty/programmes", {"name": "x", "currency": "XXX", "value_minor": 1}),
    ("/api/v1/loyalty/programmes", {"name": "x", "currency": "CNY", "value_minor": 2**70}),
    ("/api/v1/loyalty/programmes", {"name": "x", "currency": "CNY", "value_minor": 0}),
    ("/api/v1/loyalty/holds", {"hold_id": "h", "member_id": "m", "programme_id": "lpg_x", "points": -5}),
    ("/api/v1/loyalty/holds", {"hold_id": "h", "member_id": "m", "programme_id": "lpg_nope", "points": 5,
                               "merchant_id": "mer_nope"}),
    ("/api/v1/loyalty/members/mem_1/grants", {"grant_id": "g", "programme_id": "lpg_nope", "points": 5,
                                              "reason": "x"}),
    ("/api/v1/loyalty/programmes/lpg_nope/earning-rules", {"name": "r", "points": 1, "per_minor": 1,
                                                           "channel_multipliers": {"drone": 300}}),
])
def test_bad_loyalty_input_is_a_clear_4xx(client, net, path, body):
    r = client.post(path, headers=net["admin"], json=body)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
