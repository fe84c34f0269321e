"""TIFU-KNN arithmetic on baskets small enough to check by hand."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from oao.insights.tifuknn import TifuParams, basket_weights, fit_tifu

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def frame(baskets: list[tuple[str | None, list[str]]]) -> pd.DataFrame:
    """One line per product; baskets in the order given, one day apart (member None = a guest)."""
    rows = []
    for i, (member, products) in enumerate(baskets):
        for p in products:
            rows.append({"occurred_at": T0 + timedelta(days=i), "location_id": "loc", "channel": "store",
                         "product_id": p, "member_id": member, "basket_ref": f"b{i}", "quantity": 1,
                         "amount_minor": 100, "kind": "sale"})
    return pd.DataFrame(rows).assign(occurred_at=lambda d: pd.to_datetime(d["occurred_at"], utc=True))


def test_basket_weights_decay_within_groups_of_m_and_across_groups_and_the_oldest_group_may_be_short():
    # 5 baskets, m = 2: groups (newest first) {age 0, 1}, {2, 3}, {4}; G = 3.
    p = TifuParams(group_size=2, within_group_decay=0.5, group_decay=0.25)
    w = basket_weights([0, 1, 2, 3, 4], [5] * 5, p)
    assert list(w) == pytest.approx([1 / 6, 1 / 12, 1 / 24, 1 / 48, 1 / 48])


def test_a_members_vector_sums_the_weights_of_the_baskets_holding_each_product():
    lines = frame([("m", ["x", "old"]), ("m", ["y"]), ("m", ["y"]), ("m", ["z"]), ("m", ["x", "y"])])
    model = fit_tifu(lines, TifuParams(group_size=2, within_group_decay=0.5, group_decay=0.25, neighbours=0))
    recs = dict(model.recommend(["m"], 10)["m"])
    assert recs["x"] == pytest.approx(1 / 6 + 1 / 48)  # newest and oldest baskets
    assert recs["y"] == pytest.approx(1 / 6 + 1 / 24 + 1 / 48)  # ages 0, 2, 3
    assert recs["z"] == pytest.approx(1 / 12)
    assert recs["old"] == pytest.approx(1 / 48)
    assert [p for p, _ in model.recommend(["m"], 2)["m"]] == ["y", "x"]


def test_the_prediction_blends_her_vector_with_the_mean_of_her_k_most_cosine_similar_members():
    # One basket each and no decay, so each vector is the basket's multi-hot vector.
    lines = frame([("A", ["a", "b"]), ("B", ["a", "b", "c"]), ("C", ["a", "b", "d"]), ("D", ["x", "y"]),
                   ("E", ["a", "e"])])
    p = TifuParams(group_size=1, within_group_decay=1.0, group_decay=1.0, neighbours=2, alpha=0.5)
    # cos(A,B) = cos(A,C) = 2/sqrt(6) = 0.82 > cos(A,E) = 1/2 > cos(A,D) = 0: neighbours B and C.
    recs = model_recs = fit_tifu(lines, p).recommend(["A"], 10)["A"]
    assert [x for x, _ in model_recs] == ["a", "b", "c", "d"]  # ties broken by product id
    assert [s for _, s in recs] == pytest.approx([0.5 + 0.25 * 2, 0.5 + 0.25 * 2, 0.25, 0.25])


def test_alpha_one_is_her_own_history_only_and_unknown_members_are_left_out():
    lines = frame([("A", ["a"]), ("B", ["a", "b"])])
    model = fit_tifu(lines, TifuParams(alpha=1.0))
    assert model.recommend(["A", "nobody"], 10) == {"A": [("a", pytest.approx(1.0))]}


def test_bought_together_ranks_products_by_cosine_co_occurrence_over_all_baskets_guests_included():
    baskets = [(None, ["a", "b"])] * 3 + [("m", ["a", "c"])] * 3 + [("m", ["b"])]
    model = fit_tifu(frame(baskets), TifuParams(min_pair_baskets=3))
    nb = model.neighbours(5)
    # n_a = 6, n_b = 4, n_c = 3; a & b share 3 baskets, a & c share 3.
    assert [p for p, _ in nb["a"]] == ["c", "b"]
    assert nb["a"][0][1] == pytest.approx(3 / (6 * 3) ** 0.5)
    assert nb["a"][1][1] == pytest.approx(3 / (6 * 4) ** 0.5)
    assert [p for p, _ in nb["b"]] == ["a"] and [p for p, _ in nb["c"]] == ["a"]
    # a pair sharing fewer baskets than the threshold is noise, not a neighbour
    assert fit_tifu(frame(baskets), TifuParams(min_pair_baskets=4)).neighbours(5) == {}


def test_parameters_outside_their_range_are_refused():
    with pytest.raises(ValueError):
        TifuParams(group_size=0)
    with pytest.raises(ValueError):
        TifuParams(group_decay=0.0)
    with pytest.raises(ValueError):
        TifuParams(alpha=1.5)
