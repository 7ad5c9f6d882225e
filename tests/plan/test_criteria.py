"""The criteria language: every form, every error with its column, canonical round trips."""

from __future__ import annotations

import doctest
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.errors import CriterionSyntaxError
from rollout.plan import criteria
from rollout.plan.criteria import (
    Comparison,
    Criterion,
    Direction,
    NoRegression,
    RelativeToControl,
    Threshold,
    Unit,
    criterion_text,
    latency_percentile,
    parse_criterion,
)

# --- every accepted form ------------------------------------------------------------------------

PARSES: list[tuple[str, Criterion]] = [
    # absolute thresholds, each unit
    ("error_rate < 1%", Threshold("error_rate", "<", 0.01, "ratio")),
    ("latency_p99 < 300ms", Threshold("latency_p99", "<", 300.0, "ms")),
    ("latency_p95 <= 0.3s", Threshold("latency_p95", "<=", 300.0, "ms")),
    ("latency_p95 <= 250us", Threshold("latency_p95", "<=", 0.25, "ms")),
    ("latency_p95 <= 250µs", Threshold("latency_p95", "<=", 0.25, "ms")),
    ("latency_p95 <= 2m", Threshold("latency_p95", "<=", 120_000.0, "ms")),
    ("latency_p95 <= 300 MS", Threshold("latency_p95", "<=", 300.0, "ms")),
    ("checkout_conversion >= 2.5%", Threshold("checkout_conversion", ">=", 0.025, "ratio")),
    ("requests > 1000", Threshold("requests", ">", 1000.0, "number")),
    ("error_rate < 0.01", Threshold("error_rate", "<", 0.01, "number")),
    ("error_rate < 1e-3", Threshold("error_rate", "<", 0.001, "number")),
    ("error_rate < .5%", Threshold("error_rate", "<", 0.005, "ratio")),
    ("error_rate < 100%", Threshold("error_rate", "<", 1.0, "ratio")),
    ("error_rate >= 0%", Threshold("error_rate", ">=", 0.0, "ratio")),
    ("requests > 1_000", Threshold("requests", ">", 1000.0, "number")),
    ("requests > 1,000,000", Threshold("requests", ">", 1_000_000.0, "number")),
    ("requests > 12,345.5", Threshold("requests", ">", 12345.5, "number")),
    ("latency_p99.9 < 1s", Threshold("latency_p99.9", "<", 1000.0, "ms")),
    ("checkout.conversion >= 2%", Threshold("checkout.conversion", ">=", 0.02, "ratio")),
    # blanks are free, ≤ and ≥ read as <= and >=
    ("error_rate<1%", Threshold("error_rate", "<", 0.01, "ratio")),
    ("  error_rate   <   1 %  ", Threshold("error_rate", "<", 0.01, "ratio")),
    ("latency_p99 ≤ 300ms", Threshold("latency_p99", "<=", 300.0, "ms")),
    ("conversion ≥ 2%", Threshold("conversion", ">=", 0.02, "ratio")),
    # relative to control
    ("latency_p99 <= control * 1.10", RelativeToControl("latency_p99", "<=", 1.1, 0.0, "number")),
    ("error_rate < control * 2", RelativeToControl("error_rate", "<", 2.0, 0.0, "number")),
    ("error_rate <= control + 0.5%", RelativeToControl("error_rate", "<=", 1.0, 0.005, "ratio")),
    ("conversion >= control - 0.5%", RelativeToControl("conversion", ">=", 1.0, -0.005, "ratio")),
    ("error_rate <= control", RelativeToControl("error_rate", "<=", 1.0, 0.0, "number")),
    (
        "error_rate <= control * 2 + 0.1%",
        RelativeToControl("error_rate", "<=", 2.0, 0.001, "ratio"),
    ),
    ("latency_p99 <= control + 20ms", RelativeToControl("latency_p99", "<=", 1.0, 20.0, "ms")),
    ("requests >= control - 100", RelativeToControl("requests", ">=", 1.0, -100.0, "number")),
    ("latency_p99 <= 1.1x control", RelativeToControl("latency_p99", "<=", 1.1, 0.0, "number")),
    ("latency_p99 <= 1.1 * control", RelativeToControl("latency_p99", "<=", 1.1, 0.0, "number")),
    (
        "latency_p99 <= 1.1x control.latency_p99",
        RelativeToControl("latency_p99", "<=", 1.1, 0.0, "number"),
    ),
    ("latency_p99 <= control x 1.1", RelativeToControl("latency_p99", "<=", 1.1, 0.0, "number")),
    ("latency_p99 <= control × 1.1", RelativeToControl("latency_p99", "<=", 1.1, 0.0, "number")),
    ("latency_p99<=control*1.1+5ms", RelativeToControl("latency_p99", "<=", 1.1, 5.0, "ms")),
    (
        "canary.error_rate <= control * 1.1",
        RelativeToControl("error_rate", "<=", 1.1, 0.0, "number"),
    ),
    (
        "Canary.latency_p99 <= Control.latency_p99 * 1.1",
        RelativeToControl("latency_p99", "<=", 1.1, 0.0, "number"),
    ),
    ("canary.error_rate < 1%", Threshold("error_rate", "<", 0.01, "ratio")),
    # no regression / no increase / no drop
    ("error_rate: no regression", NoRegression("error_rate", 0.0, "auto")),
    ("latency_p99: no regression > 5%", NoRegression("latency_p99", 0.05, "auto")),
    ("latency_p99: no regression > 150%", NoRegression("latency_p99", 1.5, "auto")),
    ("checkout_conversion: no drop > 2%", NoRegression("checkout_conversion", 0.02, "down")),
    ("checkout_conversion: no drop", NoRegression("checkout_conversion", 0.0, "down")),
    ("error_rate: no increase", NoRegression("error_rate", 0.0, "up")),
    ("error_rate: no increase > 10%", NoRegression("error_rate", 0.1, "up")),
    ("error_rate: No Regression", NoRegression("error_rate", 0.0, "auto")),
    ("error_rate:NO DROP>2%", NoRegression("error_rate", 0.02, "down")),
    ("error_rate: no-regression", NoRegression("error_rate", 0.0, "auto")),
    ("canary.error_rate: no regression", NoRegression("error_rate", 0.0, "auto")),
]


