"""Sourcing policies: which locations supply a cart.

A policy ranks candidate sources, best first, for a need (product -> units)
around an anchor point (the shopper's door or the pickup location).
`choose_sources` then takes the first single source that holds the whole need;
only when none does it splits the need over the fewest sources it can find
(greedy set cover, ties broken by the policy's order; the `fewest_splits`
policy searches small combinations exhaustively so it never splits more than
necessary). Pure: no database, plain dataclasses.

To add a policy, put a `Policy` (or any callable with the same signature as
`Policy.__call__`) into POLICIES under a new name.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import TYPE_CHECKING, Any

from oao.core.geo import haversine_km

if TYPE_CHECKING:
    from oao.fulfillment.quote import Site

Anchor = tuple[float, float]
Need = Mapping[str, int]
Stock = Mapping[tuple[str, str], int]
Ranker = Callable[[Sequence["Site"], Need, Stock, Anchor], list["Site"]]

# The exhaustive search looks at combinations of this many best-ranked
# sources, up to this many sources per combination: a few hundred checks.
_EXHAUSTIVE_POOL = 12
_EXHAUSTIVE_MAX_SOURCES = 3


@dataclass(frozen=True)
class Allocation:
    """Units of each product one source supplies."""

    site: Site
    lines: tuple[tuple[str, int], ...]


def _distance(site: Site, anchor: Anchor) -> float:
    return haversine_km(site.latitude, site.longitude, anchor[0], anchor[1])


def _available(site: Site, product_id: str, stock: Stock) -> int:
    return max(0, stock.get((site.id, product_id), 0))


def _coverage(site: Site, need: Need, stock: Stock) -> tuple[int, int]:
    """(lines the site can fill completely, units it can supply towards the need)."""
    lines = units = 0
    for product_id, qty in need.items():
        have = _available(site, product_id, stock)
        lines += have >= qty
        units += min(have, qty)
    return lines, units


@dataclass(frozen=True)
class Policy:
    """A named ordering of candidate sources."""

    name: str
    key: Callable[[Site, Need, Stock, Anchor], Any]
    exhaustive_cover: bool = False

    def __call__(self, candidates: Sequence[Site], need: Need, stock: Stock, anchor: Anchor) -> list[Site]:
        return sorted(candidates, key=lambda site: self.key(site, need, stock, anchor))


def _nearest_key(site: Site, need: Need, stock: Stock, anchor: Anchor) -> tuple[float, str]:
    return _distance(site, anchor), site.id


def _fewest_splits_key(site: Site, need: Need, stock: Stock, anchor: Anchor) -> tuple[int, int, float, str]:
    lines, units = _coverage(site, need, stock)
    return -lines, -units, _distance(site, anchor), site.id


def _balance_load_key(site: Site, need: Need, stock: Stock, anchor: Anchor) -> tuple[bool, float, float, str]:
    # Sites without delivery capacity have no measurable load; they come after
    # every site whose queue we can measure.
    capacity = site.delivery_capacity_per_hour
    load = site.open_delivery_orders / capacity if capacity > 0 else 0.0
    return capacity <= 0, load, _distance(site, anchor), site.id


nearest = Policy("nearest", _nearest_key)
fewest_splits = Policy("fewest_splits", _fewest_splits_key, exhaustive_cover=True)
balance_load = Policy("balance_load", _balance_load_key)

POLICIES: dict[str, Ranker] = {
    "nearest": nearest,
    "fewest_splits": fewest_splits,
    "balance_load": balance_load,
}


def policy_named(name: str | Ranker) -> Ranker:
    """The policy registered under `name` (a callable is returned as is)."""
    if callable(name):
        return name
    try:
        return POLICIES[name]
    except KeyError:
        known = ", ".join(sorted(POLICIES))
        raise ValueError(f"Unknown sourcing policy {name!r}; use one of {known}.") from None


def _allocate(sources: Sequence[Site], need: Need, stock: Stock) -> list[Allocation] | None:
    """Fill the need from the sources in order; None if they cannot cover it."""
    remaining = {p: q for p, q in need.items() if q > 0}
    out = []
    for site in sources:
        lines = []
        for product_id, qty in remaining.items():
            take = min(qty, _available(site, product_id, stock))
            if take > 0:
                lines.append((product_id, take))
        for product_id, take in lines:
            remaining[product_id] -= take
        remaining = {p: q for p, q in remaining.items() if q > 0}
        if lines:
            out.append(Allocation(site, tuple(lines)))
    return None if remaining else out


def _greedy_cover(ranked: Sequence[Site], need: Need, stock: Stock) -> list[Allocation] | None:
    remaining = {p: q for p, q in need.items() if q > 0}
    pool = list(ranked)
    chosen: list[Allocation] = []
    while remaining:
        best, best_score = None, (0, 0)
        for site in pool:
            score = _coverage(site, remaining, stock)
            if score > best_score:  # strict: on ties the better-ranked site stays
                best, best_score = site, score
        if best is None:
            return None
        pool.remove(best)
        lines = tuple((p, min(q, _available(best, p, stock))) for p, q in remaining.items()
                      if _available(best, p, stock) > 0)
        chosen.append(Allocation(best, lines))
        for product_id, take in lines:
            remaining[product_id] -= take
        remaining = {p: q for p, q in remaining.items() if q > 0}
    return chosen


def _exhaustive_cover(ranked: Sequence[Site], need: Need, stock: Stock) -> list[Allocation] | None:
    useful = [s for s in ranked if _coverage(s, need, stock)[1] > 0][:_EXHAUSTIVE_POOL]
    for size in range(2, min(_EXHAUSTIVE_MAX_SOURCES, len(useful)) + 1):
        # combinations come in ranked-lexicographic order: the first that
        # covers the need is the best-ranked among the smallest
        for combo in combinations(useful, size):
            found = _allocate(combo, need, stock)
            if found is not None and len(found) == size:
                return found
    return None


def choose_sources(need: Need, candidates: Sequence[Site], stock: Stock, anchor: Anchor,
                   policy: str | Ranker = "nearest") -> list[Allocation] | None:
    """The sources that supply `need`, one Allocation per source; None if the candidates cannot.

    A single source is used whenever one holds everything; otherwise the
    need is split over as few sources as the policy's search finds.
    """
    wanted = {p: q for p, q in need.items() if q > 0}
    if not wanted:
        return []
    ranker = policy_named(policy)
    ranked = ranker(candidates, wanted, stock, anchor)
    for site in ranked:
        if all(_available(site, p, stock) >= q for p, q in wanted.items()):
            return [Allocation(site, tuple(wanted.items()))]
    if getattr(ranker, "exhaustive_cover", False):
        found = _exhaustive_cover(ranked, wanted, stock)
        if found is not None:
            return found
    return _greedy_cover(ranked, wanted, stock)
