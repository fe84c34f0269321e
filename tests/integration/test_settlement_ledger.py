"""Money between merchants, from real payments and interface-B order events to statements that reconcile.

Payments go through the payments service (wallet intents paid and refunded). The `order.completed` and
`order.returned` events are recorded explicitly with the interface-B payload (referrer, commission, pickup
merchant, subtotal), so these tests do not depend on the checkout work landing at the same time.
"""

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select, text

from oao.core.errors import Conflict, InvalidInput
from oao.core.outbox import record_event
from oao.loyalty.models import SettlementEntry as PointsEntry
from oao.payments import service as payments
from oao.settlement import book
from oao.settlement import service as settlement
from oao.settlement.models import LedgerEntry
from tests import factories as f
from tests.conftest import T0

DAY_START = T0.replace(hour=0)
DAY_END = DAY_START + timedelta(days=1)


def wallet_payment(s, merchant, amount, *, now):
    intent = payments.open_wallet_intent(s, merchant_id=merchant.id, amount_minor=amount, currency="CNY",
                                         provider="sandbox", flow="merchant_qr", expires_at=now + timedelta(minutes=15),
                                         now=now)
    assert payments.mark_paid(s, intent_id=intent.id, provider_trade_no=f"t-{intent.id}", now=now)
    return intent.id


def refund(s, intent_id, amount, *, refund_id, now):
    row, _ = payments.reserve_refund(s, intent_id=intent_id, refund_id=refund_id, amount_minor=amount,
                                     reason="returned goods", now=now)
    payments.record_refund_result(s, refund_pk=row.id, status="succeeded", message="", now=now)


def completed(s, seller, order_id, *, subtotal, now, referrer=None, bps=None, pickup_host=None):
    """order.completed with the interface-B payload."""
    record_event(s, type="order.completed", subject_id=order_id, merchant_id=seller.id, at=now, payload={
        "order_id": order_id, "status": "completed", "merchant_id": seller.id, "total_minor": subtotal,
        "subtotal_minor": subtotal, "fees_minor": 0, "currency": "CNY", "sale_ref": order_id, "member_id": None,
        "channel": "online", "lines": [], "checkout_id": None,
        "referrer_merchant_id": referrer.id if referrer else None, "referral_commission_bps": bps,
        "pickup_location_id": None, "pickup_merchant_id": pickup_host.id if pickup_host else None})


def returned(s, seller, order_id, goods, *, now, return_id):
    record_event(s, type="order.returned", subject_id=return_id, merchant_id=seller.id, at=now, payload={
        "return_id": return_id, "order_id": order_id, "sale_ref": order_id, "currency": "CNY",
        "goods_minor": goods, "money_refund_minor": goods, "refund_minor": goods, "lines": []})


def post(db, *, now=T0):
    with db.unit_of_work() as s:
        return settlement.post_from_outbox(s, now=now, fee_bps=300)


def balance(db, account):
    with db.read() as s:
        return book.balance(s, account=account, currency="CNY")


def entries(db):
    with db.read() as s:
        return {(e.kind, e.debit_account, e.credit_account, e.amount_minor)
                for e in s.scalars(select(LedgerEntry))}


def test_a_wallet_payment_owes_the_seller_the_gross_less_the_platform_fee(db):
    with db.unit_of_work() as s:
        shop = f.merchant(s, "Sweet Lane Bakery", at=T0)
        wallet_payment(s, shop, 10_000, now=T0)
        payments.record_in_store_payment(s, merchant_id=shop.id, amount_minor=4_000, currency="CNY", method="cash",
                                         now=T0)  # the merchant took it at its own till: nothing to the operator
    assert post(db) == 2
    m = f"merchant:{shop.id}"
    assert entries(db) == {("sale", "operator:cash", m, 10_000), ("platform_fee", m, "operator:fees", 300)}
    assert (balance(db, m), balance(db, "operator:fees"), balance(db, "operator:cash")) == (9_700, 300, -10_000)


def test_a_referral_commission_moves_from_the_seller_to_the_referring_merchant(db):
    with db.unit_of_work() as s:
        seller, kiosk = f.merchant(s, "Qiantang Online", at=T0), f.merchant(s, "Jade Petal Cosmetics", at=T0)
        completed(s, seller, "ord_lipgloss", subtotal=12_345, referrer=kiosk, bps=800, now=T0)
    post(db)
    # 8% of 123.45 = 9.876 -> 9.88
    assert entries(db) == {("referral_commission", f"merchant:{seller.id}", f"merchant:{kiosk.id}", 988)}


