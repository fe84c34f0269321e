"""Sourcing policies: which locations supply a cart, and splitting only when no single one can."""

import pytest

from oao.fulfillment.quote import Site
from oao.fulfillment.sourcing import POLICIES, Policy, choose_sources

ANCHOR = (30.2084, 120.2110)


def site(site_id: str, km_north: float, **fields) -> Site:
    """A store `km_north` kilometres north of the anchor (1 km is about 0.009 degrees)."""
    return Site(id=site_id, merchant_id="mer_a", name=site_id, kind="store",
                latitude=ANCHOR[0] + km_north / 111.195, longitude=ANCHOR[1], **fields)


def picked(allocations) -> list[str]:
    return [a.site.id for a in allocations]


def test_nearest_takes_the_closest_site_that_holds_everything():
    near, far = site("near", 1.0), site("far", 4.0)
    stock = {("near", "p1"): 2, ("far", "p1"): 9}
    found = choose_sources({"p1": 2}, [far, near], stock, ANCHOR, "nearest")
    assert picked(found) == ["near"]
    assert found[0].lines == (("p1", 2),)


def test_balance_load_prefers_the_less_busy_site_even_when_it_is_farther():
    busy = site("busy", 1.0, delivery_capacity_per_hour=10, open_delivery_orders=20)
    calm = site("calm", 3.0, delivery_capacity_per_hour=10, open_delivery_orders=2)
    stock = {("busy", "p1"): 5, ("calm", "p1"): 5}
    assert picked(choose_sources({"p1": 1}, [busy, calm], stock, ANCHOR, "balance_load")) == ["calm"]
    assert picked(choose_sources({"p1": 1}, [busy, calm], stock, ANCHOR, "nearest")) == ["busy"]


def test_balance_load_ranks_sites_with_no_measurable_queue_after_those_with_one():
    warehouse = site("warehouse", 0.5)  # no delivery capacity: load unknown
    store = site("store", 2.0, delivery_capacity_per_hour=10, open_delivery_orders=9)
    stock = {("warehouse", "p1"): 5, ("store", "p1"): 5}
    assert picked(choose_sources({"p1": 1}, [warehouse, store], stock, ANCHOR, "balance_load")) == ["store"]


def test_a_far_site_holding_everything_beats_splitting_between_near_ones():
    a, b, whole = site("a", 0.5), site("b", 0.6), site("whole", 8.0)
    stock = {("a", "p1"): 1, ("b", "p2"): 1, ("whole", "p1"): 1, ("whole", "p2"): 1}
    for policy in POLICIES:
        assert picked(choose_sources({"p1": 1, "p2": 1}, [a, b, whole], stock, ANCHOR, policy)) == ["whole"]


def test_when_no_site_holds_everything_the_cart_is_split_over_few_sites():
    a, b, c = site("a", 1.0), site("b", 2.0), site("c", 3.0)
    stock = {("a", "p1"): 1, ("b", "p1"): 1, ("b", "p2"): 1, ("c", "p2"): 1}
    found = choose_sources({"p1": 1, "p2": 1}, [a, b, c], stock, ANCHOR, "nearest")
    # b alone holds both lines: no split
    assert picked(found) == ["b"]
    stock[("b", "p2")] = 0
    found = choose_sources({"p1": 1, "p2": 1}, [a, b, c], stock, ANCHOR, "nearest")
    assert picked(found) == ["a", "c"]
    assert [a.lines for a in found] == [(("p1", 1),), (("p2", 1),)]


def test_one_line_can_be_split_over_two_sites_when_neither_has_enough():
    a, b = site("a", 1.0), site("b", 2.0)
    found = choose_sources({"p1": 5}, [a, b], {("a", "p1"): 3, ("b", "p1"): 4}, ANCHOR, "nearest")
    assert {x.site.id: x.lines for x in found} == {"b": (("p1", 4),), "a": (("p1", 1),)}


def test_fewest_splits_finds_two_sources_where_the_greedy_search_takes_three():
    # The classic greedy trap: "wide" covers four lines, but "left" + "right" cover all six.
    wide, left, right = site("wide", 1.0), site("left", 2.0), site("right", 3.0)
    stock = {("wide", p): 1 for p in ("p1", "p2", "p3", "p4")}
    stock |= {("left", p): 1 for p in ("p1", "p2", "p5")} | {("right", p): 1 for p in ("p3", "p4", "p6")}
    need = {p: 1 for p in ("p1", "p2", "p3", "p4", "p5", "p6")}
    assert sorted(picked(choose_sources(need, [wide, left, right], stock, ANCHOR, "fewest_splits"))) == [
        "left", "right"]
    assert len(choose_sources(need, [wide, left, right], stock, ANCHOR, "nearest")) == 3


def test_fewest_splits_ranks_sites_covering_more_lines_first():
    thin, rich = site("thin", 0.5), site("rich", 5.0)
    stock = {("thin", "p1"): 1, ("rich", "p1"): 1, ("rich", "p2"): 1}
    ranked = POLICIES["fewest_splits"]([thin, rich], {"p1": 1, "p2": 1}, stock, ANCHOR)
    assert [s.id for s in ranked] == ["rich", "thin"]


def test_nothing_is_chosen_when_the_candidates_cannot_cover_the_need():
    a = site("a", 1.0)
    assert choose_sources({"p1": 3}, [a], {("a", "p1"): 2}, ANCHOR, "nearest") is None
    assert choose_sources({"p1": 1}, [], {}, ANCHOR, "nearest") is None


def test_an_unknown_policy_is_refused_with_the_known_names():
    with pytest.raises(ValueError, match="balance_load, fewest_splits, nearest"):
        choose_sources({"p1": 1}, [site("a", 1.0)], {("a", "p1"): 1}, ANCHOR, "cheapest")


def test_a_policy_can_be_plugged_in():
    alphabetical = Policy("alphabetical", lambda s, need, stock, anchor: s.name)
    zed, abe = site("zed", 0.1), site("abe", 9.0)
    stock = {("zed", "p1"): 1, ("abe", "p1"): 1}
    assert picked(choose_sources({"p1": 1}, [zed, abe], stock, ANCHOR, alphabetical)) == ["abe"]
