"""Rollout figures on the server's ``/metrics``, read from the store at scrape time.

Controllers may run in other processes (``rollout controller``), so nothing here counts in
memory what one process did: every figure comes from the database, and every replica reports
the same numbers. The counters are derived from the audit trail, which is append-only, so they
only grow:

=======================================  =====  ==============================================
``rollout_rollouts{status}``             gauge  rollouts in each status (every status listed)
``rollout_state_transitions_total``      count  status changes, by ``from`` and ``to``
``rollout_stages_started_total``         count  stages entered (changes into ``ramping``)
``rollout_rollbacks_total``              count  rollbacks begun (changes into ``rolling_back``)
``rollout_decisions_total``              count  decisions the controller recorded, one per
                                                reason given (``rollout.reason`` events)
``rollout_flag_config_version{env}``     gauge  each environment's flag config version
=======================================  =====  ==============================================

(``rollout_telemetry_rows_total`` and the SSE figures come from :mod:`rollout.server.context`.)

A scrape reads only what is new: the audit events after the last one counted, of rollouts that
had not ended when last read; a rollout that has ended is read once more, then never again.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from rollout.server.context import ServerContext
from rollout.server.flag_service import FlagService
from rollout.store import EventRecord, RolloutStatus, Store

STATE_EVENT = "rollout.state"
REASON_EVENT = "rollout.reason"


class RolloutCollector(Collector):
    """The figures in the module docstring; safe for concurrent scrapes."""

    def __init__(self, store: Store, service: FlagService) -> None:
        self._store = store
        self._service = service
        self._lock = threading.Lock()
        self._seen: dict[str, int] = {}  # rollout id -> last seq counted
        self._ended: set[str] = set()  # read to the end after they ended
        self._transitions: Counter[tuple[str, str]] = Counter()
        self._decisions = 0

    def describe(self) -> Iterator[Metric]:
        # Registering a collector asks what it yields; answering without reading the store
        # keeps the app's creation free of database work.
        yield GaugeMetricFamily("rollout_rollouts", "", labels=["status"])
        yield CounterMetricFamily("rollout_state_transitions", "", labels=["from", "to"])
        for name in ("rollout_stages_started", "rollout_rollbacks", "rollout_decisions"):
            yield CounterMetricFamily(name, "")
        yield GaugeMetricFamily("rollout_flag_config_version", "", labels=["environment"])

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            statuses = self._catch_up()
            transitions = dict(self._transitions)
            decisions = self._decisions
        by_status = GaugeMetricFamily(
            "rollout_rollouts", "Rollouts in each status.", labels=["status"]
        )
        for status in RolloutStatus:
            by_status.add_metric([status.value], statuses[status.value])
        yield by_status
        moves = CounterMetricFamily(
            "rollout_state_transitions",
            "Rollout status changes, by the status left and the one entered.",
            labels=["from", "to"],
        )
        for (before, after), count in sorted(transitions.items()):
            moves.add_metric([before, after], count)
        yield moves
        entered = sum(n for (_, after), n in transitions.items() if after == "ramping")
        yield CounterMetricFamily(
            "rollout_stages_started", "Stages entered (status changes into ramping).", entered
        )
        rollbacks = sum(n for (_, after), n in transitions.items() if after == "rolling_back")
        yield CounterMetricFamily(
            "rollout_rollbacks", "Rollbacks begun (status changes into rolling_back).", rollbacks
        )
        yield CounterMetricFamily(
            "rollout_decisions",
            "Decisions the controller recorded, one per reason it gave.",
            decisions,
        )
        versions = GaugeMetricFamily(
            "rollout_flag_config_version",
            "Each environment's flag config version.",
            labels=["environment"],
        )
        for environment in self._service.list_environments():
            versions.add_metric([environment], self._service.config_version(environment))
        yield versions

    def _catch_up(self) -> Counter[str]:
        """Counts the events appended since the last scrape; returns rollouts by status."""
        statuses: Counter[str] = Counter()
        for record in self._store.list_rollouts():
            statuses[record.status.value] += 1
            if record.id in self._ended:
                continue
            after = self._seen.get(record.id, 0)
            for event in self._store.list_events(record.id, after_seq=after):
                self._count(event)
                after = event.seq
            self._seen[record.id] = after
            if record.terminal:  # read after it ended: nothing more will be appended
                self._ended.add(record.id)
        return statuses

    def _count(self, event: EventRecord) -> None:
        if event.kind == REASON_EVENT:
            self._decisions += 1
        elif event.kind == STATE_EVENT:
            before, after = event.data.get("from"), event.data.get("to")
            if isinstance(before, str) and isinstance(after, str):
                self._transitions[before, after] += 1


def install_rollout_metrics(context: ServerContext) -> RolloutCollector:
    """Register the rollout figures in the server's own registry (served at ``/metrics``)."""
    collector = RolloutCollector(context.store, context.service)
    context.metrics.registry.register(collector)
    return collector
