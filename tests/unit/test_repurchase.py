"""The repurchase-interval model's arithmetic on tiny, hand-checked purchase histories."""

from __future__ import annotations

import dataclasses
import math
from datetime import UTC, datetime, timedelta

import pytest

pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")

from oao.insights.models import DueItem  # noqa: E402
from oao.insights.repurchase import DueRow, RepurchaseParams, fit_repurchase  # noqa: E402
from oao.insights.repurchase_eval import average_precision, best_f1_threshold  # noqa: E402

BASE = datetime(2024, 1, 1, 10, 0, tzinfo=UTC)
FIXED_K = RepurchaseParams(prior_strength=1.0)


def lines(*purchases: tuple[str, str, float], **extra_columns) -> pd.DataFrame:
    """(member, product, day offset from BASE) -> a lines frame with the `lines_frame` columns."""
    frame = pd.DataFrame({
        "occurred_at": pd.to_datetime([BASE + timedelta(days=d) for _, _, d in purchases], utc=True),
        "location_id": "loc_1",
        "channel": "pos",
        "product_id": [p for _, p, _ in purchases],
        "member_id": [m for m, _, _ in purchases],
        "basket_ref": [f"b{i}" for i in range(len(purchases))],
        "quantity": 1,
        "amount_minor": 100,
        "kind": "sale",
    })
    for name, values in extra_columns.items():
        frame[name] = values
    return frame


def row(model, member: str, product: str) -> pd.Series:
    frame = model.frame()
    found = frame[(frame.member_id == member) & (frame.product_id == product)]
    assert len(found) == 1, f"{member} x {product} not fitted"
    return found.iloc[0]


def lognormal_cdf(x: float, mu: float, sigma: float) -> float:
    return 0.5 * (1.0 + math.erf((math.log(x) - mu) / (sigma * math.sqrt(2.0))))


# Milk: ann every 7 days, bob once after 10 days, cleo once. Cake: ann once, nobody again.
MILK = [("ann", "milk", 0), ("ann", "milk", 7), ("ann", "milk", 14), ("bob", "milk", 0), ("bob", "milk", 10),
        ("cleo", "milk", 20), ("ann", "cake", 3)]
NOW = BASE + timedelta(days=22)


def test_intervals_are_gaps_between_distinct_purchase_days_and_same_day_baskets_count_once():
    model = fit_repurchase(lines(("ann", "milk", 0), ("ann", "milk", 0.1), ("ann", "milk", 5), ("ann", "milk", 12)),
                           now=NOW)
    ann = row(model, "ann", "milk")
    assert ann.purchases == 3  # the second basket on day 0 is the same purchase day
    # One member, so her intervals 5 and 7 are the product's too: the estimate is exp(mean log) = sqrt(35).
    assert ann.interval_days == pytest.approx(math.sqrt(35.0))
    assert ann.last_bought_at == pd.Timestamp(BASE + timedelta(days=12))


def test_a_pair_is_shrunk_towards_the_product_interval_with_weight_n_over_n_plus_k():
    model = fit_repurchase(lines(*MILK), now=NOW, params=FIXED_K)
    # Product milk: the median over pairs with >= 2 purchases of their mean log interval: log 7 and log 10.
    product_mu = (math.log(7) + math.log(10)) / 2
    # ann has 2 intervals: w = 2 / (2 + 1).
    assert row(model, "ann", "milk").interval_days == pytest.approx(math.exp(2 / 3 * math.log(7) + 1 / 3 * product_mu))
    # bob has 1 interval: w = 1 / 2.
    assert row(model, "bob", "milk").interval_days == pytest.approx(math.exp(0.5 * math.log(10) + 0.5 * product_mu))


def test_a_pair_with_one_purchase_falls_back_to_the_product_interval():
    model = fit_repurchase(lines(*MILK), now=NOW, params=FIXED_K)
    cleo = row(model, "cleo", "milk")
    assert cleo.purchases == 1
    assert cleo.interval_days == pytest.approx(math.sqrt(70.0))  # exp of the mean of log 7 and log 10


