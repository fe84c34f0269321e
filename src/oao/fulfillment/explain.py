"""The wording of quote options: how a sentence names sites, parcels and waits.

Pure string helpers for the explanations quote.py writes, kept apart so the
engine reads as sourcing and timing. They take anything shaped like a site
(a name, a kind, a timezone), so this module needs nothing from quote.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from oao.network.hours import wall_clock


class Place(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def kind(self) -> str: ...

    @property
    def timezone(self) -> str: ...


def names(sites: Sequence[Place]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    listed = [s.name for s in sites]
    return listed[0] if len(listed) == 1 else ", ".join(listed[:-1]) + " and " + listed[-1]


def who(site: Place) -> str:
    """How a sentence about the shopper's own pickup place refers to it."""
    return {"store": "the store", "pickup_point": "the pickup point"}.get(site.kind, site.name)


def opens(site: Place, opening: datetime | None, ref: datetime, *, by_name: bool = False) -> str:
    """A remark for a wait until the site opens; empty when there is no such wait."""
    if opening is None:
        return ""
    return f" ({site.name if by_name else who(site)} opens at {wall_clock(opening, site.timezone, ref)})"


def parcels(sources: Sequence[Place]) -> str:
    """'2 parcels from A and B', for an option split over several sources."""
    return f"{len(sources)} parcels from {names(sources)}"


def queue_remark(waiting: int) -> str:
    """A remark for the delivery orders a site works through first; empty when there are none."""
    if waiting <= 0:
        return ""
    return f" (after the {waiting} order{'s' if waiting != 1 else ''} already waiting there)"
