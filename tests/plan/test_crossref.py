"""Cross-checks between sections: each rule on its own, on plans whose sections are valid."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.plan import Plan, cross_check, load_plan

ROOT = Path(__file__).resolve().parents[2]

BASE: dict[str, Any] = {
    "name": "shop",
    "overview": {"summary": "New checkout"},
    "checklist": [{"item": "All tests passing", "run": "make test"}],
    "strategy": {"type": "canary", "flag": "new-checkout"},
    "environments": [{"name": "production"}],
    "flags": [{"key": "new-checkout"}],
    "stages": [
        {"name": "canary", "audience": 10, "duration": "10m", "success": ["error_rate < 1%"]},
        {"name": "everyone", "audience": 100, "duration": "10m"},
    ],
    "rollback": [
        {"flag": {"key": "new-checkout", "percent": 0}},
        {"notify": {"audience": "on-call"}},
    ],
    "communication": [
        {"when": ["rolled_back"], "audience": "on-call", "channel": "pagerduty://${KEY}"}
    ],
}


def plan_with(change: Callable[[dict[str, Any]], None]) -> Plan:
    data = copy.deepcopy(BASE)
    change(data)
    return Plan.model_validate(data)


def findings(change: Callable[[dict[str, Any]], None]) -> list[tuple[tuple[str | int, ...], str]]:
    return cross_check(plan_with(change))


def test_the_base_plan_is_consistent() -> None:
    assert findings(lambda data: None) == []


@pytest.mark.parametrize(
    "path",
    [
        *sorted((ROOT / "examples").glob("*.yaml")),
        *sorted((ROOT / "src/rollout/plan/starters").glob("*.yaml")),
    ],
    ids=lambda path: f"{path.parent.name}/{path.name}",
)
def test_shipped_plans_are_consistent(path: Path) -> None:
    assert cross_check(load_plan(path)) == []


# --------------------------------------------------------------------------- names


def test_names_are_unique() -> None:
    def change(data: dict[str, Any]) -> None:
        data["environments"].append({"name": "production"})
        data["flags"].append({"key": "new-checkout"})
        data["stages"].append({"name": "canary", "audience": 100, "duration": 60})

    assert findings(change) == [
        (
            ("environments", 1, "name"),
            "environment 'production' is already defined at environments[0]",
        ),
        (("flags", 1, "key"), "flag 'new-checkout' is already defined at flags[0]"),
        (("stages", 2, "name"), "stage 'canary' is already defined at stages[0]"),
    ]


def test_rolling_instances_are_unique() -> None:
    def change(data: dict[str, Any]) -> None:
        data["strategy"] = {
            "type": "rolling",
            "rolling": {
                "instances": ["a", "b", "a"],
                "deploy": "./deploy.sh",
                "health_check": {"name": "up", "run": "./up.sh"},
            },
        }

    assert findings(change) == [
        (("strategy", "rolling", "instances", 2), "instance 'a' is listed twice")
    ]


# --------------------------------------------------------------------------- flags


def test_every_named_flag_is_defined() -> None:
    def change(data: dict[str, Any]) -> None:
        data["strategy"]["flag"] = "new-chekout"
        data["environments"][0]["traffic"] = {"type": "flag", "flag": "checkout"}
        data["stages"][1]["flag"] = "other"
        data["rollback"][0]["flag"]["key"] = "new_checkout"

    assert findings(change) == [
        (("strategy", "flag"), "unknown flag 'new-chekout' (did you mean 'new-checkout'?)"),
        (
            ("environments", 0, "traffic", "flag"),
            "unknown flag 'checkout' (did you mean 'new-checkout'?)",
        ),
        (("stages", 1, "flag"), "unknown flag 'other' (known: 'new-checkout')"),
        (
            ("rollback", 0, "flag", "key"),
            "unknown flag 'new_checkout' (did you mean 'new-checkout'?)",
        ),
    ]


def test_a_flag_serves_one_type() -> None:
    def change(data: dict[str, Any]) -> None:
        data["flags"][0] |= {"default": 0, "serve": "on"}

    assert findings(change) == [
        (
            ("flags", 0, "serve"),
            "'serve' is text but 'default' is a number: a flag serves one type of value, so that "
            "every SDK reads it the same way",
        )
    ]


def test_the_flag_router_needs_a_flag_somewhere() -> None:
    def no_flag(data: dict[str, Any]) -> None:
        del data["strategy"]["flag"]

    reason = "environment 'production' moves traffic with the flag router (the default)"
    assert findings(no_flag) == [
        (
            ("strategy",),
            f"no flag to ramp: {reason}; set 'strategy.flag', or give the "
            "environment another 'traffic' router",
        ),
    ]

    def one_stage_flagged(data: dict[str, Any]) -> None:
        no_flag(data)
        data["stages"][1]["flag"] = "new-checkout"
        data["rollback"][0] = {"run": "./rollback.sh"}

    assert findings(one_stage_flagged) == [
        (("stages", 0), f"no flag to ramp: {reason}; set this stage's 'flag' or 'strategy.flag'")
    ]

    def router_flagged(data: dict[str, Any]) -> None:
        no_flag(data)
        data["environments"][0]["traffic"] = {"type": "flag", "flag": "new-checkout"}

    assert findings(router_flagged) == []


def test_a_rolling_rollback_puts_instances_back_with_undeploy() -> None:
    def rolling(data: dict[str, Any], *, undeploy: bool, traffic_step: bool) -> None:
        data["strategy"] = {
            "type": "rolling",
            "flag": "new-checkout",
            "rolling": {
                "instances": ["a", "b"],
                "deploy": "./deploy.sh",
                "health_check": {"name": "up", "run": "./up.sh"},
            },
        }
        if undeploy:
            data["strategy"]["rolling"]["undeploy"] = "./undeploy.sh"
        data["rollback"] = [{"run": "./restore-all.sh"}]
        if traffic_step:
            data["rollback"].append({"traffic": 0})

    assert findings(lambda d: rolling(d, undeploy=False, traffic_step=True)) == [
        (
            ("rollback", 1, "traffic"),
            "a rolling rollout puts instances back with 'strategy.rolling.undeploy', which is "
            "not set: add it, or restore the instances with a 'run' step",
        )
    ]
    assert findings(lambda d: rolling(d, undeploy=True, traffic_step=False)) == [
        (
            ("strategy", "rolling", "undeploy"),
            "'undeploy' only runs in a rollback 'traffic' step, and the rollback has none, so "
            "upgraded instances would stay upgraded: add '- traffic: 0' to 'rollback' (it puts "
            "every upgraded instance back, newest first), or drop 'undeploy' if a 'run' step "
            "restores them",
        )
    ]
    assert findings(lambda d: rolling(d, undeploy=True, traffic_step=True)) == []
    assert findings(lambda d: rolling(d, undeploy=False, traffic_step=False)) == []


def test_a_traffic_step_needs_a_router() -> None:
    def change(data: dict[str, Any]) -> None:
        # Each stage ramps its own flag: the flag router has no flag to set back for
        # the whole rollout.
        data["strategy"] = {"type": "canary"}
        for stage in data["stages"]:
            stage["flag"] = "new-checkout"
        data["rollback"].append({"traffic": 0})

    assert findings(change) == [
        (
            ("rollback", 2, "traffic"),
            "no traffic router to act on: give an environment a 'traffic' router, or set "
            "'strategy.flag' for the default flag router",
        )
    ]

    def with_router(data: dict[str, Any]) -> None:
        change(data)
        data["environments"][0]["traffic"] = {"type": "command", "set": "./weight {weight}"}

    assert findings(with_router) == []


# --------------------------------------------------------------------------- metrics


def test_every_criterion_names_a_known_metric() -> None:
    def change(data: dict[str, Any]) -> None:
        data["strategy"]["rollback_trigger"] = ["eror_rate > 5%"]
        data["stages"][0]["success"] = [
            "latency_p99.9 < 1s",
            "latency_p95 <= control * 1.1",
            "conversion: no drop",
            "checkout_conversion: no drop > 2%",
        ]
        data["stages"][1]["rollback_trigger"] = ["apdex > 2s"]
        data["monitoring"] = {
            "metrics": {
                "checkout_conversion": {"kind": "conversion", "queries": {"event": "order"}}
            }
        }

    assert findings(change) == [
        (
            ("strategy", "rollback_trigger", 0),
            "unknown metric 'eror_rate' (did you mean 'error_rate'?)",
        ),
        (
            ("stages", 0, "success", 2),
            "unknown metric 'conversion' (did you mean 'checkout_conversion'?)",
        ),
        (
            ("stages", 1, "rollback_trigger", 0),
            "unknown metric 'apdex': define it under "
            "'monitoring.metrics' (built in are error_rate and latency_pNN, such as latency_p99 or "
            "latency_p99.9)",
        ),
    ]


def test_units_fit_the_metric() -> None:
    def change(data: dict[str, Any]) -> None:
        data["stages"][0]["success"] = ["error_rate < 300ms", "page_load < 5%", "page_load < 2s"]
        data["monitoring"] = {"metrics": {"page_load": {"kind": "latency", "percentile": 90}}}

    assert findings(change) == [
        (
            ("stages", 0, "success", 0),
            "'error_rate' is not a latency: compare it with a %, not a time",
        ),
        (
            ("stages", 0, "success", 1),
            "'page_load' is a latency: compare it with a time such as 300ms",
        ),
    ]


def test_the_business_metric_is_defined() -> None:
    def undefined(data: dict[str, Any]) -> None:
        data["monitoring"] = {"business_metric": "revenue"}

    assert findings(undefined) == [
        (
            ("monitoring", "business_metric"),
            "business metric 'revenue' is not defined under 'monitoring.metrics'",
        )
    ]

    def baseline_alone(data: dict[str, Any]) -> None:
        data["monitoring"] = {"business_baseline": 3.2}

    assert findings(baseline_alone) == [
        (
            ("monitoring", "business_baseline"),
            "a business baseline needs 'business_metric': the metric it is the baseline of",
        )
    ]


def test_validation_metrics_are_known() -> None:
    def change(data: dict[str, Any]) -> None:
        data["validation"] = {"no_error_spike": {"metric": "errors"}, "performance": {}}

    assert findings(change) == [
        (
            ("validation", "no_error_spike", "metric"),
            "unknown metric 'errors' (did you mean 'error_rate'?)",
        )
    ]


# --------------------------------------------------------------------------- stages


@settings(max_examples=80, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=99), min_size=1, max_size=6))
def test_a_falling_audience_needs_a_reason(percents: list[int]) -> None:
    def change(data: dict[str, Any]) -> None:
        data["stages"] = [
            {"name": f"s{index}", "audience": percent, "duration": 60}
            for index, percent in enumerate([*percents, 100])
        ]

    pairs = enumerate(itertools.pairwise(percents))
    falling = [index + 1 for index, (before, after) in pairs if after < before]
    found = [path[1] for path, message in findings(change) if "falls" in message]
    assert found == falling

    def with_reasons(data: dict[str, Any]) -> None:
        change(data)
        for stage in data["stages"]:
            stage["audience"] = {"percent": stage["audience"], "reason": "capacity"}

    assert findings(with_reasons) == []


def test_audiences_are_compared_per_flag() -> None:
    def change(data: dict[str, Any]) -> None:
        data["flags"].append({"key": "banner", "rollout": 20})
        data["stages"].insert(
            1, {"name": "banner", "flag": "banner", "audience": 20, "duration": 60}
        )

    assert findings(change) == []


def test_the_last_stage_reaches_where_the_flag_ends() -> None:
    def short(data: dict[str, Any]) -> None:
        data["stages"][1]["audience"] = 50

    assert findings(short) == [
        (
            ("stages", 1, "audience"),
            "the last stage reaches 50% but flag 'new-checkout' ends at 100% (flags[0].rollout): "
            "the rest would go out without being judged; add a stage at 100% or lower "
            "flags[0].rollout",
        )
    ]

    def beyond(data: dict[str, Any]) -> None:
        data["flags"][0]["rollout"] = "50%"

    assert findings(beyond) == [
        (
            ("stages", 1, "audience"),
            "100% is beyond where the rollout ends: flag 'new-checkout' ends at 50% "
            "(flags[0].rollout)",
        )
    ]

    def segment_last(data: dict[str, Any]) -> None:
        data["stages"].append(
            {
                "name": "staff",
                "audience": {"segment": "staff", "reason": "a last look by staff"},
                "duration": 60,
            }
        )

    # All of a segment is not everyone: the flag's stages would end short of its rollout %.
    assert findings(segment_last) == [
        (
            ("stages", 2, "audience"),
            "the last stage serves all of segment 'staff' only, but flag 'new-checkout' ends at "
            "100% (flags[0].rollout), a share of everyone: a segment, even all of it, is not "
            "everyone; end with a stage at 100%",
        )
    ]


def test_without_a_flag_the_rollout_ends_at_100() -> None:
    def change(data: dict[str, Any]) -> None:
        del data["strategy"]["flag"]
        data["environments"][0]["traffic"] = {"type": "command", "set": "./weight {weight}"}
        data["stages"][1]["audience"] = 60
        data["rollback"][0] = {"traffic": 0}

    assert findings(change) == [
        (
            ("stages", 1, "audience"),
            "the last stage reaches 60% but the rollout ends at 100%: the rest would go out "
            "without being judged; add a stage at 100% as the last stage",
        )
    ]


def test_a_stage_is_judged_at_least_once() -> None:
    def change(data: dict[str, Any]) -> None:
        data["monitoring"] = {"interval": "1m"}
        data["stages"][0]["duration"] = "30s"

    assert findings(change) == [
        (
            ("stages", 0, "duration"),
            "the stage lasts 30s, less than the monitoring interval (60s): it would end before "
            "being judged once",
        )
    ]


def test_a_stage_nobody_sees_cannot_have_criteria() -> None:
    def change(data: dict[str, Any]) -> None:
        data["stages"][0]["audience"] = 0

    (finding,) = findings(change)
    assert finding[0] == ("stages", 0, "audience")
    assert finding[1].startswith("at 0% nobody uses the new version")

    def with_segment(data: dict[str, Any]) -> None:
        data["stages"][0]["audience"] = {"percent": 0, "segment": "staff"}

    # 0% of a segment is nobody too; it is refused whatever its criteria (one problem).
    ((path, message),) = findings(with_segment)
    assert path == ("stages", 0, "audience", "percent")
    assert message.startswith("0% of segment 'staff' is nobody")


# --------------------------------------------------------------------------- environments


def test_some_environment_runs_the_stages() -> None:
    def change(data: dict[str, Any]) -> None:
        data["environments"][0]["staged"] = False

    assert findings(change) == [
        (
            ("environments",),
            "no environment runs the rollout stages (every one has 'staged: false')",
        )
    ]


def test_approvers_need_a_required_approval() -> None:
    def listed(data: dict[str, Any]) -> None:
        data["environments"][0]["approval"] = {"approvers": ["alice"]}

    assert findings(listed) == [
        (
            ("environments", 0, "approval", "approvers"),
            "approvers are listed but approval is not required: add 'required: true'",
        )
    ]

    def required_without_names(data: dict[str, Any]) -> None:
        data["environments"][0]["approval"] = True  # anyone with the approver role

    assert findings(required_without_names) == []


# ------------------------------------------------------------------- rollback, communication


def test_migration_steps_and_gates_need_migrations() -> None:
    def change(data: dict[str, Any]) -> None:
        data["rollback"].append({"migrate": "rollback"})
        data["checklist"].append({"item": "Database migrations tested", "migrations": "tested"})

    assert findings(change) == [
        (
            ("rollback", 2, "migrate"),
            "a migration rollback needs a 'migrations' section (tool, database_url, ...)",
        ),
        (("checklist", 1, "migrations"), "nothing to test: the plan has no 'migrations' section"),
    ]

    def with_migrations(data: dict[str, Any]) -> None:
        change(data)
        data["migrations"] = {"database_url": "${DATABASE_URL}"}

    assert findings(with_migrations) == []


def test_notify_steps_name_a_communication_audience() -> None:
    def change(data: dict[str, Any]) -> None:
        data["rollback"][1]["notify"]["audience"] = "oncall"
        data["rollback"].append({"notify": {"message": "rolled back"}})
        data["rollback"].append({"notify": {"channel": "mailto://ops@example.com"}})

    assert findings(change) == [
        (
            ("rollback", 1, "notify", "audience"),
            "audience 'oncall' is not in the communication plan (did you mean 'on-call'?)",
        ),
        (
            ("rollback", 2, "notify"),
            "a notify step needs an 'audience' from the communication plan or a 'channel'",
        ),
    ]


def test_communication_moments_are_known() -> None:
    def change(data: dict[str, Any]) -> None:
        data["communication"][0]["when"] = [
            "rolled_back",
            "stage:canary",
            "stage:Everyone",
            "sometimes",
        ]

    assert findings(change) == [
        (
            ("communication", 0, "when", 2),
            "no stage is called 'Everyone' (did you mean 'everyone'?)",
        ),
        (
            ("communication", 0, "when", 3),
            "unknown moment 'sometimes': expected one of 'started', "
            "'approval_needed', 'environment_started', 'stage_started', 'stage_passed', "
            "'rolling_back', 'rolled_back', 'rollback_failed', 'failed', 'rollback_step', "
            "'succeeded', 'paused', 'any' or "
            "'stage:<stage name>'",
        ),
    ]


def test_a_stage_that_serves_everyone_has_no_control_to_compare_with() -> None:
    def change(data: dict[str, Any]) -> None:
        data["strategy"]["rollback_trigger"] = ["error_rate: no regression"]
        data["stages"][0]["success"] = ["latency_p99 <= control * 1.1"]
        data["stages"][1]["success"] = ["error_rate < 1%", "latency_p99 <= control * 1.1"]
        data["stages"][1]["rollback_trigger"] = ["checkout_conversion: no drop > 2%"]
        data["monitoring"] = {
            "metrics": {
                "checkout_conversion": {"kind": "conversion", "queries": {"event": "order"}}
            }
        }

    message = (
        "compares with the control, but at 100% everyone has the new version and there is no "
        "control left: use an absolute threshold (e.g. 'error_rate < 1%') or judge it in an "
        "earlier stage"
    )
    # The canary stage and the strategy-wide trigger (inert at 100%) are fine.
    assert findings(change) == [
        (("stages", 1, "success", 1), f"'latency_p99 <= control * 1.1' {message}"),
        (("stages", 1, "rollback_trigger", 0), f"'checkout_conversion: no drop > 2%' {message}"),
    ]

    def segment_only(data: dict[str, Any]) -> None:
        change(data)
        data["stages"][1]["audience"] = {"percent": 100, "segment": "beta", "reason": "beta"}
        data["stages"].append({"name": "all", "audience": 100, "duration": "10m"})

    # 100% of a segment still leaves everyone else as the control.
    assert findings(segment_only) == []