@pytest.mark.parametrize(("text", "expected"), PARSES, ids=[text for text, _ in PARSES])
def test_parses_every_form(text: str, expected: Criterion) -> None:
    parsed = parse_criterion(text)
    assert parsed == expected
    assert type(parsed) is type(expected)
    assert parsed.text == text


def test_text_keeps_the_users_spelling_but_does_not_affect_equality() -> None:
    a = parse_criterion("error_rate<1%")
    b = parse_criterion("error_rate <  1 %")
    assert a == b
    assert hash(a) == hash(b)
    assert (a.text, b.text) == ("error_rate<1%", "error_rate <  1 %")


def test_values_are_frozen() -> None:
    parsed = parse_criterion("error_rate < 1%")
    assert isinstance(parsed, Threshold)
    with pytest.raises(AttributeError):
        parsed.value = 0.5  # type: ignore[misc]


def test_percentages_are_exact_fractions() -> None:
    # 0.07 * 100 is 7.000000000000001 in floating point; the parser must not go that way round.
    assert parse_criterion("error_rate < 7%") == Threshold("error_rate", "<", 0.07, "ratio")
    assert parse_criterion("error_rate < 0.1%") == Threshold("error_rate", "<", 0.001, "ratio")


def test_metric_names_keep_their_spelling() -> None:
    assert parse_criterion("Error_Rate < 1%").metric == "Error_Rate"


# --- canonical text ------------------------------------------------------------------------------

CANONICAL = [
    ("error_rate<1%", "error_rate < 1%"),
    ("latency_p95 <= 0.3s", "latency_p95 <= 300ms"),
    ("latency_p95 <= 250us", "latency_p95 <= 0.25ms"),
    ("requests > 1,000", "requests > 1000"),
    ("error_rate < 1e-9", "error_rate < 1e-9"),
    ("requests > 1e20", "requests > 1e+20"),
    ("canary.latency_p99 <= CONTROL * 1.10", "latency_p99 <= control * 1.1"),
    ("latency_p99 <= 1.1x control", "latency_p99 <= control * 1.1"),
    ("error_rate <= control * 1 + 0.5%", "error_rate <= control + 0.5%"),
    ("conversion >= control - 0.5%", "conversion >= control - 0.5%"),
    ("latency_p99 <= control + 0ms", "latency_p99 <= control + 0ms"),
    ("error_rate <= control + 0", "error_rate <= control"),
    ("error_rate ≤ control × 2", "error_rate <= control * 2"),
    ("checkout_conversion:No Drop>2%", "checkout_conversion: no drop > 2%"),
    ("error_rate: no-regression", "error_rate: no regression"),
    ("error_rate: no increase > 10.0%", "error_rate: no increase > 10%"),
]


