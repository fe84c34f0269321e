"""Whatever sequence of receipts, adjustments, reservations, releases, sales and
transfers happens, the books stay consistent: on-hand never negative, reserved
never above on-hand, on-hand equal to the sum of its movements, and reserved equal
to the active reservations. Hypothesis drives random sequences against a real
SQLite file."""

import itertools
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule
from sqlalchemy import func, select

from oao.core.db import Database
from oao.core.errors import InsufficientStock, InvalidState
from oao.inventory import service as inventory
from oao.inventory import transfers
from oao.inventory.models import Reservation, StockLevel, StockMovement
from oao.inventory.service import LineQty
from oao.models import Base
from tests import factories as f
from tests.conftest import T0

_counter = itertools.count()


class InventoryBooks(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        self.db = Database(f"sqlite:///{Path(self.dir.name) / 'books.sqlite3'}")
        Base.metadata.create_all(self.db.engine)
        with self.db.unit_of_work() as s:
            m = f.merchant(s, "Books", at=T0)
            self.merchant = m.id
            self.stores = [f.location(s, m, f"Store {i}", 30.25 + i / 100, 120.16, at=T0).id for i in range(2)]
            self.products = [f.product(s, 1000 + i, f"Item {i}", at=T0).id for i in range(2)]
        self.references: list[str] = []
        self.transfers: list[str] = []

    def teardown(self) -> None:
        self.db.dispose()
        self.dir.cleanup()

    def _try(self, action) -> None:
        try:
            with self.db.unit_of_work() as s:
                action(s)
        except (InsufficientStock, InvalidState):
            pass  # refused: and the transaction rolled back, which the invariants check

    @rule(store=st.integers(0, 1), product=st.integers(0, 1), qty=st.integers(1, 5))
    def receive(self, store, product, qty):
        self._try(lambda s: inventory.receive_stock(s, merchant_id=self.merchant, location_id=self.stores[store],
                                                    product_id=self.products[product], quantity=qty, now=T0))

    @rule(store=st.integers(0, 1), product=st.integers(0, 1), delta=st.integers(-5, 5).filter(bool))
    def adjust(self, store, product, delta):
        self._try(lambda s: inventory.adjust_stock(s, merchant_id=self.merchant, location_id=self.stores[store],
                                                   product_id=self.products[product], delta=delta,
                                                   reason="count", now=T0))

    @rule(store=st.integers(0, 1), product=st.integers(0, 1), qty=st.integers(1, 4))
    def reserve(self, store, product, qty):
        reference = f"ful_{next(_counter)}"

        def act(s):
            inventory.reserve(s, merchant_id=self.merchant, location_id=self.stores[store],
                              lines=[LineQty(self.products[product], qty)], reference=reference,
                              expires_at=None, now=T0)
            self.references.append(reference)

        self._try(act)

    @rule(data=st.data(), consume=st.booleans())
    def settle(self, data, consume):
        if not self.references:
            return
        reference = data.draw(st.sampled_from(self.references))
        if consume:
            self._try(lambda s: inventory.consume(s, reference=reference, kind="sale", now=T0))
        else:
            self._try(lambda s: inventory.release(s, reference=reference, now=T0, reason="cancelled"))

    @rule(product=st.integers(0, 1), qty=st.integers(1, 3))
    def request_transfer(self, product, qty):
        def act(s):
            t = transfers.create_transfer(s, merchant_id=self.merchant, from_location_id=self.stores[0],
                                          to_location_id=self.stores[1], to_merchant_id=self.merchant,
                                          lines=[LineQty(self.products[product], qty)], expected_arrival_at=T0,
                                          now=T0)
            self.transfers.append(t.id)

        self._try(act)

    @rule(data=st.data(), step=st.sampled_from(["ship", "receive", "cancel"]))
    def move_transfer(self, data, step):
        if not self.transfers:
            return
        transfer_id = data.draw(st.sampled_from(self.transfers))
        action = {"ship": transfers.ship_transfer, "receive": transfers.receive_transfer,
                  "cancel": transfers.cancel_transfer}[step]
        self._try(lambda s: action(s, transfer_id=transfer_id, now=T0))

    @invariant()
    def books_balance(self):
        with self.db.unit_of_work() as s:
            for level in s.scalars(select(StockLevel)):
                assert 0 <= level.reserved <= level.on_hand
                moved = s.scalar(select(func.coalesce(func.sum(StockMovement.quantity), 0)).where(
                    StockMovement.location_id == level.location_id, StockMovement.product_id == level.product_id))
                assert moved == level.on_hand, "on-hand is the sum of its movements"
                held = s.scalar(select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
                    Reservation.location_id == level.location_id, Reservation.product_id == level.product_id,
                    Reservation.status == "active"))
                assert held == level.reserved, "reserved is the sum of active reservations"


InventoryBooks.TestCase.settings = settings(max_examples=60, stateful_step_count=25, deadline=None,
                                            suppress_health_check=list(HealthCheck))
test_the_stock_books_always_balance = InventoryBooks.TestCase
