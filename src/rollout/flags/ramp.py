"""Pure helpers the rollout engine uses to ramp and switch flags; each returns a new, validated
:class:`Flag` and leaves the old one alone."""

from __future__ import annotations

import math

from rollout.errors import FlagError
from rollout.flags.model import Flag, FlagKind, Rollout, Serve


def _variant_with_value(flag: Flag, value: bool) -> str | None:
    return next((n for n, v in flag.variants.items() if isinstance(v, bool) and v is value), None)


def _pick(flag: Flag, treatment: str | None, rest: str | None) -> tuple[str, str]:
    current = flag.fallthrough.rollout
    treatment = treatment or (current.variant if current else None)
    rest = rest or (current.rest if current else None)
    if flag.kind is FlagKind.BOOLEAN:
        treatment = treatment or _variant_with_value(flag, True)
        rest = rest or _variant_with_value(flag, False)
    if treatment is None or rest is None:
        raise FlagError(
            f"flag {flag.key!r} has no rollout yet and is not boolean: say which variant is the "
            "treatment and which the rest",
            "fallthrough.rollout",
        )
    for field, name in (("treatment", treatment), ("rest", rest)):
        if name not in flag.variants:
            raise FlagError(f"flag {flag.key!r} has no variant named {name!r}", field)
    if treatment == rest:
        raise FlagError("the treatment and the rest must be different variants", "rest")
    return treatment, rest


def with_rollout_percent(
    flag: Flag, percent: float, *, treatment: str | None = None, rest: str | None = None
) -> Flag:
    """``flag`` with its fallthrough set so that ``percent`` % of subjects get ``treatment``.

    The fallthrough becomes ``{"rollout": {"variant": treatment, "percent": percent, "rest":
    rest}}``; rules, salt and bucket-by are kept. The variants default to the current rollout's,
    else, for a boolean flag, the ``true`` and ``false`` variants. The treatment's range starts
    at bucket 0, so with salt and bucket-by unchanged, raising ``percent`` never removes anyone
    from the treatment and ``percent=0`` removes everyone (outside the rules).

    Example: at 10 % the buckets 0..9_999 get the treatment; at 25 %, 0..24_999 -- a superset.

    Raises :class:`FlagError` for a percent outside 0..100 (field ``percent``) or variants that
    cannot be chosen or do not exist.
    """
    if not (isinstance(percent, int | float) and math.isfinite(percent) and 0 <= percent <= 100):
        raise FlagError(f"a rollout percent is between 0 and 100, not {percent!r}", "percent")
    chosen, others = _pick(flag, treatment, rest)
    fallthrough = Serve(rollout=Rollout(variant=chosen, percent=float(percent), rest=others))
    return Flag.model_validate({**flag.model_dump(), "fallthrough": fallthrough.model_dump()})


def with_enabled(flag: Flag, on: bool) -> Flag:
    """``flag`` with its kill switch set: ``on=False`` serves the off variant to everyone."""
    return flag.model_copy(update={"on": on})