@pytest.mark.parametrize(("text", "canonical"), CANONICAL)
def test_str_is_canonical_and_reads_back(text: str, canonical: str) -> None:
    parsed = parse_criterion(text)
    assert str(parsed) == canonical
    assert parse_criterion(canonical) == parsed


def test_str_of_hand_built_values() -> None:
    assert str(Threshold("error_rate", "<", 0.01, "ratio")) == "error_rate < 1%"
    assert str(RelativeToControl("latency_p99", "<=", 1.1, 0.0, "number")) == (
        "latency_p99 <= control * 1.1"
    )
    assert str(NoRegression("checkout_conversion", 0.02, "down")) == (
        "checkout_conversion: no drop > 2%"
    )


# --- errors, with their columns ------------------------------------------------------------------

ERRORS = [
    ("", 1, "empty criterion"),
    ("   ", 1, "empty criterion"),
    (
        "error_rate = 1%",
        12,
        "expected a comparison (<, <=, >, >=) or ':' after 'error_rate', found '='",
    ),
    (
        "error_rate == 1%",
        12,
        "expected a comparison (<, <=, >, >=) or ':' after 'error_rate', found '=='",
    ),
    (
        "error_rate =< 1%",
        12,
        "expected a comparison (<, <=, >, >=) or ':' after 'error_rate', found '=<' "
        "(did you mean '<='?)",
    ),
    (
        "error_rate => 1%",
        12,
        "expected a comparison (<, <=, >, >=) or ':' after 'error_rate', found '=>' "
        "(did you mean '>='?)",
    ),
    (
        "error_rate",
        11,
        "expected a comparison (<, <=, >, >=) or ':' after 'error_rate', found the end",
    ),
    (
        "error rate < 1%",
        7,
        "expected a comparison (<, <=, >, >=) or ':' after 'error', found 'rate' "
        "(metric names have no spaces; use '_')",
    ),
    (
        "error_rate no regression",
        12,
        "expected a comparison (<, <=, >, >=) or ':' after 'error_rate', found 'no' "
        "(did you mean 'error_rate: no ...'?)",
    ),
    ("< 1%", 1, "expected a metric name, found '<'"),
    ("1% > error_rate", 1, "expected a metric name, found '1' (put the metric on the left)"),
    ("canary < 1%", 1, "expected a metric name after 'canary.'"),
    (
        "control.error_rate < 1%",
        1,
        "the left side must be the canary's metric, found 'control.error_rate' "
        "(compare with 'control' on the right)",
    ),
    ("error_rate <", 13, "expected a number or 'control' after '<', found the end"),
    ("error_rate <   ", 13, "expected a number or 'control' after '<', found the end"),
    ("error_rate < %", 14, "expected a number or 'control' after '<', found '%'"),
    (
        "error_rate < -1%",
        14,
        "expected a number or 'control' after '<', found '-' (values cannot be negative)",
    ),
    ("error_rate < 1 sec", 16, "unknown unit 'sec' (use us, ms, s, m or %)"),
    ("latency_p99 < 300msec", 18, "unknown unit 'msec' (use us, ms, s, m or %)"),
    ("latency_p99 < 1h", 16, "unknown unit 'h' (use us, ms, s, m or %)"),
    ("latency_p99 < 1M", 16, "unknown unit 'M' (use us, ms, s, m or %)"),
    ("error_rate < 150%", 14, "a percentage must be between 0% and 100%"),
    ("error_rate <= control + 101%", 25, "a percentage must be between 0% and 100%"),
    ("conversion: no drop > 100.5%", 23, "a percentage must be between 0% and 100%"),
    (
        "latency_p99 < 5%",
        16,
        "'latency_p99' is a latency: give a time such as 300ms, not a %",
    ),
    (
        "latency_p99 <= control + 10%",
        28,
        "'latency_p99' is a latency: add a time such as '+ 20ms', or scale it "
        "('control * 1.1' allows 10% more)",
    ),
    ("error_rate < 1% x", 17, "unexpected 'x' after the end of the criterion"),
    ("latency_p99 <= control * 1.1x", 29, "unexpected 'x' after the end of the criterion"),
    ("error_rate < 1%%", 16, "unexpected '%' after the end of the criterion"),
    ("error_rate < 1.", 15, "unexpected '.' after the end of the criterion"),
    (
        "error_rate < 1% and latency_p99 < 300ms",
        17,
        "unexpected 'and' after the end of the criterion "
        "(write one condition per criterion, as separate list entries)",
    ),
    (
        "error_rate < 1%, latency_p99 < 300ms",
        16,
        "unexpected ',' after the end of the criterion "
        "(write one condition per criterion, as separate list entries)",
    ),
    (
        "error_rate < 1 or latency_p99 < 300ms",
        16,
        "unexpected 'or' after the end of the criterion "
        "(write one condition per criterion, as separate list entries)",
    ),
    ("latency_p99 <= control *", 25, "expected a number after '*', found the end"),
    ("latency_p99 <= control * -2", 26, "expected a number after '*', found '-'"),
    ("latency_p99 <= control * 0", 26, "the factor must be greater than 0"),
    ("latency_p99 <= 0x control", 16, "the factor must be greater than 0"),
    (
        "latency_p99 <= control * 110%",
        29,
        "a factor is a plain number: write 1.1 rather than 110%",
    ),
    ("error_rate < 2x", 16, "expected 'control' after '2x', found the end"),
    ("error_rate < 2 x", 17, "expected 'control' after '2 x', found the end"),
    ("error_rate < 2 * baseline", 18, "expected 'control' after '2 *', found 'baseline'"),
    (
        "error_rate <= control 2",
        23,
        "unexpected '2' after 'control' (did you mean 'control * 2'?)",
    ),
    (
        "error_rate <= control.latency_p99 * 2",
        15,
        "both sides must be the same metric: 'error_rate' is compared with "
        "'control.latency_p99' (write 'control.error_rate' or just 'control')",
    ),
    ("error_rate <= control +", 24, "expected a number after '+', found the end"),
    ("error_rate <= controls", 15, "expected a number or 'control' after '<=', found 'controls'"),
    (
        "error_rate:",
        12,
        "expected 'no regression', 'no drop' or 'no increase' after ':', found the end",
    ),
    (
        "error_rate: regression",
        13,
        "expected 'no regression', 'no drop' or 'no increase' after ':', found 'regression'",
    ),
    (
        "error_rate: no_regression",
        13,
        "expected 'no regression', 'no drop' or 'no increase' after ':', "
        "found 'no_regression' (write it as two words: 'no regression')",
    ),
    ("error_rate: no", 15, "expected 'regression', 'drop' or 'increase' after 'no', found the end"),
    (
        "error_rate: no regresion",
        16,
        "expected 'regression', 'drop' or 'increase' after 'no', found 'regresion'",
    ),
    (
        "error_rate: no regression 5%",
        27,
        "expected '>' before the tolerance (e.g. 'no regression > 5%'), found '5'",
    ),
    (
        "error_rate: no drop >= 5%",
        21,
        "expected '>' before the tolerance (e.g. 'no drop > 5%'), found '>='",
    ),
    ("error_rate: no regression > 5", 29, "write the tolerance as a percentage, e.g. '> 5%'"),
    ("error_rate: no regression > 5ms", 29, "write the tolerance as a percentage, e.g. '> 5%'"),
    ("error_rate: no regression >", 28, "expected a percentage after '>', found the end"),
    (
        "error_rate: no regression over 5%",
        27,
        "unexpected 'over' after the end of the criterion",
    ),
    (
        "error_rate < 1,5%",
        15,
        "',' in a number must separate groups of three digits (use '.' for decimals)",
    ),
    (
        "requests > 1000,000",
        16,
        "',' in a number must separate groups of three digits (use '.' for decimals)",
    ),
    (
        "requests > 1,0000",
        13,
        "',' in a number must separate groups of three digits (use '.' for decimals)",
    ),
    ("requests > 1__000", 13, "'_' in a number must sit between two digits"),
    ("requests > 1000_", 16, "'_' in a number must sit between two digits"),
    ("requests > 1e999", 12, "1e999 is too large"),
    ("error_rate < 1% # comment", 17, "unexpected '#' after the end of the criterion"),
]


