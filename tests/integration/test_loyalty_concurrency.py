"""Several checkouts spending one member's points at the same moment never
overdraw her balance, on SQLite and PostgreSQL: the balance condition lives in
the UPDATE, so the database orders the racers and the late ones are refused."""

import threading

from oao.core.auth import Principal, Role
from oao.loyalty import service as loyalty
from oao.loyalty.models import Account
from oao.loyalty.transfers import InsufficientPoints, TransferSpec
from tests import factories as f
from tests.conftest import T0

ADMIN = Principal(kind="api_key", id="key_admin", name="operator", role=Role.NETWORK_ADMIN, merchant_id=None)
THREADS = 8


def _race(n, work):
    barrier = threading.Barrier(n)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run(i):
        barrier.wait()
        try:
            work(i)
            result = "ok"
        except InsufficientPoints:
            result = "refused"
        except Exception as exc:  # anything else is a bug the assertion below shows
            result = repr(exc)
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def _member_with_points(db, points):
    with db.unit_of_work() as s:
        shop = f.merchant(s, "Cinema", at=T0)
        programme = loyalty.network_programme(s)
        loyalty.grant_points(s, principal=ADMIN, grant_id="welcome", member_id="mem_ann",
                             programme_id=programme.id, points=points, reason="welcome", now=T0)
        return shop.id, programme.id


def test_concurrent_holds_on_one_balance_never_overdraw_it(db):
    shop, programme = _member_with_points(db, 100)

    def hold(i):
        with db.unit_of_work() as s:
            loyalty.hold_points(s, hold_id=f"chk_{i}", member_id="mem_ann", programme_id=programme, points=30,
                                accepting_merchant_id=shop, now=T0)

    outcomes = _race(THREADS, hold)
    assert sorted(outcomes) == ["ok"] * 3 + ["refused"] * (THREADS - 3)
    with db.unit_of_work() as s:
        [balance] = loyalty.balances(s, member_id="mem_ann")
        assert (balance.available, balance.held) == (10, 90)


def test_concurrent_direct_transfers_from_one_balance_never_overdraw_it(db):
    shop, programme = _member_with_points(db, 50)
    with db.unit_of_work() as s:
        member = loyalty.member_account(s, programme_id=programme, member_id="mem_ann", now=T0)
        redemption = s.query(Account).filter_by(programme_id=programme, kind="issuance").one().id

    def spend(i):
        with db.unit_of_work() as s:
            loyalty.create_transfers(s, transfers=[TransferSpec(
                id=f"spend_{i}", programme_id=programme, debit_account_id=member, credit_account_id=redemption,
                amount=20, code="spend")], now=T0)

    outcomes = _race(THREADS, spend)
    assert sorted(outcomes) == ["ok"] * 2 + ["refused"] * (THREADS - 2)
    with db.unit_of_work() as s:
        row = loyalty.account_balance(s, account_id=member)
        assert row.credits_posted - row.debits_posted - row.debits_pending == 10
