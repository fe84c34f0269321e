"""Opening hours: is a location open, when does it open next, when does it close.

Pure functions. Hours are written in the location's own wall-clock time,
`{"mon": [["08:00", "20:00"]], ...}`; a missing day is a closed day, "24:00"
closes at midnight, and a closing time before the opening time means the
period runs past midnight into the next day (a bar open 18:00-02:00). A
period belongs to the day it opens on. Closures are local ISO dates closed for
the whole day: a closure removes the periods that open that day and cuts the
previous evening's past-midnight period at midnight.

Instants in and out are aware UTC datetimes. Wall-clock times are turned into
instants with zoneinfo (fold=0), so across a DST change a store keeps its
local hours: a time skipped by the spring-forward gap maps to the first
instant after the gap, an ambiguous autumn time to its first occurrence.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
SEARCH_DAYS = 14  # how far ahead next_open and closes_at look
_DAY = 24 * 60

# Per weekday (Monday first), the periods as (open, close) minutes after local
# midnight; close may exceed 1440 for a period that runs past midnight.
Week = tuple[tuple[tuple[int, int], ...], ...]
Interval = tuple[datetime, datetime]


def _minutes(text: Any, *, closing: bool) -> int:
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":" or not (text[:2] + text[3:]).isdigit():
        raise ValueError(f"{text!r} is not a time of day in HH:MM form")
    hours, minutes = int(text[:2]), int(text[3:])
    value = hours * 60 + minutes
    if minutes > 59 or value > _DAY or (value == _DAY and not closing):
        raise ValueError(f"{text!r} is not a valid {'closing' if closing else 'opening'} time")
    return value


def parse_opening_hours(opening_hours: Mapping[str, Any]) -> Week:
    """The weekly periods in minutes; raises ValueError saying what is wrong with the input."""
    if not isinstance(opening_hours, Mapping):
        raise ValueError('opening hours must be a mapping such as {"mon": [["08:00", "20:00"]]}')
    week: list[tuple[tuple[int, int], ...]] = []
    for day in DAYS:
        periods = opening_hours.get(day) or ()
        if not isinstance(periods, (list, tuple)):
            raise ValueError(f"opening hours on {day} must be a list of [open, close] pairs")
        spans = []
        for period in periods:
            if not isinstance(period, (list, tuple)) or len(period) != 2:
                raise ValueError(f"opening hours on {day}: {period!r} is not an [open, close] pair")
            opens = _minutes(period[0], closing=False)
            closes = _minutes(period[1], closing=True)
            if opens == closes:
                raise ValueError(f"opening hours on {day}: {period[0]}-{period[1]} opens and closes at "
                                 "the same time; use 00:00-24:00 for a whole day")
            spans.append((opens, closes if closes > opens else closes + _DAY))
        week.append(tuple(sorted(spans)))
    unknown = set(opening_hours) - set(DAYS)
    if unknown:
        raise ValueError(f"opening hours: {min(unknown)!r} is not a day; use {', '.join(DAYS)}")
    return tuple(week)


def _zone(tz: str) -> ZoneInfo:
    try:
        return ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"{tz!r} is not a known time zone") from exc


def _closed_days(closures: Sequence[str | date]) -> frozenset[date]:
    days = set()
    for item in closures:
        days.add(item if isinstance(item, date) else date.fromisoformat(item))
    return frozenset(days)


def _instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of a wall-clock time `minutes` after local midnight of `day`."""
    day = day + timedelta(days=minutes // _DAY)
    minutes %= _DAY
    local = datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=zone)
    return local.astimezone(UTC)


