"""The built-in flag router: the new version sits behind a flag, traffic % is its rollout %.

Plan block::

    strategy: {type: feature-flag, flag: new-checkout}
    environments:
      - name: production
        traffic: {type: flag}            # or {type: flag, flag: another-flag}

``set_weight(25)`` writes the flag in the environment's store with its fallthrough serving the
new version to 25 % of subjects (:func:`rollout.flags.with_rollout_percent`: the same subjects
stay in as the percentage rises, everyone leaves at 0). Each change is a new flag version,
audited by the store (history row with the actor, config version bump, ``flag.changed``
event) and pushed to SDKs from there; re-applying the same percentage writes nothing. The
weight is then read back from the store and compared with the request.

A flag missing from the store is created from the plan's ``flags:`` entry: variants ``on`` (the
entry's ``serve``) and ``off`` (its ``default``, also served while the flag is switched off).
A flag switched off (its kill switch) serves nobody the new version: the router refuses to
raise its percentage (someone switched it off on purpose) but still lowers it, so a rollback
always works. Writes are read-modify-write with the store's version check: when someone else
changes the flag in between, the router re-reads and re-applies.

Register it where the store is known::

    registry = default_registry()
    register_flag_router(registry, store, actor="rollout:r-42", plan=plan)
    router = router_for(environment.traffic, RouterContext(version, environment.name), registry)
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pydantic import ValidationError

from rollout.errors import Conflict, FlagError, NotFound, StoreError, TrafficError
from rollout.flags import Flag, with_enabled, with_rollout_percent
from rollout.plan.model import FlagRouter, FlagSpec, Plan
from rollout.providers.traffic._base import (
    AppliedWeight,
    RouterContext,
    check_percent,
    format_percent,
)
from rollout.providers.traffic.registry import RouterRegistry
from rollout.store.flags import FlagAccess

if TYPE_CHECKING:
    from rollout.store import FlagRecord

TOLERANCE = 1e-9
"""Largest difference, in percentage points, between the weight asked for and the one read
back: the store keeps the number as written, so anything more is someone else's change."""

_WRITE_ATTEMPTS = 10

ChangeListener = Callable[[str, int], None]
"""Called with ``(environment, config version)`` after a change was written."""


class FlagStore(FlagAccess, Protocol):
    """The part of :class:`rollout.store.Store` the router uses."""

    def config_version(self, environment: str) -> int: ...


def flag_from_spec(spec: FlagSpec, percent: float = 0.0) -> Flag:
    """A new flag for the plan's ``spec``, serving ``serve`` to ``percent`` % (0..100).

    >>> flag = flag_from_spec(FlagSpec(key="new-checkout"), 5)
    >>> flag.variants, flag.fallthrough.rollout.percent
    ({'on': True, 'off': False}, 5.0)

    Raises ``TrafficError`` when the spec cannot be a flag (``serve`` and ``default`` of
    different types).
    """
    try:
        return Flag.model_validate(
            {
                "key": spec.key,
                "description": spec.description,
                "variants": {"on": spec.serve, "off": spec.default},
                "off_variant": "off",
                "fallthrough": {"rollout": {"variant": "on", "percent": percent, "rest": "off"}},
            }
        )
    except (ValidationError, FlagError) as exc:
        raise TrafficError(
            f"flag {spec.key} cannot be created from the plan: {_first_problem(exc)}"
        ) from exc


def live_percent(flag: Flag) -> float:
    """The share of subjects the flag's fallthrough serves the new version, in percent.

    A switched-off flag serves nobody (0). A rollout serves its percentage; a single variant
    on a boolean flag serves everyone (true) or nobody (false). Raises ``TrafficError`` for a
    fallthrough that is not a percentage (a split, a non-boolean variant): the router did not
    write it and cannot say what share it is.
    """
    if not flag.on:
        return 0.0
    serve = flag.fallthrough
    if serve.rollout is not None:
        return serve.rollout.percent
    if serve.variant is not None and isinstance(flag.variants.get(serve.variant), bool):
        return 100.0 if flag.variants[serve.variant] else 0.0
    raise TrafficError(
        f"flag {flag.key}'s fallthrough is not a percentage rollout, so the share of traffic "
        "it sends to the new version cannot be read"
    )


