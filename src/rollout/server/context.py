"""What one running server holds: store, write path, fan-out, counters and lifecycle hooks.

``app.state.rollout`` is the :class:`ServerContext`. Other parts of the process add their
start/stop work to ``on_startup`` / ``on_shutdown`` (async callables, no arguments) before the
server starts; the app's lifespan runs them after the fan-out is up, and stops them, in reverse
order, before the fan-out goes down. (The rollout controller joins the process this way.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field

from fastapi import Request
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rollout.server.broadcast import Broadcaster
from rollout.server.flag_service import FlagService
from rollout.server.relay import ConfigRelay
from rollout.store import Store

Hook = Callable[[], Awaitable[None]]


class _StreamCollector(Collector):
    """SSE figures read live from the broadcaster and relay at scrape time."""

    def __init__(self, broadcaster: Broadcaster, relay: ConfigRelay) -> None:
        self._broadcaster = broadcaster
        self._relay = relay

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "rollout_sse_clients", "Connected SSE clients.", self._broadcaster.subscriber_count()
        )
        yield CounterMetricFamily(
            "rollout_sse_dropped",
            "SSE clients dropped because their queue was full.",
            self._broadcaster.dropped,
        )
        yield CounterMetricFamily(
            "rollout_config_broadcasts",
            "Config versions pushed to this replica's SSE clients.",
            self._relay.broadcasts,
        )


class ServerMetrics:
    """The server's Prometheus metrics, in a registry of its own (one per app)."""

    def __init__(self, broadcaster: Broadcaster, relay: ConfigRelay) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.telemetry_batches = Counter(
            "rollout_telemetry_batches", "Telemetry batches accepted.", registry=self.registry
        )
        self.telemetry_rows = Counter(
            "rollout_telemetry_rows",
            "Telemetry rows (one per flag arm of a batch) stored.",
            registry=self.registry,
        )
        self.registry.register(_StreamCollector(broadcaster, relay))


@dataclass
class ServerContext:
    """Everything the routes need; see the module docstring for the hooks."""

    store: Store
    service: FlagService
    broadcaster: Broadcaster
    relay: ConfigRelay
    metrics: ServerMetrics
    keepalive_seconds: float
    retry_ms: int
    on_startup: list[Hook] = field(default_factory=list)
    on_shutdown: list[Hook] = field(default_factory=list)
    on_telemetry: list[Callable[[], None]] = field(default_factory=list)
    """Called (quickly, without blocking) after each telemetry batch is stored: the
    controller inside the server wakes to judge rollback triggers on it at once."""


def server_context(request: Request) -> ServerContext:
    """FastAPI dependency: the context of the app serving ``request``."""
    context: ServerContext = request.app.state.rollout
    return context
