"""The command source: real scripts, their JSON, their failures."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from rollout.analysis import MetricSeries, MetricSpec, infer_metric_spec, metric_spec
from rollout.errors import MetricsError
from rollout.plan.model import CommandSource, Metric
from rollout.providers.metrics import ArmSelector, CommandMetricSource, NoData

T0 = 1_767_225_600.0
ERROR_RATE = infer_metric_spec("error_rate")
LATENCY = infer_metric_spec("latency_p95")
assert ERROR_RATE is not None and LATENCY is not None
ARMS = ArmSelector("production", "new-checkout")

# Reports, per step of the window it is given, a canary with 10 % errors and a control with
# 1 %, and echoes what it was told so the test can check the placeholders and environment.
REPORTER = """\
import json, os, sys
start, end, step = (float(os.environ[n]) for n in ("ROLLOUT_START", "ROLLOUT_END", "ROLLOUT_STEP"))
intervals = []
t = start
while t < end:
    intervals.append({
        "start": t, "end": t + step,
        "canary": {"requests": 100, "errors": 10,
                   "latency_histogram": [[50, 60], [100, 90], ["+Inf", 100]]},
        "control": {"requests": 1000, "errors": 10, "latency_histogram": [[50, 900], [100, 1000]]},
    })
    t += step
