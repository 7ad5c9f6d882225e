"""How a rollout stops: holds for an operator, triggers, rollback, and the rollback itself.

The rollback runs the plan's rollback steps in order, in the environment the rollout is in
(environments already validated keep the new version). Each step is retried up to its
``retries``; a step that still fails ends the rollout in ``rollback_failed``, loudly, never in
``rolled_back``. A ``notify`` step that cannot be delivered is noted and skipped: telling people
must never hold up putting the old version back.

The state's ``traffic_percent`` follows the rollback: a ``traffic`` step, or a ``flag`` step on
the flag that carries the new version's share, sets it once done, so status displays show what
users get now rather than the last stage's share. A rollback without such a step puts the old
version back by its own commands, so ``rolled_back`` then means a share of 0.
"""

from __future__ import annotations

from functools import partial
from typing import TypedDict

from rollout.engine import _strategy
from rollout.engine._tick import Progress, Tick
from rollout.engine._words import attempts, people, percent
from rollout.engine.actions import (
    Deploy,
    Migrate,
    Notify,
    RunCommand,
    RunRollbackStep,
    SetFlag,
    SetTraffic,
)
from rollout.engine.state import Hold, Outcome, Status
from rollout.plan.model import FlagRouter, RollbackStep


def hold(t: Tick, why: Hold, reason: str, fired: tuple[str, ...] = ()) -> bool:
    """Pause the rollout for an operator (the bake clock stops) and tell people."""
    t.stop_clock()
    t.transition(
        Status.PAUSED,
        reason,
        paused_from=t.state.status,
        paused_by=None,
        hold=why,
        fired=fired,
    )
    t.notify("paused")
    return True


def hold_failure(t: Tick, reason: str) -> bool:
    """Something that had to work did not, after its retries: wait for ``retry`` or ``abort``."""
    return hold(t, Hold.FAILURE, f"{reason}; fix the cause, then retry (or abort to roll back)")


def fire(t: Tick, reason: str, fired: tuple[str, ...] = ()) -> bool:
    """The new version looks harmful: roll back now (automatic procedure), or pause and tell
    people (manual procedure)."""
    if t.plan.strategy.rollback == "manual":
        return hold(
            t,
            Hold.TRIGGER,
            f"{reason}; the rollback procedure is manual: abort to roll back, "
            "or resume to carry on",
            fired,
        )
    return start_rollback(t, reason)


def stop(t: Tick, reason: str) -> bool:
    """End the rollout on a decision (rejection, abort): roll back the environment it is in,
    or end in ``failed`` if nothing had been changed there yet (environments already validated
    keep the new version, as they do after any rollback)."""
    env = t.environment.name
    if t.touched(env):
        return start_rollback(t, reason)
    earlier = [e.name for e in t.plan.environments[: t.state.env_index] if t.touched(e.name)]
    kept = f" ({people(earlier)} keep{'s' if len(earlier) == 1 else ''} {t.state.version})"
    t.stop_clock()
    t.transition(
        Status.FAILED,
        f"{reason}; nothing had been changed in {env} yet, so there is nothing to roll back"
        + (kept if earlier else ""),
        hold=None,
    )
    t.notify("failed")
    return True


def start_rollback(t: Tick, reason: str) -> bool:
    t.stop_clock()
    t.transition(
        Status.ROLLING_BACK,
        f"rolling back {t.environment.name}: {reason}",
        rollback_trigger=reason,
        rollback_from=t.state.paused_from if t.state.status is Status.PAUSED else t.state.status,
        step=0,
        hold=None,
        wait_until=None,
    )
    t.notify("rolling_back")
    return True


def rolling_back(t: Tick) -> bool:
    """Run the rollback steps from ``state.step`` on, as far as results allow."""
    steps = t.plan.rollback
    while t.state.step < len(steps):
        index = t.state.step
        step = steps[index]
        name = f"rollback/{index + 1}"
        if t.state.entry(name) is None:
            _prepare(t, index, step, name)
        progress = t.run(name, step.retries, partial(_action, t, index, step))
        if progress is Progress.WAITING:
            return False
        if progress is Progress.GAVE_UP:
            entry = t.state.entry(name)
            error = entry.message if entry is not None else ""
            tried = attempts(entry.attempt if entry is not None else 1)
            what = f"rollback step {index + 1} ({_label(step)}) failed after {tried}: {error}"
            if step.notify is None:
                reason = (
                    f"ROLLBACK FAILED in {t.environment.name}: {what}. The new version may "
                    f"still be serving users; finish the rollback by hand "
                    f"(cause of the rollback: {t.state.rollback_trigger})"
                )
                t.transition(Status.ROLLBACK_FAILED, reason)
                t.notify("rollback_failed")
                return True
            t.update(notes=(*t.state.notes, what))
            t.say(f"{what}; carrying on with the rollback")
        if progress is Progress.DONE:
            _record_share(t, step)
        t.update(step=index + 1)
    if not any(_moves_share(t, step) for step in steps):
        t.update(traffic_percent=0.0, instances_done=0)
    count = len(steps)
    t.transition(
        Status.ROLLED_BACK,
        f"rolled back {t.environment.name}: all {count} rollback step"
        f"{'s' if count != 1 else ''} done (cause: {t.state.rollback_trigger})",
    )
    t.notify("rolled_back")
    return True


