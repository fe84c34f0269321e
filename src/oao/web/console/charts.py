"""Small server-side SVG charts for the merchant dashboard: stacked bars and lines.

Pure functions from numbers to SVG markup, so the arithmetic (axis scale, bar
heights, stacking) is unit-tested without a browser and the pages need no
chart library. Each chart carries <title>/<desc> and role="img" for screen
readers; the page shows the same figures in a table next to it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

# The dashboard palette (colour-blind-distinguishable, readable on white).
PALETTE = {"online": "#0f766e", "pos": "#2563eb", "kiosk": "#d97706", "partner": "#7c3aed",
           "issued": "#0f766e", "redeemed": "#d97706"}

WIDTH, HEIGHT = 720, 240
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 14, 30
MAX_X_LABELS = 8


@dataclass(frozen=True, slots=True)
class Series:
    key: str
    name: str
    values: Sequence[int]
    colour: str = "#0f766e"


def nice_ceiling(value: float) -> int:
    """The smallest 1, 2, 2.5 or 5 × 10^k (at least 1) that is >= value: a readable axis top."""
    if value <= 1:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        candidate = step * 10 ** exponent
        if candidate >= value:
            return int(math.ceil(candidate))
    return int(10 ** (exponent + 1))  # pragma: no cover - the loop always returns


def axis_ticks(max_value: float) -> list[int]:
    """Evenly spaced whole-number ticks from 0 to a round top that covers max_value: 3 to 5
    intervals of a round step, whichever leaves the least empty space above the tallest value."""
    best: list[int] | None = None
    for count in (4, 5, 3):
        step = nice_ceiling(max(max_value, 1) / count)
        ticks = [step * i for i in range(count + 1)]
        if best is None or ticks[-1] < best[-1]:
            best = ticks
    assert best is not None
    return best


def stack_totals(series: Sequence[Series]) -> list[int]:
    """The height of each stacked bar: the sum of every series on that day."""
    if not series:
        return []
    return [sum(values) for values in zip(*(s.values for s in series), strict=True)]


def label_positions(count: int, most: int = MAX_X_LABELS) -> list[int]:
    """Which x labels to print so at most `most` show, always including the last (today)."""
    if count <= 0:
        return []
    every = max(1, math.ceil(count / most))
    shown = list(range(count - 1, -1, -every))
    return sorted(shown)


def _scale(value: float, top: int) -> float:
    plot = HEIGHT - PAD_TOP - PAD_BOTTOM
    return round(plot * value / top, 1) if top else 0.0


def _frame(title: str, desc: str, ticks: list[int], fmt: Callable[[int], str], labels: Sequence[str],
           slot: float) -> list[str]:
    base = HEIGHT - PAD_BOTTOM
    parts = [f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-labelledby="{{id}}-t {{id}}-d" '
             f'preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
             f'<title id="{{id}}-t">{escape(title)}</title><desc id="{{id}}-d">{escape(desc)}</desc>']
    for tick in ticks:
        y = base - _scale(tick, ticks[-1])
        parts.append(f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y}" y2="{y}"/>'
                     f'<text class="tick" x="{PAD_LEFT - 6}" y="{y + 4}" text-anchor="end">{escape(fmt(tick))}</text>')
    for i in label_positions(len(labels)):
        x = round(PAD_LEFT + slot * (i + 0.5), 1)
        parts.append(f'<text class="tick" x="{x}" y="{HEIGHT - 10}" text-anchor="middle">{escape(labels[i])}</text>')
    return parts


def _finish(parts: list[str], chart_id: str) -> str:
    parts.append("</svg>")
    return "".join(parts).replace("{id}", escape(chart_id))


def stacked_bars(chart_id: str, labels: Sequence[str], series: Sequence[Series], *, title: str, desc: str,
                 fmt: Callable[[int], str] = str) -> str:
    """One bar per label, the series stacked bottom-up in the order given."""
    totals = stack_totals(series)
    ticks = axis_ticks(max(totals, default=0))
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(labels), 1)
    bar = round(max(slot * 0.7, 1.0), 1)
    parts = _frame(title, desc, ticks, fmt, labels, slot)
    base = HEIGHT - PAD_BOTTOM
    for i, label in enumerate(labels):
        x = round(PAD_LEFT + slot * i + (slot - bar) / 2, 1)
        below = 0
        for s in series:
            value = s.values[i]
            if value <= 0:
                continue
            y0, y1 = base - _scale(below, ticks[-1]), base - _scale(below + value, ticks[-1])
            parts.append(f'<rect x="{x}" y="{y1}" width="{bar}" height="{round(y0 - y1, 1)}" fill="{s.colour}">'
                         f'<title>{escape(label)} · {escape(s.name)}: {escape(fmt(value))}</title></rect>')
            below += value
    return _finish(parts, chart_id)


def line_points(values: Sequence[int], top: int) -> list[tuple[float, float]]:
    """(x, y) of each value's point, centred in its day's slot."""
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(values), 1)
    base = HEIGHT - PAD_BOTTOM
    return [(round(PAD_LEFT + slot * (i + 0.5), 1), round(base - _scale(v, top), 1)) for i, v in enumerate(values)]


def lines(chart_id: str, labels: Sequence[str], series: Sequence[Series], *, title: str, desc: str,
          fmt: Callable[[int], str] = str) -> str:
    """One polyline per series over the same days, with a dot on each day."""
    ticks = axis_ticks(max((max(s.values, default=0) for s in series), default=0))
    slot = (WIDTH - PAD_LEFT - PAD_RIGHT) / max(len(labels), 1)
    parts = _frame(title, desc, ticks, fmt, labels, slot)
    for s in series:
        points = line_points(s.values, ticks[-1])
        path = " ".join(f"{x},{y}" for x, y in points)
        parts.append(f'<polyline fill="none" stroke="{s.colour}" stroke-width="2.5" stroke-linejoin="round" '
                     f'points="{path}"/>')
        for (x, y), label, value in zip(points, labels, s.values, strict=True):
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{s.colour}"><title>{escape(label)} · '
                         f'{escape(s.name)}: {escape(fmt(value))}</title></circle>')
    return _finish(parts, chart_id)
