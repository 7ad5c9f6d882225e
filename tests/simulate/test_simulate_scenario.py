"""Loading scenarios: the values people write, and every mistake at its line and column."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from simulate_cases import plan

from rollout.errors import PlanError
from rollout.simulate import load_scenario, load_scenario_text
from rollout.simulate.behaviour import LatencyModel, Versions
from rollout.simulate.scenario import ALWAYS

GOOD = """\
seed: 3
traffic:
  requests_per_second: 20
world:
  gates: {default: 1, Tests pass: fail}
  approvals: {production: 20m}
"""


def problems(text: str, with_plan: bool = True) -> list[str]:
    with pytest.raises(PlanError) as caught:
        load_scenario_text(text, "s.yaml", plan() if with_plan else None)
    return [str(problem) for problem in caught.value.problems]


def test_a_scenario_fills_in_its_defaults() -> None:
    scenario = load_scenario_text(GOOD, "s.yaml", plan())
    assert scenario.seed == 3 and scenario.horizon == 86_400.0
    assert scenario.traffic.users == 100_000
    assert scenario.world.gates == {"default": 1, "Tests pass": ALWAYS}
    assert scenario.world.approvals == {"production": 1200.0}
    assert scenario.world.deploys == {}  # nothing said: every deploy passes
    assert load_scenario_text(
        "traffic: {requests_per_second: 1}\nworld: {checks: 2}"
    ).world.checks == {"default": 2}


@given(st.decimals(min_value=0, max_value=1000, places=2))
def test_a_factor_reads_as_written(factor: object) -> None:
    text = f"traffic: {{requests_per_second: 1}}\nregressions: [{{error_rate: x{factor}}}]"
    (regression,) = load_scenario_text(text).regressions
    assert regression.error_rate == pytest.approx(float(str(factor)))


@given(st.decimals(min_value=0, max_value=100, places=1), st.sampled_from("+-"))
def test_a_relative_change_reads_as_a_factor(size: object, sign: str) -> None:
    text = f"traffic: {{requests_per_second: 1}}\nregressions: [{{conversion: '{sign}{size}%'}}]"
    (regression,) = load_scenario_text(text).regressions
    expected = 1 + float(str(size)) / 100 if sign == "+" else 1 - float(str(size)) / 100
    assert regression.conversion == pytest.approx(expected)


def test_mistakes_are_reported_together_at_their_line_and_column() -> None:
    text = """\
seed: -1
horizon: 2 days
traffic:
  requests_per_second: fast
  usrs: 10
regressions:
  - after: 10m
    error_rate: 2
  - after: 1h
world:
  gates: {Tests pass: maybe}
  approvals: soon
  operator: {on_pause: panic}
"""
    assert problems(text) == [
        "s.yaml:1:7: seed: must be at least 0, found -1",
        "s.yaml:2:12: horizon: unknown unit 'days' (use ms, s, m, h, d or w)",
        "s.yaml:4:24: traffic.requests_per_second: expected a number, found 'fast'",
        "s.yaml:5:3: traffic.usrs: unknown key (did you mean 'users'?)",
        "s.yaml:8:17: regressions[0].error_rate: expected a change like x2 (twice), +40% "
        "(40 % more) or -3% (3 % less), found 2",
        "s.yaml:9:5: regressions[1]: a regression changes at least one of error_rate, latency, "
        "latency_p99, conversion or metrics",
        's.yaml:11:23: world.gates["Tests pass"]: expected pass, fail, or how many attempts '
        "fail before one passes (0, 1, 2...), found 'maybe'",
        "s.yaml:12:14: world.approvals.default: expected a delay like 0s or 15m, 'never' or "
        "'reject', found 'soon'",
        "s.yaml:13:24: world.operator.on_pause: expected one of 'wait', 'abort', found 'panic'",
    ]


def test_names_are_checked_against_the_plan() -> None:
    text = """\
traffic:
  requests_per_second: 5
  environments: {prod: {requests_per_second: 1}}
segments: {staf: 2%}
regressions:
  - environment: prodution
    metrics: {conversions: -5%}
world:
  gates: {Tests passing: fail}
  sign_offs: {Tests pass: 1h}
  checks: {smoke: fail}
