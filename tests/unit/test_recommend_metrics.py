"""recall@k, NDCG@k and hit rate@k on examples small enough to compute by hand."""

import math

import pytest

from oao.insights.metrics import hit_at_k, ndcg_at_k, recall_at_k, score


def test_recall_counts_the_share_of_the_next_basket_found_in_the_first_k():
    assert recall_at_k(["a", "b", "c", "d"], {"b", "d", "e"}, 3) == pytest.approx(1 / 3)
    assert recall_at_k(["a", "b", "c", "d"], {"b", "d", "e"}, 4) == pytest.approx(2 / 3)
    assert recall_at_k(["x"], {"b"}, 10) == 0.0


def test_hit_rate_is_one_as_soon_as_one_item_of_the_basket_is_in_the_first_k():
    assert hit_at_k(["a", "b", "c", "d"], {"d"}, 3) == 0.0
    assert hit_at_k(["a", "b", "c", "d"], {"d"}, 4) == 1.0


def test_ndcg_discounts_hits_by_rank_and_normalises_by_the_best_possible_list_of_min_k_and_basket_size():
    # hits at ranks 2 (and 4 when k = 4); a perfect list has min(k, 3) = 3 hits on top.
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(["a", "b", "c", "d"], {"b", "d", "e"}, 3) == pytest.approx((1 / math.log2(3)) / ideal)
    assert ndcg_at_k(["a", "b", "c", "d"], {"b", "d", "e"}, 4) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    # a one-item basket found first is perfect, whatever k
    assert ndcg_at_k(["b", "a"], {"b"}, 10) == pytest.approx(1.0)
    # the ideal uses min(k, |T|): 2 hits on top with k = 2 and a basket of 5 is perfect
    assert ndcg_at_k(["a", "b"], {"a", "b", "c", "d", "e"}, 2) == pytest.approx(1.0)


def test_a_repeated_recommendation_earns_nothing_the_second_time():
    assert ndcg_at_k(["b", "b"], {"b", "c"}, 2) == pytest.approx(1 / (1 + 1 / math.log2(3)))


def test_scores_average_over_members_and_a_member_without_recommendations_counts_as_misses():
    truth = {"m1": {"a", "b"}, "m2": {"c"}, "m3": set()}
    s = score({"m1": ["a", "x"]}, truth, 2)
    assert s.members == 2  # m3 bought nothing: not counted
    assert s.recall == pytest.approx((0.5 + 0.0) / 2)
    assert s.hit_rate == pytest.approx(0.5)
    assert s.ndcg == pytest.approx((1 / (1 + 1 / math.log2(3))) / 2)