def test_members_with_very_different_cycles_keep_their_own_when_the_strength_is_estimated():
    rng = np.random.default_rng(1)
    purchases = []
    for i, cycle in enumerate([3, 4, 5, 7, 9, 12, 15, 19, 24, 30, 35, 40]):
        day = 0.0
        for _ in range(6):
            purchases.append((f"m{i}", "rice", day))
            day += round(cycle * math.exp(rng.normal(0, 0.05)))
    model = fit_repurchase(lines(*purchases), now=BASE + timedelta(days=400))
    assert model.prior.prior_strength < 0.5  # members differ far more than each member varies
    assert row(model, "m0", "rice").interval_days == pytest.approx(3, rel=0.15)
    assert row(model, "m11", "rice").interval_days == pytest.approx(40, rel=0.15)


def test_due_at_is_the_last_purchase_plus_the_interval_estimate():
    model = fit_repurchase(lines(*MILK), now=NOW, params=FIXED_K)
    [ann] = [r for r in model.due(now=NOW) if r.member_id == "ann"]
    assert ann.product_id == "milk" and ann.purchases == 3
    assert ann.last_bought_at == BASE + timedelta(days=14)
    assert ann.due_at == ann.last_bought_at + timedelta(days=ann.interval_days)
    assert ann.interval_days == pytest.approx(math.exp(2 / 3 * math.log(7) + 1 / 6 * math.log(70)), abs=0.005)


def test_the_due_list_leaves_out_one_off_pairs_products_without_a_cycle_and_lapsed_pairs():
    model = fit_repurchase(lines(*MILK, ("dan", "milk", -200), ("dan", "milk", -190)), now=NOW, params=FIXED_K)
    due = {(r.member_id, r.product_id) for r in model.due(now=NOW)}
    # cleo bought once, nobody bought cake twice, dan stopped buying milk 200 days ago.
    assert due == {("ann", "milk"), ("bob", "milk")}
    single = fit_repurchase(lines(*MILK), now=NOW, params=dataclasses.replace(FIXED_K, due_min_purchases=1))
    assert ("cleo", "milk") in {(r.member_id, r.product_id) for r in single.due(now=NOW)}


def test_within_days_keeps_only_what_is_due_by_then_soonest_first():
    model = fit_repurchase(lines(*MILK), now=BASE + timedelta(days=15), params=FIXED_K)
    now = BASE + timedelta(days=15)
    # ann (last day 14, ~7.4 days) is due around day 21.4; bob (last day 10, ~9.2 days) around day 19.2.
    assert [r.member_id for r in model.due(now=now, within_days=5)] == ["bob"]
    rows = model.due(now=now, within_days=10)
    assert [r.member_id for r in rows] == ["ann", "bob"]  # grouped by member
    assert all(r.due_at <= now + timedelta(days=10) for r in rows)


def test_due_rows_have_the_fields_of_the_insight_due_table():
    columns = {c.name for c in DueItem.__table__.columns} - {"merchant_id", "run_id"}
    assert {f.name for f in dataclasses.fields(DueRow)} == columns


def test_probability_is_the_lognormal_chance_of_the_next_interval_falling_in_the_window():
    params = dataclasses.replace(FIXED_K, use_repeat_probability=False)
    purchases = [("ann", "milk", 0), ("ann", "milk", 6), ("ann", "milk", 14)]  # intervals 6 and 8
    model = fit_repurchase(lines(*purchases), now=BASE + timedelta(days=20), params=params)
    # One pair: its product median is its own mean log interval; the pooled variance is its own.
    mu = (math.log(6) + math.log(8)) / 2
    var = (math.log(8) - math.log(6)) ** 2 / 2
    sigma = math.sqrt(var * (1 + 1 / (2 + 1)))  # plus the uncertainty of mu: var / (n + k)
    now = datetime(2024, 1, 21, tzinfo=UTC)  # day 20 at midnight: t = 6 days since the last purchase day
    [p] = model.probability_within(now=now, horizon_days=7)
    # Whole-day intervals: bought in days 20..26 <=> T in [6, 12] <=> X in (5.5, 12.5], given X > 5.5.
    f_low, f_up = lognormal_cdf(5.5, mu, sigma), lognormal_cdf(12.5, mu, sigma)
    assert p == pytest.approx((f_up - f_low) / (1 - f_low))


