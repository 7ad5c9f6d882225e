"""The flags page's content: every flag of one environment, in words.

A flag's fallthrough is what most subjects get: a rollout (``25% get on, the rest off``), a
split of several variants, or one variant for everyone. Rules come first for the subjects they
match; the page counts them and says so.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from rollout.errors import FlagError
from rollout.flags import Flag
from rollout.flags.bucketing import BUCKETS
from rollout.server.flag_service import FlagService
from rollout.store import FlagRecord

ROLLOUT_ACTOR_PREFIX = "rollout:"
"""Flag changes made by a running rollout are recorded as ``rollout:<rollout id>``."""


@dataclass(frozen=True)
class FlagRow:
    """One flag as the page shows it; ``percent`` is the rollout % when the fallthrough is a
    rollout (None otherwise); ``ramped_by`` the rollout that last set it ('' if a person)."""

    key: str
    description: str
    on: bool
    variants: tuple[tuple[str, str], ...]
    serves: str
    percent: float | None
    rules: int
    version: int
    updated_by: str
    ramped_by: str
    problem: str = ""


def _value(value: object) -> str:
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False)


def _serves(flag: Flag) -> tuple[str, float | None]:
    fallthrough = flag.fallthrough
    if fallthrough.rollout is not None:
        r = fallthrough.rollout
        return f"{r.percent:g}% get {r.variant}, the rest {r.rest}", r.percent
    if fallthrough.split is not None:
        shares = ", ".join(f"{w.variant} {w.weight * 100 / BUCKETS:g}%" for w in fallthrough.split)
        return f"split: {shares}", None
    return f"{fallthrough.variant} to everyone", None


def _off(flag: Flag) -> str:
    return flag.off_variant or "the caller's default"


def flag_row(record: FlagRecord) -> FlagRow:
    """The row of a stored flag (one whose definition no longer validates says why)."""
    ramped = record.updated_by.removeprefix(ROLLOUT_ACTOR_PREFIX)
    ramped_by = ramped if ramped != record.updated_by else ""
    try:
        flag = Flag.model_validate(record.definition)
    except (ValidationError, FlagError) as exc:
        return FlagRow(
            record.key, "", False, (), "", None, 0, record.version, record.updated_by, ramped_by,
            problem=f"the stored definition does not validate: {exc}",
        )  # fmt: skip
    serves, percent = _serves(flag)
    return FlagRow(
        key=flag.key,
        description=flag.description,
        on=flag.on,
        variants=tuple((name, _value(value)) for name, value in flag.variants.items()),
        serves=serves if flag.on else f"killed: {_off(flag)} to everyone (revived: {serves})",
        percent=percent,
        rules=len(flag.rules),
        version=record.version,
        updated_by=record.updated_by,
        ramped_by=ramped_by,
    )


@dataclass(frozen=True)
class FlagsPage:
    """The environments that have flags, the one shown, its flags and config version."""

    environments: tuple[str, ...]
    environment: str
    version: int
    flags: tuple[FlagRow, ...]


def flags_page(service: FlagService, environment: str | None) -> FlagsPage:
    """The flags of ``environment`` (default: the first environment that has any)."""
    environments = tuple(service.list_environments())
    chosen = environment or (environments[0] if environments else "")
    if not chosen:
        return FlagsPage((), "", 0, ())
    rows = tuple(flag_row(record) for record in service.list_flags(chosen))
    return FlagsPage(environments, chosen, service.config_version(chosen), rows)
