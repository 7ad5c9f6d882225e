"""The controller: leases rollouts and ticks them.

:meth:`Controller.run_once` leases every free rollout it may hold (``store.acquire_lease`` with
its owner id and a TTL), then ticks each one through the :class:`~rollout.engine.runner.Runner`.
A lost lease or a conflicting save stops acting on that rollout at once (another controller has
it now). :meth:`Controller.run_forever` repeats that every ``interval`` seconds until
SIGTERM/SIGINT (or :meth:`Controller.stop`), finishes the action in hand, and gives its leases
back so another controller takes over without waiting. :meth:`Controller.wake` starts the next
round early (at most one round per ``min_gap`` seconds): a controller inside the server is woken
by every stored telemetry batch, so a rollback trigger is judged on the batch that proves it
instead of up to a whole interval later. Several controllers may share one
PostgreSQL: each rollout is acted on by one at a time, and :func:`wake_on_telemetry` wakes a
standalone one whenever any process stores telemetry there.

Leasing includes rollouts that have ended but whose last actions (the final announcements)
were saved and not yet carried out: a controller that died between saving the end and sending
them leaves them to the next one, which sends them under the same idempotency keys.

The service calls people make (:func:`start_rollout`, :func:`send_verb`, :func:`sign_off`) live
in :mod:`rollout.engine.controller_service`, the status views (:func:`rollout_status`,
:func:`rollout_progress`) in :mod:`rollout.engine.controller_views`; both are importable from
here too.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import TYPE_CHECKING, Any

from rollout.engine.actions_exec import AudienceStore, ChangeListener, World
from rollout.engine.controller_service import send_verb, sign_off, start_rollout
from rollout.engine.controller_views import (
    RolloutView,
    list_rollout_status,
    rollout_progress,
    rollout_status,
)
from rollout.engine.runner import (
    COMMAND_PREFIX,
    SIGN_OFF,
    CriterionView,
    Runner,
    ShellState,
    StoredRollout,
    TickReport,
    load_stored,
    state_json,
)
from rollout.engine.state import Status
from rollout.errors import RolloutError, StoreError
from rollout.providers.notify import AppriseNotifier, Notifier
from rollout.store import Store
from rollout.store.listen import ListenerThread

if TYPE_CHECKING:
    from rollout.server.context import ServerContext

log = logging.getLogger("rollout.controller")

DEFAULT_LEASE_TTL = 30.0
"""Seconds a lease lasts unless renewed; a crashed controller's rollouts wait this long."""
DEFAULT_MAX_ROLLOUTS = 50
"""Rollouts one controller holds at a time, so that several controllers share the work."""


