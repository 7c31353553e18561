"""Daily series drawn as inline SVG on the server, for the console's dashboard: no script, no
CDN, no style attribute (the editor pages' CSP forbids inline styles; SVG presentation
attributes are not styles). Pure: series in, markup out.

Each chart carries ``<title>`` and ``<desc>`` (named by ``aria-labelledby``) and a ``<title>`` per
point or bar, so a screen reader or a hover says the day and the value; the page shows the same
numbers in a table beside it. Dates run left to right as on a calendar page; the value axis is on
the right, where an Arabic reader starts. Numbers are written by the caller's ``fmt`` (Latin or
Arabic-Indic digits, percentages), days by ``day_label``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from xml.sax.saxutils import escape, quoteattr

WIDTH = 640
HEIGHT = 260
# plot area inside the viewBox: room for the value labels on the right, the dates below, the legend above
LEFT, RIGHT, TOP, BOTTOM = 12, 64, 34, 36
PALETTE = ("#7a0e12", "#1565c0", "#2e7d32", "#e6a100", "#6a1b9a", "#00838f", "#5d4037", "#c2185b")
EMPTY = "لا بيانات لهذه المدة بعد."
_IDENT = re.compile(r"[A-Za-z][A-Za-z0-9-]{0,40}")

Format = Callable[[float], str]
DayLabel = Callable[[date], str]


@dataclass(frozen=True)
class Series:
    """One line (or the bars) of a chart: a value per day, None where nothing is known."""

    label: str
    values: Sequence[float | None]


@dataclass(frozen=True)
class Guide:
    """A horizontal reference line, e.g. the 0.3 % complaint rate that Gmail and Yahoo enforce."""

    value: float
    label: str
    colour: str = "#c62828"


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is at least ``value`` (1 for nothing)."""
    if not math.isfinite(value) or value <= 1e-12:  # nothing (or a float's dust): a unit scale
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value * (1 - 1e-12):
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def ticks(top: float) -> list[float]:
    """Evenly spaced round values from 0 to ``top`` (a ``nice_ceiling``): quarters of 1 and 2,
    fifths of 2.5 and 5 (never 1.25 or 0.375)."""
    mantissa = round(top / 10 ** math.floor(math.log10(top)), 6) if top > 0 else 1.0
    count = 4 if mantissa in (1.0, 2.0, 10.0) else 5
    return [top * i / count for i in range(count + 1)]


def _num(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


class _Frame:
    """Maps a day index and a value to viewBox coordinates."""

    def __init__(self, days: int, top: float, *, bars: bool) -> None:
        self.days = max(days, 1)
        self.top = top
        self.bars = bars
        self.x0, self.x1 = LEFT, WIDTH - RIGHT
        self.y0, self.y1 = HEIGHT - BOTTOM, TOP

    @property
    def slot(self) -> float:
        return (self.x1 - self.x0) / self.days

    def x(self, index: int) -> float:
        if self.bars or self.days == 1:
            return self.x0 + self.slot * (index + 0.5)
        return self.x0 + (self.x1 - self.x0) * index / (self.days - 1)

    def y(self, value: float) -> float:
        return self.y0 - (self.y0 - self.y1) * min(max(value / self.top, 0.0), 1.0)


def _start(kind: str, title: str, desc: str, ident: str) -> list[str]:
    if not _IDENT.fullmatch(ident):
        raise ValueError(f"chart ident {ident!r} must be letters, digits and '-'")
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart chart-{kind}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="{ident}-title {ident}-desc" direction="rtl" '
        f'font-family="Tahoma, Arial, sans-serif" font-size="12" id="{ident}">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(desc)}</desc>',
        f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#ffffff"/>',
    ]


def _axes(frame: _Frame, days: Sequence[date], fmt: Format, day_label: DayLabel) -> list[str]:
    out = ['<g class="grid" stroke="#e2e4e8" stroke-width="1">']
    labels = ['<g class="values" fill="#555555">']
    for value in ticks(frame.top):
        y = frame.y(value)
        out.append(f'<line x1="{frame.x0}" y1="{_num(y)}" x2="{frame.x1}" y2="{_num(y)}"/>')
        # direction rtl: "end" puts the label's left edge at x, just right of the plot
        labels.append(f'<text x="{frame.x1 + 6}" y="{_num(y + 4)}" text-anchor="end">{escape(fmt(value))}</text>')
    out.append("</g>")
    labels.append("</g>")
    out += labels
    out.append('<g class="days" fill="#555555">')
    step = max(1, math.ceil(len(days) / 6))
    for k, index in enumerate(range(len(days) - 1, -1, -step)):  # always label the latest day
        alt = ' class="alt"' if k % 2 else ""  # every other one: a phone's page hides them (larger type)
        out.append(f'<text{alt} x="{_num(frame.x(index))}" y="{HEIGHT - BOTTOM + 18}" text-anchor="middle">'
                   f"{escape(day_label(days[index]))}</text>")
    out.append("</g>")
    out.append(f'<line x1="{frame.x0}" y1="{frame.y0}" x2="{frame.x1}" y2="{frame.y0}" stroke="#888888"/>')
    return out