@pytest.mark.parametrize(("text", "column", "message"), ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_say_what_was_expected_and_where(text: str, column: int, message: str) -> None:
    with pytest.raises(CriterionSyntaxError) as caught:
        parse_criterion(text)
    assert (caught.value.message, caught.value.column) == (message, column)
    assert caught.value.text == text
    assert str(caught.value) == f"column {column}: {message}"


# --- latency percentile names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "percentile"),
    [
        ("latency_p99", 99.0),
        ("latency_p95", 95.0),
        ("latency_p50", 50.0),
        ("latency_p5", 5.0),
        ("latency_p99.9", 99.9),
        ("latency_p99.99", 99.99),
        ("latency_p999", 99.9),
        ("latency_p9999", 99.99),
        ("latency_p100", 100.0),
        ("Latency_P99", 99.0),
        ("latency_p", None),
        ("latency_p99.", None),
        ("latency_p99.x", None),
        ("latency_p120", None),
        ("latency_p99_ms", None),
        ("latency_p²", None),
        ("error_rate", None),
        ("p99", None),
    ],
)
def test_latency_percentile(name: str, percentile: float | None) -> None:
    assert latency_percentile(name) == percentile


# --- YAML entries --------------------------------------------------------------------------------


def test_criterion_text_rejoins_a_yaml_mapping() -> None:
    assert criterion_text({"error_rate": "no regression"}) == "error_rate: no regression"
    assert criterion_text("error_rate < 1%") == "error_rate < 1%"
    assert parse_criterion(criterion_text({"conversion": "no drop > 2%"})) == NoRegression(
        "conversion", 0.02, "down"
    )


