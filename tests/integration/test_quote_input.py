"""Bad quote and order input gets a 4xx problem+json that says what is wrong."""

import pytest

from tests import factories as f
from tests.conftest import T0
from tests.factories import auth


@pytest.fixture
def key(db):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Gamma Grocer", at=T0)
        store = f.location(s, m, "Gamma Hubin", 30.2590, 120.1630, at=T0)
        p = f.product(s, 601, "Jasmine rice 5 kg", at=T0)
        f.offer(s, m, p, 4500, at=T0)
        f.stock(s, store, p, 3, at=T0)
        return f.api_key(s, m, at=T0)


def _problem(response, status, *needles):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["type"].startswith("/problems/")
    for needle in needles:
        assert needle in body["detail"], body
    return body


HOME = {"latitude": 30.25, "longitude": 120.16}


@pytest.mark.parametrize("body,status,needles", [
    ({"lines": [{"gtin": "6901234567891", "quantity": 1}], "destination": HOME}, 422, ["check digit"]),
    ({"lines": [{"gtin": "12345", "quantity": 1}], "destination": HOME}, 422, ["8, 12, 13 or 14"]),
    ({"lines": [{"gtin": "6900000006016", "quantity": 0}], "destination": HOME}, 422, ["quantity"]),
    ({"lines": [{"gtin": "6900000006016", "quantity": -2}], "destination": HOME}, 422, ["quantity"]),
    ({"lines": [{"gtin": "6900000006016", "quantity": 1}], "destination": {"latitude": 91, "longitude": 0}}, 422,
     ["latitude"]),
    ({"lines": [{"gtin": "6900000006016", "quantity": 1}], "destination": {"latitude": 0, "longitude": 200}}, 422,
     ["longitude"]),
    ({"lines": [], "destination": HOME}, 422, ["lines"]),
    ({"lines": [{"quantity": 1}], "destination": HOME}, 422, ["product_id or a gtin"]),
    ({"lines": [{"product_id": "prd_nope", "quantity": 1}], "destination": HOME}, 404, ["prd_nope"]),
    ({"lines": [{"gtin": "6900000009994", "quantity": 1}], "destination": HOME}, 404, ["6900000009994"]),
    ({"lines": [{"gtin": "6900000006016", "quantity": 1}], "pickup_location_id": "loc_nope"}, 404, ["loc_nope"]),
    ({"lines": [{"gtin": "6900000006016", "quantity": 1}], "at": "2026-11-17T10:00:00"}, 422, ["timezone"]),
])
def test_bad_quote_requests_are_refused_with_the_reason(client, key, body, status, needles):
    _problem(client.post("/api/v1/quotes", json=body, headers=auth(key)), status, *needles)


def test_malformed_json_is_a_400_not_a_crash(client, key):
    response = client.post("/api/v1/quotes", content=b'{"lines": [', headers={**auth(key),
                                                                            "Content-Type": "application/json"})
    _problem(response, 400, "not valid JSON")


def test_no_credentials_is_a_401_and_a_bad_key_too(client, key):
    _problem(client.post("/api/v1/quotes", json={"lines": []}), 401, "Bearer")
    _problem(client.get("/api/v1/orders", headers=auth("oao_sk_nonsense")), 401, "Unknown API key")


def test_an_unknown_order_or_option_is_named_in_the_error(client, key):
    _problem(client.get("/api/v1/orders/ord_missing", headers=auth(key)), 404, "ord_missing")
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"gtin": "6900000006016", "quantity": 1}], "destination": HOME}).json()
    _problem(client.post("/api/v1/orders", headers=auth(key), json={"quote_id": quote["id"], "option_id": "opt_x"}),
             422, "opt_x")


def test_reusing_an_idempotency_key_for_another_request_is_a_422(client, key):
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"gtin": "6900000006016", "quantity": 1}], "destination": HOME}).json()
    option = quote["options"][0]["id"]
    headers = {**auth(key), "Idempotency-Key": "same-key"}
    first = client.post("/api/v1/orders", headers=headers, json={"quote_id": quote["id"], "option_id": option})
    assert first.status_code == 201
    _problem(client.post("/api/v1/orders", headers=headers, json={"quote_id": quote["id"], "option_id": option,
                                                                 "customer": {"name": "Someone else"}}),
             422, "different request")


def test_asking_for_more_than_is_in_stock_gives_no_option_and_says_so(client, key):
    quote = client.post("/api/v1/quotes", headers=auth(key), json={
        "lines": [{"gtin": "6900000006016", "quantity": 4}], "destination": HOME})
    assert quote.status_code == 201
    assert quote.json()["options"] == [] and "No store" in quote.json()["message"]


def test_a_retried_quote_with_the_same_key_returns_the_same_quote(client, key):
    headers = {**auth(key), "Idempotency-Key": "quote-1"}
    body = {"lines": [{"gtin": "6900000006016", "quantity": 1}], "destination": HOME}
    first = client.post("/api/v1/quotes", headers=headers, json=body)
    again = client.post("/api/v1/quotes", headers=headers, json=body)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"]
