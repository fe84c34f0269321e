"""The store console's floor pages (pick queue, transfers, pickup, returns) over HTTP, on both databases:
staff log in, act through plain forms with a CSRF token, and see only their own merchant's work."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

PASSWORD = "correct horse battery"


@pytest.fixture
def bakery(db):
    """A bakery with an office store holding the cake and a home branch 2.5 km away, plus a rival merchant."""
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane", at=T0)
        office = f.location(s, bakery, "Sweet Lane Office", 30.2465, 120.2095, at=T0, pick_minutes=15)
        home = f.location(s, bakery, "Sweet Lane Home", 30.2655, 120.1955, at=T0, pick_minutes=10)
        cake = f.product(s, 501, "Strawberry Birthday Cake 8-inch", at=T0, category="cakes")
        f.offer(s, bakery, cake, 26800, at=T0)
        f.stock(s, office, cake, 3, at=T0)
        rival = f.merchant(s, "Rival Buns", at=T0)
        rival_store = f.location(s, rival, "Rival Buns Caihe", 30.2660, 120.1960, at=T0)
        f.staff_user(s, bakery, "office@sweetlane.test", at=T0, password=PASSWORD, location=office)
        f.staff_user(s, bakery, "home@sweetlane.test", at=T0, password=PASSWORD, location=home)
        f.staff_user(s, rival, "staff@rival.test", at=T0, password=PASSWORD, location=rival_store)
        return {"key": f.api_key(s, bakery, at=T0), "office": office.id, "home": home.id, "cake": cake.id}


def _staff(app, email: str) -> TestClient:
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/staff/login", data={"email": email, "password": PASSWORD}, follow_redirects=False)
    assert response.status_code == 303, response.text
    return client


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _order_cake_for_home_pickup(client: TestClient, bakery) -> dict:
    quote = client.post("/api/v1/quotes", headers=auth(bakery["key"]), json={
        "lines": [{"product_id": bakery["cake"], "quantity": 1}], "pickup_location_id": bakery["home"]}).json()
    option = next(o for o in quote["options"] if o["kind"] == "pickup" and o["involves_transfer"])
    response = client.post("/api/v1/orders", headers=auth(bakery["key"]), json={
        "quote_id": quote["id"], "option_id": option["id"], "payment_method": "pay_at_pickup",
        "customer": {"name": "Wang Lei", "phone": "13800001234"}})
    assert response.status_code == 201, response.text
    return response.json()


def test_floor_pages_send_a_visitor_without_a_staff_login_to_the_login_page(client):
    for path in ("/store/picks", "/store/pickup", "/store/transfers", "/store/returns"):
        response = client.get(path, follow_redirects=False)
        assert response.status_code == 303 and response.headers["location"].startswith("/staff/login?next=")


def test_a_cake_ordered_at_the_office_travels_to_the_home_branch_and_is_handed_over_with_its_code(app, client,
                                                                                                  bakery):
    order = _order_cake_for_home_pickup(client, bakery)
    leg = order["fulfillments"][0]
    office, home = _staff(app, "office@sweetlane.test"), _staff(app, "home@sweetlane.test")

    queue = office.get("/store/picks")
    assert queue.status_code == 200 and "Wang Lei" in queue.text and "Start picking" in queue.text
    assert re.search(r"Due in \d+ (min|h)", queue.text)  # the countdown comes from the server's clock
    picked = office.post(f"/store/picks/{leg['id']}/pick", data={"csrf": _csrf(queue.text)}, follow_redirects=False)
    assert picked.status_code == 303 and picked.headers["location"] == "/store/picks"

    waiting = home.get("/store/picks").text
    assert "Waiting for transfer" in waiting and "Start picking" not in waiting

    outgoing = office.get("/store/transfers").text
    assert "To Sweet Lane Home" in outgoing and ">Send<" in outgoing
    sent = office.post(f"/store/transfers/{leg['transfer_id']}/send", data={"csrf": _csrf(outgoing)},
                       follow_redirects=False)
    assert sent.status_code == 303

    incoming = home.get("/store/transfers").text
    assert "From Sweet Lane Office" in incoming and "On its way" in incoming and ">Receive<" in incoming
    received = home.post(f"/store/transfers/{leg['transfer_id']}/receive", data={"csrf": _csrf(incoming)},
                         headers={"HX-Request": "true"})
    assert received.status_code == 200 and "<html" not in received.text
    assert "The order is ready for pickup" in received.text
    assert "Ready for pickup" in home.get("/store/picks").text

    counter = home.get("/store/pickup").text
    wrong = home.post("/store/pickup", data={"csrf": _csrf(counter), "code": "ZZZZ2222"},
                      headers={"HX-Request": "true"})
    assert wrong.status_code == 422 and 'role="alert"' in wrong.text and "does not match any parcel" in wrong.text

    code = client.get(f"/api/v1/orders/{order['id']}", headers=auth(bakery["key"])).json()["fulfillments"][0][
        "pickup_code"]
    found = home.post("/store/pickup", data={"csrf": _csrf(counter), "code": code.lower()})
    assert found.status_code == 200
    assert "Wang Lei" in found.text and "Strawberry Birthday Cake" in found.text and "To pay at pickup" in found.text
    assert "Hand over 1 item<" in found.text and "Parcel from" not in found.text
    done = home.post("/store/pickup/hand-over", data={"csrf": _csrf(counter), "code": code})
    assert done.status_code == 200 and "Handed over 1 item" in done.text
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(bakery["key"])).json()["status"] == "completed"

    again = home.post("/store/pickup", data={"csrf": _csrf(counter), "code": code})
    assert again.status_code == 409 and "already used" in again.text


def test_the_queue_marks_overdue_orders_and_pick_and_ready_swap_the_card_for_htmx(app, client, db, clock):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Corner Bakery", at=T0)
        store = f.location(s, m, "Corner Bakery Hubin", 30.2590, 120.1630, at=T0)
        p = f.product(s, 502, "Egg tart, box of 6", at=T0)
        f.offer(s, m, p, 3600, at=T0)
        f.stock(s, store, p, 5, at=T0)
        f.staff_user(s, m, "hubin@corner.test", at=T0, password=PASSWORD, location=store)
        key, store_id, product = f.api_key(s, m, at=T0), store.id, p.id
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": product, "quantity": 2}], "pickup_location_id": store_id}).json()
    order = client.post("/api/v1/orders", headers=auth(key), json={
        "quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "pay_at_pickup"}).json()
    leg = order["fulfillments"][0]["id"]
    staff = _staff(app, "hubin@corner.test")
    token = _csrf(staff.get("/store/picks").text)
    htmx = {"HX-Request": "true"}

    clock.advance(hours=2)  # past the promised time: the polled queue says so from the server's clock
    polled = staff.get("/store/picks/queue", headers=htmx)
    assert polled.status_code == 200 and "<html" not in polled.text and 'hx-trigger="every 20s"' in polled.text
    assert "is-overdue" in polled.text and re.search(r"Overdue by (1 h|\d+ min)", polled.text)
    assert re.search(r'<strong class="num">1</strong> overdue', polled.text)

    picking = staff.post(f"/store/picks/{leg}/pick", data={"csrf": token}, headers=htmx)
    assert picking.status_code == 200 and picking.text.lstrip().startswith(f'<li id="pick-{leg}"')
    assert "Ready for pickup" in picking.text  # the next action on the card
    twice = staff.post(f"/store/picks/{leg}/pick", data={"csrf": token}, headers=htmx)
    assert twice.status_code == 409 and "picking starts from confirmed" in twice.text
    ready = staff.post(f"/store/picks/{leg}/pack", data={"csrf": token}, headers=htmx)
    assert ready.status_code == 200 and "the shopper can collect it" in ready.text
    assert client.get(f"/api/v1/fulfillments/{leg}", headers=auth(key)).json()["status"] == "ready_for_pickup"


def test_a_state_change_without_the_csrf_token_is_refused_and_changes_nothing(app, client, bakery):
    order = _order_cake_for_home_pickup(client, bakery)
    leg = order["fulfillments"][0]["id"]
    office = _staff(app, "office@sweetlane.test")
    for data in ({}, {"csrf": "forged"}):
        refused = office.post(f"/store/picks/{leg}/pick", data=data, follow_redirects=False)
        assert refused.status_code == 403 and "expired or came from another site" in refused.text
    assert office.post("/store/pickup", data={"code": "ABCDEFGH"}).status_code == 403
    assert client.get(f"/api/v1/fulfillments/{leg}", headers=auth(bakery["key"])).json()["status"] == "confirmed"


def test_staff_of_another_merchant_can_neither_see_nor_move_this_stores_orders(app, client, bakery):
    order = _order_cake_for_home_pickup(client, bakery)
    leg = order["fulfillments"][0]
    rival = _staff(app, "staff@rival.test")
    own = rival.get("/store/picks")
    assert own.status_code == 200 and "Wang Lei" not in own.text and "Nothing to pick right now" in own.text
    assert rival.get(f"/store/picks?location={bakery['office']}").status_code == 404
    token = _csrf(own.text)
    assert rival.post(f"/store/picks/{leg['id']}/pick", data={"csrf": token}).status_code == 404
    assert rival.post(f"/store/transfers/{leg['transfer_id']}/send", data={"csrf": token}).status_code == 404
    assert "Sweet Lane" not in rival.get("/store/transfers").text
    assert rival.get(f"/store/returns?find={order['id']}").status_code == 404
    # Staff of the same merchant at another store cannot pick the office's order either.
    home = _staff(app, "home@sweetlane.test")
    refused = home.post(f"/store/picks/{leg['id']}/pick", data={"csrf": _csrf(home.get('/store/picks').text)},
                        headers={"HX-Request": "true"})
    assert refused.status_code == 403 and "you work at another store" in refused.text


def test_a_collected_order_is_returned_at_the_store_once_with_its_refund_and_stock(app, client, bakery):
    order = _order_cake_for_home_pickup(client, bakery)
    leg = order["fulfillments"][0]
    key = auth(bakery["key"])
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=key)
    client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=key)
    client.post(f"/api/v1/fulfillments/{leg['id']}/receive", headers=key)
    code = client.get(f"/api/v1/fulfillments/{leg['id']}", headers=key).json()["pickup_code"]
    client.post(f"/api/v1/locations/{bakery['home']}/handover", headers=key, json={"code": code})

    home = _staff(app, "home@sweetlane.test")
    form = home.get(f"/store/returns?find={code}")
    assert form.status_code == 200 and "Strawberry Birthday Cake" in form.text and "Accept return" in form.text
    line_id = re.search(r'name="line_id" value="([^"]+)"', form.text).group(1)
    return_id = re.search(r'name="return_id" value="([^"]+)"', form.text).group(1)
    body = {"csrf": _csrf(form.text), "order_id": order["id"], "return_id": return_id, "line_id": line_id,
            "quantity": "1", "reason": "Damaged or faulty", "note": "box crushed"}
    too_many = home.post("/store/returns", data={**body, "quantity": "2"})
    assert too_many.status_code == 422 and "only 1 of 1" in too_many.text

    accepted = home.post("/store/returns", data=body, follow_redirects=False)
    assert accepted.status_code == 303 and accepted.headers["location"].startswith("/store/returns/ret_")
    result = home.get(accepted.headers["location"])
    assert result.status_code == 200 and "Return recorded" in result.text and "¥268.00" in result.text
    assert "Sweet Lane Home" in result.text
    resent = home.post("/store/returns", data=body, follow_redirects=False)
    assert resent.headers["location"] == accepted.headers["location"]  # one return, whatever the presses
    returns = client.get(f"/api/v1/orders/{order['id']}/returns", headers=key).json()
    assert len(returns) == 1 and returns[0]["money_refund_minor"] == 26800
    stock = client.get(f"/api/v1/stock?location_id={bakery['home']}&product_id={bakery['cake']}", headers=key).json()
    assert stock[0]["on_hand"] == 1
    assert "already been returned" in home.get(f"/store/returns?find={order['id']}").text


def test_a_partner_pickup_point_receives_and_hands_over_a_parcel_and_shows_whose_it_is(app, client, db, bakery):
    with db.unit_of_work() as s:
        from oao.network.models import Merchant

        corner = f.merchant(s, "Daily Corner", at=T0)
        point = f.location(s, corner, "Daily Corner Caihe", 30.2695, 120.1990, at=T0, accepts_partner_pickups=True)
        sweet_lane = s.get(Merchant, client.get("/api/v1/locations", headers=auth(bakery["key"])).json()[0][
            "merchant_id"])
        f.pickup_agreement(s, corner, sweet_lane, at=T0)
        f.staff_user(s, corner, "staff@corner.test", at=T0, password=PASSWORD, location=point)
        point_id = point.id
    key = auth(bakery["key"])
    quote = client.post("/api/v1/quotes", headers=key, json={
        "lines": [{"product_id": bakery["cake"], "quantity": 1}], "pickup_location_id": point_id}).json()
    option = next(o for o in quote["options"] if o["pickup_location"] and o["pickup_location"]["id"] == point_id)
    order = client.post("/api/v1/orders", headers=key, json={
        "quote_id": quote["id"], "option_id": option["id"], "payment_method": "pay_at_pickup",
        "customer": {"name": "Li Na", "phone": "13900005678"}}).json()
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=key)
    client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=key)

    corner_staff = _staff(app, "staff@corner.test")
    queue = corner_staff.get("/store/picks").text
    assert "Li Na" in queue and "Parcel from <strong>Sweet Lane</strong>" in queue
    incoming = corner_staff.get("/store/transfers").text
    assert "From Sweet Lane Office" in incoming
    assert corner_staff.post(f"/store/transfers/{leg['transfer_id']}/receive", data={"csrf": _csrf(incoming)},
                             follow_redirects=False).status_code == 303
    code = client.get(f"/api/v1/fulfillments/{leg['id']}", headers=key).json()["pickup_code"]
    found = corner_staff.post("/store/pickup", data={"csrf": _csrf(incoming), "code": code})
    assert found.status_code == 200 and "Parcel from <strong>Sweet Lane</strong>" in found.text
    done = corner_staff.post("/store/pickup/hand-over", data={"csrf": _csrf(incoming), "code": code})
    assert "Handed over 1 item" in done.text
    assert client.get(f"/api/v1/orders/{order['id']}", headers=key).json()["status"] == "completed"


def test_an_admin_chooses_which_store_the_floor_pages_show(app, client, db, bakery):
    with db.unit_of_work() as s:
        from oao.core.auth import Role
        from oao.network.models import Merchant

        merchant = s.get(Merchant, client.get("/api/v1/locations", headers=auth(bakery["key"])).json()[0][
            "merchant_id"])
        f.staff_user(s, merchant, "admin@sweetlane.test", at=T0, password=PASSWORD, role=Role.MERCHANT_ADMIN)
    _order_cake_for_home_pickup(client, bakery)
    admin = _staff(app, "admin@sweetlane.test")
    office = admin.get(f"/store/picks?location={bakery['office']}")
    assert office.status_code == 200 and "Wang Lei" in office.text and 'name="location"' in office.text
    assert f"/store/picks/queue?location={bakery['office']}" in office.text