@pytest.mark.parametrize("entry", [5, None, {"error_rate": 5}, {"a": "no drop", "b": "no drop"}])
def test_criterion_text_refuses_other_shapes(entry: object) -> None:
    with pytest.raises(CriterionSyntaxError, match="expected a criterion such as") as caught:
        criterion_text(entry)
    assert caught.value.column == 1


# --- properties ----------------------------------------------------------------------------------

_KEYWORDS = {"control", "canary", "no", "and", "or", "x"}
names = (
    st.from_regex(r"[a-z_][a-z0-9_]{0,15}(\.[a-z0-9_]{1,5})?", fullmatch=True)
    .filter(lambda n: n.partition(".")[0] not in _KEYWORDS)
    .filter(lambda n: latency_percentile(n) is None)
)
latency_names = st.sampled_from(["latency_p50", "latency_p99", "latency_p99.9", "latency_p999"])
_OPS: tuple[Comparison, ...] = ("<", "<=", ">", ">=")
_UNITS: tuple[Unit, ...] = ("ratio", "ms", "number")
_DIRECTIONS: tuple[Direction, ...] = ("auto", "up", "down")
ops = st.sampled_from(_OPS)
fractions = st.floats(min_value=0.0, max_value=1.0)
non_negative = st.floats(min_value=0.0, max_value=1e300)


@st.composite
def thresholds(draw: st.DrawFn) -> Threshold:
    unit = draw(st.sampled_from(_UNITS))
    metric = draw(latency_names if unit == "ms" and draw(st.booleans()) else names)
    value = draw(fractions if unit == "ratio" else non_negative)
    return Threshold(metric, draw(ops), value, unit)


@st.composite
def relatives(draw: st.DrawFn) -> RelativeToControl:
    unit = draw(st.sampled_from(_UNITS))
    metric = draw(latency_names if unit == "ms" and draw(st.booleans()) else names)
    factor = draw(st.floats(min_value=1e-6, max_value=1e6).filter(lambda f: f > 0))
    magnitude = draw(fractions if unit == "ratio" else non_negative)
    offset = -magnitude if draw(st.booleans()) else magnitude
    return RelativeToControl(metric, draw(ops), factor, offset, unit)


@st.composite
def no_regressions(draw: st.DrawFn) -> NoRegression:
    direction = draw(st.sampled_from(_DIRECTIONS))
    tolerance = draw(fractions if direction == "down" else st.floats(0.0, 100.0))
    return NoRegression(draw(st.one_of(names, latency_names)), tolerance, direction)


@given(st.one_of(thresholds(), relatives(), no_regressions()))
def test_canonical_text_reads_back_to_an_equal_value(criterion: Criterion) -> None:
    assert parse_criterion(str(criterion)) == criterion


@given(st.one_of(thresholds(), relatives(), no_regressions()))
def test_canonical_text_is_stable(criterion: Criterion) -> None:
    once = str(parse_criterion(str(criterion)))
    assert str(parse_criterion(once)) == once


@given(st.text(alphabet=st.sampled_from(list("abcnotrlx_.09:<=>*+-%, smµ")), max_size=30))
def test_any_text_parses_or_fails_with_a_column_inside_the_text(text: str) -> None:
    try:
        parsed = parse_criterion(text)
    except CriterionSyntaxError as error:
        assert 1 <= error.column <= len(text) + 1
        assert error.text == text
    else:
        assert parse_criterion(str(parsed)) == parsed
        if isinstance(parsed, Threshold):
            assert math.isfinite(parsed.value)


def test_docstring_examples_hold() -> None:
    result = doctest.testmod(criteria, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
