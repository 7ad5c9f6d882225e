"""Pure helpers the rollout engine uses to ramp and switch flags; each returns a new, validated
:class:`Flag` and leaves the old one alone.

A flag's *rollout audience* is who the rollout serves the treatment to: a percentage of
everyone (the fallthrough's ``rollout``), or, while a stage opens the flag to a segment, a
percentage of that segment's members (one targeting rule marked :data:`STAGE_RULE`, with the
fallthrough at 0 %). Both bucket the same way (the flag's salt and bucket-by), so a member
inside 5 % of a segment is also inside 10 % of everyone: ramps stay monotone across stages.
"""

from __future__ import annotations

import math

from pydantic import ValidationError

from rollout.errors import FlagError
from rollout.flags.clauses import Op
from rollout.flags.model import Flag, FlagKind, Rollout, Rule, Serve

STAGE_RULE = "rollout stage audience"
"""The ``description`` of the targeting rule a rollout stage adds to open a flag to a segment;
the next stage replaces that rule (there is never more than one)."""


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


def _check_percent(percent: object) -> float:
    if not (isinstance(percent, int | float) and math.isfinite(percent) and 0 <= percent <= 100):
        raise FlagError(f"a rollout percent is between 0 and 100, not {percent!r}", "percent")
    return float(percent)


def with_rollout_percent(
    flag: Flag, percent: float, *, treatment: str | None = None, rest: str | None = None
) -> Flag:
    """``flag`` with its fallthrough set so that ``percent`` % of subjects get ``treatment``.

    The fallthrough becomes ``{"rollout": {"variant": treatment, "percent": percent, "rest":
    rest}}``; a stage's segment rule (:data:`STAGE_RULE`) is removed, since the audience is now
    a share of everyone; other rules, salt and bucket-by are kept. The variants default to the
    current rollout's, else, for a boolean flag, the ``true`` and ``false`` variants. The
    treatment's range starts at bucket 0, so with salt and bucket-by unchanged, raising
    ``percent`` never removes anyone from the treatment and ``percent=0`` removes everyone
    (outside the rules).

    Example: at 10 % the buckets 0..9_999 get the treatment; at 25 %, 0..24_999 -- a superset.

    Raises :class:`FlagError` for a percent outside 0..100 (field ``percent``) or variants that
    cannot be chosen or do not exist.
    """
    return with_stage_audience(flag, percent, None, treatment=treatment, rest=rest)


def with_stage_audience(
    flag: Flag,
    percent: float | None,
    segment: str | None,
    *,
    treatment: str | None = None,
    rest: str | None = None,
) -> Flag:
    """``flag`` serving ``treatment`` to a rollout stage's audience, everyone else ``rest``.

    Without a ``segment``: ``percent`` % of everyone, as :func:`with_rollout_percent`. With one:
    ``percent`` % of the segment's members (all of them when ``percent`` is None) through one
    targeting rule ``in_segment [segment]`` marked :data:`STAGE_RULE`, placed after the flag's
    own rules (rules written by hand keep deciding first, as they do over the fallthrough);
    nobody outside the segment is served (the fallthrough's rollout goes to 0 %). The previous
    stage's segment rule is replaced, never stacked. Members are bucketed as the fallthrough
    buckets everyone, so raising ``percent`` only adds members, and a member inside 5 % of
    the segment stays in when a later stage opens the flag to 5 % or more of everyone.

    Example: ``with_stage_audience(flag, 5, "beta")`` serves buckets 0..4_999 of segment
    ``beta``'s members and no one else; ``with_stage_audience(flag, 0, None)`` (a rollback)
    serves nobody.

    Raises :class:`FlagError` for a percent outside 0..100 or None without a segment (field
    ``percent``), a segment key a flag cannot name (field ``segment``), or variants that cannot
    be chosen or do not exist.
    """
    if segment is None and percent is None:
        raise FlagError("a stage without a segment needs a percent of everyone", "percent")
    share = 100.0 if percent is None else _check_percent(percent)
    chosen, others = _pick(flag, treatment, rest)
    own_rules = [rule.model_dump() for rule in flag.rules if rule.description != STAGE_RULE]
    everyone = 0.0 if segment is not None else share
    fallthrough = Serve(rollout=Rollout(variant=chosen, percent=everyone, rest=others))
    data = {**flag.model_dump(), "rules": own_rules, "fallthrough": fallthrough.model_dump()}
    if segment is None:
        return Flag.model_validate(data)
    try:
        rule = Rule.model_validate(
            {
                "clauses": [{"op": Op.IN_SEGMENT.value, "values": [segment]}],
                "serve": {"rollout": {"variant": chosen, "percent": share, "rest": others}},
                "description": STAGE_RULE,
            }
        )
    except ValidationError as exc:
        raise FlagError(f"{segment!r} cannot be a segment key: {_first(exc)}", "segment") from exc
    return Flag.model_validate({**data, "rules": [*own_rules, rule.model_dump()]})


def stage_segment(flag: Flag) -> tuple[str, float] | None:
    """``(segment, percent of its members served)`` while a stage opens ``flag`` to a segment
    (see :func:`with_stage_audience`), else None."""
    for rule in flag.rules:
        if rule.description != STAGE_RULE or rule.serve.rollout is None:
            continue
        for clause in rule.clauses:
            if clause.op is Op.IN_SEGMENT and clause.values:
                return str(clause.values[0]), rule.serve.rollout.percent
    return None


def _first(exc: ValidationError) -> str:
    return str(exc.errors()[0]["msg"])


def with_enabled(flag: Flag, on: bool) -> Flag:
    """``flag`` with its kill switch set: ``on=False`` serves the off variant to everyone."""
    return flag.model_copy(update={"on": on})
