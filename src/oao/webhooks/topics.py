"""Which event types a subscription receives: exact names, `prefix.*`, or `*`.

Pure: event types are the outbox's dotted names such as `order.completed`.
"""

from __future__ import annotations

import re

_TYPE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*(\.\*)?$")
MAX_TYPES = 100


def check_types(types: list[str]) -> list[str]:
    """The list without duplicates, in order; ValueError for a malformed entry or an empty list."""
    if not types:
        raise ValueError("give at least one event type, or \"*\" for every event")
    if len(types) > MAX_TYPES:
        raise ValueError(f"at most {MAX_TYPES} event types")
    out: list[str] = []
    for t in types:
        if t != "*" and not (len(t) <= 80 and _TYPE.match(t)):
            raise ValueError(f"{t!r} is not an event type such as \"order.completed\", \"order.*\" or \"*\"")
        if t not in out:
            out.append(t)
    return ["*"] if "*" in out else out


def matches(patterns: list[str], event_type: str) -> bool:
    for p in patterns:
        if p == "*" or p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1])):
            return True
    return False
