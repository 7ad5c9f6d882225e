"""A criterion's chart as inline SVG: canary and control over the stage window, and the line
the canary is held to. Pure: points in, markup out (no chart library, no script).

Values are in the criterion's unit (``ratio`` for rates, ``ms`` for latency, ``number`` for the
rest) and are labelled that way: a ratio of 0.005 reads ``0.5%``. The time axis runs from the
window's start and is labelled in time since then (``0s``, ``30s``, ``1m``). A point whose value
is None breaks its line rather than drawing it down to zero: no data is not zero.

>>> from rollout.analysis import SeriesPoint
>>> svg = render_chart(
...     [SeriesPoint(1030.0, 0.004, 0.005, 0.02), SeriesPoint(1060.0, 0.006, 0.005, 0.02)],
...     unit="ratio", title="error_rate < 2%", start=1000.0)
>>> 'class="line canary"' in svg and "2%" in svg
True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from rollout.analysis import SeriesPoint
from rollout.plan.durations import format_duration

WIDTH = 640
HEIGHT = 220
LEFT, RIGHT, TOP, BOTTOM = 62, 24, 14, 32
"""Margins in SVG units: room for the value labels on the left and the times below."""


@dataclass(frozen=True)
class _Scale:
    """Maps data (time in seconds, value in criterion units) onto the plot area."""

    t0: float
    t1: float
    top: float

    def x(self, t: float) -> float:
        span = self.t1 - self.t0
        share = (t - self.t0) / span if span > 0 else 1.0
        return LEFT + share * (WIDTH - LEFT - RIGHT)

    def y(self, v: float) -> float:
        share = v / self.top if self.top > 0 else 0.0
        return HEIGHT - BOTTOM - share * (HEIGHT - TOP - BOTTOM)


def nice_step(span: float, ticks: int = 4) -> float:
    """A round step (1, 2 or 5 times a power of ten) that cuts ``span`` into about ``ticks``.

    >>> nice_step(0.02), nice_step(480), nice_step(7)
    (0.005, 200.0, 2.0)
    """
    raw = span / ticks
    if not (raw > 0 and math.isfinite(raw)):  # (so small it underflows, or not a span at all)
        return 1.0
    power = 10.0 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 5.0, 10.0):
        if raw <= factor * power * (1 + 1e-9):
            return factor * power
    return 10.0 * power  # pragma: no cover (the loop always returns)


_TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21600, 86400)


def time_step(span: float, ticks: int = 5) -> float:
    """A round time step in seconds for an axis ``span`` seconds long.

    >>> time_step(300), time_step(20), time_step(7200)
    (60, 5, 1800)
    """
    for step in _TIME_STEPS:
        if span / step <= ticks:
            return step
    return _TIME_STEPS[-1]


def format_value(value: float, unit: str) -> str:
    """A value in its unit for a label: ``0.005`` ratio -> ``0.5%``, ``312.4`` ms -> ``312 ms``.

    >>> format_value(0.005, "ratio"), format_value(0.0125, "ratio"), format_value(312.4, "ms")
    ('0.5%', '1.25%', '312 ms')
    """
    if unit == "ratio":
        return f"{_trim(value * 100)}%"
    if unit == "ms":
        return f"{value:.0f} ms" if abs(value) >= 10 else f"{_trim(value)} ms"
    return _trim(value)


def _trim(value: float) -> str:
    text = f"{value:.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return text.replace("e+0", "e").replace("e-0", "e-")


def _polyline(points: Sequence[tuple[float, float | None]], scale: _Scale) -> list[str]:
    """Coordinates of each unbroken run of a series (a None value ends a run)."""
    runs: list[str] = []
    current: list[str] = []
    for t, v in points:
        if v is None or not math.isfinite(v):
            if current:
                runs.append(" ".join(current))
            current = []
            continue
        current.append(f"{scale.x(t):.1f},{scale.y(v):.1f}")
    if current:
        runs.append(" ".join(current))
    return runs


def _series_markup(
    name: str, points: Sequence[tuple[float, float | None]], scale: _Scale
) -> list[str]:
    out = []
    for run in _polyline(points, scale):
        if " " in run:
            out.append(f'<polyline class="line {name}" points="{run}" />')
        else:
            x, y = run.split(",")
            out.append(f'<circle class="dot {name}" cx="{x}" cy="{y}" r="3" />')
    return out


def _axes(scale: _Scale, unit: str) -> list[str]:
    out = []
    step = nice_step(scale.top)
    tick = 0.0
    while tick <= scale.top * (1 + 1e-9):
        y = scale.y(tick)
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" />'
            f'<text class="tick" x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(format_value(tick, unit))}</text>"
        )
        tick += step
    span = scale.t1 - scale.t0
    every = time_step(span)
    at = 0.0
    while at <= span + 1e-9:
        x = scale.x(scale.t0 + at)
        # The last label ends at the plot's edge rather than running off the picture.
        anchor = "end" if at + every > span + 1e-9 and at > 0 else "middle"
        out.append(
            f'<text class="tick" x="{x:.1f}" y="{HEIGHT - BOTTOM + 20}" text-anchor="{anchor}">'
            f"{escape(format_duration(at))}</text>"
        )
        at += every
    return out


def _top(points: Sequence[SeriesPoint]) -> float:
    values = [
        v
        for p in points
        for v in (p.canary, p.control, p.threshold)
        if v is not None and math.isfinite(v)
    ]
    highest = max(values, default=0.0)
    if highest <= 0:
        return 1.0
    step = nice_step(highest * 1.15)
    return math.ceil(highest * 1.15 / step) * step


_LINES: tuple[tuple[str, Callable[[SeriesPoint], float | None]], ...] = (
    ("limit", lambda p: p.threshold),
    ("control", lambda p: p.control),
    ("canary", lambda p: p.canary),
)
"""The chart's lines, drawn in this order (the canary on top)."""


