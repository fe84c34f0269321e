"""Whatever interleaving of earning, holds, posts, voids, expiry, returns,
conversions, duplicate and reordered deliveries and replays happens, the points
books stay right: in every programme total debits equal total credits (posted
and pending), no member balance is negative, each member's unspent lots add up
to her available balance, every account's totals are the sum of its transfers,
and replaying an applied transfer changes nothing. Hypothesis drives the real
service on a SQLite file, and on PostgreSQL when it is configured."""

import itertools
import os
import tempfile
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select, text

from oao.core.auth import Principal, Role
from oao.core.db import Database
from oao.core.errors import Conflict, Gone, InvalidInput, InvalidState
from oao.core.outbox import record_event
from oao.loyalty import accrual
from oao.loyalty import service as loyalty
from oao.loyalty.ledger import Kind
from oao.loyalty.models import Account, Hold, Lot, Transfer
from oao.loyalty.transfers import InsufficientPoints, TransferSpec
from oao.models import Base
from tests import factories as f
from tests.conftest import T0

ADMIN = Principal(kind="api_key", id="key_admin", name="operator", role=Role.NETWORK_ADMIN, merchant_id=None)
MEMBERS = ("mem_ann", "mem_bob")
REFUSALS = (InsufficientPoints, InvalidState, Gone, InvalidInput)
_counter = itertools.count()


def totals(s):
    """Every account's four totals, to compare before and after a replay."""
    return {a.id: (a.debits_pending, a.debits_posted, a.credits_pending, a.credits_posted)
            for a in s.scalars(select(Account))}


