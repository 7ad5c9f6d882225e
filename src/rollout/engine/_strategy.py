"""What each deployment strategy means in actions: shared by ramping and rolling back.

- canary: the router sends the stage's percentage of traffic to the new version.
- feature-flag: the stage's flag is switched on for the stage's percentage of subjects.
- canary and feature-flag stages that name a segment open the new version to that segment's
  members only (all of them, or the stage's percentage of them); that needs the flag router.
- blue-green: the idle colour is brought up and checked on preview; all traffic switches at once
  at the *switch stage* (the first stage whose audience is 100 %, else the last stage). Earlier
  stages watch the preview, with no production traffic.
- rolling: the stage's percentage is the share of instances running the new version; instances
  are replaced in plan order, ``batch_size`` at a time, with a health check after each batch.
"""

from __future__ import annotations

import math

from rollout.engine._words import audience, percent
from rollout.engine.actions import CheckPurpose, Deploy, RunCheck, SetFlag, SetTraffic
from rollout.plan.model import (
    Check,
    CommandCheck,
    Environment,
    FlagRouter,
    Plan,
    Router,
)

SEGMENT_STRATEGIES = frozenset({"canary", "feature-flag"})
"""Strategies whose stages can open the new version to a segment (through a flag)."""

DEPLOY_RETRIES = 1
"""A deploy command (an environment's, or a rolling batch's) is tried twice before the rollout
pauses: one transient failure is common, and deploying the same version again is harmless."""


def router(plan: Plan, env: Environment) -> Router:
    """The environment's router, defaulting to the flag router on the strategy's flag."""
    chosen = env.traffic or FlagRouter(type="flag")
    if isinstance(chosen, FlagRouter) and chosen.flag is None:
        return FlagRouter(type="flag", flag=plan.strategy.flag)
    return chosen


def instance_target(share: float, count: int) -> int:
    """How many of ``count`` instances make up ``share`` % (rounded up: 5 % of 4 is 1).

    >>> [instance_target(p, 4) for p in (0, 5, 25, 26, 50, 100)]
    [0, 1, 1, 2, 2, 4]
    """
    # The small tolerance keeps 30 % of 10 at 3 despite 0.3 * 10 = 3.0000000000000004.
    return min(count, max(0, math.ceil(share / 100.0 * count - 1e-9)))


def final_share(plan: Plan) -> float:
    """Where the rollout ends: the share of everyone the last stage of the strategy's flag
    serves (100 % when no stage gives one). Stages that ramp another flag, or serve a segment
    (a share of its members, not of everyone), say nothing about it.

    The plan's cross-checks make that the flag's ``rollout`` %, or 100 % without a flag.
    """
    for stage in reversed(plan.stages):
        if stage.audience.percent is None or stage.audience.segment is not None:
            continue
        if plan.stage_flag(stage) == plan.strategy.flag:
            return stage.audience.percent
    return 100.0


def switch_stage(plan: Plan) -> int:
    """The blue-green stage at which all traffic moves: the first at 100 %, else the last."""
    for index, stage in enumerate(plan.stages):
        if stage.audience.percent is not None and stage.audience.percent >= 100.0:
            return index
    return len(plan.stages) - 1


def traffic_action(
    plan: Plan,
    env: Environment,
    *,
    rollout_id: str,
    step: str,
    attempt: int,
    share: float,
    segment: str | None,
    flag: str | None,
    segment_percent: float = 100.0,
) -> SetTraffic | SetFlag:
    """Set the new version's share of ``env`` to ``share`` %: through the flag (feature-flag
    strategy) or through the environment's router (every other strategy). With a ``segment``,
    the new version goes to ``segment_percent`` % of its members and ``share`` (0) of everyone
    else."""
    who = audience(segment_percent, segment) if segment else percent(share)
    if plan.strategy.type == "feature-flag":
        key = flag or plan.strategy.flag or ""
        return SetFlag(
            rollout_id=rollout_id,
            step=step,
            attempt=attempt,
            description=f"roll flag {key} out to {who} in {env.name}",
            environment=env.name,
            flag=key,
            percent=share,
            enabled=True,
            segment=segment,
            segment_percent=segment_percent,
        )
    target = f"{who} of {env.name} traffic" if segment is None else f"{who} in {env.name}"
    return SetTraffic(
        rollout_id=rollout_id,
        step=step,
        attempt=attempt,
        description=f"send {target} to the new version",
        environment=env.name,
        percent=share,
        router=router(plan, env),
        segment=segment,
        segment_percent=segment_percent,
    )


def instance_action(
    env: Environment,
    *,
    rollout_id: str,
    step: str,
    attempt: int,
    command: str,
    instances: tuple[str, ...],
    version: str,
    undo: bool,
) -> Deploy:
    """Deploy (or, with ``undo``, put back the old version on) a batch of instances."""
    verb = "put the old version back on" if undo else f"deploy {version} to"
    return Deploy(
        rollout_id=rollout_id,
        step=step,
        attempt=attempt,
        description=f"{verb} {', '.join(instances)} in {env.name}",
        environment=env.name,
        command=CommandCheck(run=command),
        target="instances",
        instances=instances,
        version=version,
    )


def check_action(
    env: Environment,
    check: Check,
    purpose: CheckPurpose,
    *,
    rollout_id: str,
    step: str,
    attempt: int,
    on: tuple[str, ...] = (),
) -> RunCheck:
    where = f" on {', '.join(on)}" if on else ""
    return RunCheck(
        rollout_id=rollout_id,
        step=step,
        attempt=attempt,
        description=f"run the {purpose} check '{check.name}'{where} in {env.name}",
        environment=env.name,
        check=check,
        purpose=purpose,
        instances=on,
    )
