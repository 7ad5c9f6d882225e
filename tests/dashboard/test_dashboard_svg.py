"""The criterion charts: inline SVG drawn from series points, with no chart library."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from rollout.analysis import SeriesPoint
from rollout.server.dashboard.svg import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, render_chart

POINT = re.compile(r"(-?\d+\.\d),(-?\d+\.\d)")


def coordinates(svg: str) -> list[tuple[float, float]]:
    found = []
    for points in re.findall(r'points="([^"]+)"', svg):
        found += [(float(x), float(y)) for x, y in POINT.findall(points)]
    found += [
        (float(x), float(y)) for x, y in re.findall(r'<circle [^>]*cx="([^"]+)" cy="([^"]+)"', svg)
    ]
    return found


def test_each_line_is_drawn_and_labelled_in_the_criterions_unit() -> None:
    points = [
        SeriesPoint(1030.0, 0.004, 0.005, 0.02),
        SeriesPoint(1060.0, 0.012, 0.006, 0.02),
        SeriesPoint(1090.0, 0.025, 0.005, 0.02),
    ]
    svg = render_chart(points, unit="ratio", title="error_rate < 2%", start=1000.0)
    for line in ("canary", "control", "limit"):
        assert len(re.findall(f'<polyline class="line {line}"', svg)) == 1
    ticks = re.findall(r'<text class="tick"[^>]*>([^<]+)</text>', svg)
    assert ticks[:4] == ["0%", "1%", "2%", "3%"]  # up to a little above the highest value
    assert ticks[4:] == ["0s", "30s", "1m", "1m30s"]  # time since the window opened
    assert "Latest: canary 2.5%, control 0.5%, limit 2%." in svg


def test_latency_reads_in_milliseconds() -> None:
    svg = render_chart(
        [SeriesPoint(60.0, 240.0, 200.0, 220.0)], unit="ms", title="latency_p99", start=0.0
    )
    assert "Latest: canary 240 ms, control 200 ms, limit 220 ms." in svg
    assert ">100 ms<" in svg


def test_no_data_breaks_a_line_rather_than_drawing_zero() -> None:
    points = [
        SeriesPoint(30.0, 0.01, 0.01, None),
        SeriesPoint(60.0, 0.01, None, None),
        SeriesPoint(90.0, None, 0.01, None),
        SeriesPoint(120.0, 0.01, 0.01, None),
    ]
    svg = render_chart(points, unit="ratio", title="t")
    assert len(re.findall(r'<polyline class="line canary"', svg)) == 1  # 30 s and 60 s
    assert len(re.findall(r'<circle class="dot canary"', svg)) == 1  # 120 s, alone
    assert "line limit" not in svg and "dot limit" not in svg


def test_an_empty_series_says_so() -> None:
    svg = render_chart([], unit="ratio", title="error_rate < 1%")
    assert "No data yet" in svg and "<polyline" not in svg


def test_the_title_is_text_not_markup() -> None:
    svg = render_chart([], unit="ratio", title='</title><script>alert("x")</script>')
    assert "<script>" not in svg
    assert "&lt;/title&gt;&lt;script&gt;" in svg


values = st.one_of(st.none(), st.floats(min_value=0, max_value=1e9, allow_nan=False))


@given(
    st.lists(st.tuples(values, values, values), min_size=1, max_size=30),
    st.floats(min_value=0.001, max_value=86_400.0),
)
def test_every_point_lands_inside_the_plot(
    rows: list[tuple[float | None, float | None, float | None]], step: float
) -> None:
    points = [SeriesPoint(1_000.0 + step * (i + 1), *row) for i, row in enumerate(rows)]
    svg = render_chart(points, unit="number", title="t", start=1_000.0)
    for x, y in coordinates(svg):
        assert LEFT - 0.05 <= x <= WIDTH - RIGHT + 0.05
        assert TOP - 0.05 <= y <= HEIGHT - BOTTOM + 0.05
