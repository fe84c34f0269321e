"""Posting rules of the points ledger: what each kind of transfer writes, the
balance limit, point values, conversion rounding, proportional splits and
oldest-first lot allocation."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oao.loyalty.ledger import (
    Balance,
    Kind,
    LedgerError,
    Lot,
    PendingRef,
    PointValue,
    allocate,
    apply,
    convert,
    postings,
    proportional_target,
    split_proportional,
    tier_for,
)


def test_a_single_phase_transfer_posts_both_sides_in_account_order():
    legs = postings(kind=Kind.SINGLE, debit_account_id="lac_b", credit_account_id="lac_a", amount=7,
                    debit_limited=True)
    assert [leg.account_id for leg in legs] == ["lac_a", "lac_b"], "locks are taken in id order"
    credit, debit = legs
    assert (debit.debits_posted, debit.debit_limit_increase, credit.credits_posted) == (7, 7, 7)


def test_a_member_balance_cannot_go_negative_and_pending_debits_count_as_spent():
    member = Balance(credits_posted=10, debits_must_not_exceed_credits=True)
    [hold, _] = postings(kind=Kind.PENDING, debit_account_id="a", credit_account_id="b", amount=8, debit_limited=True)
    held = apply(member, hold)
    assert (held.available, held.debits_pending) == (2, 8)
    [spend, _] = postings(kind=Kind.SINGLE, debit_account_id="a", credit_account_id="b", amount=3,
                          debit_limited=True)
    with pytest.raises(LedgerError):
        apply(held, spend)


def test_a_post_of_fewer_points_releases_the_rest_and_a_void_releases_all():
    pending = PendingRef("a", "b", 10)
    member = Balance(credits_posted=10, debits_pending=10, debits_must_not_exceed_credits=True)
    [post, credit] = postings(kind=Kind.POST, debit_account_id="a", credit_account_id="b", amount=6,
                              debit_limited=True, pending=pending)
    assert apply(member, post).available == 4
    assert (credit.credits_pending, credit.credits_posted) == (-10, 6)
    [void, _] = postings(kind=Kind.VOID, debit_account_id="a", credit_account_id="b", amount=0,
                         debit_limited=True, pending=pending)
    assert apply(member, void).available == 10
    with pytest.raises(LedgerError):
        postings(kind=Kind.POST, debit_account_id="a", credit_account_id="b", amount=11, debit_limited=True,
                 pending=pending)


@pytest.mark.parametrize("amount", [0, -1, 2**63, True])
def test_amounts_are_positive_whole_points_that_fit_a_bigint(amount):
    with pytest.raises(LedgerError):
        postings(kind=Kind.SINGLE, debit_account_id="a", credit_account_id="b", amount=amount, debit_limited=False)


def test_a_transfer_needs_two_accounts():
    with pytest.raises(LedgerError):
        postings(kind=Kind.SINGLE, debit_account_id="a", credit_account_id="a", amount=1, debit_limited=False)


def test_points_pay_at_most_their_value_and_a_price_needs_enough_points():
    value = PointValue(value_minor=5, per_points=3)  # 3 points pay 0.05
    assert value.value_of(10) == 16
    assert value.points_for(16) == 10
    assert value.points_for(17) == 11


def test_conversion_rounds_in_the_operators_favour():
    assert convert(99, rate_num=1, rate_den=2) == 49
    assert convert(3, rate_num=2, rate_den=3) == 2


@given(st.integers(0, 10**6), st.lists(st.integers(0, 1000), min_size=1, max_size=8))
def test_a_proportional_split_adds_up_exactly(total, weights):
    parts = split_proportional(total, weights)
    if sum(weights):
        assert sum(parts) == total
        assert all(p >= 0 for p in parts)
    else:
        assert parts == [0] * len(weights)


def test_cumulative_proportions_never_pass_the_whole():
    assert proportional_target(100, 150, 100) == 100
    assert proportional_target(100, 33, 100) + (proportional_target(100, 100, 100)
                                                - proportional_target(100, 33, 100)) == 100


def test_lots_are_spent_soonest_to_expire_first_or_a_named_lot_first():
    lots = [Lot("new", 5, (3,)), Lot("old", 4, (1,)), Lot("mid", 4, (2,))]
    assert allocate(lots, 6) == [("old", 4), ("mid", 2)]
    assert allocate(lots, 6, first="new") == [("new", 5), ("old", 1)]
    with pytest.raises(LedgerError):
        allocate(lots, 14)


def test_the_highest_tier_reached_wins():
    tiers = [("Silver", 100), ("Gold", 1000)]
    assert [tier_for(s, tiers) for s in (99, 100, 5000)] == [None, "Silver", "Gold"]
