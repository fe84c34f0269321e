"""The spatial pre-filter keeps quotes fast in a dense city without losing answers:
a place a little farther that holds the whole cart still beats a split, and a product
stocked only far away is still found."""

from tests import factories as f
from tests.conftest import T0
from tests.factories import auth

HOME = (30.2500, 120.1700)


def _dense_city(db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Everyday Mart", at=T0)
        tea, honey = f.product(s, 901, "Longjing tea 100 g", at=T0), f.product(s, 902, "Osmanthus honey", at=T0)
        f.offer(s, m, tea, 6800, at=T0)
        f.offer(s, m, honey, 4200, at=T0)
        for i in range(45):  # tea everywhere around the shopper, no honey
            store = f.location(s, m, f"Everyday Mart #{i}", HOME[0] + 0.0004 * (i % 9), HOME[1] + 0.0004 * (i // 9),
                               at=T0)
            f.stock(s, store, tea, 5, at=T0)
        corner = f.location(s, m, "Everyday Mart Corner", HOME[0] + 0.001, HOME[1], at=T0)
        both = f.location(s, m, "Everyday Mart Xixi", 30.2700, 120.0800, at=T0)  # ~9 km away
        f.stock(s, both, tea, 3, at=T0)
        f.stock(s, both, honey, 3, at=T0)
        return f.api_key(s, m, at=T0), tea.id, honey.id, corner.id, both.id


def test_a_farther_store_with_the_whole_cart_is_offered_without_a_split(client, db):
    key, tea, honey, corner, both = _dense_city(db)
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": tea, "quantity": 1}, {"product_id": honey, "quantity": 1}],
        "pickup_location_id": corner}).json()
    at_corner = [o for o in quote["options"] if o["pickup_location"] and o["pickup_location"]["id"] == corner]
    assert at_corner, quote
    assert not at_corner[0]["is_split"] and at_corner[0]["legs"][0]["source"]["id"] == both


def test_a_product_stocked_only_far_away_is_still_found(client, db):
    key, tea, honey, corner, both = _dense_city(db)
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"product_id": honey, "quantity": 2}], "pickup_location_id": corner}).json()
    assert [o["legs"][0]["source"]["id"] for o in quote["options"] if o["kind"] == "pickup"][:1] == [both]
