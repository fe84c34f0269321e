"""S2 with another brand — the father collects the cake at a convenience store of a
different chain that serves as a pickup point by agreement. The partner's staff see the
parcel coming, receive it and hand it over with his code, but never see the bakery's
stock or the code itself. Uncollected parcels go back to the bakery."""

from oao.config import Settings
from oao.core.auth import Role
from oao.network import service as network_service
from oao.worker import Worker
from tests import factories as f
from tests.conftest import T0
from tests.e2e.networks import PASSWORD
from tests.factories import auth


def _network(db):
    with db.unit_of_work() as s:
        bakery = f.merchant(s, "Sweet Lane Bakery", at=T0)
        chain = f.merchant(s, "Daily Corner", at=T0)
        cake = f.product(s, 701, "Mango mousse cake, 6 inch", at=T0, category="bakery", perishable=True,
                         shelf_life_days=2)
        f.offer(s, bakery, cake, 19800, at=T0)
        office = f.location(s, bakery, "Sweet Lane Raffles Tower", 30.2460, 120.2120, at=T0, hours=f.DAYTIME)
        corner = f.location(s, chain, "Daily Corner Wenhui", 30.2940, 120.1660, at=T0,
                            accepts_pickups=True, accepts_partner_pickups=True)
        agreement = f.pickup_agreement(s, chain, bakery, at=T0, fee=150)
        f.stock(s, office, cake, 2, at=T0)
        network_service.create_staff_user(s, email="clerk@dailycorner.example", name="Zhou Min", password=PASSWORD,
                                          role=Role.STORE_STAFF, merchant_id=chain.id, location_id=corner.id, now=T0)
        return {"bakery_key": f.api_key(s, bakery, at=T0), "chain_admin_key": f.api_key(s, chain, at=T0),
                "cake": cake.id, "office": office.id, "corner": corner.id, "agreement": agreement.id}


def _clerk(client):
    return client.post("/api/v1/sessions", json={"email": "clerk@dailycorner.example",
                                                 "password": PASSWORD}).json()["token"]


def _order_to_corner(client, net):
    quote = client.post("/api/v1/quotes", headers=auth(net["bakery_key"]), json={
        "lines": [{"product_id": net["cake"], "quantity": 1}], "pickup_location_id": net["corner"]}).json()
    option = next(o for o in quote["options"] if o["pickup_location"]["id"] == net["corner"])
    assert option["involves_transfer"] and "Daily Corner Wenhui" in option["explanation"]
    order = client.post("/api/v1/orders", headers=auth(net["bakery_key"]), json={
        "quote_id": quote["id"], "option_id": option["id"], "payment_method": "pay_at_pickup"}).json()
    leg = order["fulfillments"][0]
    client.post(f"/api/v1/fulfillments/{leg['id']}/pick", headers=auth(net["bakery_key"]))
    sent = client.post(f"/api/v1/fulfillments/{leg['id']}/pack", headers=auth(net["bakery_key"])).json()
    assert sent["status"] == "in_transit"
    return order, leg


def test_the_partner_pickup_point_receives_and_hands_over_the_parcel(client, db):
    net = _network(db)
    clerk = _clerk(client)
    order, leg = _order_to_corner(client, net)

    incoming = client.get(f"/api/v1/transfers?location_id={net['corner']}&direction=incoming",
                          headers=auth(clerk)).json()
    assert [t["id"] for t in incoming] == [leg["transfer_id"]] and incoming[0]["status"] == "in_transit"
    assert client.get(f"/api/v1/stock?location_id={net['office']}", headers=auth(clerk)).status_code == 404
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(clerk)).status_code == 404

    received = client.post(f"/api/v1/transfers/{leg['transfer_id']}/receive", headers=auth(clerk))
    assert received.status_code == 200, received.text
    seen_by_clerk = client.get(f"/api/v1/fulfillments/{leg['id']}", headers=auth(clerk)).json()
    assert seen_by_clerk["status"] == "ready_for_pickup" and seen_by_clerk["pickup_code"] is None

    code = client.get(f"/api/v1/orders/{order['id']}", headers=auth(net["bakery_key"])).json()[
        "fulfillments"][0]["pickup_code"]
    handed = client.post(f"/api/v1/locations/{net['corner']}/handover", json={"code": code}, headers=auth(clerk))
    assert handed.status_code == 200, handed.text
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(net["bakery_key"])).json()["status"] == "completed"
    # the parcel never entered the partner's shelf stock
    assert client.get(f"/api/v1/stock?location_id={net['corner']}", headers=auth(clerk)).json() == []


def test_ending_the_agreement_stops_new_orders_there_but_honours_open_ones(client, db):
    net = _network(db)
    clerk = _clerk(client)
    order, leg = _order_to_corner(client, net)
    ended = client.post(f"/api/v1/partner-agreements/{net['agreement']}/end", headers=auth(net["chain_admin_key"]))
    assert ended.status_code == 200, ended.text

    quote = client.post("/api/v1/quotes", headers=auth(net["bakery_key"]), json={
        "lines": [{"product_id": net["cake"], "quantity": 1}], "pickup_location_id": net["corner"]}).json()
    assert all(o["pickup_location"] is None or o["pickup_location"]["id"] != net["corner"] for o in quote["options"])

    client.post(f"/api/v1/transfers/{leg['transfer_id']}/receive", headers=auth(clerk))
    code = client.get(f"/api/v1/orders/{order['id']}", headers=auth(net["bakery_key"])).json()[
        "fulfillments"][0]["pickup_code"]
    assert client.post(f"/api/v1/locations/{net['corner']}/handover", json={"code": code},
                       headers=auth(clerk)).status_code == 200


def test_an_uncollected_parcel_goes_back_to_the_bakery(client, db, clock):
    net = _network(db)
    clerk = _clerk(client)
    order, leg = _order_to_corner(client, net)
    client.post(f"/api/v1/transfers/{leg['transfer_id']}/receive", headers=auth(clerk))
    clock.advance(hours=49)
    Worker(db=db, clock=clock, settings=Settings(database_url=db.url, embedded_worker=False)).run_once()
    assert client.get(f"/api/v1/orders/{order['id']}", headers=auth(net["bakery_key"])).json()["status"] == "cancelled"

    clerk = _clerk(client)  # a new shift, a new session
    [back] = client.get(f"/api/v1/transfers?location_id={net['office']}&direction=incoming",
                        headers=auth(net["bakery_key"])).json()
    assert back["from_location_id"] == net["corner"] and back["status"] == "requested"
    assert client.post(f"/api/v1/transfers/{back['id']}/ship", headers=auth(clerk)).status_code == 200
    assert client.post(f"/api/v1/transfers/{back['id']}/receive", headers=auth(net["bakery_key"])).status_code == 200
    office = client.get(f"/api/v1/stock?location_id={net['office']}", headers=auth(net["bakery_key"])).json()[0]
    assert (office["on_hand"], office["reserved"]) == (2, 0), "the cake is back on the bakery's shelf"
