"""The config an SDK evaluates from: parsing and compiling it, and what changed between two.

The server's ``GET /config`` and every SSE ``config`` event carry the same JSON, a
:class:`rollout.flags.FlagConfig`. :func:`load_config` turns that text into the compiled config
the hot path reads; the client keeps the result in one :class:`Snapshot` that it swaps as a
whole, so an evaluation never sees half of an update.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from pydantic import ValidationError

from rollout.errors import FlagError
from rollout.flags import CompiledConfig, ErrorCode, FlagConfig, compile_config

__all__ = [
    "ConfigChange",
    "ConfigSource",
    "Snapshot",
    "changed_flags",
    "load_config",
    "split_flags",
]


class ConfigSource(StrEnum):
    """Where the config being evaluated came from."""

    NONE = "none"  # nothing yet: every evaluation serves the default (PROVIDER_NOT_READY)
    SERVER = "server"  # received from the server in this process
    CACHE = "cache"  # the last good config on disk, served because the server was unreachable
    OFFLINE = "offline"  # a config file or object handed to the client; no server involved


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One evaluation-ready config; ``config`` is ``None`` while nothing usable was loaded."""

    compiled: CompiledConfig
    config: FlagConfig | None
    source: ConfigSource
    error_code: ErrorCode | None = None  # why there is no config (set when config is None)
    split_flags: tuple[str, ...] = ()  # see split_flags(): the flags a tracked event counts in

    @classmethod
    def of(cls, config: FlagConfig, compiled: CompiledConfig, source: ConfigSource) -> Snapshot:
        """The snapshot of a loaded config."""
        return cls(compiled, config, source, split_flags=split_flags(config))

    @classmethod
    def empty(cls, error_code: ErrorCode, message: str) -> Snapshot:
        """A snapshot that serves every caller's default with reason ERROR and ``error_code``."""
        return cls(CompiledConfig.failing(error_code, message), None, ConfigSource.NONE, error_code)

    @property
    def version(self) -> int | None:
        """The config version, ``None`` when there is no config."""
        return None if self.config is None else self.config.version


@dataclass(frozen=True, slots=True)
class ConfigChange:
    """What a config update changed; handed to the client's listeners.

    ``flags_changed`` names the flags whose evaluation may differ: flags added, removed or
    edited, and flags whose rules refer to a segment that was added, removed or edited.
    """

    previous_version: int | None
    version: int
    source: ConfigSource
    flags_changed: frozenset[str]


def load_config(text: str | bytes) -> tuple[FlagConfig, CompiledConfig]:
    """Parse and compile the config JSON; raises :class:`rollout.errors.FlagError` (with the
    field) when it is not valid JSON or not a valid config."""
    try:
        config = FlagConfig.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise FlagError(f"invalid flag config: {first['msg']}", field) from exc
    return config, compile_config(config)


def split_flags(config: FlagConfig) -> tuple[str, ...]:
    """Keys of the switched-on flags with a percentage rollout or split (in the fallthrough or
    a rule): the flags whose arms a tracked event is counted in.

    >>> split_flags(FlagConfig.model_validate({"environment": "e", "version": 1, "flags": [
    ...     {"key": "x", "fallthrough": {"rollout": {"variant": "on", "percent": 5,
    ...                                              "rest": "off"}}},
    ...     {"key": "y", "fallthrough": {"variant": "on"}}]}))
    ('x',)
    """
    return tuple(
        flag.key
        for flag in config.flags
        if flag.on
        and (flag.fallthrough.is_split or any(rule.serve.is_split for rule in flag.rules))
    )


def changed_flags(old: FlagConfig | None, new: FlagConfig) -> frozenset[str]:
    """Keys of the flags whose evaluation may differ between ``old`` and ``new``.

    >>> a = FlagConfig.model_validate({"environment": "e", "version": 1, "flags": [
    ...     {"key": "x", "fallthrough": {"variant": "on"}},
    ...     {"key": "y", "fallthrough": {"variant": "on"}}]})
    >>> b = a.model_copy(update={"version": 2, "flags": (a.flags[0],)})
    >>> sorted(changed_flags(a, b))
    ['y']
    """
    if old is None:
        return frozenset(f.key for f in new.flags)
    old_flags = {f.key: f for f in old.flags}
    new_flags = {f.key: f for f in new.flags}
    changed = {
        k for k in old_flags.keys() | new_flags.keys() if old_flags.get(k) != new_flags.get(k)
    }
    old_segments = {s.key: s for s in old.segments}
    new_segments = {s.key: s for s in new.segments}
    segments = {
        k for k in old_segments.keys() | new_segments.keys()
        if old_segments.get(k) != new_segments.get(k)
    }  # fmt: skip
    if segments:
        changed.update(f.key for f in new.flags if f.referenced_segments() & segments)
    return frozenset(changed)
