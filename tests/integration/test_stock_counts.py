"""Counting stock in bulk: every row as set_stock_count would, in a few statements per chunk."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import func, select

from oao.core.errors import InsufficientStock, InvalidInput
from oao.core.outbox import OutboxEvent
from oao.inventory import service as inventory
from oao.inventory.models import StockLevel, StockMovement
from oao.inventory.service import LineQty
from tests import factories as f
from tests.conftest import T0


@pytest.fixture
def shop(db):
    """A store with five products: three stocked (10, 0 and 4 units), two never stocked."""
    with db.unit_of_work() as s:
        m = f.merchant(s, "Corner Shop", at=T0)
        loc = f.location(s, m, "High street", 30.27, 120.15, at=T0)
        p = [f.product(s, n, f"Product {n}", at=T0) for n in range(1, 6)]
        for product, units in zip(p, (10, 0, 4), strict=False):
            f.stock(s, loc, product, units, at=T0)
        return {"m": m.id, "loc": loc.id, "p": [x.id for x in p]}


def _count(db, shop, counts: dict[int, int], reference: str | None = None) -> int:
    with db.unit_of_work() as s:
        return inventory.set_stock_counts(s, merchant_id=shop["m"], reason="stocktake", now=T0,
                                          reference=reference,
                                          counts=[(shop["loc"], shop["p"][i], n) for i, n in counts.items()])


def _on_hand(db, shop) -> list[int | None]:
    with db.unit_of_work() as s:
        levels = [inventory.get_level(s, location_id=shop["loc"], product_id=p) for p in shop["p"]]
        return [None if level is None else level.on_hand for level in levels]


def _moves(db, reason: str = "stocktake") -> set[tuple[str, str, int, str | None]]:
    with db.unit_of_work() as s:
        return {(m.product_id, m.kind, m.quantity, m.reference)
                for m in s.scalars(select(StockMovement).where(StockMovement.reason == reason))}


def _events(db, type_: str) -> list[OutboxEvent]:
    with db.unit_of_work() as s:
        return list(s.scalars(select(OutboxEvent).where(OutboxEvent.type == type_)))


def test_a_batch_sets_every_count_and_writes_one_movement_per_changed_row(db, shop):
    changed = _count(db, shop, {0: 7, 1: 5, 2: 4, 3: 6, 4: 0}, reference="cnt_monday")
    # 10 -> 7, 0 -> 5, 4 stays 4, missing -> 6, missing -> 0 (created, nothing moved)
    assert changed == 4
    assert _on_hand(db, shop) == [7, 5, 4, 6, 0]
    p = shop["p"]
    assert _moves(db) == {(p[0], "adjustment", -3, "cnt_monday"), (p[1], "receipt", 5, "cnt_monday"),
                          (p[3], "receipt", 6, "cnt_monday")}
    [event] = _events(db, "stock.counted")
    assert event.subject_id == "cnt_monday" and event.merchant_id == shop["m"]
    assert {k: event.payload[k] for k in ("rows_counted", "rows_changed", "created", "received", "adjusted")} == {
        "rows_counted": 5, "rows_changed": 4, "created": 2, "received": 2, "adjusted": 1}


def test_counting_the_same_figures_again_changes_nothing_and_records_nothing(db, shop):
    _count(db, shop, {0: 7, 3: 6})
    assert _count(db, shop, {0: 7, 3: 6}) == 0
    assert len(_moves(db)) == 2
    assert len(_events(db, "stock.counted")) == 1


def test_the_movements_add_up_to_on_hand_for_every_row(db, shop):
    _count(db, shop, {0: 2, 1: 9, 2: 0, 3: 1})
    with db.unit_of_work() as s:
        history = dict(s.execute(select(StockMovement.product_id, func.sum(StockMovement.quantity))
                                 .group_by(StockMovement.product_id)).all())
    on_hand = _on_hand(db, shop)
    assert [history.get(p, 0) for p in shop["p"][:4]] == on_hand[:4] == [2, 9, 0, 1]


def test_counting_below_what_is_reserved_is_refused_and_changes_nothing(db, shop):
    with db.unit_of_work() as s:
        inventory.reserve(s, merchant_id=shop["m"], location_id=shop["loc"], lines=[LineQty(shop["p"][2], 3)],
                          reference="ful_1", expires_at=None, now=T0)
    with db.unit_of_work() as s, pytest.raises(InsufficientStock) as refused:
        # The caller catches the error and commits: the batch must still leave no trace.
        inventory.set_stock_counts(s, merchant_id=shop["m"], reason="stocktake", now=T0, counts=[
            (shop["loc"], shop["p"][0], 1), (shop["loc"], shop["p"][3], 8), (shop["loc"], shop["p"][2], 2)])
    assert refused.value.extra == {"product_id": shop["p"][2], "location_id": shop["loc"], "reserved": 3}
    assert shop["p"][2] in refused.value.detail and "3 units there are reserved" in refused.value.detail
    assert _on_hand(db, shop) == [10, 0, 4, None, None]
    assert _moves(db) == set() and _events(db, "stock.counted") == []


@pytest.mark.parametrize("counts,words", [
    ([("L", "P", -1)], "cannot be negative"),
    ([("L", "P", 1), ("L", "P", 2)], "counted twice"),
])
def test_a_negative_or_repeated_row_is_refused(db, shop, counts, words):
    counts = [(shop["loc"], shop["p"][0], n) for _, _, n in counts]
    with pytest.raises(InvalidInput, match=words), db.unit_of_work() as s:
        inventory.set_stock_counts(s, merchant_id=shop["m"], counts=counts, reason="stocktake", now=T0)


def test_a_level_already_loaded_in_the_session_shows_the_new_count(db, shop):
    with db.unit_of_work() as s:
        level = inventory.get_level(s, location_id=shop["loc"], product_id=shop["p"][0])
        assert level.on_hand == 10
        inventory.set_stock_counts(s, merchant_id=shop["m"], counts=[(shop["loc"], shop["p"][0], 6)],
                                   reason="stocktake", now=T0)
        assert level.on_hand == 6


def test_more_rows_than_one_chunk_are_all_counted_and_progress_is_reported(db, shop, monkeypatch):
    monkeypatch.setattr(inventory, "COUNT_CHUNK", 2)
    seen: list[int] = []
    with db.unit_of_work() as s:
        changed = inventory.set_stock_counts(s, merchant_id=shop["m"], reason="stocktake", now=T0,
                                             progress=seen.append,
                                             counts=[(shop["loc"], p, 3) for p in shop["p"]])
    assert changed == 5 and seen == [2, 4, 5]
    assert _on_hand(db, shop) == [3, 3, 3, 3, 3]


def test_figures_that_changed_after_the_first_read_are_judged_by_what_the_lock_shows(db, shop, monkeypatch):
    # Stand-in for a sale and a first receipt landing between the unlocked first read of the chunk
    # and the lock: that read says product 0 has 9 units and products 1 and 2 have no level yet.
    real = inventory._levels_by_key
    calls = []

    def stale_first(session, keys):
        figures = real(session, keys)
        calls.append(len(figures))
        if len(calls) > 1:
            return figures
        level_id = figures[(shop["loc"], shop["p"][0])][0]
        return {(shop["loc"], shop["p"][0]): (level_id, 9, 0)}

    monkeypatch.setattr(inventory, "_levels_by_key", stale_first)
    assert _count(db, shop, {0: 10, 1: 2, 2: 4}) == 1
    assert len(calls) == 2  # the levels that turned up when inserting were read again, then locked
    with db.unit_of_work() as s:
        assert s.scalar(select(func.count()).select_from(StockLevel)) == 3  # no second level for 1 or 2
    # once locked, product 0 was already at 10 and product 2 at 4; only product 1 moved
    assert _on_hand(db, shop) == [10, 2, 4, None, None]
    assert {(p, kind, q) for p, kind, q, _ in _moves(db)} == {(shop["p"][1], "receipt", 2)}


def test_a_reservation_made_while_the_count_waits_for_its_lock_is_respected(db, shop):
    # The order's transaction holds the row (PostgreSQL) or the database (SQLite) while the
    # count starts; the count must see the reservation once it gets through, not the old figures.
    outcome: list[BaseException | int] = []

    def count() -> None:
        try:
            outcome.append(_count(db, shop, {2: 1}))
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread
            outcome.append(exc)

    with db.unit_of_work() as s:
        inventory.reserve(s, merchant_id=shop["m"], location_id=shop["loc"], lines=[LineQty(shop["p"][2], 3)],
                          reference="ful_1", expires_at=None, now=T0)
        counter = threading.Thread(target=count)
        counter.start()
        counter.join(timeout=0.5)
        assert counter.is_alive()  # waiting for the order's transaction
    counter.join(timeout=30)
    [result] = outcome
    assert isinstance(result, InsufficientStock) and result.extra["reserved"] == 3
    assert _on_hand(db, shop)[2] == 4
