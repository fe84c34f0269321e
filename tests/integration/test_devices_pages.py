"""The member's devices page (/shop/me/devices): add a device and see its credential once, set and edit
a reorder rule with mistakes explained on the form, and read what the device reported."""

from __future__ import annotations

import re

from tests.factories import auth
from tests.integration.test_devices_api import Home, reading

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')
CREDENTIAL = re.compile(r"data-credential>(oao_dv_[A-Za-z0-9_\-]+)<")


def _log_in(client) -> str:
    r = client.post("/shop/login", data={"login": "mei@example.com", "password": "demo-password",
                                         "next": "/shop/me/devices"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/shop/me/devices"
    page = client.get("/shop/me/devices")
    assert page.status_code == 200 and "No devices yet" in page.text
    return CSRF.search(page.text).group(1)


def test_the_devices_page_needs_a_member_and_refuses_a_form_without_its_token(client, db):
    Home(db)
    r = client.get("/shop/me/devices", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/shop/login?next=%2Fshop%2Fme%2Fdevices")
    _log_in(client)
    r = client.post("/shop/me/devices", data={"name": "Washer", "kind": "washing_machine", "merchant_id": "x"})
    assert r.status_code == 403
    assert 'href="/shop/me/devices"' in client.get("/shop/me").text  # linked from her card


def test_a_member_adds_a_device_sets_a_rule_and_sees_what_it_reported(client, db):
    home = Home(db)
    csrf = _log_in(client)
    added = client.post("/shop/me/devices", data={"name": "Washing machine", "kind": "washing_machine",
                                                  "merchant_id": home.merchant_id, "unit": "percent", "csrf": csrf})
    assert added.status_code == 201 and added.headers["cache-control"] == "no-store"
    credential = CREDENTIAL.search(added.text).group(1)
    listing = client.get("/shop/me/devices").text
    assert "Washing machine" in listing and credential not in listing  # shown once only
    device_id = re.search(r'href="/shop/me/devices/(dev_[^"]+)"', listing).group(1)
    page = client.get(f"/shop/me/devices/{device_id}")
    assert page.status_code == 200 and "Laundry detergent 2 L" in page.text

    rule = {"product_id": home.detergent, "quantity": "2", "threshold": "20", "capacity": "", "cap": "150",
            "fulfillment": "delivery", "address": "Nowhere Lane", "pickup_location_id": "", "payment": "in_person",
            "min_gap_hours": "24", "enabled": "on", "csrf": csrf}
    lost = client.post(f"/shop/me/devices/{device_id}/rules", data=rule)
    assert lost.status_code == 422 and "could not find that address" in lost.text
    assert 'value="150"' in lost.text  # what she typed is kept
    made = client.post(f"/shop/me/devices/{device_id}/rules", data={**rule, "fulfillment": "pickup",
                                                                    "pickup_location_id": home.store_id},
                       follow_redirects=False)
    assert made.status_code == 303, made.text
    rules = client.get(f"/api/v1/me/devices/{device_id}/rules", headers=home.member).json()
    assert [(r["threshold"], r["monthly_cap_minor"], r["fulfillment"]) for r in rules] == [(20, 15000, "pickup")]
    rule_id = rules[0]["id"]
    edit = {k: v for k, v in rule.items() if k != "product_id"}
    bad = client.post(f"/shop/me/devices/{device_id}/rules/{rule_id}",
                      data={**edit, "fulfillment": "pickup", "pickup_location_id": home.store_id, "threshold": "50",
                            "capacity": "40"})
    assert bad.status_code == 422 and "must be below the full level" in bad.text
    ok = client.post(f"/shop/me/devices/{device_id}/rules/{rule_id}",
                     data={**edit, "fulfillment": "pickup", "pickup_location_id": home.store_id, "threshold": "10",
                           "cap": "", "enabled": ""}, follow_redirects=False)
    assert ok.status_code == 303
    got = client.get(f"/api/v1/me/devices/{device_id}/rules/{rule_id}", headers=home.member).json()
    assert (got["threshold"], got["monthly_cap_minor"], got["enabled"]) == (10, None, False)

    assert reading(client, {"credential": credential}, "r-1", level=5).json()["reason"] == "rule_disabled"
    page = client.get(f"/shop/me/devices/{device_id}").text
    assert "switched off for this item" in page and "level 5 percent" in page
    revoked = client.post(f"/shop/me/devices/{device_id}/revoke", data={"csrf": csrf}, follow_redirects=False)
    assert revoked.status_code == 303
    assert client.post("/api/v1/devices/press", headers=auth(credential),
                       json={"event_id": "p", "at": "2026-11-17T02:00:00+00:00"}).status_code == 401
