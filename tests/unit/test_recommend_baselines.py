"""Global popularity, own most frequent and the next-basket split, checked by hand."""

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from oao.insights.baselines import basket_items, own_most_frequent, popular
from oao.insights.evaluation import next_basket_split

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def frame(baskets: list[tuple[str | None, list[str]]], *, refs: bool = True) -> pd.DataFrame:
    rows = []
    for i, (member, products) in enumerate(baskets):
        for p in products:
            rows.append({"occurred_at": T0 + timedelta(days=i), "product_id": p, "member_id": member,
                         "basket_ref": f"b{i}" if refs else None, "quantity": 1, "kind": "sale"})
    return pd.DataFrame(rows).assign(occurred_at=lambda d: pd.to_datetime(d["occurred_at"], utc=True))


def test_popular_counts_baskets_not_units_and_scores_the_share_of_baskets():
    lines = frame([(None, ["a", "a", "b"]), ("m", ["a"]), ("m", ["c"]), ("n", ["b"])])
    assert popular(lines, 2) == [("b", 0.5), ("a", 0.5)]  # tie: b was bought last
    assert popular(lines, 10)[-1] == ("c", 0.25)


def test_popular_ignores_returns():
    lines = frame([("m", ["a"]), ("m", ["b"]), ("m", ["b"])])
    lines.loc[lines["product_id"] == "b", "quantity"] = -1
    assert popular(lines, 5) == [("a", 1.0)]


def test_own_most_frequent_ranks_her_products_by_baskets_ties_by_recency_then_fills_with_popular():
    lines = frame([("m", ["x", "y"]), ("m", ["y"]), ("m", ["z"]), ("m", ["x"]),
                   ("n", ["p"]), ("n", ["p"]), ("n", ["p", "q"]), ("o", ["p"])])
    recs = own_most_frequent(lines, 4)
    # x and y are both in 2 baskets, x more recently; then z; then the most popular product she lacks.
    assert recs["m"] == [("x", 2.0), ("y", 2.0), ("z", 1.0), ("p", pytest.approx(4 / 8))]
    assert [p for p, _ in own_most_frequent(lines, 4, fill_with_popular=False)["m"]] == ["x", "y", "z"]
    assert set(own_most_frequent(lines, 1, ["o", "nobody"])) == {"o"}


def test_lines_without_a_basket_ref_form_one_basket_per_member_and_time():
    lines = frame([("m", ["a", "b"]), ("m", ["a"])], refs=False)
    items = basket_items(lines)
    assert items["basket"].nunique() == 2 and len(items) == 3


def test_the_split_trains_before_the_cutoff_and_targets_each_members_first_basket_after_it():
    lines = frame([("m", ["a"]), ("n", ["b"]), ("m", ["c", "d"]), ("m", ["e"]), ("new", ["f"])])
    split = next_basket_split(lines, T0 + timedelta(days=2))
    assert set(split.train["product_id"]) == {"a", "b"}
    # n bought nothing after the cutoff; "new" has no history to learn from: neither is a target.
    assert split.targets == {"m": {"c", "d"}}
    later = next_basket_split(lines, T0 + timedelta(days=1), until=T0 + timedelta(days=2))
    assert later.targets == {}
