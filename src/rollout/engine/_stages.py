"""Rollout stages: set the audience (ramping), then bake and judge (observing).

Each tick of a stage's bake judges the rollback triggers (the stage's and the strategy's): one
FAIL rolls back (automatic procedure) or pauses and notifies (manual procedure). When the bake
time is over (pauses excluded), the success criteria decide: all PASS (and at least
``min_requests`` canary requests) -> the next stage; a FAIL -> roll back; otherwise the stage
holds, since no data is not a pass, for up to :func:`hold_limit`, then rolls back for lack of
data. ``promote`` ends the bake early unless something fails.
"""

from __future__ import annotations

from functools import partial

from rollout.analysis import Verdict
from rollout.engine import _strategy
from rollout.engine._judging import (
    Judged,
    canary_requests,
    judge_criteria,
    ramp_window,
    stage_window,
    triggers,
)
from rollout.engine._moves import start_observing, start_stage, start_validation
from rollout.engine._rollback import fire, hold_failure
from rollout.engine._tick import Progress, Tick
from rollout.engine._words import attempts, audience, percent, seconds, stage_label
from rollout.engine.actions import Deploy, RunCheck
from rollout.engine.state import Status

NO_DATA = "not enough data"
"""What ``fired`` holds when a window gave up for lack of data (resuming past it lifts the
limit)."""

TRAFFIC_RETRIES = 2
"""Traffic and flag changes are set-to-value, so retrying them is always safe."""


def hold_limit(duration: float, interval: float) -> float:
    """How long (bake time, pauses excluded) a stage may hold for want of data before it rolls
    back: twice its duration, and at least two judging intervals past it.

    >>> hold_limit(1800.0, 30.0), hold_limit(0.0, 30.0)
    (3600.0, 60.0)
    """
    return duration + max(duration, 2.0 * interval)


# --------------------------------------------------------------------------- ramping


def ramping(t: Tick) -> bool:
    """Move the audience to the stage's; outside staged environments, straight to where the
    rollout ends (:func:`_strategy.final_share`).

    A canary or feature-flag stage that names a segment opens the new version to that segment
    only: all its members, or the stage's percentage of them; nobody else (the share of
    everyone is 0 then). Blue-green and rolling stages cannot pick people, so their segment
    moves nothing (the plan's cross-checks reject it where traffic is really moved)."""
    env = t.environment
    kind = t.plan.strategy.type
    segment: str | None = None
    within = 100.0
    # The version already serves whoever earlier stages and batches reached (a rolling
    # stage's pauses may last minutes): its triggers are judged while the audience is set.
    if t.staged and _triggers_fired(
        t, ramp_window(t.plan, t.state), final=False, during=" while ramping"
    ):
        return True
    if t.staged:
        stage = t.stage
        share = stage.audience.percent
        flag = t.plan.stage_flag(stage)
        if stage.audience.segment is not None and kind in _strategy.SEGMENT_STRATEGIES:
            segment, within = stage.audience.segment, share if share is not None else 100.0
            share = 0.0
        elif share is None:  # a segment-only stage that cannot pick people keeps its share
            share = t.state.traffic_percent
        place = f"{env.name}/stage-{t.state.stage_index + 1}"
    else:
        share, flag = _strategy.final_share(t.plan), t.plan.strategy.flag
        place = f"{env.name}/full"
    if kind == "rolling":
        progress = _roll(t, share, place)
    elif kind == "blue-green":
        progress = _switch(t, place)
    else:
        step = f"{place}/{'flag' if kind == 'feature-flag' else 'traffic'}"
        progress = _set(t, step, share, flag, segment=segment, within=within)
    if progress is None or progress is Progress.GAVE_UP:
        return True  # the step already paused or rolled the rollout back, and said why
    if progress is Progress.WAITING:
        return False
    audience = _audience_words(t)
    if not t.staged:
        return start_validation(t, f"{env.name}: {audience}; validating it")
    stage = t.stage
    return start_observing(
        t,
        f"{stage_label(t.plan, t.state.stage_index)} of {env.name}: {audience}; "
        f"baking for {seconds(stage.duration)}",
    )


def _triggers_fired(t: Tick, window: str, *, final: bool, during: str = "") -> bool:
    """Roll back (or pause, by the plan's procedure) when a rollback trigger of the stage
    fails on ``window``'s data; True when one did."""
    index = t.state.stage_index
    fired = [
        j
        for j in judge_criteria(
            t.plan, t.observation, window, triggers(t.plan, index), role="rollback", final=final
        )
        if j.verdict is Verdict.FAIL and j.text not in t.state.overridden
    ]
    if not fired:
        return False
    label = stage_label(t.plan, index)
    said = "; ".join(j.reason for j in fired)
    plural = "s" if len(fired) > 1 else ""
    return fire(t, f"{label}: rollback trigger{plural} fired{during}: {said}", _texts(fired))


