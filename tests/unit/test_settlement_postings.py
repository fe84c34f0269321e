"""Posting rules of the money ledger on hand-checked numbers: the fee and the net always add up to the
gross, reversals in proportion reach exactly the original, statements add up to the cent."""

from datetime import UTC, datetime

import pytest

from oao.settlement import postings as p
from oao.settlement import statements as st

T = datetime(2026, 11, 1, tzinfo=UTC)


def legs_as_tuples(legs):
    return [(l.kind, l.debit, l.credit, l.amount) for l in legs]


def test_a_wallet_sale_owes_the_merchant_the_gross_less_a_three_percent_fee():
    legs = p.sale_legs(merchant_id="mer_a", gross=10_000, fee_bps=300)
    assert legs_as_tuples(legs) == [("sale", "operator:cash", "merchant:mer_a", 10_000),
                                    ("platform_fee", "merchant:mer_a", "operator:fees", 300)]


@pytest.mark.parametrize(("gross", "bps", "fee"), [
    (3_333, 300, 100),   # 99.99 rounds up to 100
    (1_650, 300, 50),    # 49.5: half a fen rounds up
    (1_649, 300, 49),    # 49.47 rounds down
    (1, 300, 0),         # 0.03 of a fen: no fee, and no zero-amount entry
    (10_000, 0, 0),
    (10_000, 10_000, 10_000),
])
def test_the_fee_rounds_half_up_and_fee_plus_net_is_the_gross(gross, bps, fee):
    assert p.bps_of(gross, bps) == fee
    legs = p.sale_legs(merchant_id="m", gross=gross, fee_bps=bps)
    net = sum(p.signed_for("merchant:m", debit=l.debit, credit=l.credit, amount=l.amount) for l in legs)
    assert net + fee == gross
    assert all(l.amount > 0 for l in legs)


def test_a_rate_outside_0_to_10000_basis_points_is_refused():
    with pytest.raises(p.PostingError):
        p.bps_of(100, 10_001)


def test_partial_refunds_give_the_fee_back_in_proportion_and_a_full_refund_gives_it_all_back():
    share = p.Collected("m", gross=10_001, fee=300)
    first = p.refund_legs([share], refunded_after=3_333)
    # fee back = floor(300 * 3333 / 10001) = floor(99.98) = 99
    assert legs_as_tuples(first) == [("refund", "merchant:m", "operator:cash", 3_333),
                                     ("platform_fee_refund", "operator:fees", "merchant:m", 99)]
    share = p.Collected("m", gross=10_001, fee=300, refunded=3_333, fee_refunded=99)
    rest = p.refund_legs([share], refunded_after=10_001)
    assert legs_as_tuples(rest) == [("refund", "merchant:m", "operator:cash", 6_668),
                                    ("platform_fee_refund", "operator:fees", "merchant:m", 201)]


def test_a_refund_of_a_checkout_payment_splits_over_the_sellers_by_largest_remainder():
    shares = [p.Collected("a", gross=1, fee=0), p.Collected("b", gross=1, fee=0), p.Collected("c", gross=1, fee=0)]
    legs = p.refund_legs(shares, refunded_after=2)
    # 2 over three equal shares: 0.67 each -> largest remainders, ties to the first: 1, 1, 0
    assert [(l.debit, l.amount) for l in legs] == [("merchant:a", 1), ("merchant:b", 1)]
    assert sum(p.split_gross(10_000, [3_333, 3_333, 3_334])) == 10_000


def test_the_referral_commission_is_basis_points_of_the_goods_paid_by_the_seller_to_the_referrer():
    assert legs_as_tuples(p.commission_legs(seller_id="s", referrer_id="r", basis=12_345, bps=800)) == [
        ("referral_commission", "merchant:s", "merchant:r", 988)]  # 987.6 -> 988
    assert p.commission_legs(seller_id="s", referrer_id="s", basis=12_345, bps=800) == []


def test_the_pickup_fee_is_paid_by_the_guest_seller_to_the_host():
    assert legs_as_tuples(p.pickup_fee_legs(seller_id="g", host_id="h", fee=500)) == [
        ("pickup_fee", "merchant:g", "merchant:h", 500)]
    assert p.pickup_fee_legs(seller_id="h", host_id="h", fee=500) == []


