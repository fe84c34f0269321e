"""Re-ranker candidates and features on baskets small enough to check by hand."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from oao.insights.rerank import FEATURES, RerankParams, candidate_features, fit_reranker, label, training_frame
from oao.insights.tifuknn import TifuParams, fit_tifu

T0 = datetime(2026, 1, 1, tzinfo=UTC)
NOW = T0 + timedelta(days=30)
# Member "a" buys x every 10 days; "b" buys y twice; a guest buys w; "a" buys "late" after NOW.
BASKETS = [("a", 0, ["x", "y"]), ("b", 5, ["y"]), ("a", 10, ["x"]), ("b", 15, ["y", "w"]), ("a", 20, ["x", "z"]),
           (None, 25, ["w"]), ("a", 31, ["late", "x"]), ("b", 33, ["w"])]
TIFU = TifuParams(neighbours=0, alpha=1.0)  # TIFU = her own decayed vector: easy to check
PARAMS = RerankParams(own_candidates=2, tifu_candidates=1, popular_candidates=1, half_life_days=10.0)


def frame(baskets=BASKETS) -> pd.DataFrame:
    rows = [{"occurred_at": T0 + timedelta(days=day), "location_id": "loc", "channel": "store", "product_id": p,
             "member_id": member, "basket_ref": f"b{i}", "quantity": 1, "amount_minor": 100, "kind": "sale"}
            for i, (member, day, products) in enumerate(baskets) for p in products]
    return pd.DataFrame(rows).assign(occurred_at=lambda d: pd.to_datetime(d["occurred_at"], utc=True))


@pytest.fixture(scope="module")
def feats() -> pd.DataFrame:
    f = candidate_features(frame(), now=NOW, member_ids=None, tifu_params=TIFU, params=PARAMS)
    return f.set_index(["member_id", "product_id"])


def test_candidates_are_her_best_own_items_by_decayed_frequency_plus_tifu_top_plus_global_top(feats):
    # a: decayed x 0.875, z 0.5, y 0.125 -> own top 2 = x, z; TIFU top 1 = x; popular top 1 = x (3 baskets
    # like y, but bought more recently). b: own y, w; TIFU y; popular x. Nothing bought after NOW appears.
    assert sorted(feats.loc["a"].index) == ["x", "z"]
    assert sorted(feats.loc["b"].index) == ["w", "x", "y"]
    assert list(feats.columns) == list(FEATURES)


def test_own_features_count_share_decay_recency_and_the_baseline_rank(feats):
    ax = feats.loc[("a", "x")]
    assert ax["own_count"] == 3 and ax["own_share"] == 1.0 and ax["own_last5"] == 3 and ax["own_rank"] == 1
    assert ax["own_decayed"] == pytest.approx(0.5**3 + 0.5**2 + 0.5)  # 30, 20 and 10 days ago, half-life 10
    assert ax["days_since_item"] == pytest.approx(10.0)
    az = feats.loc[("a", "z")]
    assert az["own_rank"] == 2 and az["own_share"] == pytest.approx(1 / 3)  # beats y (1 basket too) on recency
    # x is popular but b never bought it: zero counts, unknown recency and cycle.
    bx = feats.loc[("b", "x")]
    assert bx["own_count"] == 0 and bx["own_decayed"] == 0
    assert pd.isna(bx["days_since_item"]) and pd.isna(bx["p_within_7"]) and pd.isna(bx["own_rank"])


def test_member_and_item_features(feats):
    ax = feats.loc[("a", "x")]
    assert ax["member_baskets"] == 3 and ax["member_basket_size"] == pytest.approx(5 / 3)
    assert ax["days_since_basket"] == pytest.approx(10.0)
    # 6 baskets before NOW (the guest's included): x in 3, w in 2; last 28 days (from day 2): 5 baskets.
    assert ax["item_share"] == pytest.approx(3 / 6) and ax["item_share_recent"] == pytest.approx(2 / 5)
    assert feats.loc[("b", "w"), "item_share"] == pytest.approx(2 / 6)
    # Repeat buyers: x (a, 3 times) and y (b, twice) of 2 members; y's buyers a and b, one repeats.
    assert ax["item_repeat_pop"] == 0.5 and ax["item_repeat_rate"] == 1.0
    assert feats.loc[("b", "y"), "item_repeat_rate"] == 0.5
    assert feats.loc[("b", "w"), "item_repeat_rate"] == 0.0  # the guest's purchase makes no repeat buyer


def test_repurchase_cycle_features_come_from_her_interval(feats):
    ax = feats.loc[("a", "x")]
    # Every observed interval is 10 days (a's x, b's y), so the shrunk estimate is 10 days: exactly due.
    assert ax["interval_days"] == pytest.approx(10.0)
    assert ax["overdue_ratio"] == pytest.approx(1.0)
    assert 0 < ax["p_within_7"] < ax["p_within_14"] <= 1


def test_tifu_score_is_the_tifu_models_score_and_zero_where_it_has_none(feats):
    before = frame()[lambda d: d["occurred_at"] < NOW]
    tifu = dict(fit_tifu(before, TIFU).recommend(["a"], 10)["a"])
    assert feats.loc[("a", "x"), "tifu_score"] == pytest.approx(tifu["x"])
    assert feats.loc[("a", "x"), "tifu_rank"] == 1
    assert feats.loc[("b", "x"), "tifu_score"] == 0


def test_labels_mark_the_candidates_of_her_next_basket_only():
    tf = training_frame(frame(), cutoff=NOW, until=None, tifu_params=TIFU, params=PARAMS)
    got = {(m, p): y for m, p, y in zip(tf.features["member_id"], tf.features["product_id"], tf.labels, strict=True)}
    assert tf.targets == {"a": {"late", "x"}, "b": {"w"}}
    assert got == {("a", "x"): 1, ("a", "z"): 0, ("b", "w"): 1, ("b", "x"): 0, ("b", "y"): 0}
    assert list(label(tf.features.head(1), {"a": {"x"}})) == [1]


def test_a_fitted_reranker_recommends_k_of_her_candidates_at_any_now():
    params = RerankParams(objective="binary", own_candidates=5, tifu_candidates=5, popular_candidates=2,
                          num_leaves=4, min_child_samples=1, rounds=5, threads=1)
    lines = frame()
    model = fit_reranker(lines, cutoffs=[T0 + timedelta(days=12), NOW], tifu_params=TIFU, params=params)
    recs = model.recommend(lines, ["a", "b", "nobody"], 2, NOW)
    assert set(recs) == {"a", "b"}  # no history, no personal answer
    assert all(len(r) == 2 for r in recs.values())
    assert {p for p, _ in recs["a"]} <= {"x", "y", "z"}