class FlagTrafficRouter:
    """Moves traffic by setting ``flag_key``'s rollout % in ``environment`` (module docstring).

    ``actor`` is who the flag history names for each change (``rollout:r-42``). ``spec`` is
    the plan's entry for the flag, used to create it when the store does not have it yet.
    ``on_change`` is told ``(environment, config version)`` after each write that changed
    something (for in-process listeners; other replicas learn it from the store).
    """

    def __init__(
        self,
        store: FlagStore,
        environment: str,
        flag_key: str,
        actor: str,
        spec: FlagSpec | None = None,
        *,
        on_change: ChangeListener | None = None,
    ) -> None:
        if spec is not None and spec.key != flag_key:
            raise TrafficError(f"the plan entry for flag {spec.key} was given for {flag_key}")
        self.store = store
        self.environment = environment
        self.flag_key = flag_key
        self.actor = actor
        self.spec = spec
        self.on_change = on_change

    def set_weight(self, canary_percent: float, key: str) -> AppliedWeight:
        """Serve the new version to ``canary_percent`` % and read it back. ``key`` (the
        action's idempotency key) is not needed: setting a percentage is idempotent."""
        percent = check_percent(canary_percent)

        def change(flag: Flag) -> Flag:
            if not flag.on and percent > 0:
                raise TrafficError(
                    f"flag {self.flag_key} is switched off in {self.environment} (its kill "
                    f"switch), so {format_percent(percent)}% cannot go live; switch it on first"
                )
            return with_rollout_percent(flag, percent)

        record = self._write(change, percent)
        return self._applied(percent, record)

    def get_weight(self) -> float:
        """The flag's live share in percent, read from the store."""
        flag = self._flag(self._read())
        if flag is None:
            raise TrafficError(f"flag {self.flag_key} does not exist in {self.environment}")
        return live_percent(flag)

    def finalize(self, promoted: bool, key: str = "") -> AppliedWeight:
        """Everyone on the new version (``promoted``: 100 %) or back on the old one (0 %)."""
        return self.set_weight(100.0 if promoted else 0.0, key)

    def set_enabled(self, on: bool, key: str = "") -> AppliedWeight:
        """Switch the flag on or off (its kill switch) and report the share now live."""

        def change(flag: Flag) -> Flag:
            return with_enabled(flag, on)

        record = self._write(change, 0.0)
        live = live_percent(self._validated(record))
        state = "on" if on else "off"
        return AppliedWeight(
            live,
            live,
            verified=True,
            detail=f"flag {self.flag_key} in {self.environment} switched {state} "
            f"(version {record.version}); {format_percent(live)}% live",
        )

    # ------------------------------------------------------------------ store access

    def _read(self) -> FlagRecord | None:
        try:
            return self.store.get_flag(self.environment, self.flag_key)
        except NotFound:
            return None
        except StoreError as exc:
            raise TrafficError(f"could not read flag {self.flag_key}: {exc}") from exc

    def _flag(self, record: FlagRecord | None) -> Flag | None:
        return None if record is None else self._validated(record)

    def _validated(self, record: FlagRecord) -> Flag:
        try:
            # The key is the record's; a definition may leave it out.
            return Flag.model_validate({"key": self.flag_key, **record.definition})
        except (ValidationError, FlagError) as exc:
            raise TrafficError(
                f"flag {self.flag_key} in {self.environment} is stored in a shape the router "
                f"cannot use: {_first_problem(exc)}"
            ) from exc

    def _write(self, change: Callable[[Flag], Flag], create_at: float) -> FlagRecord:
        """Read, change, write with the version check; re-read when someone got in between.
        A missing flag is created from the spec at ``create_at`` % before ``change``."""
        for _ in range(_WRITE_ATTEMPTS):
            record = self._read()
            current = self._flag(record)
            if current is None:
                if self.spec is None:
                    raise TrafficError(
                        f"flag {self.flag_key} does not exist in {self.environment} and the "
                        "plan has no 'flags' entry to create it from"
                    )
                current = flag_from_spec(self.spec, create_at)
            try:
                updated = change(current)
            except FlagError as exc:
                raise TrafficError(f"flag {self.flag_key}: {exc}") from exc
            expected = 0 if record is None else record.version
            try:
                written = self.store.put_flag(
                    self.environment,
                    self.flag_key,
                    updated.model_dump(mode="json"),
                    self.actor,
                    expected_version=expected,
                )
            except Conflict:
                continue
            except StoreError as exc:
                raise TrafficError(f"could not write flag {self.flag_key}: {exc}") from exc
            if written.version != expected and self.on_change is not None:
                self.on_change(self.environment, self.store.config_version(self.environment))
            return written
        raise TrafficError(
            f"flag {self.flag_key} in {self.environment} kept changing under the router "
            f"({_WRITE_ATTEMPTS} tries); try again"
        )

    def _applied(self, percent: float, written: FlagRecord) -> AppliedWeight:
        record = self._read()
        if record is None:
            raise TrafficError(
                f"flag {self.flag_key} disappeared from {self.environment} right after it "
                "was written"
            )
        live = live_percent(self._validated(record))
        if not math.isclose(live, percent, abs_tol=TOLERANCE):
            raise TrafficError(
                f"read-back mismatch: asked for {format_percent(percent)}% but flag "
                f"{self.flag_key} in {self.environment} serves {format_percent(live)}% "
                f"(version {record.version}, by {record.updated_by})"
            )
        return AppliedWeight(
            percent,
            live,
            verified=True,
            detail=f"flag {self.flag_key} in {self.environment} serves the new version to "
            f"{format_percent(live)}% (version {record.version})",
        )


def register_flag_router(
    registry: RouterRegistry,
    store: FlagStore,
    actor: str,
    *,
    plan: Plan | None = None,
    on_change: ChangeListener | None = None,
) -> None:
    """Serve ``traffic: {type: flag}`` from ``registry`` with a :class:`FlagTrafficRouter`.

    The flag is the block's ``flag``, else ``plan``'s strategy flag; ``plan``'s ``flags:``
    entry for it (when there is one) creates it if the store lacks it. The environment is the
    router context's. ``TrafficError`` when no flag is named or ``flag`` is already registered.
    """

    def build(spec: Any, context: RouterContext) -> FlagTrafficRouter:
        if not isinstance(spec, FlagRouter):
            raise TrafficError(f"the flag router was given a {type(spec).__name__} block")
        key = spec.flag or (plan.strategy.flag if plan is not None else None)
        if key is None:
            raise TrafficError(
                "the flag router needs a flag: set 'flag' in the traffic block or the strategy"
            )
        entry = _entry(plan, key)
        return FlagTrafficRouter(store, context.environment, key, actor, entry, on_change=on_change)

    registry.register("flag", build)


def _entry(plan: Plan | None, key: str) -> FlagSpec | None:
    if plan is None:
        return None
    try:
        return plan.flag(key)
    except KeyError:
        return None


def _first_problem(exc: ValidationError | FlagError) -> str:
    if isinstance(exc, FlagError):
        return str(exc)
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else str(error["msg"])
