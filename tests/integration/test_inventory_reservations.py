"""Reservations never oversell and release cleanly, on both databases."""

import pytest

from oao.core.errors import InsufficientStock
from oao.inventory import service as inventory
from oao.inventory.service import LineQty
from tests import factories as f
from tests.conftest import T0


def _store_with_stock(db, units: int):
    with db.unit_of_work() as s:
        m = f.merchant(s, "Bakery", at=T0)
        loc = f.location(s, m, "Office branch", 30.27, 120.15, at=T0)
        p = f.product(s, 1, "Birthday cake", at=T0)
        f.stock(s, loc, p, units, at=T0)
        return m.id, loc.id, p.id


def test_a_reservation_takes_units_out_of_what_is_available(db):
    m, loc, p = _store_with_stock(db, 5)
    with db.unit_of_work() as s:
        inventory.reserve(s, merchant_id=m, location_id=loc, lines=[LineQty(p, 3)], reference="ful_1",
                          expires_at=None, now=T0)
    with db.unit_of_work() as s:
        level = inventory.get_level(s, location_id=loc, product_id=p)
        assert (level.on_hand, level.reserved) == (5, 3)


def test_reserving_more_than_is_available_fails_and_changes_nothing(db):
    m, loc, p = _store_with_stock(db, 2)
    with pytest.raises(InsufficientStock) as err:
        with db.unit_of_work() as s:
            inventory.reserve(s, merchant_id=m, location_id=loc, lines=[LineQty(p, 3)], reference="ful_1",
                              expires_at=None, now=T0)
    assert err.value.extra["available"] == 2
    with db.unit_of_work() as s:
        assert inventory.get_level(s, location_id=loc, product_id=p).reserved == 0


def test_releasing_gives_the_units_back_and_consuming_takes_them_off_the_shelf(db):
    m, loc, p = _store_with_stock(db, 4)
    with db.unit_of_work() as s:
        inventory.reserve(s, merchant_id=m, location_id=loc, lines=[LineQty(p, 1)], reference="a",
                          expires_at=None, now=T0)
        inventory.reserve(s, merchant_id=m, location_id=loc, lines=[LineQty(p, 2)], reference="b",
                          expires_at=None, now=T0)
    with db.unit_of_work() as s:
        assert inventory.release(s, reference="a", now=T0, reason="cancelled") == 1
        assert inventory.consume(s, reference="b", kind="sale", now=T0) == 2
    with db.unit_of_work() as s:
        level = inventory.get_level(s, location_id=loc, product_id=p)
        assert (level.on_hand, level.reserved) == (2, 0)
        # releasing twice is harmless
        assert inventory.release(s, reference="a", now=T0, reason="again") == 0
