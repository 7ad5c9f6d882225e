"""Entering an environment: approval, then deployment.

Approval: ``min_approvals`` distinct people, from ``approvers`` when listed; the person who
started the rollout does not count unless ``allow_self_approval``. One rejection (from someone
who may approve, or from the person who started the rollout) stops the rollout; so does
``timeout`` passing without enough approvals. Votes may arrive early (before the rollout reaches
the environment) and are kept until then.

Deployment, in order: the expand migrations (every revision but the contract ones; they are
backwards compatible, so the old version keeps working), the environment's deploy command (for
blue-green: bringing up the idle colour), then for blue-green the preview checks of that colour.
Anything here that fails after its retries pauses the rollout until ``retry``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from rollout.engine import _strategy
from rollout.engine._moves import start_deploying, start_full, start_stage
from rollout.engine._rollback import hold_failure, stop
from rollout.engine._tick import Progress, Tick
from rollout.engine._words import attempts, people, percent, seconds, stage_label
from rollout.engine.actions import Action, Deploy, Migrate
from rollout.engine.state import Status
from rollout.plan.model import Check


def record_votes(t: Tick) -> None:
    """Keep the observation's votes that count; say why the others do not."""
    names = [env.name for env in t.plan.environments]
    for vote in t.observation.votes:
        word = "approval" if vote.approve else "rejection"
        if vote.environment not in names:
            t.say(f"{word} by {vote.actor} ignored: there is no environment '{vote.environment}'")
            continue
        index = names.index(vote.environment)
        approval = t.plan.environments[index].approval
        heading = f"{word} of {vote.environment} by {vote.actor} ignored"
        if not approval.required:
            t.say(f"{heading}: {vote.environment} needs no approval")
            continue
        if _decided(t, index):
            t.say(f"{heading}: the rollout is past that decision")
            continue
        starter = vote.actor == t.state.started_by
        listed = not approval.approvers or vote.actor in approval.approvers
        if vote.approve and starter and not approval.allow_self_approval:
            t.say(
                f"{heading}: {vote.actor} started this rollout, and {vote.environment} "
                "does not allow self-approval"
            )
            continue
        if not listed and not (starter and not vote.approve):
            t.say(f"{heading}: only {people(approval.approvers)} may decide on it")
            continue
        t.update(votes=(*t.state.votes, replace(vote, at=t.now)))


def _decided(t: Tick, index: int) -> bool:
    if t.state.status.terminal or t.state.status is Status.ROLLING_BACK:
        return True
    if index != t.state.env_index:
        return index < t.state.env_index
    here = t.state.paused_from if t.state.status is Status.PAUSED else t.state.status
    return here not in (Status.PENDING, Status.GATING, Status.AWAITING_APPROVAL)


def awaiting_approval(t: Tick) -> bool:
    env = t.environment
    approval = env.approval
    votes = [vote for vote in t.state.votes if vote.environment == env.name]
    for vote in votes:
        if not vote.approve:
            comment = f": {vote.comment}" if vote.comment else ""
            return stop(t, f"{env.name} was rejected by {vote.actor}{comment}")
    approvers = list(dict.fromkeys(vote.actor for vote in votes))
    need = approval.min_approvals
    if len(approvers) >= need:
        return start_deploying(t, f"{env.name} approved by {people(approvers)}")
    since = t.state.approval_since if t.state.approval_since is not None else t.now
    if approval.timeout is not None and t.now - since >= approval.timeout:
        return stop(
            t,
            f"nobody approved {env.name} within {seconds(approval.timeout)} "
            f"({len(approvers)} of the {need} approvals needed): treated as rejected",
        )
    return False


@dataclass(frozen=True)
class _Task:
    step: str
    retries: int
    what: str
    build: Callable[[int], Action]


def deploying(t: Tick) -> bool:
    """Run the environment's deploy tasks in order, then start its first stage (or send all
    of its traffic over, when it is not staged)."""
    for task in _tasks(t):
        progress = t.run(task.step, task.retries, task.build)
        if progress is Progress.WAITING:
            return False
        if progress is Progress.GAVE_UP:
            entry = t.state.entry(task.step)
            assert entry is not None
            return hold_failure(
                t,
                f"{task.what} failed after {attempts(entry.attempt)}: "
                f"{entry.message or 'no reason given'}",
            )
    env = t.environment
    if t.staged:
        first = t.plan.stages[0].audience
        share = f" at {percent(first.percent)}" if first.percent is not None else ""
        return start_stage(
            t, 0, f"{env.name} is deployed; starting {stage_label(t.plan, 0)}{share}"
        )
    return start_full(
        t, f"{env.name} is deployed and not staged: moving all of it to {t.state.version}"
    )


def _tasks(t: Tick) -> list[_Task]:
    env = t.environment
    rollout_id = t.state.rollout_id
    tasks: list[_Task] = []
    migrations = t.plan.migrations
    if migrations is not None:
        step = f"{env.name}/migrate-expand"
        tasks.append(
            _Task(
                step,
                0,
                f"the expand migrations in {env.name}",
                lambda attempt: Migrate(
                    rollout_id=rollout_id,
                    step=step,
                    attempt=attempt,
                    description=f"run the expand migrations in {env.name}",
                    environment=env.name,
                    phase="expand",
                    migrations=migrations,
                ),
            )
        )
    blue_green = t.plan.strategy.type == "blue-green"
    command = env.deploy
    if command is not None:
        deploy_step = f"{env.name}/deploy"
        what = "bring up the idle colour of" if blue_green else "deploy"
        tasks.append(
            _Task(
                deploy_step,
                _strategy.DEPLOY_RETRIES,
                f"deploying {env.name} ('{command.run}')",
                lambda attempt: Deploy(
                    rollout_id=rollout_id,
                    step=deploy_step,
                    attempt=attempt,
                    description=f"run '{command.run}' to {what} {env.name} with {t.state.version}",
                    environment=env.name,
                    command=command,
                    target="idle-colour" if blue_green else "environment",
                    version=t.state.version,
                ),
            )
        )
    settings = t.plan.strategy.blue_green
    if blue_green and settings is not None:
        for number, check in enumerate(settings.preview_checks, start=1):
            tasks.append(_preview(t, f"{env.name}/preview-{number}", check))
    return tasks


def _preview(t: Tick, step: str, check: Check) -> _Task:
    env = t.environment
    return _Task(
        step,
        check.retries,
        f"the preview check '{check.name}' in {env.name}",
        lambda attempt: _strategy.check_action(
            env, check, "preview", rollout_id=t.state.rollout_id, step=step, attempt=attempt
        ),
    )
