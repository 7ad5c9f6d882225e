"""One dry run: the real engine against scenarios of a good release, regressions, and a world
that says no. The plan and scenarios are in ``simulate_cases``."""

from __future__ import annotations

from dataclasses import replace

import pytest
from simulate_cases import MINUTE, plan, plan_data, scenario

from rollout.engine import Status
from rollout.simulate import Phase, PhaseEnd, SimulationResult, simulate

STAGES = ["stage 1 (Canary)", "stage 2 (Half)", "stage 3 (Everyone)"]


def phase_at(result: SimulationResult, at: float) -> Phase:
    """The phase that was running ``at`` seconds after the start."""
    for phase in result.phases:
        ended = phase.ended_at if phase.ended_at is not None else float("inf")
        if phase.started_at <= at < ended:
            return phase
    raise AssertionError(f"no phase was running at {at}s: {result.phases}")


def test_a_good_release_passes_every_stage_and_succeeds() -> None:
    result = simulate(plan(), scenario())
    assert result.status is Status.SUCCEEDED and result.finished
    assert [p.name for p in result.phases] == [*STAGES, "validation"]
    assert all(p.end is PhaseEnd.PASSED for p in result.phases)
    assert result.rollback_at is None and result.bad_from is None
    assert result.users_bad == 0 and result.errors_bad == 0
    # Each stage bakes its duration (20m, 20m, 10m) after one tick of ramping.
    bakes = [p.ended_at - p.started_at for p in result.phases[:3] if p.ended_at is not None]
    assert bakes == [21 * MINUTE, 21 * MINUTE, 11 * MINUTE]
    assert result.duration == result.events[-1].at


def test_the_timeline_keeps_the_engines_reasons_verbatim() -> None:
    result = simulate(plan(), scenario())
    said = [reason for event in result.events for reason in event.reasons]
    assert said[0] == "rollout of 2.0 started by simulation: checking the 2 checklist items"
    assert "gate 2 (Docs updated) signed off by priya" in said
    assert "production approved by alice; deploying 2.0 to production" in said
    passed = [p.reason for p in result.phases if p.name == "stage 1 (Canary)"]
    assert passed[0] in said and passed[0].startswith("stage 1 (Canary) passed: error_rate < 2%")


def test_an_error_regression_is_rolled_back_in_the_stage_where_it_starts() -> None:
    start = 35 * MINUTE  # the second stage bakes from about t+30m to t+50m
    result = simulate(plan(), scenario(regressions=[{"after": "35m", "error_rate": "x3"}]))
    assert result.status is Status.ROLLED_BACK
    bad_stage = phase_at(result, start)
    assert bad_stage.name == "stage 2 (Half)"
    assert bad_stage.end is PhaseEnd.ROLLED_BACK
    assert "error_rate: no regression" in bad_stage.reason
    assert bad_stage.reason in result.reason  # the rolled-back state names its cause
    assert result.bad_from == start
    assert result.rollback_at is not None and start < result.rollback_at < 50 * MINUTE
    assert result.detection_delay == result.rollback_at - start


def test_a_latency_regression_is_rolled_back_naming_the_latency_criterion() -> None:
    result = simulate(plan(), scenario(regressions=[{"latency_p99": "+60%"}]))
    assert result.status is Status.ROLLED_BACK
    last = result.phases[-1]
    assert (last.name, last.end) == ("stage 1 (Canary)", PhaseEnd.ROLLED_BACK)
    assert last.reason.startswith("stage 1 (Canary) failed: latency_p99 <= control * 1.2")
    assert "error_rate" not in last.reason


def test_the_same_seed_gives_the_same_run_and_another_seed_another() -> None:
    p = plan()
    bad = scenario(p, regressions=[{"after": "10m", "error_rate": "x3"}])
    first, again = simulate(p, bad), simulate(p, bad)
    assert first == again
    other = simulate(p, bad, seed=bad.seed + 1)
    assert other.seed == bad.seed + 1
    assert other.events != first.events  # the measured figures in the reasons differ


def test_users_who_come_back_count_once() -> None:
    # 40 users make 20 requests a second; the flag at 10 % serves 4 of them, again and again.
    few = {"requests_per_second": 20, "users": 40}
    result = simulate(plan(), scenario(traffic=few, regressions=[{"error_rate": "x3"}]))
    assert result.status is Status.ROLLED_BACK
    (exposure,) = result.exposure
    assert exposure.users_bad == exposure.users == 4
    assert exposure.requests_bad > 50 * exposure.users_bad
    assert 0 < exposure.errors_bad < exposure.requests_bad


def test_a_flag_keeps_the_same_users_on_the_new_version_a_weighted_router_does_not() -> None:
    one_stage = plan_data()
    one_stage["stages"] = [{"name": "Canary", "audience": 10, "duration": "20m"}]
    one_stage["flags"][0]["rollout"] = 10
    by_flag = plan(one_stage)
    weighted_data = plan_data() | {"stages": one_stage["stages"], "flags": one_stage["flags"]}
    weighted_data["environments"][0]["traffic"] = {
        "type": "command", "set": "./weights.sh {weight}",
    }  # fmt: skip
    weighted = plan(weighted_data)
    crowd = {"traffic": {"requests_per_second": 20, "users": 2000}}
    flagged = simulate(by_flag, scenario(by_flag, **crowd)).exposure[0]
    routed = simulate(weighted, scenario(weighted, **crowd)).exposure[0]
    assert flagged.users == 200  # exactly the flag's 10 % of users, however often they come
    assert routed.users > 1500  # ~2,500 requests reach it from nearly everyone


