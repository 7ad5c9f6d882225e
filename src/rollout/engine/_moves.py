"""The forward moves between phases: each sets up the next status and says why.

Kept apart from the phase handlers so that every handler can move on to any later phase
without the modules importing one another in a circle.
"""

from __future__ import annotations

from rollout.engine._tick import Tick
from rollout.engine._words import people, seconds
from rollout.engine.actions import RequestApproval
from rollout.engine.state import Status


def start(t: Tick) -> bool:
    """pending -> gating: the rollout starts and runs its checklist."""
    count = len(t.plan.checklist)
    t.transition(
        Status.GATING,
        f"rollout of {t.state.version} started by {t.state.started_by}: "
        f"checking the {count} checklist item{'s' if count != 1 else ''}",
    )
    t.notify("started")
    return True


def enter_environment(t: Tick, index: int, reason: str) -> bool:
    """Move to environment ``index``: ask for approval when it needs it, else deploy."""
    env = t.plan.environments[index]
    position = {
        "env_index": index,
        "stage_index": 0,
        "step": 0,
        "instances_done": 0,
        "traffic_percent": 0.0,
        "window_started_at": None,
        "bake_accumulated": 0.0,
        "bake_since": None,
        "overridden": (),
        "fired": (),
    }
    approval = env.approval
    if not approval.required:
        t.update(**position)
        return start_deploying(t, f"{reason}; {env.name} needs no approval")
    who = f"from {people(approval.approvers)}" if approval.approvers else "from anyone"
    need = approval.min_approvals
    wait = f", within {seconds(approval.timeout)}" if approval.timeout is not None else ""
    t.transition(
        Status.AWAITING_APPROVAL,
        f"{reason}; {env.name} needs {need} approval{'s' if need != 1 else ''} {who}{wait}",
        approval_since=t.now,
        **position,
    )
    step = f"{env.name}/approval"
    t.run(
        step,
        0,
        lambda attempt: RequestApproval(
            rollout_id=t.state.rollout_id,
            step=step,
            attempt=attempt,
            description=f"ask {people(approval.approvers) if approval.approvers else 'approvers'}"
            f" to approve {t.state.version} for {env.name}",
            environment=env.name,
            approvers=approval.approvers,
            min_approvals=need,
            timeout=approval.timeout,
        ),
    )
    t.notify("approval_needed")
    return True


def start_deploying(t: Tick, reason: str) -> bool:
    env = t.environment
    t.transition(Status.DEPLOYING, f"{reason}; deploying {t.state.version} to {env.name}")
    t.notify("environment_started")
    return True


def start_stage(t: Tick, index: int, reason: str) -> bool:
    """Begin stage ``index`` of a staged environment: set its audience, then bake. The ramp's
    window opens now (its rollback triggers are judged while the audience is set); the bake's
    opens once the audience is in place."""
    t.transition(
        Status.RAMPING,
        reason,
        stage_index=index,
        step=t.state.instances_done,
        window_started_at=t.now,
        bake_accumulated=0.0,
        bake_since=None,
        overridden=(),
        fired=(),
    )
    t.notify("stage_started")
    return True


def start_full(t: Tick, reason: str) -> bool:
    """Send all of a non-staged environment's traffic to the new version."""
    t.transition(Status.RAMPING, reason, stage_index=0, step=t.state.instances_done)
    return True


def start_observing(t: Tick, reason: str) -> bool:
    t.transition(
        Status.OBSERVING,
        reason,
        window_started_at=t.now,
        bake_accumulated=0.0,
        bake_since=t.now,
    )
    return True


def start_validation(t: Tick, reason: str) -> bool:
    t.transition(
        Status.VALIDATING,
        reason,
        window_started_at=t.now,
        bake_accumulated=0.0,
        bake_since=t.now,
        overridden=(),
        fired=(),
    )
    return True
