"""Post-deployment validation of an environment at 100 %, then the next environment, or the end.

Validation runs the smoke checks and key flows (all at once, each with its retries) and, over
``validation.window`` (pauses excluded), judges the spike checks against the baselines. A check
that fails after its retries, or a spike, is treated like a rollback trigger. Spike checks still
undecided when the window ends hold it, as a stage holds, up to the same limit.

After the last environment is validated, the contract migrations (``contract_revisions``) run in
every environment, in order, and the rollout has succeeded.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from rollout.analysis import Verdict
from rollout.engine import _strategy
from rollout.engine._judging import judge_spikes, validation_window
from rollout.engine._moves import enter_environment
from rollout.engine._rollback import fire, hold_failure
from rollout.engine._stages import hold_for_data
from rollout.engine._tick import Progress, Tick
from rollout.engine._words import attempts, seconds
from rollout.engine.actions import Migrate, RunCheck
from rollout.engine.state import Outcome, Status
from rollout.plan.model import Check, Migrations


def validating(t: Tick) -> bool:
    env = t.environment
    done = f"{env.name}/validated"
    if t.state.entry(done) is None:
        outcome = _validate(t)
        if outcome is None:
            return True
        if isinstance(outcome, Progress):
            return False
        t.mark(done, "validation", Outcome.DONE, outcome)
        t.stop_clock()
        if t.state.env_index + 1 < len(t.plan.environments):
            return enter_environment(t, t.state.env_index + 1, outcome)
        t.say(outcome)
    return _finish(t)


def _validate(t: Tick) -> str | Progress | None:
    """A reason once validation passed; WAITING while it runs; None after a transition."""
    env = t.environment
    problems: list[str] = []
    failed_steps: list[str] = []
    waiting = False
    validation = t.plan.validation
    checks = [
        *((f"{env.name}/validation/smoke-{n}", c) for n, c in enumerate(validation.smoke, 1)),
        *((f"{env.name}/validation/flow-{n}", c) for n, c in enumerate(validation.key_flows, 1)),
    ]
    for step, check in checks:
        progress = t.run(step, check.retries, _builder(t, step, check))
        if progress is Progress.WAITING:
            waiting = True
        elif progress is Progress.GAVE_UP and step not in t.state.overridden:
            entry = t.state.entry(step)
            assert entry is not None
            problems.append(
                f"the check '{check.name}' failed after {attempts(entry.attempt)}: "
                f"{entry.message or 'no reason given'}"
            )
            failed_steps.append(step)
    window = validation_window(t.plan, t.state)
    elapsed = t.state.bake_elapsed(t.now)
    length = t.plan.validation.window
    final = elapsed >= length
    judged = judge_spikes(t.plan, t.observation, window, t.state.baselines, final)
    spikes = [j for j in judged if j.verdict is Verdict.FAIL and j.text not in t.state.overridden]
    problems.extend(f"{j.text}: {j.reason}" for j in spikes)
    if problems:
        fired = (*failed_steps, *(j.text for j in spikes))
        fire(t, f"validation of {env.name} failed: {'; '.join(problems)}", fired)
        return None
    promoted = t.take_promotion()
    if waiting:
        if promoted is not None:
            t.say(f"promote by {promoted} ignored: the checks of {env.name} are still running")
        return Progress.WAITING
    judged = [j for j in judged if j.text not in t.state.overridden]
    open_ = [j.text for j in judged if j.verdict is not Verdict.PASS]
    said = [f"{len(checks)} check{'s' if len(checks) != 1 else ''} passed"] if checks else []
    said.extend(j.reason for j in judged if j.verdict is Verdict.PASS)
    passed = f"{env.name} validated" + (f": {'; '.join(said)}" if said else "")
    if promoted is not None:
        still = f" (still open: {', '.join(open_)})" if open_ else ""
        return f"{passed}; promoted by {promoted} after {seconds(elapsed)}{still}"
    if not final:
        return Progress.WAITING
    if not open_:
        return passed
    why = [j.reason for j in judged if j.verdict is not Verdict.PASS]
    label = f"validation of {env.name}"
    done = f"has watched {seconds(length)}"
    hold_for_data(t, label, done=done, duration=length, waiting=open_, why=why)
    return None if t.state.status is not Status.VALIDATING else Progress.WAITING


def _builder(t: Tick, step: str, check: Check) -> Callable[[int], RunCheck]:
    env = t.environment

    def build(attempt: int) -> RunCheck:
        return _strategy.check_action(
            env, check, "validation", rollout_id=t.state.rollout_id, step=step, attempt=attempt
        )

    return build


def _contract(t: Tick, env: str, step: str, migrations: Migrations, attempt: int) -> Migrate:
    return Migrate(
        rollout_id=t.state.rollout_id,
        step=step,
        attempt=attempt,
        description=f"run the contract migrations in {env} "
        f"({', '.join(migrations.contract_revisions)})",
        environment=env,
        phase="contract",
        migrations=migrations,
    )


def _finish(t: Tick) -> bool:
    """Contract migrations in every environment, then success."""
    migrations = t.plan.migrations
    if migrations is not None and migrations.contract_revisions:
        for env in t.plan.environments:
            step = f"{env.name}/migrate-contract"
            progress = t.run(step, 0, partial(_contract, t, env.name, step, migrations))
            if progress is Progress.WAITING:
                return False
            if progress is Progress.GAVE_UP:
                entry = t.state.entry(step)
                assert entry is not None
                return hold_failure(
                    t,
                    f"the contract migrations in {env.name} failed after "
                    f"{attempts(entry.attempt)}: {entry.message or 'no reason given'}",
                )
    count = len(t.plan.environments)
    last = t.plan.environments[-1].name
    t.transition(
        Status.SUCCEEDED,
        f"{t.state.version} is fully rolled out and validated in {last}"
        + (
            f" after {count - 1} earlier environment{'s' if count != 2 else ''}"
            if count > 1
            else ""
        ),
    )
    t.notify("succeeded")
    return True