told = {k: v for k, v in os.environ.items() if k.startswith("ROLLOUT_")}
print(json.dumps({"intervals": intervals}))
print(json.dumps({"argv": sys.argv[1:], "env": told}), file=sys.stderr)
"""


def source(tmp_path: Path, run: str, timeout: float = 10.0) -> CommandMetricSource:
    return CommandMetricSource(CommandSource(type="command", run=run, timeout=timeout), tmp_path)


def printing(tmp_path: Path, output: object, timeout: float = 10.0) -> CommandMetricSource:
    """A source whose command prints ``output`` (JSON-encoded unless it is a str)."""
    text = output if isinstance(output, str) else json.dumps(output)
    (tmp_path / "out.json").write_text(text)
    return source(tmp_path, "cat out.json", timeout)


def fetch(
    src: CommandMetricSource, spec: MetricSpec = ERROR_RATE, metric_def: Metric | None = None
) -> MetricSeries | NoData:
    return src.fetch(spec.name, spec, metric_def, ARMS, start=T0, end=T0 + 70, step=30)


def test_a_script_reports_both_arms_per_step(tmp_path: Path) -> None:
    (tmp_path / "report.py").write_text(REPORTER)
    src = source(tmp_path, f"{sys.executable} report.py {{metric}} {{canary}} {{window}} {{flag}}")

    result = fetch(src, LATENCY, Metric(kind="latency", percentile=95, queries={"q": "x"}))

    assert isinstance(result, MetricSeries)
    assert [(i.start - T0, i.end - T0) for i in result.intervals] == [(0, 30), (30, 60)]
    first = result.intervals[0]
    assert (first.canary.requests, first.canary.errors) == (100, 10)
    assert first.canary.latency is not None and first.canary.latency.count == 100
    assert first.canary.latency.count_above(100) == 0  # +Inf sits at the top finite bound
    assert first.control.latency is not None and first.control.latency.count == 1000


def test_placeholders_and_environment_tell_the_script_what_to_measure(tmp_path: Path) -> None:
    (tmp_path / "report.py").write_text(REPORTER + "sys.exit(7)\n")
    src = source(tmp_path, f"{sys.executable} report.py {{metric}} {{canary}} {{window}} {{flag}}")

    with pytest.raises(MetricsError, match="exited with 7") as caught:
        fetch(src, LATENCY, Metric(kind="latency", percentile=95, queries={"q": "x"}))

    told = json.loads(str(caught.value).splitlines()[-1])
    assert told["argv"] == ["latency_p95", "canary", "30s", "new-checkout"]
    assert told["env"] == {
        "ROLLOUT_METRIC": "latency_p95",
        "ROLLOUT_METRIC_KIND": "latency",
        "ROLLOUT_PERCENTILE": "95",
        "ROLLOUT_CANARY": "canary",
        "ROLLOUT_CONTROL": "stable",
        "ROLLOUT_START": "1767225600",
        "ROLLOUT_END": "1767225660",  # whole steps only
        "ROLLOUT_STEP": "30",
        "ROLLOUT_WINDOW": "30s",
        "ROLLOUT_FLAG": "new-checkout",
        "ROLLOUT_ENVIRONMENT": "production",
        "ROLLOUT_QUERIES": '{"q": "x"}',
    }


def test_values_are_shell_quoted(tmp_path: Path) -> None:
    src = source(tmp_path, "printf '%s' {canary} > told.txt; echo '{\"intervals\": []}'")
    arms = ArmSelector("production", "f", canary="v2; touch hacked")

    src.fetch("error_rate", ERROR_RATE, None, arms, start=T0, end=T0 + 30, step=30)

    assert (tmp_path / "told.txt").read_text() == "v2; touch hacked"
    assert not (tmp_path / "hacked").exists()


def test_a_latency_sketch_is_read_as_the_sdk_writes_it(tmp_path: Path) -> None:
    arm = {"latency": {"v": 1, "a": 0.01, "z": 0, "o": 280, "c": [3, 0, 7]}}
    src = printing(tmp_path, {"intervals": [{"start": T0, "end": T0 + 30, "canary": arm}]})

    result = fetch(src, LATENCY)

    assert isinstance(result, MetricSeries)
    [interval] = result.intervals
    assert interval.canary.requests == 10  # defaults to the sketch's count
    assert interval.control.requests == 0


@pytest.mark.parametrize(
    "printed", [{"intervals": []}, {"intervals": [{"start": T0, "end": T0 + 30}]}]
)
def test_nothing_counted_is_no_data(tmp_path: Path, printed: object) -> None:
    result = fetch(printing(tmp_path, printed))

    assert isinstance(result, NoData)
    assert result.reason == "the metric command printed no data for error_rate"


def test_other_kinds_carry_their_own_fields(tmp_path: Path) -> None:
    arm = {"value_count": 4, "value_sum": 10.0, "value_sum_sq": 30.0, "requests": 9}
    src = printing(tmp_path, {"intervals": [{"start": T0, "end": T0 + 30, "control": arm}]})

    result = fetch(src, metric_spec("order_value", "mean", higher_is_better=True))

    assert isinstance(result, MetricSeries)
    control = result.intervals[0].control
    assert (control.value_count, control.value_sum, control.value_sum_sq) == (4, 10.0, 30.0)


@pytest.mark.parametrize(
    ("printed", "problem"),
    [
        ("", "printed nothing"),
        ("intervals: []", "something that is not JSON"),
        ('{"intervals": [] ', "something that is not JSON"),
        ({"series": []}, "does not fit the schema: intervals: Field required; series: Extra"),
        (
            {"intervals": [{"start": T0, "end": T0 + 30, "canary": {"requests": -1}}]},
            r"intervals\[0\]\.canary\.requests: Input should be greater than or equal to 0",
        ),
        (
            {"intervals": [{"start": T0, "end": T0 + 30, "canary": {"visits": 3}}]},
            r"intervals\[0\]\.canary\.visits: Extra inputs are not permitted",
        ),
        (
            {"intervals": [{"start": T0, "end": T0 + 30, "canary": {"requests": 3, "errors": 5}}]},
            r"intervals\[0\]\.canary: 5 errors but only 3 requests",
        ),
        (
            {"intervals": [{"start": T0, "end": T0 + 30, "canary": {"requests": 2.5}}]},
            r"intervals\[0\]\.canary\.requests: Input should be a valid integer",
        ),
        (
            {"intervals": [{"start": T0 + 30, "end": T0 + 30}]},
            r"intervals\[0\] does not end after it starts",
        ),
        (
            {"intervals": [{"start": T0 - 30, "end": T0}]},
            r"intervals\[0\] \[1767225570, 1767225600\) lies outside the window asked for "
            r"\[1767225600, 1767225660\)",
        ),
        (
            {
                "intervals": [
                    {
                        "start": T0,
                        "end": T0 + 30,
                        "canary": {"latency_histogram": [[50, 9], [20, 10]]},
                    }
                ]
            },
            r"intervals\[0\]\.canary latency: histogram counts are cumulative, but le=50 holds 9",
        ),
    ],
)
def test_bad_output_is_an_error_naming_the_problem(
    tmp_path: Path, printed: object, problem: str
) -> None:
    with pytest.raises(MetricsError, match=problem):
        fetch(printing(tmp_path, printed))


def test_a_non_zero_exit_carries_the_output(tmp_path: Path) -> None:
    src = source(tmp_path, "echo 'cannot reach the warehouse' >&2; exit 3")

    with pytest.raises(
        MetricsError, match=r"exited with 3; its output:\ncannot reach the warehouse"
    ):
        fetch(src)


def test_a_command_past_its_timeout_is_stopped(tmp_path: Path) -> None:
    src = source(tmp_path, "echo started; sleep 30", timeout=0.5)

    with pytest.raises(MetricsError, match=r"(?s)did not finish within 0.5 s.*started"):
        fetch(src)


def test_an_output_longer_than_the_runners_default_limit_is_read_whole(tmp_path: Path) -> None:
    # Padding between the JSON's tokens: only a reader that keeps every byte can parse it.
    arm = {"requests": 100, "errors": 1}
    intervals = [{"start": T0, "end": T0 + 30, "canary": arm, "control": arm}]
    src = printing(tmp_path, json.dumps({"intervals": intervals}, indent=200_000))

    result = fetch(src)

    assert isinstance(result, MetricSeries) and result.intervals[0].canary.requests == 100


def test_an_unknown_placeholder_is_refused_before_running(tmp_path: Path) -> None:
    src = source(tmp_path, "touch ran; ./metrics.py --arm {arm}")

    with pytest.raises(MetricsError, match=r"unknown placeholder \{arm\}.*\{canary\}"):
        fetch(src)

    assert not (tmp_path / "ran").exists()