def _set(
    t: Tick,
    step: str,
    share: float,
    flag: str | None,
    *,
    segment: str | None = None,
    within: float = 100.0,
) -> Progress:
    progress = t.run(
        step,
        TRAFFIC_RETRIES,
        lambda attempt: _strategy.traffic_action(
            t.plan,
            t.environment,
            rollout_id=t.state.rollout_id,
            step=step,
            attempt=attempt,
            share=share,
            segment=segment,
            segment_percent=within,
            flag=flag,
        ),
    )
    if progress is Progress.DONE:
        t.update(traffic_percent=share)
    elif progress is Progress.GAVE_UP:
        target = audience(within, segment) if segment else percent(share)
        _failed(t, step, f"setting {t.environment.name} to {target}")
    return progress


def _switch(t: Tick, place: str) -> Progress:
    """Blue-green: nothing moves before the switch stage; at it, all traffic moves at once."""
    if t.staged and t.state.stage_index < _strategy.switch_stage(t.plan):
        return Progress.DONE
    if t.state.traffic_percent >= 100.0:
        return Progress.DONE
    return _set(t, f"{place}/switch", 100.0, t.plan.strategy.flag)


def _roll(t: Tick, share: float, place: str) -> Progress | None:
    """Rolling: replace instances in batches up to ``share`` %, health-checking each batch.

    ``state.step`` is the first instance of the batch in flight and ``instances_done`` the end
    of it (counted as soon as its deploy is issued, so a rollback puts it back too). A failed
    health check that an operator resumed past (manual procedure) lets the next batch go.
    """
    rolling = t.plan.strategy.rolling
    assert rolling is not None  # the plan model requires it for this strategy
    instances = rolling.instances
    target = max(_strategy.instance_target(share, len(instances)), t.state.instances_done)
    env = t.environment
    while True:
        if t.state.wait_until is not None:
            if t.now < t.state.wait_until:
                return Progress.WAITING
            t.update(wait_until=None)
        first, end = t.state.step, t.state.instances_done
        if first == end:
            if end >= target:
                return Progress.DONE
            end = min(end + rolling.batch_size, target)
            t.update(instances_done=end)
        batch = instances[first:end]
        name = f"{place}/batch-{first + 1}-{end}"
        deploy = f"{name}/deploy"
        progress = t.run(deploy, _strategy.DEPLOY_RETRIES, partial(_batch, t, deploy, batch))
        if progress is Progress.GAVE_UP:
            _failed(t, deploy, f"deploying {', '.join(batch)}")
        if progress is not Progress.DONE:
            return progress
        health = f"{name}/health"
        progress = t.run(health, rolling.health_check.retries, partial(_health, t, health, batch))
        if progress is Progress.WAITING:
            return progress
        if progress is Progress.GAVE_UP and health not in t.state.overridden:
            entry = t.state.entry(health)
            assert entry is not None
            fire(
                t,
                f"the health check '{rolling.health_check.name}' of {', '.join(batch)} in "
                f"{env.name} failed after {attempts(entry.attempt)}: {entry.message}",
                (health,),
            )
            return None
        t.update(step=end, traffic_percent=100.0 * end / len(instances))
        if end < target and rolling.pause_between > 0:
            t.update(wait_until=t.now + rolling.pause_between)


def _batch(t: Tick, step: str, batch: tuple[str, ...], attempt: int) -> Deploy:
    rolling = t.plan.strategy.rolling
    assert rolling is not None
    return _strategy.instance_action(
        t.environment,
        rollout_id=t.state.rollout_id,
        step=step,
        attempt=attempt,
        command=rolling.deploy,
        instances=batch,
        version=t.state.version,
        undo=False,
    )


def _health(t: Tick, step: str, batch: tuple[str, ...], attempt: int) -> RunCheck:
    rolling = t.plan.strategy.rolling
    assert rolling is not None
    return _strategy.check_action(
        t.environment,
        rolling.health_check,
        "health",
        rollout_id=t.state.rollout_id,
        step=step,
        attempt=attempt,
        on=batch,
    )


def _failed(t: Tick, step: str, what: str) -> None:
    entry = t.state.entry(step)
    assert entry is not None
    hold_failure(
        t, f"{what} failed after {attempts(entry.attempt)}: {entry.message or 'no reason given'}"
    )


