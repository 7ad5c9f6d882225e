"""Notifications through Apprise to a real local webhook receiver: rendering, signing, retries,
secrets in channel URLs."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator

import pytest
from notify_receiver import Receiver, webhook_receiver

from rollout.engine.actions import NotifyContext
from rollout.plan.model import Announcement
from rollout.providers.notify import AppriseNotifier, Message, compose, send_all
from rollout.providers.notify.signing import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)

SECRET = "hook-signing-secret-0042"
NOW = 1_760_000_000.0
CONTEXT = NotifyContext(
    rollout="r-42",
    version="v2.4.0",
    environment="production",
    stage="canary",
    state="rolling_back",
    reason="error_rate 3.1% is above 2%",
)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as running:
        yield running


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def notifier(sleeps: Sleeps | None = None, **environ: str) -> AppriseNotifier:
    return AppriseNotifier(sleep=sleeps or Sleeps(), clock=lambda: NOW, environ=environ)


def test_the_rendered_template_arrives_in_apprise_json_schema(receiver: Receiver) -> None:
    row = Announcement(
        when=("rolling_back",),
        audience="on-call",
        channel=receiver.channel(),
        message="{rollout} ({version}) is {state} in {environment}/{stage}: {reason}",
    )
    (message,) = compose([row], CONTEXT)

    (delivery,) = send_all(notifier(), [message], key="r-42:notify/7/rolling_back:1")

    assert delivery.ok and delivery.attempts == 1 and delivery.error == ""
    assert delivery.audience == "on-call"
    (got,) = receiver.received
    assert got.method == "POST"
    payload = got.json()
    assert payload["message"] == (
        "r-42 (v2.4.0) is rolling_back in production/canary: error_rate 3.1% is above 2%"
    )
    assert payload["title"] == "Rollout r-42 (v2.4.0): rolling_back"
    assert payload["type"] == "failure"
    assert payload["version"] == "1.0"
    assert got.headers["User-Agent"] == "Rollout"
    assert SIGNATURE_HEADER not in got.headers  # no secret configured: not signed


def test_a_signed_webhook_verifies_with_the_shared_secret(receiver: Receiver) -> None:
    channel = receiver.channel("/deploys") + "?secret=${HOOK_SECRET}&+X-Team=payments&-source=ci"
    message = Message(channel, "rolled back", title="Rollout r-42", kind="failure")

    delivery = notifier(HOOK_SECRET=SECRET).send(message, key="r-42:rollback/2:1")

    assert delivery.ok, delivery.error
    (got,) = receiver.received
    timestamp = got.headers[TIMESTAMP_HEADER]
    expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + got.body, hashlib.sha256)
    assert got.headers[SIGNATURE_HEADER] == "sha256=" + expected.hexdigest()
    assert timestamp == str(int(NOW))
    assert verify(SECRET, got.body, got.headers, now=NOW + 10)
    assert got.headers[DELIVERY_HEADER] == "r-42:rollback/2:1"
    assert got.headers["X-Team"] == "payments"  # Apprise's +Header option is honoured
    assert got.query == "source=ci"  # ... and its -param option; the secret never travels
    assert got.json() == {
        "version": "1.0",
        "title": "Rollout r-42",
        "message": "rolled back",
        "attachments": [],
        "type": "failure",
    }
    assert SECRET not in repr(delivery)


def test_a_forged_stale_or_unsigned_request_does_not_verify(receiver: Receiver) -> None:
    notifier(ROLLOUT_WEBHOOK_SECRET=SECRET).send(Message(receiver.channel(), "hello"))
    (got,) = receiver.received

    assert verify(SECRET, got.body, got.headers, now=NOW)
    assert not verify("another-secret", got.body, got.headers, now=NOW)
    assert not verify(SECRET, got.body.replace(b"hello", b"hullo"), got.headers, now=NOW)
    assert not verify(SECRET, got.body, got.headers, now=NOW + 301)
    assert not verify(SECRET, got.body, {}, now=NOW)


def test_the_environment_secret_signs_json_channels_and_the_url_secret_wins(
    receiver: Receiver,
) -> None:
    send = notifier(ROLLOUT_WEBHOOK_SECRET="global-secret-1", TEAM_SECRET="team-secret-22")

    send.send(Message(receiver.channel("/global"), "a"))
    send.send(Message(receiver.channel("/team") + "?secret=${TEAM_SECRET}", "b"))

    (global_hook,) = receiver.on("/global")
    (team_hook,) = receiver.on("/team")
    assert verify("global-secret-1", global_hook.body, global_hook.headers, now=NOW)
    assert verify("team-secret-22", team_hook.body, team_hook.headers, now=NOW)


@pytest.mark.parametrize("signed", [False, True], ids=["through-apprise", "signed"])
def test_a_receiver_that_fails_twice_is_retried_until_it_answers(
    receiver: Receiver, signed: bool
) -> None:
    receiver.fail_first["/flaky"] = 2
    sleeps = Sleeps()
    environ = {"ROLLOUT_WEBHOOK_SECRET": SECRET} if signed else {}

    delivery = notifier(sleeps, **environ).send(Message(receiver.channel("/flaky"), "hi"))

    assert delivery.ok
    assert delivery.attempts == 3
    assert sleeps.waits == [1.0, 2.0]
    assert len(receiver.on("/flaky")) == 3


def test_retries_carry_the_same_delivery_key(receiver: Receiver) -> None:
    receiver.fail_first["/flaky"] = 1

    notifier(ROLLOUT_WEBHOOK_SECRET=SECRET).send(
        Message(receiver.channel("/flaky"), "hi"), key="k-1"
    )

    assert [r.headers[DELIVERY_HEADER] for r in receiver.on("/flaky")] == ["k-1", "k-1"]


@pytest.mark.parametrize("signed", [False, True], ids=["through-apprise", "signed"])
def test_a_receiver_that_always_fails_gives_a_failed_delivery_not_an_exception(
    receiver: Receiver, signed: bool
) -> None:
    environ = {"ROLLOUT_WEBHOOK_SECRET": SECRET} if signed else {}

    delivery = notifier(**environ).send(Message(receiver.channel("/down"), "hi"))

    assert not delivery.ok
    assert delivery.attempts == 3
    assert "500" in delivery.error or "Internal Server Error" in delivery.error
    assert len(receiver.on("/down")) == 3


def test_an_unreachable_channel_is_a_failed_delivery(receiver: Receiver) -> None:
    with webhook_receiver() as gone:
        channel = gone.channel()

    delivery = notifier().send(Message(channel, "hi"))

    assert not delivery.ok and delivery.attempts == 3
    assert delivery.error


def test_a_variable_in_the_channel_is_expanded_at_send_time_and_never_shown(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOOK_TOKEN", raising=False)
    send = AppriseNotifier(sleep=Sleeps())  # reads the process environment
    message = Message(receiver.channel("/hooks/${HOOK_TOKEN}"), "hi")

    before = send.send(message)
    monkeypatch.setenv("HOOK_TOKEN", "tok-first-123456")
    first = send.send(message)
    monkeypatch.setenv("HOOK_TOKEN", "tok-second-654321")
    second = send.send(message)

    assert not before.ok and before.attempts == 0
    assert before.error == "not sent: ${HOOK_TOKEN} is not set in the environment"
    assert first.ok and second.ok
    assert [r.path for r in receiver.received] == [
        "/hooks/tok-first-123456",
        "/hooks/tok-second-654321",
    ]
    for delivery in (before, first, second):
        assert delivery.channel_masked == f"json://127.0.0.1:{receiver.port}/hooks/${{HOOK_TOKEN}}"
        assert "tok-" not in repr(delivery)


def test_an_expanded_secret_is_masked_in_a_failure(receiver: Receiver) -> None:
    message = Message(receiver.channel("/down/${HOOK_TOKEN}"), "hi")

    delivery = notifier(HOOK_TOKEN="tok-secret-99887766").send(message)

    assert not delivery.ok
    assert "tok-secret-99887766" not in repr(delivery)


def test_a_channel_no_service_understands_is_not_tried() -> None:
    sleeps = Sleeps()

    delivery = notifier(sleeps).send(Message("carrier-pigeon://loft/7", "hi"))

    assert (delivery.ok, delivery.attempts) == (False, 0)
    assert delivery.error == "not sent: no notification service understands this channel URL"
    assert sleeps.waits == []


def test_a_signing_secret_on_a_non_json_channel_is_refused() -> None:
    delivery = notifier().send(Message("slack://T1/B2/C3/?secret=abc", "hi"))

    assert (delivery.ok, delivery.attempts) == (False, 0)
    assert "only applies to json:// and jsons://" in delivery.error
