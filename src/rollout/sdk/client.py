"""``RolloutClient``: evaluates flags locally and keeps its config current in the background.

Online::

    client = RolloutClient("http://flags.internal:8000", "production")
    client.wait_until_ready(5.0)          # True once a config (server or disk cache) is loaded
    if client.bool_value("new-checkout", {"targeting_key": user.id}, False):
        ...
    client.close()                        # or: with RolloutClient(...) as client:

Offline (tests, benchmarks, air-gapped runs) from the same JSON the server serves::

    client = RolloutClient(None, "test", offline_config="flags.json")

``client.track("checkout", context, value=42.5)`` counts a business event in the arms that
serve the subject (see :meth:`RolloutClient.track`), for ``conversion`` and ``count`` metrics
judged by the built-in source.

The hot path reads one attribute (the current :class:`~rollout.sdk.snapshot.Snapshot`), calls the
compiled evaluator and, when a request scope is active, notes the arm; it takes no lock and
never raises. Updates build a whole new snapshot on the background thread and swap the
reference. Every problem -- no config yet, an unknown flag, a default of the wrong type, a
broken context -- is an :class:`~rollout.flags.Evaluation` with reason ERROR, an error code and
the caller's default.

One background thread per online client runs an asyncio loop with the config sync
(:mod:`rollout.sdk.sync`) and the telemetry flusher (:mod:`rollout.sdk.telemetry`). An offline
client starts no thread and sends nothing; it still records outcomes, readable with
:meth:`RolloutClient.telemetry_snapshot`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from rollout import __version__
from rollout.errors import FlagError
from rollout.flags import CompiledConfig, ErrorCode, Evaluation, FlagConfig, Reason, compile_config
from rollout.sdk._loop import LoopThread
from rollout.sdk.cache import ConfigCache, default_cache_dir
from rollout.sdk.snapshot import ConfigChange, ConfigSource, Snapshot, changed_flags, load_config
from rollout.sdk.sync import ConfigSync, SyncMode, SyncSettings
from rollout.sdk.telemetry import (
    MAX_EVENT_NAME_LENGTH,
    ArmOutcome,
    OutcomeRecorder,
    TelemetrySender,
    TelemetryStats,
)
from rollout.sdk.tracking import RequestScope

__all__ = ["Listener", "RolloutClient"]

log = logging.getLogger("rollout.sdk")

Listener = Callable[[ConfigChange], None]
_EMPTY: Mapping[str, Any] = {}


class RolloutClient:
    """A flag client for one environment; see the module docstring.

    Arguments (durations in seconds):

    * ``server_url`` -- the Rollout server (``http://host:port``); ``None`` with
      ``offline_config``.
    * ``offline_config`` -- a path to a config JSON file, or a :class:`FlagConfig`: evaluate
      from it and never touch the network. A file that cannot be read makes every evaluation
      ERROR / PROVIDER_FATAL; one that does not parse, ERROR / PARSE_ERROR.
    * ``sdk_key`` -- sent as ``Authorization: Bearer <key>``.
    * ``cache_dir`` -- where the last good config is kept (default
      :func:`~rollout.sdk.cache.default_cache_dir`); ``disk_cache=False`` keeps none.
    * ``streaming`` -- SSE updates (polling only when False); ``poll_interval`` -- the polling
      period when polling; ``failures_before_polling``, ``stream_retry_interval``,
      ``stream_read_timeout`` -- see :mod:`rollout.sdk.sync`.
    * ``telemetry`` -- record and send outcomes; ``flush_interval`` -- the telemetry window
      (5 s, the event flush period LaunchDarkly's server SDKs use by default; the server judges
      rollback triggers on each batch as it lands, so a shorter window means an earlier
      rollback: bench/detection.py shows what each cadence costs in bad-version errors);
      ``error_flush_interval`` -- once a request has failed, the window is sent as soon as
      this many seconds (1 s) have passed since the last one, so errors reach the judge
      within about a second while a healthy service sends no more often than
      ``flush_interval`` (None: always wait for ``flush_interval``);
      ``max_pending_batches`` -- unsent windows kept while the server is unreachable.
    * ``http_timeout`` -- connect/read timeout of ordinary requests.

    Misuse of the arguments raises ``ValueError``; nothing else here raises.
    """

    def __init__(
        self,
        server_url: str | None,
        environment: str,
        *,
        sdk_key: str | None = None,
        offline_config: str | os.PathLike[str] | FlagConfig | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        disk_cache: bool = True,
        streaming: bool = True,
        poll_interval: float = 30.0,
        telemetry: bool = True,
        flush_interval: float = 5.0,
        error_flush_interval: float | None = 1.0,
        max_pending_batches: int = 100,
        stream_read_timeout: float = 45.0,
        failures_before_polling: int = 3,
        stream_retry_interval: float = 300.0,
        http_timeout: float = 10.0,
    ) -> None:
        if not environment:
            raise ValueError("environment must be a non-empty name")
        if (server_url is None) == (offline_config is None):
            raise ValueError("give either a server_url or an offline_config (exactly one)")
        if server_url is not None and not server_url.startswith(("http://", "https://")):
            raise ValueError(f"server_url must start with http:// or https://, not {server_url!r}")
        if not flush_interval > 0:
            raise ValueError(f"flush_interval must be > 0 seconds, not {flush_interval!r}")
        if error_flush_interval is not None and not error_flush_interval > 0:
            raise ValueError(
                f"error_flush_interval must be > 0 seconds or None, not {error_flush_interval!r}"
            )
        self.environment = environment
        self.server_url = server_url.rstrip("/") if server_url else None
        self.instance_id = str(uuid.uuid4())
        self._snapshot = Snapshot.empty(
            ErrorCode.PROVIDER_NOT_READY, "no flag config has been received yet"
        )
        self._ready = threading.Event()
        self._listeners: list[Listener] = []
        self._last_error: str | None = None
        self._healthy = True
        self._closed = False
        self._telemetry = telemetry
        self._recorder = OutcomeRecorder()
        self._scope_var: ContextVar[RequestScope | None] = ContextVar(
            f"rollout_request_scope_{id(self):x}", default=None
        )
        self._sender = TelemetrySender(environment, self.instance_id, max_pending_batches)
        self._flush_interval = flush_interval
        self._error_flush_interval = error_flush_interval
        self._mode = SyncMode.OFFLINE
        self._http: httpx.AsyncClient | None = None
        self._worker: LoopThread | None = None
        self._tasks: list[asyncio.Task[None]] = []

        if offline_config is not None:
            self._cache = None
            self._load_offline(offline_config)
            return
        assert self.server_url is not None
        self._cache = (
            ConfigCache(cache_dir or default_cache_dir(), self.server_url, environment)
            if disk_cache
            else None
        )
        self._settings = SyncSettings(
            environment,
            streaming=streaming,
            poll_interval=poll_interval,
            stream_read_timeout=stream_read_timeout,
            failures_before_polling=failures_before_polling,
            stream_retry_interval=stream_retry_interval,
        )
        headers = {"User-Agent": f"rollout-python/{__version__}"}
        if sdk_key:
            headers["Authorization"] = f"Bearer {sdk_key}"
        self._headers = headers
        self._http_timeout = http_timeout
        self._mode = SyncMode.CONNECTING
        self._start_background()

    # ------------------------------------------------------------------ evaluation

    def evaluate(
        self, flag_key: str, context: Mapping[str, Any] | None = None, default: Any = None
    ) -> Evaluation:
        """Evaluate ``flag_key`` for ``context`` (a mapping with ``targeting_key`` and any
        attributes); never raises. See :mod:`rollout.flags.evaluator` for reasons and codes."""
        try:
            subject = _EMPTY if context is None else context
            result = self._snapshot.compiled.evaluate(flag_key, subject, default)
            if result.variant is not None:
                scope = self._scope_var.get()
                if scope is not None:
                    scope.note(flag_key, result.variant, subject)
            return result
        except Exception as exc:  # only a bug gets here; the application must not see it
            return Evaluation(
                default, None, Reason.ERROR, ErrorCode.GENERAL, None, f"{type(exc).__name__}: {exc}"
            )

    def bool_value(
        self, flag_key: str, context: Mapping[str, Any] | None = None, default: bool = False
    ) -> bool:
        """The flag's boolean value, or ``default`` when it cannot be evaluated as one."""
        value = self.evaluate(flag_key, context, default).value
        return value if isinstance(value, bool) else default

    def string_value(
        self, flag_key: str, context: Mapping[str, Any] | None = None, default: str = ""
    ) -> str:
        """The flag's string value, or ``default`` when it cannot be evaluated as one."""
        value = self.evaluate(flag_key, context, default).value
        return value if isinstance(value, str) else default

    def number_value(
        self, flag_key: str, context: Mapping[str, Any] | None = None, default: float = 0
    ) -> float:
        """The flag's number value (an ``int`` or a ``float``), or ``default``."""
        value = self.evaluate(flag_key, context, default).value
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        return default

    def json_value(
        self, flag_key: str, context: Mapping[str, Any] | None = None, default: Any = None
    ) -> Any:
        """The flag's JSON object or array (shared: do not mutate it), or ``default``."""
        return self.evaluate(flag_key, context, default).value

    # ------------------------------------------------------------------ state

    @property
    def source(self) -> ConfigSource:
        """Where the config being evaluated came from: server, cache, offline, or none."""
        return self._snapshot.source

    @property
    def version(self) -> int | None:
        """The version of the config being evaluated, ``None`` before there is one."""
        return self._snapshot.version

    @property
    def config(self) -> FlagConfig | None:
        """The config being evaluated (read-only), ``None`` before there is one."""
        return self._snapshot.config

    @property
    def error_code(self) -> ErrorCode | None:
        """Why there is no config to evaluate: PROVIDER_NOT_READY (none received yet),
        PARSE_ERROR (the offline file does not parse) or PROVIDER_FATAL (it cannot be read);
        ``None`` once there is one."""
        return self._snapshot.error_code

    @property
    def mode(self) -> SyncMode:
        """How updates currently arrive (streaming, polling, ...)."""
        return self._mode

    @property
    def last_error(self) -> str | None:
        """The latest problem getting a config, in words; ``None`` if there was none."""
        return self._last_error

    def wait_until_ready(self, timeout: float | None = None) -> bool:
        """Block until a config is loaded (from the server, the disk cache or the offline
        file), at most ``timeout`` seconds; True when there is one."""
        return self._ready.wait(timeout)

    def add_listener(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener(change)`` after every config update (on the background thread; keep
        it short). Returns a function that removes it."""
        self._listeners.append(listener)

        def remove() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return remove

    # ------------------------------------------------------------------ telemetry

    def request_scope(self) -> RequestScope:
        """A scope attributing one request's outcome to the arms evaluated during it:
        ``with client.request_scope(): handle(request)``. See :mod:`rollout.sdk.tracking`."""
        return RequestScope(self._scope_var, self.record)

    def record(
        self,
        flag: str,
        variant: str,
        latency_ms: float,
        error: bool = False,
        subject: str | None = None,
    ) -> None:
        """Count one request served by ``flag``'s ``variant``, ``latency_ms`` long, failed
        when ``error``, made by ``subject`` (a user or client id; a failing subject counts once
        per arm and telemetry window, see :class:`~rollout.sdk.telemetry.OutcomeRecorder`).
        ``ValueError`` for a negative or non-finite latency."""
        if self._telemetry:
            self._recorder.record(flag, variant, latency_ms, error, subject)

    def track(
        self, event: str, context: Mapping[str, Any] | None, *, value: float | None = None
    ) -> None:
        """Count one business ``event`` (``"checkout"``) of the subject ``context`` describes,
        with an optional numeric ``value`` (an order total) added to the event's sum.

        The event is counted in the arm that serves the subject *now*, for every flag of the
        config with a percentage rollout or split: bucketing is deterministic, so the subject's
        arm is the one its requests were served, with no exposure to remember. (A subject
        whose arm changed since -- a ramp that moved it, a rollback -- counts where it is
        now.) The built-in metric source divides an arm's events by its requests: a
        ``conversion`` metric with ``queries: {event: checkout}`` compares checkouts per
        request between the canary and the control.

        ``ValueError`` for an empty or over-long name or a value that is not a finite number,
        like the client's other argument checks; nothing else raises, and nothing is recorded
        while no config is loaded or when telemetry is off.
        """
        if not isinstance(event, str) or not 0 < len(event) <= MAX_EVENT_NAME_LENGTH:
            raise ValueError(
                f"event must be a name of 1 to {MAX_EVENT_NAME_LENGTH} characters, not {event!r}"
            )
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        if value is not None and not (is_number and math.isfinite(value)):
            raise ValueError(f"value must be a finite number or None, not {value!r}")
        if not self._telemetry:
            return
        try:
            snapshot = self._snapshot
            subject = _EMPTY if context is None else context
            arms = []
            for flag_key in snapshot.split_flags:
                variant = snapshot.compiled.evaluate(flag_key, subject).variant
                if variant is not None:
                    arms.append((flag_key, variant))
            if arms:
                self._recorder.track(arms, event, None if value is None else float(value))
        except Exception:  # only a bug gets here; the application must not see it
            log.exception("rollout: tracking %r failed", event)

    def telemetry_snapshot(self) -> tuple[ArmOutcome, ...]:
        """The arms recorded in the telemetry window in progress (copies)."""
        return self._recorder.peek()

    @property
    def telemetry_stats(self) -> TelemetryStats:
        """Counters of sent, failed, dropped, rejected and pending telemetry batches."""
        return self._sender.stats()

    def flush(self, timeout: float = 10.0) -> bool:
        """Cut the telemetry window now and send every pending batch; True when all were
        accepted within ``timeout`` seconds. Offline or closed clients send nothing (False)."""
        worker, http = self._worker, self._http
        if worker is None or http is None or self._closed or not self._telemetry:
            return False
        try:
            return worker.call(self._sender.flush(http, self._recorder), timeout)
        except (TimeoutError, RuntimeError):
            return False

    # ------------------------------------------------------------------ lifecycle

    def close(self, timeout: float = 5.0) -> None:
        """Stop the updates, send the last telemetry (for at most ``timeout`` seconds) and
        stop the background thread. Idempotent. Called from a config listener (the background
        thread itself), it starts the shutdown and returns without waiting for it."""
        if self._closed:
            return
        self._closed = True
        self._mode = SyncMode.CLOSED
        worker = self._worker
        if worker is None:
            return
        if worker.is_current():
            stopping = worker.loop.create_task(self._shutdown(timeout))
            stopping.add_done_callback(lambda _: worker.loop.stop())
            return
        try:
            worker.call(self._shutdown(timeout), timeout + 1.0)
        except (TimeoutError, RuntimeError):
            log.warning("rollout: the client did not shut down within %.1f s", timeout)
        worker.stop(timeout)

    def __enter__(self) -> RolloutClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        where = self.server_url or "offline"
        return (
            f"RolloutClient({where!r}, {self.environment!r}, source={self.source.value}, "
            f"version={self.version}, mode={self._mode.value})"
        )

    # ------------------------------------------------------------------ internals

    def _load_offline(self, offline: str | os.PathLike[str] | FlagConfig) -> None:
        if isinstance(offline, FlagConfig):
            self._install(offline, compile_config(offline), ConfigSource.OFFLINE)
            return
        try:
            text = Path(offline).read_text(encoding="utf-8")
        except OSError as exc:
            self._fail_for_good(ErrorCode.PROVIDER_FATAL, f"cannot read {offline}: {exc}")
            return
        try:
            config, compiled = load_config(text)
        except FlagError as exc:
            self._fail_for_good(ErrorCode.PARSE_ERROR, f"{offline}: {exc}")
            return
        self._install(config, compiled, ConfigSource.OFFLINE)

    def _fail_for_good(self, code: ErrorCode, message: str) -> None:
        self._last_error = message
        self._snapshot = Snapshot.empty(code, message)

    def _install(
        self,
        config: FlagConfig,
        compiled: CompiledConfig,
        source: ConfigSource,
        then: Callable[[], None] | None = None,
    ) -> None:
        """Swap in the new snapshot, run ``then`` (the cache write), then tell the listeners,
        so a listener sees the update complete."""
        previous = self._snapshot
        self._snapshot = Snapshot.of(config, compiled, source)
        self._ready.set()
        if then is not None:
            then()
        change = ConfigChange(
            previous.version, config.version, source, changed_flags(previous.config, config)
        )
        for listener in list(self._listeners):
            try:
                listener(change)
            except Exception:  # a listener's bug must not stop the updates
                log.exception("rollout: a config listener failed")

    def _load_cache(self) -> None:
        if self._cache is None:
            return
        try:
            cached = self._cache.load()
        except (OSError, FlagError) as exc:
            log.warning("rollout: the config cache is unusable: %s", exc)
            return
        if cached is None:
            return
        age = max(0.0, time.time() - cached.saved_at)
        log.warning(
            "rollout: serving the cached config version %d (saved %.0f s ago) until the "
            "server is reachable",
            cached.config.version,
            age,
        )
        self._install(cached.config, cached.compiled, ConfigSource.CACHE)

    # -- the background loop ----------------------------------------------------------

    def _start_background(self) -> None:
        self._worker = LoopThread(f"rollout-sdk-{self.instance_id}")
        self._worker.call(self._begin(), None)

    async def _begin(self) -> None:
        assert self.server_url is not None
        self._http = http = httpx.AsyncClient(
            base_url=self.server_url,
            headers=self._headers,
            timeout=httpx.Timeout(self._http_timeout),
        )
        sync = ConfigSync(http, self._settings, _Sink(self))
        self._tasks.append(asyncio.create_task(sync.run(), name="rollout-config"))
        if self._telemetry:
            flusher = self._sender.run(
                http, self._recorder, self._flush_interval, self._error_flush_interval
            )
            self._tasks.append(asyncio.create_task(flusher, name="rollout-telemetry"))

    async def _shutdown(self, timeout: float) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._http is None:
            return
        if self._telemetry:
            try:
                sent = await asyncio.wait_for(
                    self._sender.flush(self._http, self._recorder), timeout
                )
            except TimeoutError:
                sent = False
            if not sent:
                log.warning(
                    "rollout: %d telemetry batch(es) not sent before close",
                    self._sender.pending,
                )
        await self._http.aclose()


class _Sink:
    """Where the config sync delivers (:class:`~rollout.sdk.sync.ConfigSink`); runs on the
    client's background loop, so the sink methods stay off the client's public surface."""

    def __init__(self, client: RolloutClient) -> None:
        self._client = client

    def server_version(self) -> int | None:
        snapshot = self._client._snapshot
        return snapshot.version if snapshot.source is ConfigSource.SERVER else None

    def apply(self, text: str) -> None:
        client = self._client
        config, compiled = load_config(text)
        current = client._snapshot
        if current.source is ConfigSource.SERVER and current.version == config.version:
            return  # the same version again (a poll racing the stream)
        if not client._healthy:
            log.info("rollout: config version %d received from the server", config.version)
        client._healthy = True
        client._last_error = None
        cache = client._cache

        def save() -> None:
            if cache is not None:
                try:
                    cache.save(config)
                except OSError as exc:
                    log.warning("rollout: could not write the config cache: %s", exc)

        client._install(config, compiled, ConfigSource.SERVER, then=save)

    def failed(self, message: str) -> None:
        client = self._client
        client._last_error = message
        if client._healthy:
            log.warning("rollout: %s", message)
            client._healthy = False
        if client._snapshot.config is None:
            client._load_cache()

    def mode_changed(self, mode: SyncMode) -> None:
        if not self._client._closed:
            self._client._mode = mode
