"""Whatever sales, referrals, partner pickups, partial returns and refunds happen, and whenever the worker
runs (between steps, twice in a row, or only at the end), the money ledger stays right: debits equal
credits, every fee + net equals its gross, ledger proceeds reconcile to the captured payments to the cent,
each statement's closing balance is its opening plus its totals and equals the ledger, and what came back
in full is reversed in full. Payments go through the payments service; order events carry the interface-B
payload explicitly (see test_settlement_ledger.py)."""

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from oao.core.ids import new_id
from oao.settlement import book
from oao.settlement import postings as p
from oao.settlement import service as settlement
from oao.settlement.models import LedgerEntry
from tests import factories as f
from tests.conftest import T0
from tests.integration.test_settlement_ledger import completed, refund, returned, wallet_payment

sales = st.lists(st.fixed_dictionaries({
    "gross": st.integers(1, 100_000),
    "bps": st.one_of(st.none(), st.integers(0, 3_000)),
    "pickup": st.booleans(),
    "returns": st.lists(st.integers(1, 100_000), max_size=3),
    "post_between": st.booleans(),
}), min_size=1, max_size=4)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(sales=sales, fee_bps=st.integers(0, 1_000), pickup_fee=st.integers(0, 2_000))
def test_random_sales_and_refunds_keep_the_books_balanced_and_reconciled(db, sales, fee_bps, pickup_fee):
    now = T0
    with db.unit_of_work() as s:
        seller, referrer, host = (f.merchant(s, name, at=T0) for name in ("Seller", "Referrer", "Host"))
        f.pickup_agreement(s, host, seller, at=T0 - timedelta(days=1), fee=pickup_fee)
    fully_returned: list[str] = []

    def post() -> None:
        with db.unit_of_work() as s:
            settlement.post_from_outbox(s, now=now, fee_bps=fee_bps)

    for sale in sales:
        now += timedelta(minutes=1)
        order_id = new_id("ord")
        with db.unit_of_work() as s:
            intent = wallet_payment(s, seller, sale["gross"], now=now)
            completed(s, seller, order_id, subtotal=sale["gross"], now=now,
                      referrer=referrer if sale["bps"] is not None else None, bps=sale["bps"],
                      pickup_host=host if sale["pickup"] else None)
        if sale["post_between"]:
            post()
        left = sale["gross"]
        for n, amount in enumerate(sale["returns"]):
            amount = min(amount, left)
            if amount == 0:
                break
            left -= amount
            now += timedelta(minutes=1)
            with db.unit_of_work() as s:
                returned(s, seller, order_id, amount, now=now, return_id=f"{order_id}-r{n}")
                refund(s, intent, amount, refund_id=f"{order_id}-r{n}", now=now)
            if sale["post_between"]:
                post()
        if left == 0:
            fully_returned.append(order_id)
            fully_returned.append(intent)
    post()
    post()  # a second run finds nothing new

    with db.read() as s:
        debits = s.scalar(select(func.sum(LedgerEntry.amount_minor))) or 0
        assert sum(book.balances(s).values()) == 0 and debits >= 0  # every entry is one debit and one credit
        assert s.scalar(select(func.count()).where(LedgerEntry.amount_minor <= 0)) == 0
        for sale_entry in s.scalars(select(LedgerEntry).where(LedgerEntry.kind == p.SALE,
                                                               LedgerEntry.credit_account == f"merchant:{seller.id}")):
            fee = -book.signed_sum_by(s, account=sale_entry.credit_account, kinds=(p.PLATFORM_FEE,),
                                      reference=sale_entry.reference)
            assert fee == p.bps_of(sale_entry.amount_minor, fee_bps)  # fee + net = gross
        for reference in fully_returned:  # what came back in full is reversed in full, to the cent
            for account in (f"merchant:{x.id}" for x in (seller, referrer, host)):
                assert book.signed_sum_by(s, account=account, kinds=tuple(
                    k for k in (p.SALE, p.PLATFORM_FEE, p.REFUND, p.PLATFORM_FEE_REFUND, *p.REVERSAL_OF,
                                *p.REVERSAL_OF.values())), reference=reference) == 0
        rec = settlement.reconciliation(s, merchant_id=seller.id)
        assert rec.differences == [] and rec.unbalanced_currencies == []
        for merchant in (seller, referrer, host):
            statement = settlement.statement(s, merchant_id=merchant.id, start=T0 - timedelta(days=1),
                                             end=now + timedelta(days=1))
            assert statement.closing_minor == statement.opening_minor + sum(statement.totals_by_kind.values())
            assert statement.closing_minor == book.balance(s, account=f"merchant:{merchant.id}", currency="CNY")
            check = settlement.check_statement(s, statement)
            assert check.captured_minor == check.proceeds_minor
