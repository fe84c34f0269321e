"""Agreements under pressure: two proposals for the same pair of merchants racing each other leave one
live agreement and answer the other with a 409 naming it (never a 500 from the unique index); and an
order whose pickup point belongs to a partner is refused with "quote again", reserving nothing, when
the pickup agreement ended between the quote and the order."""

from __future__ import annotations

import threading
import time

import pytest

from oao.core.errors import Conflict
from oao.inventory.models import StockLevel
from oao.network import service as network
from oao.network.models import PartnerAgreement
from tests import factories as f
from tests.conftest import T0
from tests.factories import auth


def _pair(db):
    with db.unit_of_work() as s:
        return f.merchant(s, "Daily Corner", at=T0).id, f.merchant(s, "Sweet Lane Bakery", at=T0).id


def _pickup(host: str, fee: int = 150) -> dict:
    return {"pickup": {"host_merchant_id": host, "fee_minor": fee, "currency": "CNY"}}


@pytest.mark.parametrize("second_is_a_retry", [False, True], ids=["rival", "retry"])
def test_two_concurrent_proposals_for_one_pair_make_one_agreement_and_the_other_gets_a_clean_409(
        db, second_is_a_retry):
    corner, bakery = _pair(db)
    flushed = threading.Event()
    out: dict[str, object] = {}

    def first():
        with db.unit_of_work() as s:
            out["first"] = network.propose_agreement(s, proposer_merchant_id=corner, counterparty_merchant_id=bakery,
                                                     terms=_pickup(corner), now=T0).id
            flushed.set()
            # Hold the transaction open: the second proposal has checked for a live agreement (it saw none,
            # on PostgreSQL) and now waits on the unique index (PostgreSQL) or the write lock (SQLite).
            time.sleep(0.6)

    def second():
        flushed.wait(10)
        proposer, other = (corner, bakery) if second_is_a_retry else (bakery, corner)
        terms = _pickup(corner) if second_is_a_retry else _pickup(corner, fee=200)
        try:
            with db.unit_of_work() as s:
                out["second"] = network.propose_agreement(s, proposer_merchant_id=proposer,
                                                          counterparty_merchant_id=other, terms=terms, now=T0).id
        except Exception as exc:  # a Conflict is expected; anything else (IntegrityError) is the bug
            out["second"] = exc

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)

    if second_is_a_retry:
        assert out["second"] == out["first"], "the very same proposal again is the same agreement"
    else:
        refused = out["second"]
        assert isinstance(refused, Conflict), repr(refused)
        assert refused.status == 409 and refused.extra["agreement_id"] == out["first"]
        assert out["first"] in refused.detail
    with db.read() as s:
        assert [a.id for a in s.query(PartnerAgreement).all()] == [out["first"]]


def test_placing_an_order_after_the_pickup_agreement_ended_since_the_quote_asks_to_quote_again(
        db, client, clock):
    with db.unit_of_work() as s:
        bakery, chain = f.merchant(s, "Sweet Lane Bakery", at=T0), f.merchant(s, "Daily Corner", at=T0)
        cake = f.product(s, 9001, "Osmanthus cake", at=T0, category="cakes")
        f.offer(s, bakery, cake, 19800, at=T0)
        office = f.location(s, bakery, "Sweet Lane Raffles Tower", 30.2460, 120.2120, at=T0)
        corner = f.location(s, chain, "Daily Corner Wenhui", 30.2940, 120.1660, at=T0,
                            accepts_pickups=True, accepts_partner_pickups=True)
        agreement = f.pickup_agreement(s, chain, bakery, at=T0, fee=150)
        f.stock(s, office, cake, 2, at=T0)
        key, ids = f.api_key(s, bakery, at=T0), (cake.id, office.id, corner.id, agreement.id, chain.id)
    cake_id, office_id, corner_id, agreement_id, chain_id = ids
    clock.advance(minutes=1)

    def quote_for_corner():
        quote = client.post("/api/v1/quotes", headers=auth(key), json={
            "lines": [{"product_id": cake_id, "quantity": 1}], "pickup_location_id": corner_id}).json()
        return quote, next(o for o in quote["options"] if (o["pickup_location"] or {}).get("id") == corner_id)

    def place(quote, option):
        return client.post("/api/v1/orders", headers=auth(key), json={
            "quote_id": quote["id"], "option_id": option["id"], "payment_method": "pay_at_pickup"})

    # While the agreement holds, the quoted partner pickup is placed normally.
    quote, option = quote_for_corner()
    assert place(quote, option).status_code == 201

    quote, option = quote_for_corner()
    clock.advance(minutes=1)
    with db.unit_of_work() as s:
        network.end_agreement(s, agreement_id=agreement_id, ended_by_merchant_id=chain_id, now=clock.now())
    clock.advance(minutes=1)
    r = place(quote, option)
    assert r.status_code == 409, r.text
    problem = r.json()
    assert "quote again" in problem["detail"] and "Daily Corner" in problem["detail"]
    assert problem["pickup_location_id"] == corner_id
    with db.read() as s:
        level = s.query(StockLevel).filter_by(location_id=office_id, product_id=cake_id).one()
        assert (level.on_hand, level.reserved) == (2, 1), "only the first order reserved stock"
    assert len(client.get("/api/v1/orders", headers=auth(key)).json()) == 1