def test_a_segment_stage_serves_the_segments_users() -> None:
    data = plan_data()
    data["stages"][0]["audience"] = {"segment": "staff"}
    segmented = plan(data)
    result = simulate(segmented, scenario(segmented, segments={"staff": "1%"}))
    assert result.status is Status.SUCCEEDED
    assert result.phases[0].reason.startswith("stage 1 (Canary) passed")
    only_staff = simulate(
        segmented, scenario(segmented, segments={"staff": "1%"}, horizon="25m")
    ).exposure[0]
    # ~190 requests in the stage's first 16 minutes, all from the segment's 200 users (1 %).
    assert 50 < only_staff.users <= 200


def test_a_segment_stage_serves_its_percentage_of_the_segments_users_and_nobody_else() -> None:
    # As the engine's flag router: 50 % of a segment holding 10 % of 2,000 users is 100 users,
    # 5 % of the requests. A slower tail from the start (judged only when the stage ends) makes
    # every request of the stage a bad one; the horizon ends in the stage's bake.
    data = plan_data()
    data["stages"][0]["audience"] = {"percent": 50, "segment": "staff"}
    half_of_staff = plan(data)
    result = simulate(
        half_of_staff,
        scenario(
            half_of_staff,
            segments={"staff": "10%"},
            traffic={"requests_per_second": 20, "users": 2000},
            regressions=[{"latency_p99": "+10%"}],
            horizon="25m",
        ),
    )
    (exposure,) = result.exposure
    assert [p.name for p in result.phases] == ["stage 1 (Canary)"]
    # Some 17 minutes at 1 request a second: every one of the 100 users comes back often.
    assert exposure.users == exposure.users_bad == 100
    stage_seconds = result.duration - result.phases[0].started_at
    assert exposure.requests_bad == pytest.approx(20 * 0.05 * stage_seconds, rel=0.15)


@pytest.mark.parametrize(
    ("world", "status", "words"),
    [
        ({"approvals": "reject"}, Status.FAILED, "production was rejected by alice"),
        ({"approvals": "never"}, Status.AWAITING_APPROVAL, "needs 1 approval"),
        ({"sign_offs": "reject"}, Status.PAUSED, "gate 2 (Docs updated) was refused by priya"),
        ({"gates": {"Tests pass": "fail"}}, Status.PAUSED, "failed after 2 attempts"),
        ({"deploys": "fail"}, Status.PAUSED, "deploying production ('./deploy.sh') failed"),
    ],
)
def test_the_world_answers_as_the_scenario_says(
    world: dict[str, object], status: Status, words: str
) -> None:
    result = simulate(plan(), scenario(world=world, horizon="2h"))
    assert result.status is status
    assert words in result.reason
    assert result.finished is status.terminal
    if not result.finished:
        assert result.duration == 2 * 3600


def test_a_gate_that_fails_once_is_retried_and_passes() -> None:
    result = simulate(plan(), scenario(world={"gates": {"Tests pass": 1}, "sign_offs": "0s"}))
    assert result.status is Status.SUCCEEDED


def test_approvals_arrive_after_their_delay() -> None:
    result = simulate(plan(), scenario(world={"approvals": "1h", "sign_offs": "0s"}))
    asked = next(e.at for e in result.events if e.status is Status.AWAITING_APPROVAL)
    approved = next(e.at for e in result.events if e.status is Status.DEPLOYING)
    assert approved - asked == 3600


def test_the_operator_aborts_a_paused_rollout_when_told_to() -> None:
    data = plan_data()
    data["strategy"]["rollback"] = "manual"
    manual = plan(data)
    bad = scenario(
        manual,
        regressions=[{"error_rate": "x4"}],
        world={"operator": {"on_pause": "abort", "after": "10m"}, "sign_offs": "0s"},
    )
    result = simulate(manual, bad)
    assert result.status is Status.ROLLED_BACK
    paused = next(e.at for e in result.events if e.status is Status.PAUSED)
    assert result.rollback_at == paused + 10 * MINUTE
    assert "aborted by operator (the scenario aborts after 10m paused)" in result.reason


def test_a_schedule_changes_the_traffic() -> None:
    quiet = {
        "schedule": [
            {"at": 0, "requests_per_second": 20},
            {"at": "25m", "requests_per_second": 0.2},
        ]
    }
    result = simulate(plan(), scenario(traffic=quiet))
    # The second stage cannot gather the control requests its latency check needs.
    assert result.status is Status.ROLLED_BACK
    assert "not enough data" in result.reason
    assert phase_at(result, 40 * MINUTE).name == "stage 2 (Half)"


def test_a_result_reads_back_as_json() -> None:
    result = simulate(plan(), scenario(regressions=[{"error_rate": "x3"}]))
    data = result.to_json()
    assert data["status"] == "rolled_back"
    assert data["users_exposed_to_bad_version"] == result.users_bad
    assert [e["reasons"] for e in data["events"]] == [list(e.reasons) for e in result.events]
    assert data["phases"][-1]["end"] == "rolled back"
    assert replace(result, seed=result.seed).to_json() == data
