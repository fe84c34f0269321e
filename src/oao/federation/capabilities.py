"""Capability levels of a federation link, from basic to rich, and their negotiation.

Each side offers what it supports (and is willing to do with this partner);
the link gets the intersection. Every richer level builds on order handoff: a
link whose two sides do not both offer it has no capability at all. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

# Basic to rich; the order is the order of the documentation and of every list we send.
CAPABILITIES: dict[str, str] = {
    "order_handoff": "orders handed to the partner and their status",
    "stock_visibility": "stock of shared products",
    "pickup": "pickup at each other's locations (parcels expected, ready, handed over, pickup fees)",
    "member_recognition": "members recognised through the shared login",
    "points_settlement": "points accepted across the link and settled automatically",
}
BASE = "order_handoff"
# What this implementation can serve today; offering more would promise messages we cannot answer.
SUPPORTED: tuple[str, ...] = ("order_handoff", "stock_visibility", "pickup", "member_recognition",
                               "points_settlement")
# Levels that only make sense with another one: points are spent by a member the partner recognises.
REQUIRES: dict[str, str] = {"points_settlement": "member_recognition"}
# What an invitation or acceptance offers when it names nothing. The richer levels are opted into per
# link: showing stock and recognising members each need the merchant's decision (what to share, whom).
DEFAULT_OFFER: tuple[str, ...] = ("order_handoff", "pickup")


class CapabilityError(ValueError):
    pass


def normalise(offered: Iterable[str], *, supported: Iterable[str] = SUPPORTED) -> list[str]:
    """The offer in level order, duplicates dropped; unknown or unsupported levels are an error."""
    wanted = set(offered)
    unknown = sorted(wanted - set(CAPABILITIES))
    if unknown:
        raise CapabilityError(f"Unknown capabilities {', '.join(unknown)}; known: {', '.join(CAPABILITIES)}.")
    unsupported = sorted(wanted - set(supported))
    if unsupported:
        raise CapabilityError(f"This instance does not support {', '.join(unsupported)} yet; it supports "
                              f"{', '.join(supported)}.")
    for level, needed in REQUIRES.items():
        if level in wanted and needed not in wanted:
            raise CapabilityError(f"{level} needs {needed} on the same link.")
    return [c for c in CAPABILITIES if c in wanted]


def negotiate(ours: Iterable[str], theirs: Iterable[str]) -> list[str]:
    """What both sides offer, in level order; nothing at all unless both offer order handoff.

    Unknown names from the other side are ignored (a newer partner may know more levels)."""
    both = set(ours) & set(theirs)
    if BASE not in both:
        return []
    both -= {level for level, needed in REQUIRES.items() if needed not in both}
    return [c for c in CAPABILITIES if c in both]


def allows(negotiated: Iterable[str], capability: str) -> bool:
    return capability in set(negotiated)
