"""The dashboard's SVG charts: axis scale, stacking and label arithmetic."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from oao.web.console import charts
from oao.web.console.charts import HEIGHT, PAD_BOTTOM, PAD_TOP, Series

PLOT = HEIGHT - PAD_TOP - PAD_BOTTOM
SVG = "{http://www.w3.org/2000/svg}"


@pytest.mark.parametrize(("value", "top"), [(0, 1), (1, 1), (1.5, 2), (3, 5), (7, 10), (10, 10), (11, 20),
                                            (21, 25), (26, 50), (101, 200), (42_000, 50_000), (249_999, 250_000)])
def test_the_axis_top_is_the_next_round_number(value, top):
    assert charts.nice_ceiling(value) == top


def test_ticks_are_evenly_spaced_from_zero_and_cover_the_largest_value():
    assert charts.axis_ticks(27_500) == [0, 10_000, 20_000, 30_000]
    assert charts.axis_ticks(5_000) == [0, 1_000, 2_000, 3_000, 4_000, 5_000]
    assert charts.axis_ticks(0) == [0, 1, 2, 3]
    for largest in (1, 9, 99, 1234, 98_765):
        ticks = charts.axis_ticks(largest)
        assert ticks[-1] >= largest and len({b - a for a, b in zip(ticks, ticks[1:], strict=False)}) == 1


def test_stacked_totals_add_every_series_per_day():
    series = [Series("a", "A", [1, 0, 5]), Series("b", "B", [2, 3, 0])]
    assert charts.stack_totals(series) == [3, 3, 5]
    with pytest.raises(ValueError):
        charts.stack_totals([Series("a", "A", [1]), Series("b", "B", [1, 2])])


def test_at_most_eight_day_labels_show_and_today_is_always_one():
    assert charts.label_positions(7) == list(range(7))
    shown = charts.label_positions(30)
    assert len(shown) <= charts.MAX_X_LABELS and shown[-1] == 29
    assert charts.label_positions(0) == []


def test_bar_heights_are_proportional_and_stack_without_gaps():
    svg = charts.stacked_bars("c", ["Mon", "Tue"], [Series("a", "Online", [2500, 0], "#111"),
                                                    Series("b", "Till", [2500, 1000], "#222")],
                              title="Sales", desc="Two days")
    root = ET.fromstring(svg)
    rects = root.findall(f"{SVG}rect")
    heights = [float(r.get("height")) for r in rects]
    top = charts.axis_ticks(5000)[-1]
    assert heights == [round(PLOT * 2500 / top, 1)] * 2 + [round(PLOT * 1000 / top, 1)]
    first, second = rects[0], rects[1]  # Monday's two segments: the second sits on the first
    assert float(second.get("y")) + float(second.get("height")) == pytest.approx(float(first.get("y")), abs=0.11)
    assert root.get("role") == "img" and root.find(f"{SVG}title").text == "Sales"
    assert root.find(f"{SVG}desc").text == "Two days"


def test_a_line_chart_puts_each_value_at_its_height_and_escapes_text():
    svg = charts.lines("p", ["<Mon>", "Tue"], [Series("i", "Issued & kept", [0, 40])], title="Points <7d>",
                       desc="d", fmt=lambda v: f"{v} pts")
    root = ET.fromstring(svg)  # well-formed despite the < and & in the labels
    points = [tuple(map(float, p.split(","))) for p in root.find(f"{SVG}polyline").get("points").split()]
    base = HEIGHT - PAD_BOTTOM
    assert points[0][1] == base and points[1][1] == round(base - PLOT * 40 / charts.axis_ticks(40)[-1], 1)
    assert re.search(r"Issued &amp; kept: 40 pts", svg)


def test_an_empty_chart_still_draws_its_axis():
    root = ET.fromstring(charts.stacked_bars("e", [], [], title="Nothing", desc="No sales"))
    assert root.findall(f"{SVG}rect") == [] and len(root.findall(f"{SVG}line")) == 4