class PointsBooks(RuleBasedStateMachine):
    database_url: str | None = None  # PostgreSQL when set, else a fresh SQLite file

    def __init__(self) -> None:
        super().__init__()
        self.dir = tempfile.TemporaryDirectory()
        if self.database_url is None:
            self.db = Database(f"sqlite:///{Path(self.dir.name) / 'points.sqlite3'}")
            Base.metadata.create_all(self.db.engine)
        else:
            self.db = Database(self.database_url, pool_size=2)
            tables = ", ".join(f'"{t.name}"' for t in Base.metadata.sorted_tables)
            with self.db.engine.begin() as conn:
                conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        self.now = T0
        with self.db.unit_of_work() as s:
            a, b = f.merchant(s, "Bakery", at=T0), f.merchant(s, "Cinema", at=T0)
            self.merchants = [a.id, b.id]
            network = loyalty.create_programme(s, principal=ADMIN, merchant_id=None, name="Mall points",
                                               currency="CNY", value_minor=10, value_points=1, expiry_days=30,
                                               tiers=[], now=T0)
            loyalty.create_rule(s, principal=ADMIN, programme_id=network.id, merchant_id=None, name="all",
                                points=1, per_minor=100, now=T0)
            own = loyalty.create_programme(s, principal=ADMIN, merchant_id=a.id, name="Bakery points",
                                           currency="CNY", value_minor=5, value_points=1, expiry_days=10, tiers=[],
                                           now=T0)
            loyalty.create_rule(s, principal=ADMIN, programme_id=own.id, merchant_id=a.id, name="bakery",
                                points=3, per_minor=100, cap_points=400, cap_period="day", now=T0)
            loyalty.publish_conversion_rate(s, principal=ADMIN, programme_id=own.id, network_points=2, per_points=3)
            self.programmes = [network.id, own.id]
        self.events: list[tuple[str, dict, object]] = []  # (event id, payload, at) for redelivery
        self.sales: list[tuple[str, int]] = []  # (sale_ref, total) that can be returned
        self.holds: list[str] = []

    def teardown(self) -> None:
        self.db.dispose()
        self.dir.cleanup()

    def _try(self, action, also: tuple[type[Exception], ...] = ()):
        try:
            with self.db.unit_of_work() as s:
                result = action(s)
            event(f"{action.__qualname__.split('.')[1]}: done")
            return result
        except REFUSALS + also as exc:
            event(f"{action.__qualname__.split('.')[1]}: refused ({type(exc).__name__})")
            return None  # refused, and rolled back: the invariants check nothing leaked

    # --- earning ----------------------------------------------------------------------------

    @rule(member=st.sampled_from(MEMBERS), merchant=st.integers(0, 1), amount=st.integers(1, 30_000),
          channel=st.sampled_from(["till", "online", "self_checkout"]), accrue_now=st.booleans())
    def sale(self, member, merchant, amount, channel, accrue_now):
        ref = f"sale_{next(_counter)}"
        payload = {"member_id": member, "merchant_id": self.merchants[merchant], "location_id": None,
                   "channel": channel, "currency": "CNY", "total_minor": amount, "sale_ref": ref,
                   "lines": [{"product_id": "p", "category": None, "quantity": 1, "amount_minor": amount}]}
        with self.db.unit_of_work() as s:
            event = record_event(s, type="order.completed", subject_id=ref, merchant_id=payload["merchant_id"],
                                 payload=payload, at=self.now)
            self.events.append((event.id, payload, self.now))
        self.sales.append((ref, amount))
        if accrue_now:  # otherwise it waits, and a later batch handles several events in one go
            self.accrue()

    @rule()
    def accrue(self):
        with self.db.unit_of_work() as s:
            loyalty.accrue_from_outbox(s, now=self.now)

    @precondition(lambda self: self.events)
    @rule(data=st.data())
    def redeliver_a_sale(self, data):
        """A duplicate delivery, possibly after later events were handled (reordered)."""
        event_id, payload, at = data.draw(st.sampled_from(self.events))
        with self.db.unit_of_work() as s:
            loyalty.accrue_sale(s, event_id=event_id, facts=accrual.sale_facts(payload), at=at, now=self.now)

    # --- spending ---------------------------------------------------------------------------

    @rule(member=st.sampled_from(MEMBERS), programme=st.integers(0, 1), points=st.integers(1, 120),
          merchant=st.integers(0, 1))
    def hold(self, member, programme, points, merchant):
        hold_id = f"hold_{next(_counter)}"
        sale_ref = f"order_{hold_id}"
        if self._try(lambda s: loyalty.hold_points(s, hold_id=hold_id, member_id=member,
                                                   programme_id=self.programmes[programme], points=points,
                                                   accepting_merchant_id=self.merchants[merchant], now=self.now,
                                                   sale_ref=sale_ref)):
            self.holds.append(hold_id)
            self.sales.append((sale_ref, points * 10))

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), fraction=st.integers(1, 100), twice=st.booleans())
    def post(self, data, fraction, twice):
        hold_id = data.draw(st.sampled_from(self.holds))

        def act(s):
            held = loyalty.get_hold(s, hold_id=hold_id).points
            points = max(1, held * fraction // 100)
            loyalty.post_hold(s, hold_id=hold_id, points=points, now=self.now)
            if twice:
                loyalty.post_hold(s, hold_id=hold_id, points=points, now=self.now)

        self._try(act, also=(Conflict,))  # posted before with another amount: a conflict, not a second post

    @precondition(lambda self: self.holds)
    @rule(data=st.data(), twice=st.booleans())
    def void(self, data, twice):
        hold_id = data.draw(st.sampled_from(self.holds))

        def act(s):
            loyalty.void_hold(s, hold_id=hold_id, now=self.now)
            if twice:
                loyalty.void_hold(s, hold_id=hold_id, now=self.now)

        self._try(act)

    @precondition(lambda self: self.holds)
    @rule(data=st.data())
    def retry_a_hold(self, data):
        hold_id = data.draw(st.sampled_from(self.holds))

        def act(s):
            hold = loyalty.get_hold(s, hold_id=hold_id)
            again = loyalty.hold_points(s, hold_id=hold_id, member_id=hold.member_id, programme_id=hold.programme_id,
                                        points=hold.points, accepting_merchant_id=hold.accepting_merchant_id,
                                        now=self.now)
            assert again.id == hold.id

        self._try(act)

    @rule(member=st.sampled_from(MEMBERS), points=st.integers(1, 100))
    def convert(self, member, points):
        self._try(lambda s: loyalty.convert_to_network(s, conversion_id=f"cnv_{next(_counter)}", member_id=member,
                                                       programme_id=self.programmes[1], points=points, now=self.now))

    @precondition(lambda self: self.sales)
    @rule(data=st.data(), share=st.integers(1, 100))
    def give_back(self, data, share):
        ref, total = data.draw(st.sampled_from(self.sales))
        returned = max(1, total * share // 100)
        self._try(lambda s: loyalty.reverse_for_return(s, return_id=f"ret_{next(_counter)}", sale_ref=ref,
                                                       returned_minor=returned, sale_total_minor=total,
                                                       now=self.now))

    @rule(days=st.integers(0, 12), minutes=st.integers(0, 30))
    def time_passes(self, days, minutes):
        self.now += timedelta(days=days, minutes=minutes)
        with self.db.unit_of_work() as s:
            loyalty.void_expired_holds(s, now=self.now)
        with self.db.unit_of_work() as s:
            loyalty.expire_due_points(s, now=self.now)

    # --- replays ----------------------------------------------------------------------------

    @rule(data=st.data(), change=st.booleans())
    def replay_a_transfer(self, data, change):
        """Resubmitting any applied transfer is a no-op; with another amount it is a conflict."""
        with self.db.unit_of_work() as s:
            ids = s.scalars(select(Transfer.id).order_by(Transfer.seq)).all()
        if not ids:
            return
        transfer_id = data.draw(st.sampled_from(ids))
        with self.db.unit_of_work() as s:
            before = totals(s)
            t = s.get(Transfer, transfer_id)
            spec = TransferSpec(id=t.id, programme_id=t.programme_id, debit_account_id=t.debit_account_id,
                                credit_account_id=t.credit_account_id, amount=t.amount + (1 if change else 0),
                                code=t.code, kind=Kind(t.kind), pending_id=t.pending_id, reference=t.reference,
                                timeout_at=t.timeout_at)
            try:
                [applied] = loyalty.create_transfers(s, transfers=[spec], now=self.now)
                assert not change or t.kind == "void", "a different body must conflict"
                assert not applied.created
            except (Conflict, InvalidInput):
                assert change
            assert totals(s) == before, "a replay changed balances"

    # --- invariants -------------------------------------------------------------------------

    @invariant()
    def books_balance(self):
        with self.db.unit_of_work() as s:
            for programme_id in self.programmes:
                sums = s.execute(select(func.coalesce(func.sum(Account.debits_posted), 0),
                                        func.coalesce(func.sum(Account.credits_posted), 0),
                                        func.coalesce(func.sum(Account.debits_pending), 0),
                                        func.coalesce(func.sum(Account.credits_pending), 0))
                                 .where(Account.programme_id == programme_id)).one()
                assert sums[0] == sums[1], "posted debits equal posted credits"
                assert sums[2] == sums[3], "pending debits equal pending credits"
            recomputed: dict[str, list[int]] = {}
            held = {t.id: t.amount for t in s.scalars(select(Transfer).where(Transfer.kind == "pending"))}
            for t in s.scalars(select(Transfer)):
                dr = recomputed.setdefault(t.debit_account_id, [0, 0, 0, 0])
                cr = recomputed.setdefault(t.credit_account_id, [0, 0, 0, 0])
                if t.kind == "pending":
                    dr[0] += t.amount
                    cr[2] += t.amount
                elif t.kind in ("post", "void"):
                    dr[0] -= held[t.pending_id]
                    cr[2] -= held[t.pending_id]
                    dr[1] += t.amount
                    cr[3] += t.amount
                else:
                    dr[1] += t.amount
                    cr[3] += t.amount
            for account in s.scalars(select(Account)):
                expected = recomputed.get(account.id, [0, 0, 0, 0])
                assert [account.debits_pending, account.debits_posted, account.credits_pending,
                        account.credits_posted] == expected, "an account's totals are the sum of its transfers"
                if account.kind == "member":
                    available = account.credits_posted - account.debits_posted - account.debits_pending
                    assert available >= 0, "a member balance is never negative"
                    in_lots = s.scalar(select(func.coalesce(func.sum(Lot.remaining), 0))
                                       .where(Lot.account_id == account.id))
                    assert in_lots == available, "unspent lots add up to the available balance"
                    pending = s.scalar(select(func.coalesce(func.sum(Hold.points), 0)).where(
                        Hold.account_id == account.id, Hold.status == "pending"))
                    assert pending == account.debits_pending, "pending debits are the open holds"


SETTINGS = settings(max_examples=80, stateful_step_count=30, deadline=None, suppress_health_check=list(HealthCheck))
PointsBooks.TestCase.settings = SETTINGS
test_the_points_books_always_balance_on_sqlite = pytest.mark.slow(PointsBooks.TestCase)


@pytest.fixture
def points_books_on_postgresql(pg_url):
    if pg_url is None:
        pytest.skip("PostgreSQL not configured (set OAO_TEST_PG_URL or use scripts/test)")

    class OnPostgres(PointsBooks):
        database_url = pg_url

    OnPostgres.TestCase.settings = settings(SETTINGS, max_examples=int(os.environ.get("OAO_LEDGER_PG_EXAMPLES", 15)))
    return OnPostgres


@pytest.mark.slow
def test_the_points_books_always_balance_on_postgresql(points_books_on_postgresql):
    points_books_on_postgresql.TestCase().runTest()