def controller_id() -> str:
    """A fresh controller id: ``hostname-pid-random`` (``web-1-4242-9f2c1a``)."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


# --------------------------------------------------------------------------- the loop


class Controller:
    """Leases rollouts and ticks them (see the module docstring).

    ``clock`` gives seconds since the epoch (inject a fake one to replay a rollout; give the
    store the same clock, since leases are timed by the store). ``flag_store`` is where flag
    changes are written (the server's ``FlagService`` inside the server), ``notifier`` who
    sends messages (Apprise by default), ``environ`` where ``${VAR}`` references are read.
    """

    def __init__(
        self,
        store: Store,
        *,
        owner: str | None = None,
        clock: Callable[[], float] = time.time,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        max_rollouts: int | None = DEFAULT_MAX_ROLLOUTS,
        flag_store: AudienceStore | None = None,
        notifier: Notifier | None = None,
        environ: Mapping[str, str] | None = None,
        on_flag_change: ChangeListener | None = None,
    ) -> None:
        self.store = store
        self.owner = owner or controller_id()
        self.lease_ttl = lease_ttl
        self.max_rollouts = max_rollouts
        world = World(store, notifier or AppriseNotifier(), flag_store, environ, on_flag_change)
        self.runner = Runner(store, world, owner=self.owner, clock=clock, lease_ttl=lease_ttl)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._held: set[str] = set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self) -> None:
        """Ask :meth:`run_forever` to finish the action in hand and return."""
        self._stop.set()
        self._wake.set()

    def wake(self) -> None:
        """Start :meth:`run_forever`'s next round now rather than at the end of its interval
        (new data has come in). Cheap and safe from any thread; wakes during a round start
        one more round after it."""
        self._wake.set()

    def run_once(self, now: float | None = None) -> list[TickReport]:
        """One tick of every rollout this controller can lease; ``now`` fixes the time."""
        try:
            held = self.store.acquire_lease(
                None,
                self.owner,
                self.lease_ttl,
                limit=self.max_rollouts,
                include_pending_terminal=True,
            )
        except StoreError as exc:
            log.warning("could not lease rollouts: %s", exc)
            return []
        leased_at = time.monotonic()
        self._held = set(held)
        reports = []
        for rollout_id in held:
            if self._stop.is_set():
                break
            report = self._tick(rollout_id, now, leased_at)
            reports.append(report)
            if report.stopped:
                log.warning("%s: stopped acting: %s", rollout_id, report.stopped)
                self._held.discard(rollout_id)
            elif report.status in _TERMINAL:
                self._release(rollout_id)
        return reports

    def _tick(self, rollout_id: str, now: float | None, leased_at: float) -> TickReport:
        try:
            if time.monotonic() - leased_at >= self.lease_ttl / 3.0:
                # The ticks before this one took a while: start with a full lease.
                self.store.renew_lease(rollout_id, self.owner, self.lease_ttl)
                leased_at = time.monotonic()
            report = self.runner.tick(rollout_id, now, leased_at=leased_at)
        except StoreError as exc:  # the lease ran out meanwhile, or the database hiccupped
            return TickReport(rollout_id, "", stopped=str(exc))
        except RolloutError as exc:
            # A rollout whose stored plan or state cannot be read must not stop the others.
            log.error("%s: %s", rollout_id, exc)
            return TickReport(rollout_id, "", stopped=str(exc))
        except Exception as exc:  # nor may a bug that only this rollout runs into
            log.exception("%s: the tick failed", rollout_id)
            return TickReport(rollout_id, "", stopped=f"unexpected {type(exc).__name__}: {exc}")
        if report.saves:
            log.info("%s: %s (%d actions)", rollout_id, report.status, len(report.actions))
        return report

    def _release(self, rollout_id: str) -> None:
        try:
            self.store.release_lease(rollout_id, self.owner)
        except StoreError as exc:
            log.warning("%s: could not release the lease: %s", rollout_id, exc)
        self._held.discard(rollout_id)

    def run_forever(
        self, interval: float = 5.0, *, handle_signals: bool = True, min_gap: float = 1.0
    ) -> None:
        """Tick every ``interval`` seconds, or sooner when woken (:meth:`wake`) but never more
        than once per ``min_gap`` seconds, until stopped; SIGTERM/SIGINT stop it gracefully
        (when ``handle_signals`` and running in the main thread). Leases are given back."""
        restore = self._install_signals() if handle_signals else {}
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                self.run_once()
                self._wake.wait(interval)
                self._wake.clear()
                # Many SDKs report every few seconds: coalesce their wakes into one round.
                rest = min(min_gap, interval) - (time.monotonic() - began)
                if rest > 0:
                    self._stop.wait(rest)
        finally:
            for number, handler in restore.items():
                signal.signal(number, handler)
            for rollout_id in sorted(self._held):
                self._release(rollout_id)

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}

        def graceful(number: int, _frame: FrameType | None) -> None:
            log.info("%s received: finishing the action in hand", signal.Signals(number).name)
            self.stop()

        return {
            number: signal.signal(number, graceful) for number in (signal.SIGTERM, signal.SIGINT)
        }


_TERMINAL = {s.value for s in Status if s.terminal}


class BackgroundController:
    """A controller looping in a thread of a process that does other things (the server). On
    PostgreSQL it is also woken by telemetry any replica stores (:func:`wake_on_telemetry`)."""

    def __init__(self, controller: Controller, interval: float = 5.0) -> None:
        self.controller = controller
        self.interval = interval
        self._thread: threading.Thread | None = None
        self._listener: ListenerThread | None = None

    def start(self) -> None:
        def loop() -> None:
            self.controller.run_forever(self.interval, handle_signals=False)

        self._listener = wake_on_telemetry(self.controller)
        self._thread = threading.Thread(target=loop, name="rollout-controller", daemon=True)
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Stop after the action in hand (waits for it up to ``timeout`` seconds)."""
        if self._listener is not None:
            self._listener.stop()
        self.controller.stop()
        if self._thread is not None:
            self._thread.join(timeout)


def attach_to_server(
    context: ServerContext, *, interval: float = 5.0, **options: Any
) -> BackgroundController:
    """Run a controller inside a server: flags are written through the server's
    ``FlagService``, so its SSE clients see each ramp at once, and every stored telemetry
    batch wakes it (:meth:`Controller.wake`), so triggers are judged as the data lands.
    Started and stopped with the server (its ``on_startup`` / ``on_shutdown`` hooks);
    ``options`` go to :class:`Controller`.
    """
    import asyncio

    background = BackgroundController(
        Controller(context.store, flag_store=context.service, **options), interval
    )
    context.on_telemetry.append(background.controller.wake)

    async def start() -> None:
        background.start()

    async def stop() -> None:
        await asyncio.to_thread(background.stop)

    context.on_startup.append(start)
    context.on_shutdown.append(stop)
    return background


def wake_on_telemetry(controller: Controller) -> ListenerThread | None:
    """Wake ``controller`` (:meth:`Controller.wake`) whenever any process stores telemetry in
    its PostgreSQL store, and each time that link (re)connects, to catch up on what landed
    while it was not listening. Returns the listener to ``stop()`` when the controller stops;
    ``None`` on SQLite, where the server's own telemetry intake wakes the controller inside it
    (one process serves then)."""
    return controller.store.listen_for_telemetry(
        lambda _environment: controller.wake(), controller.wake
    )


__all__ = [
    "COMMAND_PREFIX",
    "DEFAULT_LEASE_TTL",
    "DEFAULT_MAX_ROLLOUTS",
    "SIGN_OFF",
    "BackgroundController",
    "ChangeListener",
    "Controller",
    "CriterionView",
    "RolloutView",
    "Runner",
    "ShellState",
    "StoredRollout",
    "TickReport",
    "World",
    "attach_to_server",
    "controller_id",
    "list_rollout_status",
    "load_stored",
    "rollout_progress",
    "rollout_status",
    "send_verb",
    "sign_off",
    "start_rollout",
    "state_json",
    "wake_on_telemetry",
]
