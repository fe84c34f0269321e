"""Stock is never oversold: 40 shoppers race for the last 10 units over real HTTP."""

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from oao.app import create_app
from oao.inventory import service as inventory
from tests import factories as f
from tests.conftest import T0
from tests.live import serve

pytestmark = pytest.mark.slow


def _store_with_ten_units(db) -> tuple[str, str, str]:
    """A fresh-food store with the last 10 units of one product; (api key, store id, product id)."""
    with db.unit_of_work() as s:
        m = f.merchant(s, "FreshHub", at=T0)
        store = f.location(s, m, "FreshHub Qianjiang", 30.2460, 120.2120, at=T0)
        p = f.product(s, 301, "Hairy crab, 250 g", at=T0, category="fresh", perishable=True, shelf_life_days=2)
        f.offer(s, m, p, 8800, at=T0)
        f.stock(s, store, p, 10, at=T0)
        return f.api_key(s, m, at=T0), store.id, p.id


def _quote(base: str, headers: dict[str, str], store_id: str, product_id: str, quantity: int) -> dict:
    return httpx.post(f"{base}/api/v1/quotes", headers=headers, json={
        "lines": [{"product_id": product_id, "quantity": quantity}], "pickup_location_id": store_id}).json()


def test_forty_concurrent_orders_for_the_last_ten_units_sell_exactly_ten(db, settings, clock):
    key, store_id, product_id = _store_with_ten_units(db)
    app = create_app(settings, db=db, clock=clock, start_worker=False)
    with serve(app) as base:
        headers = f.auth(key)
        quote = _quote(base, headers, store_id, product_id, 1)
        option = next(o for o in quote["options"] if o["pickup_location"]["id"] == store_id)

        def shopper(n: int) -> httpx.Response:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
                return c.post("/api/v1/orders", headers={"Idempotency-Key": f"crab-{n}"},
                              json={"quote_id": quote["id"], "option_id": option["id"],
                                    "payment_method": "pay_at_pickup", "customer": {"name": f"Shopper {n}"}})

        with ThreadPoolExecutor(max_workers=10) as pool:
            responses = list(pool.map(shopper, range(40)))

    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(201) == 10, statuses
    assert statuses.count(409) == 30, statuses
    refused = [r for r in responses if r.status_code == 409]
    assert all(r.headers["content-type"].startswith("application/problem+json") for r in refused)
    assert all(r.json()["type"] == "/problems/insufficient-stock" for r in refused)
    assert "available" in refused[0].json()["detail"]
    with db.unit_of_work() as s:
        level = inventory.get_level(s, location_id=store_id, product_id=product_id)
        assert (level.on_hand, level.reserved) == (10, 10)


def test_eight_racing_retries_with_one_idempotency_key_place_one_order(db, settings, clock):
    key, store_id, product_id = _store_with_ten_units(db)
    app = create_app(settings, db=db, clock=clock, start_worker=False)
    with serve(app) as base:
        headers = f.auth(key)
        quote = _quote(base, headers, store_id, product_id, 2)
        body = {"quote_id": quote["id"], "option_id": quote["options"][0]["id"], "payment_method": "pay_at_pickup"}

        def retry(_: int) -> httpx.Response:
            with httpx.Client(base_url=base, headers=headers, timeout=60) as c:
                return c.post("/api/v1/orders", headers={"Idempotency-Key": "flaky-network-1"}, json=body)

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(retry, range(8)))

    assert {r.status_code for r in responses} == {201}, [r.text for r in responses]
    assert len({r.json()["id"] for r in responses}) == 1, "every retry got the same order"
    with db.unit_of_work() as s:
        level = inventory.get_level(s, location_id=store_id, product_id=product_id)
        assert level.reserved == 2, "and the stock was reserved once"