def test_a_partner_pickup_fee_accrues_to_the_host_under_the_agreement_in_force_when_ordered(db):
    with db.unit_of_work() as s:
        bakery, corner = f.merchant(s, "Sweet Lane Bakery", at=T0), f.merchant(s, "Daily Corner", at=T0)
        f.pickup_agreement(s, corner, bakery, at=T0 - timedelta(days=1), fee=350)
        completed(s, bakery, "ord_cake", subtotal=8_800, pickup_host=corner, now=T0)
        completed(s, bakery, "ord_own_store", subtotal=1_000, pickup_host=bakery, now=T0)  # own pickup: no fee
    post(db)
    assert entries(db) == {("pickup_fee", f"merchant:{bakery.id}", f"merchant:{corner.id}", 350)}


def test_a_partial_return_reverses_each_part_in_proportion_and_the_statement_reconciles_to_the_cent(db, client):
    with db.unit_of_work() as s:
        seller = f.merchant(s, "Qiantang Online", at=T0)
        kiosk, corner = f.merchant(s, "Jade Petal", at=T0), f.merchant(s, "Daily Corner", at=T0)
        f.pickup_agreement(s, corner, seller, at=T0 - timedelta(days=1), fee=500)
        intent = wallet_payment(s, seller, 10_001, now=T0)
        completed(s, seller, "ord_1", subtotal=10_001, referrer=kiosk, bps=1_000, pickup_host=corner,
                  now=T0 + timedelta(hours=1))
        admin = f.api_key(s, None, at=T0)
        seller_key = f.api_key(s, seller, at=T0)
    post(db)
    m, k, c = (f"merchant:{x.id}" for x in (seller, kiosk, corner))
    # fee 300 (300.03), commission 1000 (1000.1), pickup 500
    assert balance(db, m) == 10_001 - 300 - 1_000 - 500

    with db.unit_of_work() as s:  # a third of the goods come back and are refunded
        returned(s, seller, "ord_1", 3_333, now=T0 + timedelta(hours=2), return_id="ret_1")
        refund(s, intent, 3_333, refund_id="ret_1-0", now=T0 + timedelta(hours=2))
    post(db, now=T0 + timedelta(hours=2))
    with db.read() as s:
        kinds = {e.kind: e.amount_minor for e in s.scalars(select(LedgerEntry))
                 if e.kind.endswith(("refund", "reversal"))}
    # floor(300*3333/10001)=99, floor(1000*3333/10001)=333, floor(500*3333/10001)=166
    assert kinds == {"refund": 3_333, "platform_fee_refund": 99, "referral_commission_reversal": 333,
                     "pickup_fee_reversal": 166}
    assert balance(db, m) == 8_201 - 3_333 + 99 + 333 + 166
    assert (balance(db, k), balance(db, c)) == (1_000 - 333, 500 - 166)

    response = client.get("/api/v1/settlement/statements", headers=f.auth(seller_key),
                          params={"from": DAY_START.isoformat(), "to": DAY_END.isoformat()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["opening_minor"] == 0 and body["closing_minor"] == balance(db, m)
    assert sum(body["totals_by_kind"].values()) == body["closing_minor"] - body["opening_minor"]
    assert body["check"] == {"ledger_closing_minor": balance(db, m), "closing_matches_ledger": True,
                             "captured_minor": 10_001 - 3_333, "proceeds_minor": 10_001 - 3_333,
                             "reconciled_to_payments": True, "unposted_sources": 0}

    with db.unit_of_work() as s:  # the rest comes back: everything is reversed exactly
        returned(s, seller, "ord_1", 6_668, now=T0 + timedelta(hours=3), return_id="ret_2")
        refund(s, intent, 6_668, refund_id="ret_2-0", now=T0 + timedelta(hours=3))
    post(db, now=T0 + timedelta(hours=3))
    assert [balance(db, a) for a in (m, k, c, "operator:fees", "operator:cash")] == [0, 0, 0, 0, 0]
    rec = client.get("/api/v1/settlement/reconciliation", headers=f.auth(admin)).json()
    assert rec["ok"] is True and rec["unbalanced_currencies"] == []


def test_posting_is_exactly_once_across_repeated_runs_and_replayed_ids(db):
    with db.unit_of_work() as s:
        shop, other = f.merchant(s, "Blue Harbour Fresh", at=T0), f.merchant(s, "Jade Petal", at=T0)
        wallet_payment(s, shop, 2_000, now=T0)
        completed(s, shop, "ord_2", subtotal=2_000, referrer=other, bps=500, now=T0)
    assert post(db) == 2  # payment.succeeded and order.completed (intent_created is not ours)
    with db.read() as s:
        first = s.scalar(select(func.count()).select_from(LedgerEntry))
    assert (post(db), post(db, now=T0 + timedelta(minutes=5))) == (0, 0)
    with db.read() as s:
        assert s.scalar(select(func.count()).select_from(LedgerEntry)) == first == 3

    with db.unit_of_work() as s:  # a federated pickup fee reported twice, then with another amount
        for _ in range(2):
            settlement.record_entry(s, entry_id="fed:parcel-9", kind="pickup_fee", debit="partner:inst-b",
                                    credit=f"merchant:{shop.id}", amount_minor=350, currency="CNY",
                                    merchant_ids=[shop.id], reference="parcel-9", now=T0)
    with db.unit_of_work() as s, pytest.raises(Conflict):
        settlement.record_entry(s, entry_id="fed:parcel-9", kind="pickup_fee", debit="partner:inst-b",
                                credit=f"merchant:{shop.id}", amount_minor=351, currency="CNY",
                                merchant_ids=[shop.id], reference="parcel-9", now=T0)
    with db.unit_of_work() as s, pytest.raises(InvalidInput):  # merchant_ids must match the accounts
        settlement.record_entry(s, entry_id="fed:parcel-10", kind="pickup_fee", debit="partner:inst-b",
                                credit=f"merchant:{shop.id}", amount_minor=350, currency="CNY",
                                merchant_ids=[other.id], reference="parcel-10", now=T0)
    assert balance(db, f"merchant:{shop.id}") == 2_000 - 60 - 100 + 350


def test_an_unreadable_event_is_skipped_and_does_not_stop_the_events_behind_it(db):
    with db.unit_of_work() as s:
        seller, kiosk = f.merchant(s, "Qiantang Online", at=T0), f.merchant(s, "Jade Petal", at=T0)
        completed(s, seller, "ord_bad", subtotal=1_000, referrer=kiosk, bps=20_000, now=T0)  # 200 %: refused
        record_event(s, type="payment.succeeded", subject_id="pi_x", merchant_id=seller.id, at=T0,
                     payload={"intent_id": "pi_x", "amount_minor": "lots", "currency": "CNY", "provider": "sandbox"})
        completed(s, seller, "ord_good", subtotal=1_000, referrer=kiosk, bps=1_000, now=T0)
    assert (post(db), post(db)) == (3, 0)
    assert entries(db) == {("referral_commission", f"merchant:{seller.id}", f"merchant:{kiosk.id}", 100)}


def test_points_funding_from_loyalty_settlement_entries_is_posted_once_each_way(db):
    with db.unit_of_work() as s:
        issuer, acceptor = f.merchant(s, "Sweet Lane Bakery", at=T0), f.merchant(s, "Daily Corner", at=T0)
        for id_, kind, debtor, creditor, amount in (("lse_1", "redemption", issuer.id, acceptor.id, 250),
                                                    ("lse_2", "redemption_reversal", issuer.id, acceptor.id, -80),
                                                    ("lse_3", "conversion", issuer.id, None, 7)):
            s.add(PointsEntry(id=id_, programme_id="prg_x", kind=kind, debtor_merchant_id=debtor,
                              creditor_merchant_id=creditor, points=amount, amount_minor=amount, currency="CNY",
                              hold_id="hold_1", transfer_id="post:hold_1", reverses_entry_id=None, created_at=T0))
    assert (post(db), post(db)) == (3, 0)
    i, a = f"merchant:{issuer.id}", f"merchant:{acceptor.id}"
    assert entries(db) == {("points_redemption", i, a, 250), ("points_redemption_reversal", a, i, 80),
                           ("points_conversion", i, "operator:points", 7)}
    assert (balance(db, i), balance(db, a), balance(db, "operator:points")) == (-177, 170, 7)


def test_the_statement_csv_adds_up_to_the_ledger_and_other_merchants_cannot_read_it(db, client):
    with db.unit_of_work() as s:
        shop, other = f.merchant(s, "Sweet Lane Bakery", at=T0), f.merchant(s, "Daily Corner", at=T0)
        wallet_payment(s, shop, 5_000, now=T0 - timedelta(days=2))  # before the period: the opening balance
        for n, amount in enumerate((1_234, 999, 45_678)):
            wallet_payment(s, shop, amount, now=T0 + timedelta(minutes=n))
        completed(s, shop, "ord_3", subtotal=45_678, referrer=other, bps=250, now=T0 + timedelta(minutes=5))
        key, other_key = f.api_key(s, shop, at=T0), f.api_key(s, other, at=T0)
    post(db)
    params = {"from": DAY_START.date().isoformat(), "to": DAY_END.date().isoformat(), "format": "csv"}
    response = client.get("/api/v1/settlement/statements", headers=f.auth(key), params=params)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    opening = int(next(r for r in rows if r["row"] == "opening")["balance_minor"])
    closing = int(next(r for r in rows if r["row"] == "closing")["balance_minor"])
    lines = [int(r["amount_minor"]) for r in rows if r["row"] == "entry"]
    totals = {r["kind"]: int(r["amount_minor"]) for r in rows if r["row"] == "total"}
    assert opening == 5_000 - 150
    assert closing == opening + sum(lines) == opening + sum(totals.values()) == balance(db, f"merchant:{shop.id}")
    assert totals["sale"] == 1_234 + 999 + 45_678
    assert totals["platform_fee"] == -(37 + 30 + 1_370)  # 37.02, 29.97, 1370.34
    assert totals["referral_commission"] == -1_142  # 2.5% of 456.78 = 11.4195

    page = client.get("/api/v1/settlement/statements", headers=f.auth(key), params={**params, "format": "html"})
    assert page.status_code == 200 and "Sweet Lane Bakery" in page.text and "<table>" in page.text
    assert client.get("/api/v1/settlement/statements", headers=f.auth(other_key),
                      params={**params, "merchant_id": shop.id}).status_code == 404
    assert client.get("/api/v1/settlement/statements", headers=f.auth(key),
                      params={**params, "to": params["from"]}).status_code == 422


def test_the_reconciliation_reports_a_deliberately_broken_entry(db, client):
    with db.unit_of_work() as s:
        shop = f.merchant(s, "Blue Harbour Fresh", at=T0)
        intent = wallet_payment(s, shop, 7_700, now=T0)
        wallet_payment(s, shop, 1_000, now=T0)
        admin = f.api_key(s, None, at=T0)
    post(db)
    with db.read() as s:
        assert settlement.reconciliation(s).ok
    with db.unit_of_work() as s:  # someone edits the append-only table by hand
        s.execute(text("UPDATE settlement_entries SET amount_minor = amount_minor - 1 "
                       "WHERE kind = 'sale' AND reference = :ref"), {"ref": intent})
    body = client.get("/api/v1/settlement/reconciliation", headers=f.auth(admin)).json()
    assert body["ok"] is False
    [row] = body["rows"]
    assert (row["merchant_id"], row["expected_minor"], row["ledger_minor"], row["difference_minor"]) == (
        shop.id, 8_700, 8_699, -1)
    assert row["payments"] == [{"intent_id": intent, "expected_minor": 7_700, "ledger_minor": 7_699}]
    with db.read() as s:
        ok, report = settlement.reconciliation_text(s)
    assert not ok and f"payment {intent}: expected 7700, ledger 7699" in report


def test_the_settlement_run_gives_every_merchant_its_position_and_matches_the_ledger(db, client):
    with db.unit_of_work() as s:
        a, b = f.merchant(s, "A", at=T0), f.merchant(s, "B", at=T0)
        wallet_payment(s, a, 3_000, now=T0 - timedelta(days=1))
        wallet_payment(s, b, 4_000, now=T0)
        completed(s, b, "ord_4", subtotal=4_000, referrer=a, bps=1_000, now=T0)
        admin, key = f.api_key(s, None, at=T0), f.api_key(s, a, at=T0)
    post(db)
    params = {"from": DAY_START.isoformat(), "to": DAY_END.isoformat()}
    body = client.get("/api/v1/settlement/run", headers=f.auth(admin), params=params).json()
    positions = {p["merchant_id"]: p for p in body["positions"]}
    assert body["mismatches"] == []
    assert positions[a.id]["opening_minor"] == 2_910 and positions[a.id]["closing_minor"] == 2_910 + 400
    assert positions[b.id]["totals_by_kind"] == {"sale": 4_000, "platform_fee": -120, "referral_commission": -400}
    assert client.get("/api/v1/settlement/run", headers=f.auth(key), params=params).status_code == 403
