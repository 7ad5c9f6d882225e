"""The Python SDK: local evaluation, streaming updates, outcome telemetry, OpenFeature.

* :class:`RolloutClient` -- evaluates flags locally from a compiled config snapshot, kept current
  over SSE (polling as the fallback), with the last good config cached on disk; records
  outcome telemetry per flag arm and sends it in batches; ``track(event, context)`` counts a
  business event (a checkout) in the arms serving the subject, for conversion and count
  metrics judged by the built-in source.
* :class:`RolloutASGIMiddleware`, :class:`RolloutWSGIMiddleware` -- time every request and
  attribute its outcome to the flag arms it was served, with no code in handlers.
* :class:`RolloutProvider` -- the same client behind OpenFeature's provider interface, tracking
  included.
"""

from rollout.flags import ErrorCode, Evaluation, Reason
from rollout.sdk.cache import ConfigCache, default_cache_dir
from rollout.sdk.client import Listener, RolloutClient
from rollout.sdk.middleware import RolloutASGIMiddleware, RolloutWSGIMiddleware
from rollout.sdk.provider import RolloutProvider
from rollout.sdk.snapshot import ConfigChange, ConfigSource
from rollout.sdk.sync import SyncMode
from rollout.sdk.telemetry import ArmOutcome, TelemetryStats, TrackedEvent
from rollout.sdk.tracking import RequestScope

__all__ = [
    "ArmOutcome",
    "ConfigCache",
    "ConfigChange",
    "ConfigSource",
    "ErrorCode",
    "Evaluation",
    "Listener",
    "Reason",
    "RequestScope",
    "RolloutASGIMiddleware",
    "RolloutClient",
    "RolloutProvider",
    "RolloutWSGIMiddleware",
    "SyncMode",
    "TelemetryStats",
    "TrackedEvent",
    "default_cache_dir",
]