class _Ids(TypedDict):
    rollout_id: str
    step: str
    attempt: int


def _label(step: RollbackStep) -> str:
    if step.name:
        return step.name
    if step.traffic is not None:
        return f"traffic to {percent(step.traffic)}"
    if step.flag is not None:
        return f"flag {step.flag.key}"
    if step.run is not None:
        return f"run '{step.run}'"
    if step.migrate is not None:
        return "rollback migration"
    return "notify"


def _share_flag(t: Tick) -> str | None:
    """The flag whose rollout % is the new version's share in the current environment, if
    one is: the stage's flag (feature-flag strategy), else the flag router's."""
    kind = t.plan.strategy.type
    if kind == "feature-flag":
        return t.plan.stage_flag(t.stage) if t.staged else t.plan.strategy.flag
    chosen = _strategy.router(t.plan, t.environment)
    return chosen.flag if kind != "rolling" and isinstance(chosen, FlagRouter) else None


def _moves_share(t: Tick, step: RollbackStep) -> bool:
    return step.traffic is not None or (step.flag is not None and step.flag.key == _share_flag(t))


def _record_share(t: Tick, step: RollbackStep) -> None:
    """Make the state say what users get once ``step`` is done."""
    change = step.flag
    if step.traffic is not None and t.plan.strategy.type == "rolling":
        rolling = t.plan.strategy.rolling
        assert rolling is not None  # the plan model requires it for this strategy
        count = len(rolling.instances)
        left = min(t.state.instances_done, _strategy.instance_target(step.traffic, count))
        t.update(instances_done=left, traffic_percent=100.0 * left / count)
    elif step.traffic is not None:
        t.update(traffic_percent=step.traffic)
    elif change is not None and _moves_share(t, step):
        if change.enabled is False:  # a flag that is off serves nobody, whatever its %
            t.update(traffic_percent=0.0)
        elif change.percent is not None:
            t.update(traffic_percent=change.percent)


def _prepare(t: Tick, index: int, step: RollbackStep, name: str) -> None:
    """Settle, before issuing anything, a step that has nothing to do or cannot run at all."""
    if step.traffic is not None and t.plan.strategy.type == "rolling":
        rolling = t.plan.strategy.rolling
        assert rolling is not None  # the plan model requires it for this strategy
        target = _strategy.instance_target(step.traffic, len(rolling.instances))
        if t.state.instances_done <= target:
            t.mark(name, "deploy", Outcome.DONE, "no instance to put back")
        elif rolling.undeploy is None:
            t.mark(
                name,
                "deploy",
                Outcome.FAILED,
                "the rolling block has no 'undeploy' command, so instances cannot be put back",
            )
    if step.migrate is not None and t.plan.migrations is None:
        t.mark(name, "migrate", Outcome.FAILED, "the plan has no 'migrations' section")


def _action(t: Tick, index: int, step: RollbackStep, attempt: int) -> RunRollbackStep:
    name = f"rollback/{index + 1}"
    ids = _Ids(rollout_id=t.state.rollout_id, step=name, attempt=attempt)
    env = t.environment
    inner: SetTraffic | SetFlag | RunCommand | Migrate | Deploy | Notify
    if step.traffic is not None and t.plan.strategy.type == "rolling":
        rolling = t.plan.strategy.rolling
        assert rolling is not None and rolling.undeploy is not None  # settled by _prepare
        target = _strategy.instance_target(step.traffic, len(rolling.instances))
        back = tuple(reversed(rolling.instances[target : t.state.instances_done]))
        inner = _strategy.instance_action(
            env, **ids, command=rolling.undeploy, instances=back, version="", undo=True
        )
    elif step.traffic is not None:
        inner = _strategy.traffic_action(
            t.plan, env, **ids, share=step.traffic, segment=None, flag=None
        )
    elif step.flag is not None:
        change = step.flag
        inner = SetFlag(
            **ids,
            description=f"set flag {change.key} in {env.name}"
            + (f" to {percent(change.percent)}" if change.percent is not None else "")
            + ({True: " (on)", False: " (off)", None: ""}[change.enabled]),
            environment=env.name,
            flag=change.key,
            percent=change.percent,
            enabled=change.enabled,
        )
    elif step.run is not None:
        inner = RunCommand(
            **ids,
            description=f"run '{step.run}' in {env.name}",
            environment=env.name,
            command=step.run,
            timeout=step.timeout,
        )
    elif step.migrate is not None:
        assert t.plan.migrations is not None  # settled by _prepare
        inner = Migrate(
            **ids,
            description=f"run the rollback migration in {env.name}",
            environment=env.name,
            phase="rollback",
            migrations=t.plan.migrations,
        )
    else:
        assert step.notify is not None  # a rollback step has exactly one action
        note = step.notify
        indexes = tuple(
            i for i, a in enumerate(t.plan.communication) if note.audience in (None, a.audience)
        )
        inner = Notify(
            **ids,
            description=f"tell {note.audience or note.channel or 'everyone'} about the rollback",
            moment="rollback_step",
            announcements=indexes if note.channel is None else (),
            context=t.context(t.state.rollback_trigger),
            channel=note.channel,
            message=note.message,
        )
    return RunRollbackStep(
        **ids,
        description=f"rollback step {index + 1}: {inner.description}",
        index=index,
        name=_label(step),
        action=inner,
    )
