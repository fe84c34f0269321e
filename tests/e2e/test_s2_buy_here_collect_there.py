"""S2 — a father orders the birthday cake stocked at the office branch and collects it
at the small branch near home: the cake is transferred, the home branch sees it coming,
and staff hand it over when he shows his pickup code."""

from datetime import datetime

from tests.e2e.networks import PASSWORD, build_s2
from tests.factories import auth


def _login(client, email: str) -> str:
    response = client.post("/api/v1/sessions", json={"email": email, "password": PASSWORD})
    assert response.status_code in (200, 201), response.text
    return response.json()["token"]


def _stock(client, key, location_id, product_id):
    rows = client.get(f"/api/v1/stock?location_id={location_id}&product_id={product_id}", headers=auth(key)).json()
    return (rows[0]["on_hand"], rows[0]["reserved"]) if rows else (0, 0)


def test_the_cake_travels_to_the_home_branch_and_is_handed_over_with_the_code(client, db):
    net = build_s2(db)
    office_staff = _login(client, net.office_staff_email)
    home_staff = _login(client, net.home_staff_email)

    quote = client.post("/api/v1/quotes", headers=auth(net.bakery_key), json={
        "lines": [{"product_id": net.cake_id, "quantity": 1}], "pickup_location_id": net.home_id}).json()
    at_home = next(o for o in quote["options"]
                   if o["kind"] == "pickup" and o["pickup_location"]["id"] == net.home_id)
    assert at_home["involves_transfer"] and at_home["legs"][0]["source"]["id"] == net.office_id
    assert "Wenhui Road" in at_home["explanation"]

    order = client.post("/api/v1/orders", headers=auth(net.bakery_key), json={
        "quote_id": quote["id"], "option_id": at_home["id"], "payment_method": "pay_at_pickup",
        "customer": {"name": "Zhang Wei"}}).json()
    assert order["status"] == "confirmed", order
    [leg] = order["fulfillments"]

    # The home branch sees the cake coming and when.
    incoming = client.get(f"/api/v1/transfers?location_id={net.home_id}&direction=incoming",
                          headers=auth(home_staff)).json()
    assert [t["id"] for t in incoming] == [leg["transfer_id"]]
    assert incoming[0]["lines"][0]["title"] == "Strawberry birthday cake, 8 inch"
    assert (datetime.fromisoformat(incoming[0]["expected_arrival_at"])
            == datetime.fromisoformat(at_home["legs"][0]["arrive_at"]))
    assert datetime.fromisoformat(leg["promised_at"]) == datetime.fromisoformat(at_home["arrive_at"])

    # Home staff cannot pick at the office; office staff pick and send it.
    assert client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(home_staff)).status_code == 403
    assert client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(office_staff)).status_code == 200
    sent = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(office_staff))
    assert sent.status_code == 200 and sent.json()["status"] == "in_transit", sent.text
    assert _stock(client, net.bakery_key, net.office_id, net.cake_id) == (2, 0)

    # It arrives at the home branch.
    arrived = client.post(f"/api/v1/transfers/{leg['transfer_id']}/receive", headers=auth(home_staff))
    assert arrived.status_code == 200 and arrived.json()["status"] == "received", arrived.text
    assert _stock(client, net.bakery_key, net.home_id, net.cake_id) == (1, 1)

    ready = client.get(f"/api/v1/orders/{order['id']}", headers=auth(net.bakery_key)).json()
    code = ready["fulfillments"][0]["pickup_code"]
    assert ready["fulfillments"][0]["status"] == "ready_for_pickup" and code
    qr = client.get(f"/api/v1/fulfillments/{leg['id']}/pickup-code.png", headers=auth(net.bakery_key))
    assert qr.status_code == 200 and qr.headers["content-type"] == "image/png" and qr.content[:4] == b"\x89PNG"

    wrong = client.post(f"/api/v1/locations/{net.home_id}/handover", json={"code": "WRONG123"},
                        headers=auth(home_staff))
    assert wrong.status_code == 422
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert "does not match" in wrong.json()["detail"]

    handed = client.post(f"/api/v1/locations/{net.home_id}/handover", json={"code": code.lower()},
                         headers=auth(home_staff))
    assert handed.status_code == 200, handed.text
    assert handed.json()["order_id"] == order["id"]

    again = client.post(f"/api/v1/locations/{net.home_id}/handover", json={"code": code}, headers=auth(home_staff))
    assert again.status_code == 409 and "already used" in again.json()["detail"]

    done = client.get(f"/api/v1/orders/{order['id']}", headers=auth(net.bakery_key)).json()
    assert done["status"] == "completed"
    assert _stock(client, net.bakery_key, net.home_id, net.cake_id) == (0, 0)
    kinds = [m["kind"] for m in client.get(f"/api/v1/stock/movements?location_id={net.home_id}",
                                           headers=auth(net.bakery_key)).json()]
    assert sorted(kinds) == ["sale", "transfer_in"]


