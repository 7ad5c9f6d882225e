"""Signed webhooks: how a receiver knows a ``json://`` / ``jsons://`` message came from us.

When a signing secret is configured, every JSON webhook carries three headers:

==========================  ==========================================================
``X-Rollout-Timestamp``     seconds since the epoch when it was signed (an integer)
``X-Rollout-Signature``     ``sha256=`` + hex HMAC-SHA256 of ``f"{timestamp}."`` + body
``X-Rollout-Delivery``      the action's idempotency key: the same on every retry
==========================  ==========================================================

The body is signed exactly as sent (raw bytes, before any parsing), with the timestamp in front
so a captured request cannot be replayed later: a receiver recomputes the HMAC with the shared
secret, compares in constant time, and rejects timestamps older than a few minutes (this is the
scheme Stripe and Slack use for their webhooks). :func:`verify` does all of that.

The secret comes from the channel's ``secret`` parameter (``jsons://hooks.example/deploy?
secret=${DEPLOY_HOOK_SECRET}``), else from ``$ROLLOUT_WEBHOOK_SECRET``.

>>> signature("s3cret", "1700000000", b'{"message":"hi"}')
'sha256=a5d9aa2f81c9c4cea581e6454020d3bf169fa853b3bc0251b870b9616edad155'
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

SECRET_ENV = "ROLLOUT_WEBHOOK_SECRET"
SECRET_PARAMETER = "secret"
SIGNATURE_HEADER = "X-Rollout-Signature"
TIMESTAMP_HEADER = "X-Rollout-Timestamp"
DELIVERY_HEADER = "X-Rollout-Delivery"
TOLERANCE_S = 300.0
"""How old a signed timestamp :func:`verify` accepts by default, in seconds (5 minutes)."""


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 of "<timestamp>." + body under secret>``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + digest.hexdigest()


def signed_headers(secret: str, body: bytes, now: float) -> dict[str, str]:
    """The timestamp and signature headers for ``body`` sent at ``now`` (epoch seconds)."""
    timestamp = str(int(now))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    tolerance: float = TOLERANCE_S,
) -> bool:
    """Whether ``headers`` carry a valid signature of ``body`` made within ``tolerance``
    seconds of ``now`` (default: the current time). Header names match in any case."""
    folded = {name.lower(): value for name, value in headers.items()}
    timestamp = folded.get(TIMESTAMP_HEADER.lower(), "")
    given = folded.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit() or not given:
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(given, signature(secret, timestamp, body))