def _latest(
    points: Sequence[SeriesPoint], pick: Callable[[SeriesPoint], float | None]
) -> float | None:
    for point in reversed(points):
        value = pick(point)
        if value is not None:
            return value
    return None


def describe(points: Sequence[SeriesPoint], unit: str) -> str:
    """The chart in words, for screen readers: the latest value of each line.

    >>> describe([SeriesPoint(60.0, 0.004, 0.005, 0.02)], "ratio")
    'Latest: canary 0.4%, control 0.5%, limit 2%.'
    """
    if not points:
        return "No data yet."
    parts = []
    for label, pick in reversed(_LINES):
        value = _latest(points, pick)
        if value is not None:
            parts.append(f"{label} {format_value(value, unit)}")
    return "Latest: " + ", ".join(parts) + "."


def render_chart(
    points: Sequence[SeriesPoint],
    *,
    unit: str,
    title: str,
    start: float | None = None,
    ident: str = "chart",
) -> Markup:
    """The chart of ``points`` (oldest first) as an ``<svg>`` element.

    ``start`` is the window's start in epoch seconds (default: the first point's time); the
    value axis starts at zero and ends a little above the highest value shown. ``ident``
    prefixes the ids of the title and description (unique within the page).
    """
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{ident}-t">{escape(title)}</title>'
        f'<desc id="{ident}-d">{escape(describe(points, unit))}</desc>'
    )
    if not points:
        body = (
            f'<text class="empty" x="{WIDTH / 2}" y="{HEIGHT / 2}" text-anchor="middle">'
            "No data yet</text>"
        )
        return Markup(head + body + "</svg>")
    t0 = min(points[0].time, start) if start is not None else points[0].time
    scale = _Scale(t0, points[-1].time, _top(points))
    parts = [head, *_axes(scale, unit)]
    parts.append(
        f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{scale.y(0):.1f}" '
        f'y2="{scale.y(0):.1f}" />'
    )
    for name, pick in _LINES:
        parts += _series_markup(name, [(p.time, pick(p)) for p in points], scale)
    parts.append("</svg>")
    return Markup("".join(parts))