def test_a_code_for_another_store_is_refused_there(client, db):
    net = build_s2(db)
    office_staff = _login(client, net.office_staff_email)
    quote = client.post("/api/v1/quotes", headers=auth(net.bakery_key), json={
        "lines": [{"product_id": net.cake_id, "quantity": 1}], "pickup_location_id": net.office_id}).json()
    here = next(o for o in quote["options"] if o["pickup_location"] and o["pickup_location"]["id"] == net.office_id)
    assert not here["involves_transfer"], "picking up where it is stocked needs no transfer"
    order = client.post("/api/v1/orders", headers=auth(net.bakery_key), json={
        "quote_id": quote["id"], "option_id": here["id"], "payment_method": "pay_at_pickup"}).json()
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(office_staff))
    client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(office_staff))
    placed = client.get(f"/api/v1/orders/{order['id']}", headers=auth(net.bakery_key)).json()
    code = placed["fulfillments"][0]["pickup_code"]
    home_staff = _login(client, net.home_staff_email)
    elsewhere = client.post(f"/api/v1/locations/{net.home_id}/handover", json={"code": code},
                            headers=auth(home_staff))
    assert elsewhere.status_code == 422 and "does not match any parcel at this store" in elsewhere.json()["detail"]


def test_or_the_home_branch_delivers_the_cake_once_it_arrives_from_the_office(client, db):
    net = build_s2(db)
    office_staff = _login(client, net.office_staff_email)
    home_staff = _login(client, net.home_staff_email)
    flat = {"latitude": 30.3010, "longitude": 120.1700, "address": "Wenhui Road 88, flat 1203"}

    quote = client.post("/api/v1/quotes", headers=auth(net.bakery_key), json={
        "lines": [{"product_id": net.cake_id, "quantity": 1}], "destination": flat}).json()
    delivery = next(o for o in quote["options"] if o["kind"] == "delivery")
    assert delivery["delivered_from"]["id"] == net.home_id, "the office branch does not deliver; home does"
    assert delivery["legs"][0]["source"]["id"] == net.office_id and delivery["legs"][0]["transfer_to"] == net.home_id
    assert delivery["involves_transfer"] and "Wenhui Road" in delivery["explanation"]

    order = client.post("/api/v1/orders", headers=auth(net.bakery_key), json={
        "quote_id": quote["id"], "option_id": delivery["id"], "payment_method": "pay_on_delivery"}).json()
    [leg] = order["fulfillments"]
    assert leg["via_location_id"] == net.home_id and leg["transfer_id"]

    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(office_staff))
    sent = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(office_staff)).json()
    assert sent["status"] == "in_transit"
    queue = client.get(f"/api/v1/fulfillments?location_id={net.home_id}", headers=auth(home_staff)).json()
    assert [f["id"] for f in queue] == [leg["id"]], "the home branch sees the order it will deliver"

    arrived = client.post(f"/api/v1/transfers/{leg['transfer_id']}/receive", headers=auth(home_staff))
    assert arrived.status_code == 200, arrived.text
    assert client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(office_staff)).status_code == 403
    out = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(home_staff))
    assert out.status_code == 200 and out.json()["status"] == "out_for_delivery", out.text
    client.post(f"/api/v1/fulfillments/{leg['id']}/deliver", headers=auth(home_staff))

    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(net.bakery_key)).json()["status"] == "completed"
    assert _stock(client, net.bakery_key, net.office_id, net.cake_id) == (2, 0)
    assert _stock(client, net.bakery_key, net.home_id, net.cake_id) == (0, 0)
