"""When to try a failed webhook delivery again.

Exponential backoff from one minute, doubling per failure and capped at six
hours, each delay multiplied by a random factor in [0.8, 1.2) so endpoints
that failed together (an outage) are not hit again all at the same second.
After MAX_ATTEMPTS attempts the delivery is marked failed. The numbers are
chosen so that even with the smallest jitter every delivery keeps being
retried for more than 24 hours (see `min_span`), long enough to ride out a
receiver's outage over a night or a weekend day.

Pure: no database.
"""

from __future__ import annotations

from datetime import timedelta

BASE = timedelta(minutes=1)
CAP = timedelta(hours=6)
MAX_ATTEMPTS = 16
JITTER_LOW, JITTER_HIGH = 0.8, 1.2


def base_delay(failures: int) -> timedelta:
    """The un-jittered wait after the `failures`-th consecutive failure (1 → 1 min, 2 → 2 min, …, ≤ 6 h)."""
    if failures < 1:
        raise ValueError("failures counts from 1")
    # 2 ** 20 minutes is far past the cap; clamping the exponent keeps the number small
    return min(BASE * 2 ** min(failures - 1, 20), CAP)


def retry_delay(failures: int, *, jitter: float) -> timedelta:
    """The wait after the `failures`-th failure; `jitter` in [0, 1) picks the factor in [0.8, 1.2)."""
    if not 0.0 <= jitter < 1.0:
        raise ValueError("jitter is a number in [0, 1)")
    factor = JITTER_LOW + (JITTER_HIGH - JITTER_LOW) * jitter
    return base_delay(failures) * factor


def gives_up(failures: int) -> bool:
    """True once `failures` attempts in a row have failed: no more will be made."""
    return failures >= MAX_ATTEMPTS


def min_span() -> timedelta:
    """The shortest time between the first and the last attempt (every jitter at its lowest)."""
    return sum((base_delay(n) * JITTER_LOW for n in range(1, MAX_ATTEMPTS)), timedelta())


def max_span() -> timedelta:
    return sum((base_delay(n) * JITTER_HIGH for n in range(1, MAX_ATTEMPTS)), timedelta())
