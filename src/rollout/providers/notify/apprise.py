"""Sending the communication plan's messages through Apprise (Slack, Teams, e-mail, webhooks...).

A channel is an Apprise URL (``slack://${SLACK_TOKEN}/#deploys``, ``mailto://...``,
``jsons://hooks.example/deploy``). ``${VAR}`` references are filled in from the environment at
the moment of sending and the expanded URL lives only for that call: deliveries, errors and
logs show the channel as written, with credentials masked.

Delivery is retried: ``attempts`` tries (default 3) with 1 s, 2 s, ... in between. A failure is
reported as a :class:`Delivery` with ``ok=False`` and the reason in words, never raised, so a
channel that is down cannot stop a rollback. A channel that cannot be tried at all (an unset
variable, a URL no service understands) fails at once, without retries.

Signed JSON webhooks: a ``json://`` / ``jsons://`` channel with a signing secret (its
``secret=`` parameter, else ``$ROLLOUT_WEBHOOK_SECRET``; see
:mod:`rollout.providers.notify.signing`) is posted by Rollout itself rather than by Apprise,
because the signature covers the exact bytes of the body and only the sender knows them. The
request is what Apprise's JSON service would send: the body ``{"version": "1.0", "title",
"message", "attachments": [], "type"}`` (``type``: info, success, warning or failure), and the
channel's Apprise options are honoured (they are read with Apprise's own URL parser): basic auth
from ``user:password@``, ``+Header=value`` extra headers, ``-name=value`` query parameters,
``:field=value`` payload changes (an empty value removes a field, a name renames it, a new field
is added), ``method=``, ``verify=no``. The three ``X-Rollout-*`` headers are added last, so
nothing in the URL can override them. Without a secret, ``json://`` goes through Apprise like
every other channel.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

import apprise
import httpx

from rollout.plan import mask_url
from rollout.providers.checks.http import backoff
from rollout.providers.notify._base import Delivery, Message
from rollout.providers.notify.signing import (
    DELIVERY_HEADER,
    SECRET_ENV,
    SECRET_PARAMETER,
    signed_headers,
)
from rollout.providers.secrets import MissingVariable, Scrubber, expand

ATTEMPTS = 3
TIMEOUT_S = 10.0
"""Seconds a signed webhook may take to answer (Apprise's own services use their defaults)."""

_SIGNED_SCHEMES = {"json": "http", "jsons": "https"}
_ASSET_NAME = "Rollout"

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class _Target:
    url: str
    secret: str | None
    scrub: Scrubber


@dataclass(frozen=True)
class _Outcome:
    error: str = ""
    retry: bool = True

    @property
    def ok(self) -> bool:
        return not self.error


class _NotSendable(Exception):
    """The channel cannot be tried at all; the message is the reason in words."""


class AppriseNotifier:
    """A :class:`~rollout.providers.notify.Notifier` over Apprise (and httpx for signed JSON).

    ``attempts`` (at least 1) tries per message, waiting ``backoff`` seconds, then twice that,
    and so on (at most 30 s), between them; ``sleep`` waits (inject a fake one in tests).
    ``clock`` stamps signatures (epoch seconds). ``environ`` is where ``${VAR}`` references and
    ``ROLLOUT_WEBHOOK_SECRET`` are read at send time (default: the process environment).
    """

    def __init__(
        self,
        *,
        attempts: int = ATTEMPTS,
        backoff_s: float = 1.0,
        sleep: Sleep = time.sleep,
        clock: Callable[[], float] = time.time,
        timeout: float = TIMEOUT_S,
        environ: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if attempts < 1:
            raise ValueError("a notifier needs at least one attempt")
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.sleep = sleep
        self.clock = clock
        self.timeout = timeout
        self.environ = environ
        self.transport = transport

    def send(self, message: Message, *, key: str = "") -> Delivery:
        """Deliver ``message``, retrying; see the module docstring. Never raises."""
        masked = mask_url(message.channel)
        try:
            target = self._target(message.channel)
        except _NotSendable as exc:
            return Delivery(masked, False, 0, f"not sent: {exc}", message.audience)
        except Exception as exc:  # Apprise choking on a URL must not raise into a rollback
            why = f"not sent: the channel URL could not be read ({type(exc).__name__})"
            return Delivery(masked, False, 0, why, message.audience)
        outcome = _Outcome("not tried")
        attempt = 0
        for attempt in range(1, self.attempts + 1):
            outcome = self._attempt(target, message, key)
            if outcome.ok or not outcome.retry or attempt == self.attempts:
                break
            self.sleep(backoff(attempt, self.backoff_s))
        return Delivery(masked, outcome.ok, attempt, target.scrub(outcome.error), message.audience)

    # ------------------------------------------------------------------ preparing

    def _target(self, channel: str) -> _Target:
        environ = self.environ
        scheme = channel.partition("://")[0].strip().lower()
        rest, written_secret = _take_parameter(channel.strip(), SECRET_PARAMETER)
        if written_secret is not None and scheme not in _SIGNED_SCHEMES:
            raise _NotSendable(
                f"a signing '{SECRET_PARAMETER}' only applies to json:// and jsons:// channels"
            )
        try:
            url = expand(rest, environ)
            secret = expand(unquote(written_secret), environ) if written_secret else None
        except MissingVariable as exc:
            raise _NotSendable(str(exc)) from None
        if apprise.Apprise.instantiate(url.text) is None:
            raise _NotSendable("no notification service understands this channel URL")
        scrub = url.scrubber
        if secret is not None:
            return _Target(url.text, secret.text, scrub + Scrubber((secret.text,)))
        fallback = (environ if environ is not None else os.environ).get(SECRET_ENV)
        if scheme in _SIGNED_SCHEMES and fallback:
            return _Target(url.text, fallback, scrub + Scrubber((fallback,)))
        return _Target(url.text, None, scrub)

    # ------------------------------------------------------------------ sending

    def _attempt(self, target: _Target, message: Message, key: str) -> _Outcome:
        # Whatever a service library does, a notification must not raise into a rollback.
        try:
            if target.secret is not None:
                return self._post_signed(target, target.secret, message, key)
            return _through_apprise(target.url, message)
        except Exception as exc:
            return _Outcome(f"{type(exc).__name__}: {exc}")

    def _post_signed(self, target: _Target, secret: str, message: Message, key: str) -> _Outcome:
        plugin: Any = apprise.Apprise.instantiate(target.url)
        if plugin is None:
            return _Outcome("Apprise cannot read this JSON webhook URL", retry=False)
        body = json.dumps(_payload(plugin, message)).encode()
        headers = {"User-Agent": _ASSET_NAME, "Content-Type": "application/json"}
        headers.update(plugin.headers)
        if key:
            headers[DELIVERY_HEADER] = key
        headers.update(signed_headers(secret, body, self.clock()))
        auth = httpx.BasicAuth(plugin.user, plugin.password or "") if plugin.user else None
        port = f":{plugin.port}" if plugin.port else ""
        url = (
            f"{'https' if plugin.secure else 'http'}://{plugin.host}{port}{plugin.fullpath or '/'}"
        )
        try:
            with httpx.Client(
                timeout=self.timeout, verify=plugin.verify_certificate, transport=self.transport
            ) as client:
                response = client.request(
                    plugin.method,
                    url,
                    content=body,
                    params=plugin.params,
                    headers=headers,
                    auth=auth,
                )
        except httpx.HTTPError as exc:
            return _Outcome(f"the webhook could not be reached: {str(exc) or type(exc).__name__}")
        if 200 <= response.status_code < 300:
            return _Outcome()
        detail = response.text.strip().splitlines()[-1][:200] if response.text.strip() else ""
        return _Outcome(
            f"the webhook answered {response.status_code}" + (f": {detail}" if detail else "")
        )


def _through_apprise(url: str, message: Message) -> _Outcome:
    sender = apprise.Apprise(asset=apprise.AppriseAsset(app_id=_ASSET_NAME, app_desc=_ASSET_NAME))
    if not sender.add(url):
        return _Outcome("no notification service understands this channel URL", retry=False)
    result = sender.notify(body=message.body, title=message.title, notify_type=message.kind)
    if result:
        return _Outcome()
    return _Outcome(_apprise_reason(result))


def _apprise_reason(result: Any) -> str:
    # Apprise 2 returns a result that keeps the services' log lines; 1.x returns a bool.
    logs = getattr(result, "logs", None)
    if callable(logs):
        lines = [str(entry.message) for entry in logs() if str(entry.level) != "DEBUG"]
        if lines:
            return lines[-1]
    return "Apprise reported that the message was not delivered"


def _payload(plugin: Any, message: Message) -> dict[str, object]:
    payload: dict[str, object] = {
        "version": plugin.json_version,
        "title": message.title,
        "message": message.body,
        "attachments": [],
        "type": message.kind,
    }
    # Apprise's ":field=value" rule: an existing field is renamed (or dropped when the value
    # is empty); a new field is added.
    for field, value in plugin.payload_extras.items():
        if field in payload:
            moved = payload.pop(field)
            if value:
                payload[value] = moved
        else:
            payload[field] = value
    return payload


def _take_parameter(url: str, name: str) -> tuple[str, str | None]:
    """``url`` without its query parameter ``name``, and that parameter's value (None when
    absent). Works on the text as written, before any ``${VAR}`` is filled in."""
    base, question, query = url.partition("?")
    if not question:
        return url, None
    query, hash_mark, fragment = query.partition("#")
    kept, found = [], None
    for pair in query.split("&"):
        key, _, value = pair.partition("=")
        if key == name:
            found = value
        elif pair:
            kept.append(pair)
    rest = base + ("?" + "&".join(kept) if kept else "") + hash_mark + fragment
    return rest, found
