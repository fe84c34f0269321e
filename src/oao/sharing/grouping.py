"""Aggregated statistics that describe groups, never people: pure.

Each sale line comes with the member who bought it and that member's consented
profile facts. A group is reported only when at least k *distinct members*
are in it (many purchases by one member never make a group large enough), so
a partner can learn "what is popular with women aged 20-25 near here" without
learning what any one of them bought.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from oao.members.consents import age_band

GROUP_BY = ("brand", "category", "age_band", "gender")
# Which member consent (members.consents data class) each profile dimension needs.
CONSENT_FOR = {"age_band": "profile.age_band", "gender": "profile.gender", "age_min": "profile.age_band",
               "age_max": "profile.age_band"}
FILTERS = ("gender", "age_min", "age_max", "brand", "category", "location_id", "near_lat", "near_lon",
           "radius_km", "since")


@dataclass(frozen=True)
class SaleFact:
    member_id: str
    brand: str
    category: str
    quantity: int
    location_id: str | None
    birth_year: int | None  # None unless the member consents to share the age band
    gender: str | None      # None unless the member consents to share the gender


def dimension(fact: SaleFact, name: str, now: datetime) -> str | None:
    if name == "brand":
        return fact.brand or None
    if name == "category":
        return fact.category or None
    if name == "age_band":
        return age_band(fact.birth_year, now)
    if name == "gender":
        return fact.gender
    raise ValueError(name)


def group_counts(facts: Iterable[SaleFact], *, group_by: list[str], k: int,
                 now: datetime) -> tuple[list[dict[str, object]], int]:
    """Groups of at least k distinct members (largest first) and how many smaller groups were suppressed.

    A fact without a value for a grouping dimension (no consent, no brand) is left out rather than
    grouped under "unknown", which would let a partner subtract its way to the people left out.
    """
    members: dict[tuple[str, ...], set[str]] = defaultdict(set)
    units: dict[tuple[str, ...], int] = defaultdict(int)
    for fact in facts:
        key = tuple(dimension(fact, name, now) for name in group_by)
        if any(v is None for v in key):
            continue
        members[key].add(fact.member_id)  # type: ignore[index]
        units[key] += fact.quantity  # type: ignore[index]
    kept = [key for key, who in members.items() if len(who) >= k]
    kept.sort(key=lambda key: (-len(members[key]), key))
    groups: list[dict[str, object]] = [
        {"key": dict(zip(group_by, key, strict=True)), "members": len(members[key]), "units": units[key]}
        for key in kept]
    return groups, len(members) - len(kept)