"""
    assert problems(text) == [
        "s.yaml:3:18: traffic.environments.prod: the plan has no environment 'prod' "
        "(did you mean 'production'?)",
        "s.yaml:4:12: segments.staf: the plan has no segment 'staf'",
        "s.yaml:6:18: regressions[0].environment: the plan has no environment 'prodution' "
        "(did you mean 'production'?)",
        "s.yaml:7:15: regressions[0].metrics.conversions: the plan has no conversion, count or "
        "mean metric 'conversions'",
        's.yaml:9:11: world.gates["Tests passing"]: the plan has no checklist item that runs '
        "'Tests passing' (did you mean 'Tests pass'?)",
        's.yaml:10:15: world.sign_offs["Tests pass"]: the plan has no manual checklist item '
        "'Tests pass'",
        "s.yaml:11:12: world.checks.smoke: the plan has no check 'smoke'",
    ]


def test_segments_and_metrics_the_plan_judges_need_values() -> None:
    from simulate_cases import plan_data

    data = plan_data()
    data["stages"][0]["audience"] = {"segment": "staff"}
    data["stages"][0]["success"] = ["crashes: no increase", "order_value: no drop"]
    data["monitoring"]["metrics"] = {
        "crashes": {"kind": "count", "queries": {"event": "crash"}},
        "order_value": {
            "kind": "mean",
            "higher_is_better": True,
            "source": {"type": "command", "run": "./order-value.sh"},
        },
    }
    text = "traffic: {requests_per_second: 5}\ncontrol:\n  metrics: {order_value: 2%}\n"
    with pytest.raises(PlanError) as caught:
        load_scenario_text(text, "s.yaml", plan(data))
    assert [str(p) for p in caught.value.problems] == [
        "s.yaml:1:1: segments: the stage 'Canary' opens to the segment 'staff': say what share "
        "of users it holds (segments: {staff: 2%})",
        "s.yaml:3:3: control.metrics: the plan judges 'crashes', a count metric: give its value "
        "under control.metrics (crashes: 0.1%)",
        "s.yaml:3:26: control.metrics.order_value: 'order_value' is a mean metric: give it as "
        "{mean: ..., sd: ...}",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "s.yaml:1:1: the scenario is empty (see examples/scenarios/ for a start)"),
        (
            "- a\n- b\n",
            "s.yaml:1:1: a scenario must be a mapping (traffic:, control:, ...), found a list",
        ),
        ("traffic: {requests_per_second: 1\n", "s.yaml:2:1: YAML syntax:"),
        ("seed: 1\n", "s.yaml:1:1: missing required key 'traffic'"),
        (
            "traffic: {users: 5}\n",
            "s.yaml:1:1: traffic: traffic needs exactly one of "
            "'requests_per_second' and 'schedule'",
        ),
        (
            "traffic: {schedule: [{at: 5m, requests_per_second: 1}]}\n",
            "s.yaml:1:1: traffic: a traffic schedule starts at 0s",
        ),
        (
            "traffic: {requests_per_second: 1}\ncontrol: {latency: {median: 1s, p99: 1s}}\n",
            "s.yaml:2:11: control.latency: the p99 must be above the median",
        ),
        (
            "traffic: {requests_per_second: 1}\n"
            "regressions: [{after: 1h, until: 5m, latency: x2}]\n",
            "s.yaml:2:15: regressions[0]: a regression's 'until' must come after its 'after'",
        ),
    ],
)
def test_a_broken_file_says_where(text: str, message: str) -> None:
    found = problems(text, with_plan=False)
    assert len(found) == 1 and found[0].startswith(message), found


def test_a_missing_or_unreadable_file_is_one_problem(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match=r"nope\.yaml: no such file"):
        load_scenario(tmp_path / "nope.yaml")
    (tmp_path / "latin.yaml").write_bytes(b"description: caf\xe9\n")
    with pytest.raises(PlanError, match="not UTF-8 text"):
        load_scenario(tmp_path / "latin.yaml")


def test_the_versions_follow_the_scenario() -> None:
    text = """\
traffic: {requests_per_second: 1}
control: {error_rate: 1%, latency: {median: 200ms, p99: 600ms}}
canary: {latency: {median: 100ms}}
regressions:
  - {after: 1h, error_rate: x2, latency_p99: +50%}
  - {after: 2h, environment: production, error_rate: x3}
"""
    versions = Versions.of(load_scenario_text(text, "s.yaml", plan()), plan())
    assert versions.control.error_rate == 0.01
    assert versions.control.latency == LatencyModel(200.0, 600.0)
    # A median alone keeps the control's spread: p99 three times the median.
    assert versions.healthy.latency == LatencyModel(100.0, 300.0)
    assert versions.active(1800, "production") == ()
    assert versions.active(9000, "production") == (0, 1)
    assert versions.active(9000, "staging") == (0,)
    both = versions.canary((0, 1))
    assert both.error_rate == pytest.approx(0.06)
    assert both.latency.median == 100.0 and both.latency.p99 == pytest.approx(450.0)


def test_a_log_normal_is_fixed_by_its_median_and_p99() -> None:
    model = LatencyModel(100.0, 300.0)
    assert model.quantile(0.5) == pytest.approx(100.0)
    assert model.quantile(0.99) == pytest.approx(300.0)
    assert model.sigma == pytest.approx(math.log(3) / 2.3263478740408408)
