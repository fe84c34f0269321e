"""S4 over HTTP: merchants set per-recipient policies (versioned), agreements' data_sharing terms become
policies for the partner, and each merchant reads its own disclosure log — never another's."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from oao.core.auth import Role
from oao.core.outbox import record_event
from oao.sharing import service as sharing
from oao.sharing.models import Disclosure, SharingPolicy
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

POLICIES = "/api/v1/sharing/policies"


def two_merchants(db):
    with db.unit_of_work() as s:
        a = f.merchant(s, "Sweet Lane Bakery", at=T0)
        b = f.merchant(s, "Daily Corner", at=T0)
        return a.id, b.id, f.api_key(s, a, at=T0), f.api_key(s, b, at=T0)


def test_a_policy_for_a_partner_is_versioned_and_decides_what_leaves(client, db):
    a, b, key_a, _ = two_merchants(db)
    doc = {"permissions": [{"data_class": "basket_total", "purposes": ["settlement"]},
                           {"data_class": "aggregated_stats", "purposes": ["recommendation"]}],
           "prohibitions": [{"data_class": "member_profile", "purposes": None}],
           "constraints": {"min_group_size": 30}}
    first = client.put(f"{POLICIES}/partner_merchant/{b}", headers=auth(key_a), json=doc)
    assert first.status_code == 200, first.text
    assert first.json()["version"] == 1 and first.json()["source"] == "api"
    again = client.put(f"{POLICIES}/partner_merchant/{b}", headers=auth(key_a), json=doc)
    assert again.json()["id"] == first.json()["id"]  # the same terms make no new version
    doc["permissions"].append({"data_class": "line_items", "purposes": ["analytics"]})
    second = client.put(f"{POLICIES}/partner_merchant/{b}", headers=auth(key_a), json=doc)
    assert second.json()["version"] == 2

    current = client.get(POLICIES, headers=auth(key_a)).json()
    assert [(p["recipient_id"], p["version"]) for p in current] == [(b, 2)]
    history = client.get(POLICIES, headers=auth(key_a), params={"history": "true"}).json()
    assert [p["version"] for p in history] == [1, 2] and history[0]["superseded_at"] is not None

    effective = client.get(f"{POLICIES}/partner_merchant/{b}", headers=auth(key_a)).json()
    assert effective["min_group_size"] == 30
    permitted = {(r["data_class"], p) for r in effective["document"]["permissions"] for p in r["purposes"]}
    assert ("line_items", "analytics") in permitted and ("order_reference", "fulfillment") in permitted  # baseline

    with db.unit_of_work() as s:
        out = sharing.project_outbound(
            s, owner_merchant_id=a, recipient_kind="federated_instance", recipient_id="inst-b", purpose="fulfillment",
            payload_kind="federation:order_handoff", now=T0,
            payload={"order_id": "ord_1", "pickup_location_id": "loc_1", "parcel_count": 1,
                     "pickup_code_hash": "h", "customer_first_name": "Mei", "basket_total_minor": 8800,
                     "currency": "CNY", "lines": [{"gtin": "6901234567892", "quantity": 1}], "phone": "138"})
    assert out == {"order_id": "ord_1", "pickup_location_id": "loc_1", "parcel_count": 1, "pickup_code_hash": "h",
                   "customer_first_name": "Mei"}


def test_unknown_purposes_classes_and_recipient_kinds_are_422(client, db):
    _, b, key_a, _ = two_merchants(db)
    bad_purpose = client.put(f"{POLICIES}/partner_merchant/{b}", headers=auth(key_a), json={
        "permissions": [{"data_class": "basket_total", "purposes": ["resale"]}]})
    assert bad_purpose.status_code == 422
    assert "resale" in bad_purpose.json()["detail"] and "fulfillment" in bad_purpose.json()["detail"]
    bad_class = client.put(f"{POLICIES}/partner_merchant/{b}", headers=auth(key_a), json={
        "permissions": [{"data_class": "shoe_size", "purposes": ["analytics"]}]})
    assert bad_class.status_code == 422 and bad_class.json()["errors"][0]["loc"] == ["permissions", 0, "data_class"]
    assert client.put(f"{POLICIES}/carrier_pigeon/x", headers=auth(key_a), json={}).status_code == 422
    assert client.put(f"{POLICIES}/partner_merchant/mer_nobody", headers=auth(key_a), json={}).status_code == 422
    assert client.get("/api/v1/sharing/aggregates", headers=auth(key_a), params={
        "owner_merchant_id": b, "purpose": "gossip", "group_by": "brand"}).status_code == 422


def test_only_a_merchant_admin_sets_policies(client, db):
    _, b, _, _ = two_merchants(db)
    with db.unit_of_work() as s:
        m = f.merchant(s, "Jade Petal", at=T0)
        staff_key = f.api_key(s, m, at=T0, role=Role.STORE_STAFF)
    assert client.put(f"{POLICIES}/partner_merchant/{b}", headers=auth(staff_key), json={}).status_code == 403


def test_another_merchant_cannot_read_your_disclosures(client, db, clock):
    a, b, key_a, key_b = two_merchants(db)
    with db.unit_of_work() as s:
        sharing.project_outbound(s, owner_merchant_id=a, recipient_kind="payment_provider", recipient_id="sandbox",
                                 purpose="payment", payload_kind="payment.provider_order", now=T0,
                                 payload={"out_trade_no": "n1", "amount_minor": 100, "currency": "CNY",
                                          "merchant_id": a, "store_id": None, "expires_at": T0})
        sharing.project_outbound(s, owner_merchant_id=a, recipient_kind="webhook_subscriber", recipient_id="whs_1",
                                 purpose="integration", payload_kind="event:order.completed",
                                 now=T0 + timedelta(hours=2), payload={"order_id": "o", "total_minor": 1})
        admin_key = f.api_key(s, None, at=T0, role=Role.NETWORK_ADMIN)
    mine = client.get("/api/v1/sharing/disclosures", headers=auth(key_a)).json()
    assert [d["payload_kind"] for d in mine] == ["event:order.completed", "payment.provider_order"]
    assert mine[1]["classes_sent"] == ["basket_total", "merchant_reference", "order_reference", "payment_status"]
    filtered = client.get("/api/v1/sharing/disclosures", headers=auth(key_a),
                          params={"recipient_kind": "payment_provider"}).json()
    assert [d["recipient_id"] for d in filtered] == ["sandbox"]
    by_date = client.get("/api/v1/sharing/disclosures", headers=auth(key_a),
                         params={"since": (T0 + timedelta(hours=1)).isoformat()}).json()
    assert [d["payload_kind"] for d in by_date] == ["event:order.completed"]

    assert client.get("/api/v1/sharing/disclosures", headers=auth(key_b)).json() == []
    theirs = client.get("/api/v1/sharing/disclosures", headers=auth(key_b), params={"merchant_id": a})
    assert theirs.status_code == 404
    assert len(client.get("/api/v1/sharing/disclosures", headers=auth(admin_key),
                          params={"merchant_id": a}).json()) == 2


def test_accepted_agreements_become_both_parties_policies_and_ending_withdraws_them(db):
    a, b, _, _ = two_merchants(db)
    terms = {"pickup": None, "referral": None, "points": None,
             "data_sharing": {"permissions": [{"data_class": "aggregated_stats", "purposes": ["recommendation"]}],
                              "prohibitions": []}}
    with db.unit_of_work() as s:
        record_event(s, type="partner_agreement.accepted", subject_id="agr_1", merchant_id=b, at=T0, payload={
            "agreement_id": "agr_1", "proposer_merchant_id": a, "counterparty_merchant_id": b, "version": 1,
            "merchant_ids": sorted([a, b]), "terms": terms, "by_merchant_id": b})
    with db.unit_of_work() as s:
        assert sharing.apply_agreements_from_outbox(s, now=T0) == 1
    with db.unit_of_work() as s:
        assert sharing.apply_agreements_from_outbox(s, now=T0) == 0  # exactly once
        for owner, partner in ((a, b), (b, a)):
            policy, versions = sharing.effective_policy(s, owner_merchant_id=owner, recipient_kind="partner_merchant",
                                                        recipient_id=partner)
            assert policy.allows("aggregated_stats", "recommendation") and len(versions) == 1
        row = s.scalar(select(SharingPolicy).where(SharingPolicy.owner_merchant_id == a))
        assert row.source == "agreement" and row.agreement_id == "agr_1"
        record_event(s, type="partner_agreement.ended", subject_id="agr_1", merchant_id=a, at=T0, payload={
            "agreement_id": "agr_1", "proposer_merchant_id": a, "counterparty_merchant_id": b, "version": 1,
            "merchant_ids": sorted([a, b]), "terms": terms, "by_merchant_id": a})
    with db.unit_of_work() as s:
        assert sharing.apply_agreements_from_outbox(s, now=T0 + timedelta(days=1)) == 1
        policy, _ = sharing.effective_policy(s, owner_merchant_id=a, recipient_kind="partner_merchant",
                                             recipient_id=b)
        assert not policy.allows("aggregated_stats", "recommendation")
        assert [p.version for p in sharing.list_policies(s, owner_merchant_id=a, history=True)] == [1, 2]


def test_a_policy_set_by_hand_survives_an_agreement_without_data_sharing(db):
    a, b, _, _ = two_merchants(db)
    with db.unit_of_work() as s:
        sharing._write_policy(s, owner_merchant_id=a, recipient_kind="partner_merchant", recipient_id=b,
                              document={"permissions": [{"data_class": "basket_total", "purposes": ["analytics"]}]},
                              source="api", agreement_id=None, created_by=None, now=T0)
        sharing.apply_agreement_policy(s, owner_merchant_id=a, partner_merchant_id=b, document=None,
                                       agreement_id="agr_2", now=T0)
        policy, _ = sharing.effective_policy(s, owner_merchant_id=a, recipient_kind="partner_merchant",
                                             recipient_id=b)
        assert policy.allows("basket_total", "analytics")
        assert s.scalar(select(Disclosure)) is None
