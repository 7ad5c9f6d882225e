"""The client offline: typed accessors, never raising, request scopes, arguments."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from sdk_support import boolean_flag, config_dict, write_config

from rollout.flags import FlagConfig
from rollout.sdk import ConfigSource, RolloutClient, SyncMode

TYPED = config_dict(
    3,
    boolean_flag("dark-mode", 100),
    {"key": "banner", "variants": {"a": "hello", "b": "bye"}, "fallthrough": {"variant": "a"}},
    {"key": "limit", "variants": {"low": 10, "high": 2.5}, "fallthrough": {"variant": "low"}},
    {"key": "layout", "variants": {"x": {"cols": 2}}, "fallthrough": {"variant": "x"}},
    {"key": "off-flag", "on": False, "off_variant": None, "fallthrough": {"variant": "on"}},
)


@pytest.fixture
def client() -> RolloutClient:
    return RolloutClient(None, "test", offline_config=FlagConfig.model_validate(TYPED))


def test_typed_accessors_serve_values_of_their_type(client: RolloutClient) -> None:
    user = {"targeting_key": "u-1"}
    assert client.bool_value("dark-mode", user, False) is True
    assert client.string_value("banner", user, "") == "hello"
    assert client.number_value("limit", user, 0) == 10
    assert client.json_value("layout", user, {}) == {"cols": 2}


def test_typed_accessors_fall_back_to_the_default_on_the_wrong_type(
    client: RolloutClient,
) -> None:
    user = {"targeting_key": "u-1"}
    assert client.bool_value("banner", user, False) is False
    assert client.string_value("dark-mode", user, "x") == "x"
    assert client.number_value("dark-mode", user, 7) == 7
    assert client.bool_value("no-such-flag", user, True) is True
    detail = client.evaluate("banner", user, False)
    assert (detail.reason, detail.error_code) == ("ERROR", "TYPE_MISMATCH")


@pytest.mark.parametrize(
    "context", [None, "not a mapping", 42, {"targeting_key": object()}, {"targeting_key": ""}]
)
def test_bad_contexts_never_raise(client: RolloutClient, context: Any) -> None:
    result = client.evaluate("dark-mode", context, False)
    assert result.value is False
    assert result.reason == "ERROR"
    assert result.error_code in {"TARGETING_KEY_MISSING", "INVALID_CONTEXT"}


def test_an_unhashable_flag_key_is_an_error_result_not_an_exception(
    client: RolloutClient,
) -> None:
    result = client.evaluate(["not", "a", "key"], {"targeting_key": "u"}, True)  # type: ignore[arg-type]
    assert (result.value, result.reason) == (True, "ERROR")


def test_offline_state(client: RolloutClient) -> None:
    assert client.source == ConfigSource.OFFLINE == "offline"
    assert client.version == 3
    assert client.mode == SyncMode.OFFLINE
    assert client.wait_until_ready(0)
    assert client.error_code is None
    assert client.flush() is False  # nothing to send to
    client.close()
    client.close()  # idempotent


def test_a_config_file_that_does_not_parse_names_the_field(tmp_path: Path) -> None:
    bad = config_dict(1, {"key": "x", "fallthrough": {"variant": "missing"}})
    path = tmp_path / "bad.json"
    path.write_text(str(bad).replace("'", '"'), encoding="utf-8")
    client = RolloutClient(None, "test", offline_config=path)
    result = client.evaluate("x", {"targeting_key": "u"}, False)
    assert (result.value, result.reason, result.error_code) == (False, "ERROR", "PARSE_ERROR")
    assert "flags[0].fallthrough.variant" in (result.error_message or "")
    assert client.error_code == "PARSE_ERROR"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((None, "test"), {}, "exactly one"),
        (("http://x", "test"), {"offline_config": "f.json"}, "exactly one"),
        (("flags.internal:8000", "test"), {}, "http://"),
        (("http://x", ""), {}, "environment"),
        (("http://x", "test"), {"flush_interval": 0}, "flush_interval"),
        (("http://x", "test"), {"error_flush_interval": -1}, "error_flush_interval"),
        (("http://x", "test"), {"poll_interval": -1}, "poll_interval"),
    ],
)
def test_argument_mistakes_are_value_errors(
    args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RolloutClient(*args, **kwargs)


def test_a_request_scope_counts_each_arm_once_with_the_outcome(client: RolloutClient) -> None:
    with pytest.raises(RuntimeError), client.request_scope():
        client.bool_value("dark-mode", {"targeting_key": "u-1"}, False)
        client.bool_value("dark-mode", {"targeting_key": "u-2"}, False)
        client.string_value("banner", {"targeting_key": "u-1"}, "")
        client.bool_value("no-such-flag", {"targeting_key": "u-1"}, False)  # no arm
        client.bool_value("off-flag", {"targeting_key": "u-1"}, False)  # default served: no arm
        raise RuntimeError("handler failed")
    with client.request_scope():
        client.bool_value("dark-mode", {"targeting_key": "u-3"}, False)
    client.bool_value("dark-mode", {"targeting_key": "u-4"}, False)  # outside any request
    arms = {(a.flag, a.variant): a for a in client.telemetry_snapshot()}
    assert set(arms) == {("dark-mode", "on"), ("banner", "a")}
    assert (arms["dark-mode", "on"].requests, arms["dark-mode", "on"].errors) == (2, 1)
    assert (arms["banner", "a"].requests, arms["banner", "a"].errors) == (1, 1)
    assert arms["dark-mode", "on"].latency.count == 2


def test_scopes_follow_asyncio_tasks_and_threads(client: RolloutClient) -> None:
    async def handler(key: str) -> None:
        # A task started inside the request inherits the scope; a sibling request's does not.
        await asyncio.gather(
            asyncio.to_thread(client.string_value, "banner", {"targeting_key": key}, "")
        )

    async def request(key: str, flag: str) -> None:
        with client.request_scope():
            client.evaluate(flag, {"targeting_key": key}, None)
            await handler(key)

    async def main() -> None:
        await asyncio.gather(request("a", "dark-mode"), request("b", "limit"))

    asyncio.run(main())
    arms = {(a.flag, a.variant): a.requests for a in client.telemetry_snapshot()}
    assert arms == {("dark-mode", "on"): 1, ("limit", "low"): 1, ("banner", "a"): 2}


def test_two_clients_do_not_share_scopes(client: RolloutClient) -> None:
    other = RolloutClient(None, "test", offline_config=FlagConfig.model_validate(TYPED))
    with client.request_scope():
        other.bool_value("dark-mode", {"targeting_key": "u"}, False)
    assert client.telemetry_snapshot() == ()
    assert other.telemetry_snapshot() == ()


def test_record_refuses_negative_latency(client: RolloutClient) -> None:
    with pytest.raises(ValueError, match="latency_ms"):
        client.record("dark-mode", "on", -1.0)


def test_telemetry_off_records_nothing() -> None:
    quiet = RolloutClient(
        None, "test", offline_config=FlagConfig.model_validate(TYPED), telemetry=False
    )
    with quiet.request_scope():
        quiet.bool_value("dark-mode", {"targeting_key": "u"}, False)
    quiet.record("dark-mode", "on", 5.0)
    assert quiet.telemetry_snapshot() == ()


def test_concurrent_evaluations_and_records_lose_nothing(client: RolloutClient) -> None:
    def work() -> None:
        for i in range(500):
            with client.request_scope():
                client.bool_value("dark-mode", {"targeting_key": f"u{i}"}, False)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    (arm,) = client.telemetry_snapshot()
    assert (arm.requests, arm.latency.count) == (2000, 2000)


def test_an_offline_config_can_be_a_file(tmp_path: Path) -> None:
    path = write_config(tmp_path / "flags.json", 12, boolean_flag("f", 100))
    client = RolloutClient(None, "test", offline_config=path)
    assert client.version == 12
    assert client.bool_value("f", {"targeting_key": "u"}, False) is True
    assert "offline" in repr(client)