def test_the_repeat_probability_discounts_pairs_that_may_never_recur_and_long_silences():
    model = fit_repurchase(lines(*MILK), now=NOW, params=FIXED_K)
    # All pairs: 2 of 4 bought again -> 0.5; milk: (2 + 5 * 0.5) / (3 + 5); ann: (2 + 2 * milk) / (2 + 2).
    milk = (2 + 5 * 0.5) / 8
    assert row(model, "ann", "milk")["repeat"] == pytest.approx((2 + 2 * milk) / 4)
    assert row(model, "cleo", "milk")["repeat"] == pytest.approx(milk)
    frame = model.frame()
    ann = int(np.flatnonzero((frame.member_id == "ann") & (frame.product_id == "milk"))[0])
    mu, sigma, pi = model.mu[ann], model.sigma[ann], model.repeat[ann]
    now = datetime(2024, 1, 22, tzinfo=UTC)  # day 21 at midnight: t = 7
    p = model.probability_within(now=now, horizon_days=7)[ann]
    f_low, f_up = lognormal_cdf(6.5, mu, sigma), lognormal_cdf(13.5, mu, sigma)
    assert p == pytest.approx(pi * (f_up - f_low) / (pi * (1 - f_low) + 1 - pi))
    later = model.probability_within(now=now + timedelta(days=120), horizon_days=7)[ann]
    assert later < p / 10


def test_a_regular_member_gets_more_confidence_than_an_irregular_one():
    regular = [("reg", "tea", d) for d in (0, 10, 20, 30, 40)]
    irregular = [("irr", "tea", d) for d in (0, 3, 25, 29, 50)]
    model = fit_repurchase(lines(*regular, *irregular), now=BASE + timedelta(days=55))
    by_member = {r.member_id: r for r in model.due(now=BASE + timedelta(days=55))}
    assert 0 <= by_member["irr"].confidence < by_member["reg"].confidence <= 1


def test_lines_after_now_returns_and_lines_without_a_member_are_ignored():
    frame = lines(("ann", "milk", 0), ("ann", "milk", 7), ("ann", "milk", 40), ("ann", "milk", 3), ("ann", "milk", 5))
    frame.loc[3, "kind"] = "return"
    frame.loc[4, "member_id"] = None
    model = fit_repurchase(frame, now=BASE + timedelta(days=20))
    assert row(model, "ann", "milk").purchases == 2
    with pytest.raises(ValueError):
        model.probability_within(now=datetime(2024, 2, 1), horizon_days=7)  # naive time


def test_the_best_f1_threshold_and_average_precision_by_hand():
    scores = np.array([0.9, 0.8, 0.7, 0.7, 0.1])
    labels = np.array([True, False, True, True, False])
    # yes at >= 0.9: P 1, R 1/3, F1 0.5; >= 0.8: F1 0.4; >= 0.7 (both ties): P 3/4, R 1, F1 6/7.
    assert best_f1_threshold(scores, labels) == (0.7, pytest.approx(6 / 7))
    # Positives at ranks 1, 3, 4: (1 + 2/3 + 3/4) / 3.
    assert average_precision(scores, labels) == pytest.approx((1 + 2 / 3 + 3 / 4) / 3)


def test_an_empty_history_gives_an_empty_model():
    model = fit_repurchase(lines(("ann", "milk", 0)).iloc[:0], now=NOW)
    assert len(model) == 0
    assert model.due(now=NOW) == []
    assert len(model.probability_within(now=NOW, horizon_days=7)) == 0