def test_returns_reverse_cumulatively_and_a_full_return_reverses_exactly_the_original():
    # commission 1000 on goods 10001; returns of 3333, then 3334, then the last 3334
    first = p.reversal_due(original=1_000, basis=10_001, returned_after=3_333, reversed_before=0)
    second = p.reversal_due(original=1_000, basis=10_001, returned_after=6_667, reversed_before=first)
    third = p.reversal_due(original=1_000, basis=10_001, returned_after=10_001, reversed_before=first + second)
    assert (first, second, third) == (333, 333, 334)
    legs = p.reversal_legs(kind=p.PICKUP_FEE, debit="merchant:g", credit="merchant:h", due=166, original_id="e1")
    assert legs_as_tuples(legs) == [("pickup_fee_reversal", "merchant:h", "merchant:g", 166)]


def test_points_funding_moves_from_issuer_to_acceptor_and_a_negative_reversal_moves_back():
    assert legs_as_tuples(p.points_legs(kind="redemption", debtor_id="i", creditor_id="a", amount=250)) == [
        ("points_redemption", "merchant:i", "merchant:a", 250)]
    assert legs_as_tuples(p.points_legs(kind="redemption_reversal", debtor_id="i", creditor_id="a", amount=-80)) == [
        ("points_redemption_reversal", "merchant:a", "merchant:i", 80)]
    assert legs_as_tuples(p.points_legs(kind="conversion", debtor_id="i", creditor_id=None, amount=7)) == [
        ("points_conversion", "merchant:i", "operator:points", 7)]


@pytest.mark.parametrize("code", ["merchant:", "operator:bank", "cash", "merchant:a b", "partner:" + "x" * 81])
def test_unknown_account_codes_are_refused(code):
    with pytest.raises(p.PostingError):
        p.check_account(code)


def test_a_statement_runs_the_balance_and_its_totals_add_up_to_the_closing_balance():
    rows = [st.EntryRow("e1", "sale", "operator:cash", "merchant:m", 10_000, "pi_1", T),
            st.EntryRow("e2", "platform_fee", "merchant:m", "operator:fees", 300, "pi_1", T),
            st.EntryRow("e3", "referral_commission", "merchant:m", "merchant:r", 800, "ord_1", T),
            st.EntryRow("e4", "refund", "merchant:m", "operator:cash", 2_500, "pi_1", T)]
    s = st.build(merchant_id="m", merchant_name="Shop <M>", account="merchant:m", currency="CNY", start=T, end=T,
                 opening_minor=-150, rows=rows)
    assert [l.balance_minor for l in s.lines] == [9_850, 9_550, 8_750, 6_250]
    assert s.totals_by_kind == {"sale": 10_000, "platform_fee": -300, "referral_commission": -800, "refund": -2_500}
    assert s.closing_minor == -150 + sum(s.totals_by_kind.values()) == 6_250
    assert s.proceeds_minor == 7_500
    csv_text = st.to_csv(s)
    assert csv_text.splitlines()[-1].startswith("closing,") and ",6250,CNY" in csv_text.splitlines()[-1]
    page = st.to_html(s)
    assert "Shop &lt;M&gt;" in page and "Shop <M>" not in page and "62.50 CNY" in page and "-1.50" in page


def test_the_settlement_run_sums_positions_of_merchants_only():
    positions = st.run([("merchant:m", "CNY", 100), ("operator:cash", "CNY", -100)],
                       [("sale", "operator:cash", "merchant:m", 1_000, "CNY"),
                        ("pickup_fee", "merchant:m", "merchant:h", 50, "CNY")])
    assert set(positions) == {("merchant:m", "CNY"), ("merchant:h", "CNY")}
    assert positions[("merchant:m", "CNY")].closing_minor == 1_050
    assert positions[("merchant:h", "CNY")].totals_by_kind == {"pickup_fee": 50}


def test_money_formats_minor_units_exactly():
    assert (st.money(0), st.money(5), st.money(-105), st.money(123456789)) == ("0.00", "0.05", "-1.05",
                                                                               "1234567.89")