def _audience_words(t: Tick) -> str:
    kind = t.plan.strategy.type
    share = percent(t.state.traffic_percent)
    if kind == "rolling":
        rolling = t.plan.strategy.rolling
        assert rolling is not None
        return (
            f"{t.state.instances_done} of {len(rolling.instances)} instances ({share}) "
            f"run {t.state.version}"
        )
    if kind == "blue-green" and t.state.traffic_percent < 100.0:
        return f"{t.state.version} is up on the idle colour, reachable on preview only"
    if kind == "blue-green":
        return f"all traffic switched to {t.state.version}"
    segment = t.stage.audience.segment if t.staged else None
    if segment is not None:
        share = f"{audience(t.stage.audience.percent, segment)} only"
    if kind == "feature-flag":
        flag = t.plan.stage_flag(t.stage) if t.staged else t.plan.strategy.flag
        return f"flag {flag} on for {share}"
    if segment is not None:
        return f"{t.state.version} for {share}"
    return f"{share} of traffic on {t.state.version}"


# --------------------------------------------------------------------------- observing


def observing(t: Tick) -> bool:
    stage = t.stage
    index = t.state.stage_index
    label = stage_label(t.plan, index)
    window = stage_window(t.plan, t.state)
    promoted = t.take_promotion()
    elapsed = t.state.bake_elapsed(t.now)
    final = elapsed >= stage.duration
    if _triggers_fired(t, window, final=final):
        return True
    if not final and promoted is None:
        return False
    success = judge_criteria(
        t.plan, t.observation, window, stage.success, role="success", final=final
    )
    # A criterion an operator resumed past (manual procedure) no longer holds the stage back.
    success = [j for j in success if j.text not in t.state.overridden]
    failing = [j for j in success if j.verdict is Verdict.FAIL]
    if failing:
        said = "; ".join(j.reason for j in failing)
        if promoted is not None and not final:
            t.say(f"promote by {promoted} refused: {label} fails {said}; it keeps baking")
            return False
        return fire(t, f"{label} failed: {said}", _texts(failing))
    open_ = [j for j in success if j.verdict is not Verdict.PASS]
    requests = canary_requests(t.observation, window)
    short = stage.min_requests > 0 and requests < stage.min_requests
    needed = f"only {requests:,} of the {stage.min_requests:,} canary requests needed"
    if promoted is not None:
        still = [j.text for j in open_] + ([needed] if short else [])
        return _passed(
            t,
            f"{label} promoted by {promoted} after {seconds(elapsed)} of "
            f"{seconds(stage.duration)}" + (f" (still open: {', '.join(still)})" if still else ""),
        )
    if not open_ and not short:
        passed = "; ".join(j.reason for j in success) or "it has no success criteria"
        return _passed(t, f"{label} passed: {passed}")
    waiting = [j.text for j in open_] + (["the minimum canary requests"] if short else [])
    why = [j.reason for j in open_] + ([needed] if short else [])
    done = f"has baked {seconds(stage.duration)}"
    hold_for_data(t, label, done=done, duration=stage.duration, waiting=waiting, why=why)
    return t.state.status is not Status.OBSERVING


def hold_for_data(
    t: Tick, label: str, *, done: str, duration: float, waiting: list[str], why: list[str]
) -> None:
    """Hold a window whose time is up but whose verdicts are not all in (no data is not a
    pass); after :func:`hold_limit`, give up for lack of data like a rollback trigger. Once an
    operator resumed past that (manual procedure), hold with no limit: only data or
    ``promote`` moves it on."""
    elapsed = t.state.bake_elapsed(t.now)
    limit = hold_limit(duration, t.plan.monitoring.interval)
    if NO_DATA not in t.state.overridden and elapsed >= limit:
        reason = f"{label}: not enough data after {seconds(elapsed)} ({'; '.join(why)})"
        fire(t, reason, (NO_DATA,))
        return
    until = (
        "until the data decides (promote to move on)"
        if NO_DATA in t.state.overridden
        else f"for up to {seconds(limit)} in all"
    )
    message = (
        f"{label} {done} but is not decided yet (waiting on {', '.join(waiting)}); holding {until}"
    )
    if t.state.reason != message:
        t.update(reason=message)
        t.say(message)


def _texts(judged: list[Judged]) -> tuple[str, ...]:
    return tuple(j.text for j in judged)


def _passed(t: Tick, reason: str) -> bool:
    nxt = t.state.stage_index + 1
    env = t.environment.name
    if nxt < len(t.plan.stages):
        who = t.plan.stages[nxt].audience
        at = f" at {percent(who.percent)}" if who.percent is not None else ""
        if who.segment is not None and t.plan.strategy.type in _strategy.SEGMENT_STRATEGIES:
            at = f" for {audience(who.percent, who.segment)}"
        full = f"{reason}; moving to {stage_label(t.plan, nxt)}{at}"
        t.notify("stage_passed", full)
        return start_stage(t, nxt, full)
    full = f"{reason}; {env} is fully rolled out, validating it"
    t.notify("stage_passed", full)
    return start_validation(t, full)
