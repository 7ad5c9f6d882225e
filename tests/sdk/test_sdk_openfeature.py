"""The OpenFeature provider: context mapping, number types, metadata, and provider events
against the real server."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from openfeature import api
from openfeature.client import OpenFeatureClient
from openfeature.evaluation_context import EvaluationContext
from openfeature.event import EventDetails, ProviderEvent
from openfeature.exception import ErrorCode as OFErrorCode
from openfeature.flag_evaluation import Reason as OFReason
from openfeature.provider import ProviderStatus
from sdk_server import ServerStack
from sdk_support import boolean_flag, config_dict

from rollout.flags import FlagConfig
from rollout.sdk import RolloutClient, RolloutProvider
from rollout.sdk.provider import to_context

CONFIG = FlagConfig.model_validate(
    config_dict(
        4,
        {
            "key": "late-launch",
            "rules": [
                {
                    "clauses": [{"attribute": "now", "op": "gte", "value": 1_800_000_000}],
                    "serve": {"variant": "on"},
                }
            ],
            "fallthrough": {"variant": "off"},
        },
        {"key": "retries", "variants": {"few": 3, "many": 10}, "fallthrough": {"variant": "few"}},
        {"key": "ratio", "variants": {"half": 0.5}, "fallthrough": {"variant": "half"}},
        {"key": "whole", "variants": {"three": 3.0}, "fallthrough": {"variant": "three"}},
        boolean_flag("beta", 100),
    )
)
WAIT = 10.0


def _domain() -> str:
    return f"sdk-tests-{uuid.uuid4().hex}"


@pytest.fixture
def flags() -> Iterator[OpenFeatureClient]:
    domain = _domain()
    client = RolloutClient(None, "test", offline_config=CONFIG)
    api.set_provider_and_wait(RolloutProvider(client), domain)
    yield api.get_client(domain)
    api.set_provider(RolloutProvider(client), domain)  # drop the reference for the next test


def test_metadata_names_rollout(flags: OpenFeatureClient) -> None:
    assert flags.get_metadata().domain is not None
    assert flags.provider.get_metadata().name == "rollout"


def test_the_context_maps_targeting_key_and_attributes() -> None:
    when = datetime(2027, 1, 15, tzinfo=UTC)
    context = to_context(EvaluationContext("user-1", {"country": "NL", "now": when}))
    assert context == {"targeting_key": "user-1", "country": "NL", "now": when.timestamp()}
    assert to_context(None) == {}
    assert to_context(EvaluationContext(None, {"a": 1})) == {"a": 1}


def test_datetimes_compare_as_epoch_seconds(flags: OpenFeatureClient) -> None:
    before = EvaluationContext("u", {"now": datetime(2026, 1, 1, tzinfo=UTC)})
    after = EvaluationContext("u", {"now": datetime(2027, 6, 1, tzinfo=UTC)})
    assert flags.get_boolean_value("late-launch", True, before) is False
    details = flags.get_boolean_details("late-launch", False, after)
    assert (details.value, details.variant, details.reason) == (
        True,
        "on",
        OFReason.TARGETING_MATCH,
    )
    assert details.flag_metadata == {"source": "offline", "config_version": 4, "rule_index": 0}


def test_numbers_follow_the_getter(flags: OpenFeatureClient) -> None:
    assert flags.get_integer_value("retries", 0) == 3
    assert flags.get_integer_value("whole", 0) == 3
    assert type(flags.get_integer_value("whole", 0)) is int
    assert flags.get_float_value("retries", 0.0) == 3.0
    assert type(flags.get_float_value("retries", 0.0)) is float
    assert flags.get_float_value("ratio", 0.0) == 0.5
    mismatch = flags.get_integer_details("ratio", 7)
    assert (mismatch.value, mismatch.error_code, mismatch.reason) == (
        7,
        OFErrorCode.TYPE_MISMATCH,
        OFReason.ERROR,
    )
    assert "0.5" in (mismatch.error_message or "")


def test_errors_map_to_openfeature_codes(flags: OpenFeatureClient) -> None:
    missing = flags.get_string_details("no-such-flag", "x")
    assert (missing.value, missing.error_code, missing.reason) == (
        "x",
        OFErrorCode.FLAG_NOT_FOUND,
        OFReason.ERROR,
    )
    no_key = flags.get_boolean_details("beta", False, EvaluationContext(None, {}))
    assert no_key.error_code == OFErrorCode.TARGETING_KEY_MISSING
    wrong = flags.get_string_details("beta", "x", EvaluationContext("u"))
    assert wrong.error_code == OFErrorCode.TYPE_MISMATCH


def test_openfeature_evaluations_count_for_the_request() -> None:
    client = RolloutClient(None, "test", offline_config=CONFIG)
    domain = _domain()
    api.set_provider_and_wait(RolloutProvider(client), domain)
    with client.request_scope():
        api.get_client(domain).get_boolean_value("beta", False, EvaluationContext("u"))
    assert [(a.flag, a.variant, a.requests) for a in client.telemetry_snapshot()] == [
        ("beta", "on", 1)
    ]


class Events:
    """Provider events of one OpenFeature client, waitable."""

    def __init__(self, flags: OpenFeatureClient) -> None:
        self._condition = threading.Condition()
        self.seen: list[tuple[ProviderEvent, EventDetails]] = []
        for event in ProviderEvent:
            flags.add_handler(event, lambda details, e=event: self._add(e, details))

    def _add(self, event: ProviderEvent, details: EventDetails) -> None:
        with self._condition:
            self.seen.append((event, details))
            self._condition.notify_all()

    def wait_for(
        self,
        event: ProviderEvent,
        timeout: float = WAIT,
        where: Callable[[EventDetails], bool] = lambda details: True,
    ) -> EventDetails:
        def found() -> bool:
            return any(e is event and where(d) for e, d in self.seen)

        with self._condition:
            ok = self._condition.wait_for(found, timeout)
            assert ok, f"no {event} within {timeout} s: {self.seen}"
            return next(d for e, d in self.seen if e is event and where(d))


def test_provider_events_follow_the_server(tmp_path: Path) -> None:
    stack = ServerStack(tmp_path)
    stack.start()
    port_url = stack.url
    stack.stop()  # the application starts while the flag server is down
    client = RolloutClient(port_url, "production", cache_dir=tmp_path / "cache")
    provider = RolloutProvider(client, ready_timeout=0.2, close_client=True)
    domain = _domain()
    flags = api.get_client(domain)
    try:
        api.set_provider(provider, domain)  # initialises on OpenFeature's own thread
        # Handlers added now hear the ERROR at once (OpenFeature runs a handler immediately
        # when the provider is already in its state), then whatever follows.
        events = Events(flags)
        events.wait_for(ProviderEvent.PROVIDER_ERROR)
        assert flags.get_provider_status() is ProviderStatus.ERROR
        not_ready = flags.get_boolean_details("beta", True, EvaluationContext("u"))
        assert (not_ready.value, not_ready.error_code) == (True, OFErrorCode.PROVIDER_NOT_READY)

        stack.start()
        stack.put_flag("production", boolean_flag("beta", 100))
        events.wait_for(ProviderEvent.PROVIDER_READY)
        assert flags.get_provider_status() is ProviderStatus.READY
        assert flags.get_boolean_value("beta", False, EvaluationContext("u")) is True

        stack.put_flag("production", boolean_flag("other", 0))
        # The change may be announced before this line runs: look for it, don't clear and wait.
        changed = events.wait_for(
            ProviderEvent.PROVIDER_CONFIGURATION_CHANGED,
            where=lambda details: "other" in (details.flags_changed or []),
        )
        assert changed.flags_changed == ["other"]
    finally:
        api.set_provider(RolloutProvider(RolloutClient(None, "t", offline_config=CONFIG)), domain)
        provider.shutdown()
        stack.close()
    assert client.mode == "closed"
