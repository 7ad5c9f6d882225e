"""The one write path for flags and segments, shared by the HTTP API and ``rollout flags``.

Every change goes through :class:`FlagService`: the definition is validated with the
:mod:`rollout.flags` models (every problem located at its field), cross-checked against the
environment (segments a flag names must exist; a segment still in use cannot be deleted), stored
in its canonical form (``Flag.model_dump(mode="json")``, so two spellings of one flag are one
version and history diffs show only real changes), and announced to the listeners (the server's
SSE fan-out, another replica's feed). The store makes each change one transaction: definition,
history row with who/when/diff, config version bump, ``flag.changed`` audit event.

Flags and segments take that path alike: the ``*_definition`` methods take a
:class:`DefinitionKind` (:data:`FLAGS` or :data:`SEGMENTS`), and ``put_flag``, ``get_segment``
and the other named methods call them with theirs.

Read-modify-write verbs (``set_rollout``, ``set_enabled``) are set-to-value: they re-read and
retry when another writer got in between, unless the caller pinned ``expected_version``, in which
case a lost race is a :class:`~rollout.server.problems.PreconditionFailed`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from rollout.errors import Conflict, FlagError, NotFound, StoreError
from rollout.flags import Flag, FlagConfig, Segment, with_enabled, with_rollout_percent
from rollout.server.problems import (
    FieldProblem,
    InvalidDefinition,
    PreconditionFailed,
    SegmentInUse,
    as_invalid_definition,
    check_actor,
    check_environment,
    parse_field,
)
from rollout.store import DefinitionChange, FlagRecord, SegmentRecord, Store
from rollout.store.flags import FlagAccess

log = logging.getLogger(__name__)

# A read-modify-write verb that keeps losing to other writers gives up after this many tries.
_RMW_ATTEMPTS = 10

ChangeListener = Callable[[str, int], None]
"""Called with ``(environment, config version)`` after a change has been committed."""


M = TypeVar("M", Flag, Segment)
R = TypeVar("R", FlagRecord, SegmentRecord)


class FlagsAPI(FlagAccess, Protocol):
    """The flag operations ``rollout flags`` needs, served by :class:`FlagService` (local
    store) and by :class:`rollout.server.client.FlagsClient` (a server, over HTTP) alike, with
    the same records and the same errors."""

    def list_flags(self, environment: str) -> list[FlagRecord]: ...

    def set_rollout(
        self,
        environment: str,
        key: str,
        percent: float,
        actor: str,
        *,
        treatment: str | None = None,
        rest: str | None = None,
        expected_version: int | None = None,
    ) -> FlagRecord: ...

    def set_enabled(
        self,
        environment: str,
        key: str,
        on: bool,
        actor: str,
        *,
        expected_version: int | None = None,
    ) -> FlagRecord: ...

    def delete_flag(
        self, environment: str, key: str, actor: str, expected_version: int | None = None
    ) -> DefinitionChange: ...

    def flag_history(self, environment: str, key: str) -> list[DefinitionChange]: ...


@dataclass(frozen=True)
class ConfigDocument:
    """One environment's config at one version, validated and serialised once.

    ``json`` is ``config.to_json()``: what ``GET /config`` returns and each SSE event carries.
    """

    environment: str
    version: int
    config: FlagConfig
    json: str


def _with_key(definition: Mapping[str, Any], key: str) -> dict[str, Any]:
    """``definition`` with its ``key`` set to ``key``; a different key in it is a mistake."""
    data = dict(definition)
    given = data.get("key")
    if given is not None and given != key:
        raise InvalidDefinition(
            [FieldProblem(("key",), f"the definition is of {given!r}, but it is stored as {key!r}")]
        )
    data["key"] = key
    return data


@dataclass(frozen=True)
class DefinitionKind(Generic[M, R]):
    """Flags or segments: what the write path needs to handle either kind the same way.

    ``model`` validates a definition; the other fields are the store's operations on this kind
    (unbound :class:`~rollout.store.Store` methods). :data:`FLAGS` and :data:`SEGMENTS` are the
    two kinds.
    """

    name: Literal["flag", "segment"]
    model: type[M]
    get: Callable[[Store, str, str], R]
    list_all: Callable[[Store, str], list[R]]
    put: Callable[[Store, str, str, Mapping[str, Any], str, int | None], R]
    delete: Callable[[Store, str, str, str, int | None], DefinitionChange]
    history: Callable[[Store, str, str], list[DefinitionChange]]

    def validate(self, definition: Mapping[str, Any] | M, key: str) -> M:
        """The definition as a valid model called ``key``; :class:`InvalidDefinition` with every
        problem found otherwise. A flag's segment references are not checked here (that needs
        the environment: :meth:`FlagService.put_definition` does it)."""
        data = (
            definition.model_dump(mode="json") if isinstance(definition, BaseModel) else definition
        )
        try:
            return self.model.model_validate(_with_key(data, key))
        except (ValidationError, FlagError) as exc:
            raise as_invalid_definition(exc) from None


FLAGS = DefinitionKind(
    "flag", Flag, Store.get_flag, Store.list_flags, Store.put_flag, Store.delete_flag,
    Store.flag_history,
)  # fmt: skip
SEGMENTS = DefinitionKind(
    "segment", Segment, Store.get_segment, Store.list_segments, Store.put_segment,
    Store.delete_segment, Store.segment_history,
)  # fmt: skip


class FlagService:
    """Validated, audited, announced reads and writes of flags and segments.

    Thread-safe as the store is: every method is one or a few store transactions. Listeners are
    called in the writing thread after the commit; they must not block for long.

    >>> from rollout.store import open_store
    >>> service = FlagService(open_store("sqlite:///:memory:"))
    >>> service.put_flag("production", "new-checkout", {"fallthrough": {"variant": "off"}},
    ...                  actor="ann").version
    1
    >>> service.set_rollout("production", "new-checkout", 25, actor="ann").definition[
    ...     "fallthrough"]["rollout"]["percent"]
    25.0
    >>> service.config_document("production").version
    2
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._listeners: list[ChangeListener] = []
        self._documents: dict[str, ConfigDocument] = {}

    @property
    def store(self) -> Store:
        return self._store

    def add_listener(self, listener: ChangeListener) -> None:
        """Call ``listener(environment, config_version)`` after every committed change."""
        self._listeners.append(listener)

    def remove_listener(self, listener: ChangeListener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    # -- reads ---------------------------------------------------------------------------------

    def list_environments(self) -> list[str]:
        return self._store.list_environments()

    def config_version(self, environment: str) -> int:
        """The environment's config version: 0 before its first change, +1 per change."""
        return self._store.config_version(check_environment(environment))

    def config_document(self, environment: str) -> ConfigDocument:
        """The environment's current config (version 0 with nothing in it if never written).

        Serialised once per version: repeated calls at one version reuse the document.
        """
        check_environment(environment)
        cached = self._documents.get(environment)
        if cached is not None and cached.version == self._store.config_version(environment):
            return cached
        snapshot = self._store.get_config(environment)
        try:
            config = FlagConfig.model_validate(
                {
                    "environment": environment,
                    "version": snapshot.version,
                    "flags": [record.definition for record in snapshot.flags],
                    "segments": [record.definition for record in snapshot.segments],
                }
            )
        except (ValidationError, FlagError) as exc:
            # Only reachable through a race (a segment deleted while a flag naming it was put)
            # or a hand-edited database; refuse to serve a config SDKs could not load.
            raise StoreError(
                f"the stored config of {environment!r} (version {snapshot.version}) is "
                f"inconsistent: {exc}"
            ) from exc
        document = ConfigDocument(environment, snapshot.version, config, config.to_json())
        current = self._documents.get(environment)
        if current is None or current.version < document.version:
            self._documents[environment] = document
        return document

    def list_definitions(self, kind: DefinitionKind[M, R], environment: str) -> list[R]:
        """Every flag (segment) of the environment, by key."""
        return kind.list_all(self._store, check_environment(environment))

    def get_definition(self, kind: DefinitionKind[M, R], environment: str, key: str) -> R:
        """The flag's (segment's) current definition; ``NotFound`` if it does not exist."""
        return kind.get(self._store, check_environment(environment), key)

    def definition_history(
        self, kind: DefinitionKind[M, R], environment: str, key: str
    ) -> list[DefinitionChange]:
        """Every version of the flag (segment), oldest first; ``NotFound`` if it never existed."""
        history = kind.history(self._store, check_environment(environment), key)
        if not history:
            raise NotFound(f"no {kind.name} {key!r} in {environment!r}")
        return history

    def list_flags(self, environment: str) -> list[FlagRecord]:
        return self.list_definitions(FLAGS, environment)

    def get_flag(self, environment: str, key: str) -> FlagRecord:
        return self.get_definition(FLAGS, environment, key)

    def flag_history(self, environment: str, key: str) -> list[DefinitionChange]:
        return self.definition_history(FLAGS, environment, key)

    def list_segments(self, environment: str) -> list[SegmentRecord]:
        return self.list_definitions(SEGMENTS, environment)

    def get_segment(self, environment: str, key: str) -> SegmentRecord:
        return self.get_definition(SEGMENTS, environment, key)

    def segment_history(self, environment: str, key: str) -> list[DefinitionChange]:
        return self.definition_history(SEGMENTS, environment, key)

    # -- writes of either kind -------------------------------------------------------------------

    def put_definition(
        self,
        kind: DefinitionKind[M, R],
        environment: str,
        key: str,
        definition: Mapping[str, Any] | M,
        *,
        actor: str,
        expected_version: int | None = None,
    ) -> R:
        """Create or replace a flag (segment). ``key`` in the definition may be left out; if
        given it must equal ``key``. ``expected_version`` (0 = must not exist) makes the write
        conditional.

        Raises :class:`InvalidDefinition` (a ``FlagError``) for a bad definition or a segment
        the environment lacks, :class:`PreconditionFailed` when ``expected_version`` is stale.
        """
        check_environment(environment)
        actor = check_actor(actor)
        model = kind.validate(definition, key)
        if isinstance(model, Flag):
            self._check_segments_exist(environment, model)
        data = model.model_dump(mode="json")
        with _conditional(expected_version):
            record = kind.put(self._store, environment, key, data, actor, expected_version)
        self._changed(environment)
        return record

    def delete_definition(
        self,
        kind: DefinitionKind[M, R],
        environment: str,
        key: str,
        *,
        actor: str,
        expected_version: int | None = None,
    ) -> DefinitionChange:
        """Delete a flag (segment); returns the history entry of the delete. ``NotFound`` if
        absent; :class:`SegmentInUse` for a segment that a flag of the environment names."""
        check_environment(environment)
        actor = check_actor(actor)
        if kind is SEGMENTS:
            self._check_segment_unused(environment, key)
        with _conditional(expected_version):
            change = kind.delete(self._store, environment, key, actor, expected_version)
        self._changed(environment)
        return change

    # -- flag writes ---------------------------------------------------------------------------

    def put_flag(
        self,
        environment: str,
        key: str,
        definition: Mapping[str, Any] | Flag,
        actor: str,
        expected_version: int | None = None,
    ) -> FlagRecord:
        """Create or replace a flag (see :meth:`put_definition`)."""
        return self.put_definition(
            FLAGS, environment, key, definition, actor=actor, expected_version=expected_version
        )

    def set_rollout(
        self,
        environment: str,
        key: str,
        percent: float,
        actor: str,
        *,
        treatment: str | None = None,
        rest: str | None = None,
        expected_version: int | None = None,
    ) -> FlagRecord:
        """Serve ``treatment`` to ``percent`` % of subjects (0..100, 0.001 steps) on the flag's
        fallthrough; see :func:`rollout.flags.with_rollout_percent` for the variant defaults.

        Example: ``set_rollout("production", "new-checkout", 25, actor="ann")`` on a boolean
        flag gives ``{"rollout": {"variant": "on", "percent": 25.0, "rest": "off"}}``.
        """

        def change(flag: Flag) -> Flag:
            return with_rollout_percent(flag, percent, treatment=treatment, rest=rest)

        return self._modify(environment, key, change, actor, expected_version)

    def set_enabled(
        self,
        environment: str,
        key: str,
        on: bool,
        actor: str,
        *,
        expected_version: int | None = None,
    ) -> FlagRecord:
        """The kill switch: ``on=False`` serves the flag's off variant to everyone."""
        return self._modify(
            environment, key, lambda flag: with_enabled(flag, on), actor, expected_version
        )

    def delete_flag(
        self, environment: str, key: str, actor: str, expected_version: int | None = None
    ) -> DefinitionChange:
        """Delete a flag; returns the history entry of the delete. ``NotFound`` if absent."""
        return self.delete_definition(
            FLAGS, environment, key, actor=actor, expected_version=expected_version
        )

    # -- segment writes ------------------------------------------------------------------------

    def put_segment(
        self,
        environment: str,
        key: str,
        definition: Mapping[str, Any] | Segment,
        actor: str,
        expected_version: int | None = None,
    ) -> SegmentRecord:
        """Create or replace a segment (see :meth:`put_definition`)."""
        return self.put_definition(
            SEGMENTS, environment, key, definition, actor=actor, expected_version=expected_version
        )

    def delete_segment(
        self, environment: str, key: str, actor: str, expected_version: int | None = None
    ) -> DefinitionChange:
        """Delete a segment; :class:`SegmentInUse` while a flag of the environment names it."""
        return self.delete_definition(
            SEGMENTS, environment, key, actor=actor, expected_version=expected_version
        )

    # -- internals -------------------------------------------------------------------------------

    def _modify(
        self,
        environment: str,
        key: str,
        change: Callable[[Flag], Flag],
        actor: str,
        expected_version: int | None,
    ) -> FlagRecord:
        check_environment(environment)
        actor = check_actor(actor)
        for attempt in range(1, _RMW_ATTEMPTS + 1):
            current = self._store.get_flag(environment, key)
            if expected_version is not None and current.version != expected_version:
                raise PreconditionFailed(
                    f"flag {key} is at version {current.version}, not {expected_version}: "
                    "someone else changed it first"
                )
            try:
                updated = change(Flag.model_validate(current.definition))
            except (ValidationError, FlagError) as exc:
                raise as_invalid_definition(exc) from None
            try:
                record = self._store.put_flag(
                    environment, key, updated.model_dump(mode="json"), actor, current.version
                )
            except Conflict as exc:
                if expected_version is not None:
                    raise PreconditionFailed(str(exc)) from exc
                if attempt == _RMW_ATTEMPTS:
                    raise
                continue
            self._changed(environment)
            return record
        raise AssertionError("unreachable")  # pragma: no cover

    def _check_segments_exist(self, environment: str, flag: Flag) -> None:
        fields = list(flag.segment_fields())
        if not fields:
            return
        known = {record.key for record in self._store.list_segments(environment)}
        missing = [
            FieldProblem(
                parse_field(field), f"no segment named {name!r} in {environment!r}", "flag_error"
            )
            for field, name in fields
            if name not in known
        ]
        if missing:
            raise InvalidDefinition(missing)

    def _check_segment_unused(self, environment: str, key: str) -> None:
        users = [
            record.key
            for record in self._store.list_flags(environment)
            if key in Flag.model_validate(record.definition).referenced_segments()
        ]
        if users:
            raise SegmentInUse(
                f"segment {key!r} is used by flag(s) {', '.join(users)} in {environment!r}: "
                "remove those references first"
            )

    def _changed(self, environment: str) -> None:
        version = self._store.config_version(environment)
        for listener in list(self._listeners):
            try:
                listener(environment, version)
            except Exception:
                # The change is committed; a failed announcement is healed by the replicas'
                # periodic version check, so it must not turn a success into an error.
                log.exception("announcing config %s of %s failed", version, environment)


@contextmanager
def _conditional(expected_version: int | None) -> Iterator[None]:
    """Turns the store's ``Conflict`` into :class:`PreconditionFailed` for conditional writes."""
    try:
        yield
    except PreconditionFailed:
        raise
    except Conflict as exc:
        if expected_version is None:
            raise
        raise PreconditionFailed(str(exc)) from exc
