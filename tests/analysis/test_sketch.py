"""The latency sketch: accuracy, exact merging, exact counts at bucket edges, compact JSON."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from rollout.analysis.sketch import MAX_BUCKETS, LatencySketch

latencies = st.floats(min_value=0.01, max_value=600_000.0, allow_nan=False)


def _filled(values: list[float]) -> LatencySketch:
    sketch = LatencySketch()
    for v in values:
        sketch.add(v)
    return sketch


@settings(max_examples=200, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=300), st.floats(min_value=0.0, max_value=1.0))
def test_quantiles_are_within_one_percent_of_the_true_order_statistic(
    values: list[float], q: float
) -> None:
    sketch = _filled(values)
    truth = sorted(values)[math.floor(q * (len(values) - 1))]
    assert abs(sketch.quantile(q) - truth) <= 0.01 * truth * (1 + 1e-9)


@settings(max_examples=100, deadline=None)
@given(st.lists(latencies, max_size=100), st.lists(latencies, max_size=100))
def test_merging_equals_adding_everything_to_one_sketch(a: list[float], b: list[float]) -> None:
    merged = _filled(a)
    merged.merge(_filled(b))
    assert merged == _filled(a + b)
    assert merged.count == len(a) + len(b)


@settings(max_examples=200, deadline=None)
@given(st.lists(latencies, min_size=1, max_size=200), latencies)
def test_count_above_an_edge_is_exact_and_never_overcounts_elsewhere(
    values: list[float], x: float
) -> None:
    sketch = _filled(values)
    edge = sketch.upper_edge(x)
    # Floating point cannot say on which side of an edge a value equal to it falls.
    assume(all(abs(v - edge) > edge * 1e-8 for v in values))
    assert edge >= x * (1 - 1e-12)
    assert sketch.count_above(edge) == sum(v > edge for v in values)
    assert sketch.count_above(x) <= sum(v > x for v in values)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1e7, allow_nan=False), max_size=200))
def test_json_round_trip_keeps_every_count(values: list[float]) -> None:
    sketch = _filled(values)
    again = LatencySketch.from_json(sketch.to_json())
    assert again == sketch
    assert again.count == sketch.count


def test_the_json_form_is_compact_and_dense() -> None:
    sketch = _filled([1.0, 1.03, 0.0])
    assert sketch.to_json() == '{"v":1,"a":0.01,"z":1,"o":0,"c":[1,0,1]}'


def test_example_300_ms_reads_back_within_accuracy() -> None:
    sketch = _filled([300.0])
    assert sketch.quantile(0.99) == pytest.approx(301.913, abs=1e-3)


def test_values_at_or_below_a_microsecond_count_as_zero() -> None:
    sketch = _filled([0.0, 0.0005, 5.0])
    assert sketch.quantile(0.0) == 0.0
    assert sketch.quantile(0.5) == 0.0
    assert sketch.count_above(0.0) == 1
    assert sketch.count_above(-1.0) == 3


def test_mean_is_within_accuracy() -> None:
    sketch = _filled([10.0, 20.0, 30.0])
    assert sketch.mean() == pytest.approx(20.0, rel=0.01)


def test_combine_leaves_its_inputs_alone() -> None:
    a, b = _filled([1.0, 2.0]), _filled([3.0])
    total = LatencySketch.combine([a, b])
    assert (total.count, a.count, b.count) == (3, 2, 1)
    assert LatencySketch.combine([]).count == 0


@pytest.mark.parametrize("bad", [-1.0, math.nan, math.inf])
def test_impossible_latencies_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="finite number of ms"):
        LatencySketch().add(bad)


def test_empty_sketch_has_no_quantile() -> None:
    with pytest.raises(ValueError, match="empty sketch"):
        LatencySketch().quantile(0.5)


def test_sketches_of_different_accuracy_do_not_merge() -> None:
    with pytest.raises(ValueError, match="different accuracy"):
        LatencySketch(0.01).merge(LatencySketch(0.02))


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("not json", "must be JSON"),
        ("[]", "must be a JSON object"),
        ('{"v":2,"a":0.01,"z":0,"o":0,"c":[]}', "unsupported latency sketch version"),
        ('{"v":1,"a":"x","z":0,"o":0,"c":[]}', "'a'"),
        ('{"v":1,"a":0.01,"z":-1,"o":0,"c":[]}', "'z'"),
        ('{"v":1,"a":0.01,"z":0,"o":1.5,"c":[]}', "'o'"),
        ('{"v":1,"a":0.01,"z":0,"o":0,"c":[1,-2]}', "every count"),
        ('{"v":1,"a":2,"z":0,"o":0,"c":[]}', "relative accuracy"),
        ('{"v":1,"a":0.0001,"z":0,"o":0,"c":[1]}', "relative accuracy must be at least 0.001"),
        ('{"v":1,"a":0.01,"z":0,"o":-1000000000,"c":[1]}', "beyond any latency"),
        ('{"v":1,"a":0.01,"z":0,"o":35800,"c":[1]}', "beyond any latency"),
        (json.dumps({"v": 1, "a": 0.01, "z": 0, "o": 0, "c": [0] * (MAX_BUCKETS + 1)}), "at most"),
    ],
)
def test_malformed_sketches_are_refused_with_a_reason(payload: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LatencySketch.from_json(payload)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(latencies, max_size=40), min_size=1, max_size=5),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_the_order_of_filling_and_merging_never_changes_what_is_read(
    parts: list[list[float]], q: float
) -> None:
    merged = LatencySketch.combine(_filled(part) for part in reversed(parts))
    everything = [v for part in parts for v in part]
    direct = _filled(sorted(everything, reverse=True))  # each value a new lowest bucket
    assert merged == direct
    assert merged.to_json() == direct.to_json()
    if everything:
        assert merged.quantile(q) == direct.quantile(q)
        assert merged.count_above(everything[0]) == direct.count_above(everything[0])