class Calendar:
    """The concrete open intervals of one location, computed day by day and remembered.

    Parse once, ask many times: the quote engine keeps one per site.
    """

    __slots__ = ("_days", "closed", "week", "zone")

    def __init__(self, opening_hours: Mapping[str, Any], closures: Sequence[str | date], tz: str) -> None:
        self.week = parse_opening_hours(opening_hours)
        self.closed = _closed_days(closures)
        self.zone = _zone(tz)
        self._days: dict[date, list[Interval]] = {}

    @property
    def never_open(self) -> bool:
        return not any(self.week)

    def local_day(self, at: datetime) -> date:
        if at.tzinfo is None:
            raise ValueError("opening-hours checks need an aware datetime (UTC)")
        return at.astimezone(self.zone).date()

    def shifts(self, day: date) -> list[Interval]:
        """The periods that open on local `day`, as UTC intervals, in order."""
        found = self._days.get(day)
        if found is None:
            found = self._days[day] = self._compute(day)
        return found

    def _compute(self, day: date) -> list[Interval]:
        if day in self.closed:
            return []
        next_closed = (day + timedelta(days=1)) in self.closed
        out = []
        for opens, closes in self.week[day.weekday()]:
            if next_closed:
                closes = min(closes, _DAY)
            start, end = _instant(day, opens, self.zone), _instant(day, closes, self.zone)
            if end > start:  # a period wholly inside a DST gap has no length
                out.append((start, end))
        return out

    def is_open(self, at: datetime) -> bool:
        """Whether the location is open at the instant `at`."""
        if self.never_open:
            return False
        day = self.local_day(at)
        # yesterday's past-midnight period may still be running
        return any(start <= at < end for offset in (-1, 0)
                   for start, end in self.shifts(day + timedelta(days=offset)))

    def next_open(self, at: datetime) -> datetime | None:
        """`at` if open then, else the next opening within SEARCH_DAYS; None if there is none."""
        if self.never_open:
            self.local_day(at)  # still refuse a naive time
            return None
        if self.is_open(at):
            return at
        horizon = at + timedelta(days=SEARCH_DAYS)
        day = self.local_day(at)
        for offset in range(SEARCH_DAYS + 2):
            # periods of a later day start after every period of an earlier day,
            # so the first day with a period still ahead holds the answer
            ahead = [start for start, _ in self.shifts(day + timedelta(days=offset)) if start > at]
            if ahead:
                first = min(ahead)
                return first if first <= horizon else None
        return None

    def closes_at(self, at: datetime) -> datetime | None:
        """When the open spell around `at` ends (back-to-back periods count as one spell).

        None when closed at `at`, or open without a break for SEARCH_DAYS.
        """
        horizon = at + timedelta(days=SEARCH_DAYS)
        day = self.local_day(at)
        end: datetime | None = None
        for offset in range(-1, SEARCH_DAYS + 2):
            extended = False
            for start, stop in self.shifts(day + timedelta(days=offset)):
                if end is None:
                    if start <= at < stop:
                        end, extended = stop, True
                elif start <= end and stop > end:
                    end, extended = stop, True
            if end is not None and not extended and offset >= 0:
                break
            if end is not None and end > horizon:
                return None
        return end


def is_open(opening_hours: Mapping[str, Any], closures: Sequence[str], tz: str, at: datetime) -> bool:
    """Whether the location is open at the instant `at`."""
    return Calendar(opening_hours, closures, tz).is_open(at)


def next_open(opening_hours: Mapping[str, Any], closures: Sequence[str], tz: str,
              at: datetime) -> datetime | None:
    """`at` if open then, else the next opening instant within SEARCH_DAYS; None if it never opens."""
    return Calendar(opening_hours, closures, tz).next_open(at)


open_at_or_after = next_open


def closes_at(opening_hours: Mapping[str, Any], closures: Sequence[str], tz: str,
              at: datetime) -> datetime | None:
    """When the open spell around `at` ends (back-to-back periods count as one spell).

    None when the location is closed at `at`, or open without a break for
    SEARCH_DAYS (a store open around the clock).
    """
    return Calendar(opening_hours, closures, tz).closes_at(at)


def local_time(at: datetime, tz: str) -> datetime:
    """`at` on the location's wall clock."""
    return at.astimezone(_zone(tz))


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")


def wall_clock(when: datetime, tz: str, ref: datetime) -> str:
    """"18:40", "08:00 tomorrow", "09:15 on Friday" or "10:00 on 3 December" (relative to `ref`), in tz.

    Written without locale-dependent strftime names so the sentence reads the
    same on every server.
    """
    local, today = local_time(when, tz), local_time(ref, tz).date()
    text = f"{local.hour:02d}:{local.minute:02d}"
    days = (local.date() - today).days
    if days == 0:
        return text
    if days == 1:
        return f"{text} tomorrow"
    if 1 < days < 7:
        return f"{text} on {_WEEKDAYS[local.weekday()]}"
    return f"{text} on {local.day} {_MONTHS[local.month - 1]}"