def _guides(frame: _Frame, guides: Sequence[Guide], fmt: Format) -> list[str]:
    out = []
    for guide in guides:
        if guide.value > frame.top:
            continue
        y = _num(frame.y(guide.value))
        out.append(f'<g class="guide"><line x1="{frame.x0}" y1="{y}" x2="{frame.x1}" y2="{y}" '
                   f'stroke={quoteattr(guide.colour)} stroke-width="1.5" stroke-dasharray="6 4"/>'
                   f'<text x="{frame.x0 + 4}" y="{_num(frame.y(guide.value) - 4)}" text-anchor="end" '
                   f'fill={quoteattr(guide.colour)} stroke="#ffffff" stroke-width="3" paint-order="stroke">'
                   f'{escape(guide.label)} ({escape(fmt(guide.value))})</text></g>')
    return out


def _legend(series: Sequence[Series]) -> list[str]:
    out = ['<g class="legend">']
    x = WIDTH - RIGHT
    for i, one in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<rect x="{x - 10}" y="10" width="10" height="10" fill="{colour}"/>'
                   f'<text x="{x - 14}" y="19" text-anchor="start" fill="#222222">{escape(one.label)}</text>')
        x -= 28 + 10 * len(one.label)  # room for the label at the phone's larger font
    out.append("</g>")
    return out


def _empty(out: list[str]) -> str:
    out.append(f'<text class="empty" x="{WIDTH // 2}" y="{HEIGHT // 2}" text-anchor="middle" fill="#666666" '
               f'font-size="15">{EMPTY}</text></svg>')
    return "".join(out)


def _top(series: Sequence[Series], guides: Sequence[Guide]) -> float:
    known = [v for s in series for v in s.values if v is not None]
    return nice_ceiling(max([*known, *(g.value for g in guides)], default=0.0))


def _has_data(series: Sequence[Series]) -> bool:
    return any(v is not None for s in series for v in s.values)


def line_chart(
    ident: str, title: str, desc: str, days: Sequence[date], series: Sequence[Series], *,
    fmt: Format, day_label: DayLabel, guides: Sequence[Guide] = (),
) -> str:
    """Lines over ``days``, one per series; a day without a value breaks its line."""
    _check(days, series)
    out = _start("line", title, desc, ident)
    if not days or not _has_data(series):
        return _empty(out)
    frame = _Frame(len(days), _top(series, guides), bars=False)
    out += _axes(frame, days, fmt, day_label)
    out += _guides(frame, guides, fmt)
    for i, one in enumerate(series):
        colour = PALETTE[i % len(PALETTE)]
        out.append(f'<g class="series" data-series={quoteattr(one.label)} stroke="{colour}" fill="{colour}">')
        run: list[str] = []
        for index, value in enumerate([*one.values, None]):
            if value is None:
                if len(run) > 1:
                    out.append(f'<polyline fill="none" stroke-width="2" points="{" ".join(run)}"/>')
                run = []
                continue
            x, y = _num(frame.x(index)), _num(frame.y(value))
            run.append(f"{x},{y}")
            out.append(f'<circle cx="{x}" cy="{y}" r="2.5"><title>{escape(one.label)} · '
                       f"{escape(day_label(days[index]))}: {escape(fmt(value))}</title></circle>")
        out.append("</g>")
    if len(series) > 1 or series[0].label:
        out += _legend(series)
    out.append("</svg>")
    return "".join(out)


def bar_chart(
    ident: str, title: str, desc: str, days: Sequence[date], series: Series, *,
    fmt: Format, day_label: DayLabel, guides: Sequence[Guide] = (),
) -> str:
    """A bar per day; a day without a value has none."""
    _check(days, [series])
    out = _start("bar", title, desc, ident)
    if not days or not _has_data([series]):
        return _empty(out)
    frame = _Frame(len(days), _top([series], guides), bars=True)
    out += _axes(frame, days, fmt, day_label)
    width = max(frame.slot * 0.7, 1.0)
    out.append(f'<g class="series" data-series={quoteattr(series.label)} fill="{PALETTE[0]}">')
    for index, value in enumerate(series.values):
        if not value:  # unknown or none: no bar (the point's title and the table still say so)
            continue
        y = frame.y(value)
        out.append(f'<rect x="{_num(frame.x(index) - width / 2)}" y="{_num(y)}" width="{_num(width)}" '
                   f'height="{_num(frame.y0 - y)}"><title>{escape(day_label(days[index]))}: '
                   f"{escape(fmt(value))}</title></rect>")
    out.append("</g>")
    out += _guides(frame, guides, fmt)
    out.append("</svg>")
    return "".join(out)


def _check(days: Sequence[date], series: Sequence[Series]) -> None:
    for one in series:
        if len(one.values) != len(days):
            raise ValueError(f"series {one.label!r} has {len(one.values)} values for {len(days)} days")
