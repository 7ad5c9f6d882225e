"""``client.track``: business events counted in the arm that serves the subject, per flag with
a percentage rollout, with value sums; their place in the telemetry body; misuse; OpenFeature's
tracking API."""

from __future__ import annotations

import math
import uuid
from collections import Counter

import pytest
from openfeature import api
from openfeature.evaluation_context import EvaluationContext
from openfeature.track import TrackingEventDetails
from sdk_support import boolean_flag, config_dict

from rollout.flags import FlagConfig
from rollout.sdk import RolloutClient, RolloutProvider
from rollout.sdk.telemetry import MAX_EVENT_NAMES, OutcomeRecorder, telemetry_body

CONFIG = FlagConfig.model_validate(
    config_dict(
        1,
        boolean_flag("new-checkout", 30),
        boolean_flag("dark-mode", 50, rules=[
            {"clauses": [{"attribute": "country", "op": "in", "values": ["NL"]}],
             "serve": {"variant": "on"}},
        ]),
        {"key": "banner", "fallthrough": {"variant": "on"}},  # no rollout: events skip it
        boolean_flag("killed", 50, on=False),  # switched off: no rollout running
    )
)  # fmt: skip


def offline() -> RolloutClient:
    return RolloutClient(None, "test", offline_config=CONFIG)


def events_by_arm(
    client: RolloutClient,
) -> dict[tuple[str, str], dict[str, tuple[int, float | None]]]:
    return {
        (arm.flag, arm.variant): {e.name: (e.count, e.value_sum) for e in arm.events}
        for arm in client.telemetry_snapshot()
        if arm.events
    }


def test_an_event_counts_in_the_arm_each_rollout_serves_the_subject_now() -> None:
    client = offline()
    served: Counter[tuple[str, str]] = Counter()
    totals: Counter[tuple[str, str]] = Counter()
    for i in range(2000):
        user = {"targeting_key": f"user-{i}", "country": "NL" if i % 4 == 0 else "DE"}
        if i % 3:
            continue
        for flag in ("new-checkout", "dark-mode"):
            variant = client.evaluate(flag, user).variant
            assert variant is not None
            served[flag, variant] += 1
            totals[flag, variant] += i
        client.track("checkout", user, value=i)

    got = events_by_arm(client)

    assert set(got) == set(served)  # neither the static flag nor the switched-off one
    for arm, count in served.items():
        assert got[arm] == {"checkout": (count, float(totals[arm]))}
    # The 30 % rollout really splits the subjects (the arm is the subject's, not a fixed one).
    assert 0.25 < served["new-checkout", "on"] / 667 < 0.35
    # The rule serves every Dutch subject "on", so the events follow it, not the split.
    assert served["dark-mode", "on"] > served["dark-mode", "off"]


def test_events_without_values_have_no_sum_and_requests_are_not_counted() -> None:
    client = offline()
    user = {"targeting_key": "user-1"}
    arm = ("new-checkout", client.evaluate("new-checkout", user).variant)
    client.track("signup", user)
    client.track("signup", user)
    client.track("checkout", user, value=12.5)

    [outcome] = [a for a in client.telemetry_snapshot() if (a.flag, a.variant) == arm]

    assert outcome.requests == 0
    assert {e.name: (e.count, e.value_sum) for e in outcome.events} == {
        "signup": (2, None),
        "checkout": (1, 12.5),
    }


def test_events_go_in_the_arm_in_the_telemetry_body() -> None:
    recorder = OutcomeRecorder(lambda: 100.0)
    recorder.record("f", "on", 12.0, False)
    recorder.track([("f", "on"), ("g", "off")], "checkout", 40.0)
    recorder.track([("f", "on")], "signup", None)

    body = telemetry_body(recorder.cut(), "production", "i-1")

    arms = {(a["flag"], a["variant"]): a for a in body["arms"]}
    assert arms["f", "on"]["events"] == [
        {"name": "checkout", "count": 1, "value_sum": 40.0},
        {"name": "signup", "count": 1},
    ]
    assert arms["g", "off"]["requests"] == 0
    assert arms["g", "off"]["events"] == [{"name": "checkout", "count": 1, "value_sum": 40.0}]
    assert recorder.cut().arms == ()  # the next window starts empty


def test_a_window_keeps_a_bounded_number_of_event_names() -> None:
    recorder = OutcomeRecorder()
    for i in range(MAX_EVENT_NAMES + 5):
        recorder.track([("f", "on")], f"event-{i}", None)
    recorder.track([("f", "on")], "event-0", None)  # a known name is still counted

    [arm] = recorder.cut().arms

    assert len(arm.events) == MAX_EVENT_NAMES
    assert recorder.dropped_events == 5
    assert {e.name: e.count for e in arm.events}["event-0"] == 2
    recorder.track([("f", "on")], "new-name", None)  # a new window has room again
    assert [e.name for e in recorder.cut().arms[0].events] == ["new-name"]


@pytest.mark.parametrize(
    ("event", "value", "match"),
    [
        ("", None, "event must be a name"),
        ("x" * 201, None, "event must be a name"),
        ("checkout", math.nan, "value must be a finite number"),
        ("checkout", math.inf, "value must be a finite number"),
        ("checkout", "12", "value must be a finite number"),
        ("checkout", True, "value must be a finite number"),
    ],
    ids=["empty", "too-long", "nan", "inf", "text", "bool"],
)
def test_misuse_is_a_value_error(event: str, value: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        offline().track(event, {"targeting_key": "u"}, value=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("context", [None, {}, {"targeting_key": 42.5}, "not-a-mapping"])
def test_a_subject_no_rollout_can_bucket_counts_nowhere_and_nothing_raises(
    context: object,
) -> None:
    client = offline()
    client.track("checkout", context)  # type: ignore[arg-type]
    assert events_by_arm(client) == {}


def test_nothing_is_tracked_before_a_config_or_with_telemetry_off() -> None:
    unreadable = RolloutClient(None, "test", offline_config="/nonexistent/flags.json")
    unreadable.track("checkout", {"targeting_key": "u"})
    assert unreadable.telemetry_snapshot() == ()
    quiet = RolloutClient(None, "test", offline_config=CONFIG, telemetry=False)
    quiet.track("checkout", {"targeting_key": "u"})
    assert quiet.telemetry_snapshot() == ()


def test_openfeature_tracking_counts_the_event_and_its_value() -> None:
    client = offline()
    domain = f"sdk-track-{uuid.uuid4().hex}"
    api.set_provider_and_wait(RolloutProvider(client), domain)
    user = EvaluationContext("user-7")
    variant = client.evaluate("new-checkout", {"targeting_key": "user-7"}).variant

    api.get_client(domain).track("checkout", user, TrackingEventDetails(value=99.0))

    assert events_by_arm(client)["new-checkout", variant] == {"checkout": (1, 99.0)}
