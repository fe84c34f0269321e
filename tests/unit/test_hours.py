"""Opening hours in the location's own time zone: open or closed, next opening, closing time."""

from datetime import UTC, datetime

import pytest

from oao.network.hours import (
    closes_at,
    is_open,
    next_open,
    open_at_or_after,
    parse_opening_hours,
    wall_clock,
)

SHANGHAI = "Asia/Shanghai"  # UTC+8, no DST
WEEKDAYS = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
EVERY_DAY = {day: [["08:00", "20:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
ROUND_THE_CLOCK = {day: [["00:00", "24:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# 2026-11-17 is a Tuesday. Shanghai wall time = UTC + 8 h.

def test_a_store_is_open_inside_its_hours_and_closed_outside_them():
    assert is_open(WEEKDAYS, [], SHANGHAI, utc(2026, 11, 17, 2, 0))  # Tue 10:00 local
    assert not is_open(WEEKDAYS, [], SHANGHAI, utc(2026, 11, 16, 23, 59))  # Tue 07:59 local
    # Tue 18:00 local: the closing minute itself is closed
    assert not is_open(WEEKDAYS, [], SHANGHAI, utc(2026, 11, 17, 10, 0))


def test_hours_are_read_on_the_locations_own_clock_not_utc():
    # 01:30 UTC on Tuesday is 09:30 in Shanghai but 20:30 on Monday in New York
    at = utc(2026, 11, 17, 1, 30)
    assert is_open(WEEKDAYS, [], SHANGHAI, at)
    assert not is_open(WEEKDAYS, [], "America/New_York", at)


def test_a_day_missing_from_the_hours_is_a_closed_day_so_the_next_opening_is_after_the_weekend():
    friday_evening = utc(2026, 11, 20, 11, 0)  # Fri 19:00 local
    assert next_open(WEEKDAYS, [], SHANGHAI, friday_evening) == utc(2026, 11, 23, 1, 0)  # Mon 09:00 local


def test_next_open_is_the_instant_itself_when_the_store_is_open():
    at = utc(2026, 11, 17, 3, 17)
    assert next_open(WEEKDAYS, [], SHANGHAI, at) == at
    assert open_at_or_after(WEEKDAYS, [], SHANGHAI, at) == at


def test_a_closure_date_is_closed_all_day_and_the_next_opening_skips_it():
    closures = ["2026-11-18"]  # Wednesday
    assert not is_open(WEEKDAYS, closures, SHANGHAI, utc(2026, 11, 18, 3, 0))  # Wed 11:00 local
    tuesday_evening = utc(2026, 11, 17, 12, 0)  # Tue 20:00 local
    assert next_open(WEEKDAYS, closures, SHANGHAI, tuesday_evening) == utc(2026, 11, 19, 1, 0)  # Thu 09:00


def test_a_period_closing_before_it_opens_runs_past_midnight():
    bar = {"fri": [["18:00", "02:00"]]}
    assert is_open(bar, [], SHANGHAI, utc(2026, 11, 20, 17, 0))  # Sat 01:00 local
    assert not is_open(bar, [], SHANGHAI, utc(2026, 11, 20, 19, 0))  # Sat 03:00 local
    assert closes_at(bar, [], SHANGHAI, utc(2026, 11, 20, 15, 0)) == utc(2026, 11, 20, 18, 0)  # Sat 02:00
    assert next_open(bar, [], SHANGHAI, utc(2026, 11, 20, 19, 0)) == utc(2026, 11, 27, 10, 0)  # next Fri


def test_a_closure_the_next_day_cuts_a_past_midnight_period_at_midnight():
    bar = {"fri": [["18:00", "02:00"]]}
    closures = ["2026-11-21"]  # the Saturday
    assert is_open(bar, closures, SHANGHAI, utc(2026, 11, 20, 15, 59))  # Fri 23:59 local
    assert not is_open(bar, closures, SHANGHAI, utc(2026, 11, 20, 17, 0))  # Sat 01:00 local
    assert closes_at(bar, closures, SHANGHAI, utc(2026, 11, 20, 15, 0)) == utc(2026, 11, 20, 16, 0)


def test_a_round_the_clock_store_is_always_open_and_has_no_closing_time_in_sight():
    at = utc(2026, 11, 22, 16, 0)  # Sunday -> Monday midnight local
    assert is_open(ROUND_THE_CLOCK, [], SHANGHAI, at)
    assert next_open(ROUND_THE_CLOCK, [], SHANGHAI, at) == at
    assert closes_at(ROUND_THE_CLOCK, [], SHANGHAI, at) is None


def test_back_to_back_periods_close_only_when_the_last_one_ends():
    late = {"mon": [["08:00", "24:00"]], "tue": [["00:00", "03:00"], ["09:00", "17:00"]]}
    monday_evening = utc(2026, 11, 16, 12, 0)  # Mon 20:00 local
    assert closes_at(late, [], SHANGHAI, monday_evening) == utc(2026, 11, 16, 19, 0)  # Tue 03:00 local
    assert closes_at(late, [], SHANGHAI, utc(2026, 11, 17, 3, 0)) == utc(2026, 11, 17, 9, 0)  # Tue 17:00


def test_closes_at_is_none_when_the_store_is_closed():
    assert closes_at(WEEKDAYS, [], SHANGHAI, utc(2026, 11, 21, 3, 0)) is None  # Saturday


def test_a_location_without_hours_never_opens():
    at = utc(2026, 11, 17, 2, 0)
    assert not is_open({}, [], SHANGHAI, at)
    assert next_open({}, [], SHANGHAI, at) is None


def test_an_opening_more_than_fourteen_days_away_is_not_found():
    closures = [f"2026-11-{day:02d}" for day in range(17, 31)] + ["2026-12-01", "2026-12-02"]
    assert next_open(EVERY_DAY, closures, SHANGHAI, utc(2026, 11, 17, 2, 0)) is None
    assert next_open(EVERY_DAY, closures[:-3], SHANGHAI, utc(2026, 11, 17, 2, 0)) == utc(2026, 11, 30, 0, 0)


def test_local_hours_stay_the_same_across_the_spring_dst_change_in_berlin():
    # Europe/Berlin moves from UTC+1 to UTC+2 on Sunday 29 March 2026 at 02:00.
    sat_open, mon_open = utc(2026, 3, 28, 7, 0), utc(2026, 3, 30, 6, 0)  # both 08:00 local
    hours = {day: [["08:00", "20:00"]] for day in ("mon", "sat")}
    assert next_open(hours, [], "Europe/Berlin", utc(2026, 3, 28, 6, 59)) == sat_open
    assert next_open(hours, [], "Europe/Berlin", utc(2026, 3, 28, 19, 0)) == mon_open
    assert closes_at(hours, [], "Europe/Berlin", mon_open) == utc(2026, 3, 30, 18, 0)


def test_a_night_period_over_the_spring_gap_is_an_hour_shorter():
    bar = {"sat": [["22:00", "04:00"]]}
    opens = utc(2026, 3, 28, 21, 0)  # 22:00 CET
    assert next_open(bar, [], "Europe/Berlin", utc(2026, 3, 28, 12, 0)) == opens
    assert closes_at(bar, [], "Europe/Berlin", opens) == utc(2026, 3, 29, 2, 0)  # 04:00 CEST: 5 h later


def test_an_opening_time_inside_the_spring_gap_opens_right_after_it():
    early = {"sun": [["02:30", "10:00"]]}  # 02:30 does not exist on 29 March 2026 in Berlin
    opens = next_open(early, [], "Europe/Berlin", utc(2026, 3, 28, 12, 0))
    assert opens == utc(2026, 3, 29, 1, 30)  # 03:30 CEST


def test_a_whole_day_lasts_twenty_five_hours_when_new_york_falls_back():
    # America/New_York goes from UTC-4 to UTC-5 on Sunday 1 November 2026 at 02:00.
    sunday = {"sun": [["00:00", "24:00"]]}
    assert next_open(sunday, [], "America/New_York", utc(2026, 10, 31, 12, 0)) == utc(2026, 11, 1, 4, 0)
    assert closes_at(sunday, [], "America/New_York", utc(2026, 11, 1, 12, 0)) == utc(2026, 11, 2, 5, 0)
    assert is_open(sunday, [], "America/New_York", utc(2026, 11, 2, 4, 30))  # 23:30 EST, the 25th hour


def test_a_naive_time_is_refused():
    with pytest.raises(ValueError, match="aware"):
        is_open(WEEKDAYS, [], SHANGHAI, datetime(2026, 11, 17, 10, 0))


@pytest.mark.parametrize(("hours", "message"), [
    ({"mon": [["25:00", "26:00"]]}, "not a valid opening time"),
    ({"mon": [["8am", "20:00"]]}, "HH:MM"),
    ({"funday": [["08:00", "20:00"]]}, "'funday' is not a day"),
    ({"mon": [["08:00", "08:00"]]}, "opens and closes at the same time"),
    ({"mon": [["08:00"]]}, "not an \\[open, close\\] pair"),
    ({"mon": "08:00-20:00"}, "must be a list"),
])
def test_malformed_hours_are_refused_with_a_message_saying_what_is_wrong(hours, message):
    with pytest.raises(ValueError, match=message):
        parse_opening_hours(hours)


def test_an_unknown_time_zone_is_refused():
    with pytest.raises(ValueError, match="not a known time zone"):
        is_open(WEEKDAYS, [], "Mars/Olympus", utc(2026, 11, 17, 2, 0))


def test_a_wall_clock_time_names_the_day_when_it_is_not_today():
    ref = utc(2026, 11, 17, 2, 0)  # Tuesday 10:00 in Shanghai
    assert wall_clock(utc(2026, 11, 17, 10, 40), SHANGHAI, ref) == "18:40"
    assert wall_clock(utc(2026, 11, 18, 0, 0), SHANGHAI, ref) == "08:00 tomorrow"
    assert wall_clock(utc(2026, 11, 20, 1, 15), SHANGHAI, ref) == "09:15 on Friday"
    assert wall_clock(utc(2026, 12, 3, 2, 0), SHANGHAI, ref) == "10:00 on 3 December"
    # 17:00 UTC on Tuesday is already Wednesday in Shanghai
    assert wall_clock(utc(2026, 11, 17, 17, 0), SHANGHAI, ref) == "01:00 tomorrow"
