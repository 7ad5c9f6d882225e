"""The service calls people make, for the command line and the HTTP API alike.

:func:`start_rollout` creates a rollout (the controller starts it on its next tick),
:func:`send_verb` gives an operator verb or an approval, :func:`sign_off` signs off a manual
checklist gate. Verbs are queued as ``command.<verb>`` audit events with the actor; the
controller consumes each exactly once (its cursor is saved with the state that applied it). A
verb that cannot apply now is refused up front with :class:`EngineError`.
"""

from __future__ import annotations

from pathlib import Path

from rollout.engine._verbs import check_verb
from rollout.engine.observation import Verb
from rollout.engine.runner_observe import COMMAND_PREFIX, SIGN_OFF
from rollout.engine.runner_store import (
    ShellState,
    StoredRollout,
    engine_state,
    load_stored,
    state_json,
)
from rollout.engine.state import RolloutState, Status
from rollout.errors import Conflict, EngineError, PlanError, Problem
from rollout.plan.loader import load_plan, load_plan_text
from rollout.store import (
    ApprovalDecision,
    ApprovalRecord,
    EventRecord,
    NewEvent,
    RolloutRecord,
    Store,
)


def start_rollout(
    store: Store,
    plan: Path | str,
    version: str | None,
    actor: str,
    *,
    base_dir: Path | None = None,
) -> RolloutRecord:
    """Create a rollout of ``plan`` (a path to the YAML, or the YAML text itself) at
    ``version`` (default: the plan's ``overview.version``); the controller starts it.

    Relative paths in the plan resolve against ``base_dir`` (default: the plan file's
    directory, or the working directory for text). Raises :class:`PlanError` for an invalid
    plan or a missing version, :class:`EngineError` while another rollout of the same plan
    is still running (both would move the same traffic).
    """
    if isinstance(plan, Path):
        loaded, text = load_plan(plan), plan.read_text(encoding="utf-8")
        where, folder = str(plan), plan.resolve().parent
    else:
        loaded, text, where, folder = load_plan_text(plan), plan, "<plan>", Path.cwd()
    chosen = version or loaded.overview.version
    if not chosen:
        raise PlanError(
            [Problem(where, 0, 0, "overview.version", "no version to roll out: pass --version")]
        )
    running = store.list_rollouts(name=loaded.name, active_only=True)
    if running:
        other = running[0]
        raise EngineError(
            f"rollout {other.id} of {loaded.name} is still {other.status.value}: wait for it "
            f"to end, or abort it (rollout abort {other.id})"
        )
    shell = ShellState(base_dir=str((base_dir or folder).resolve()))
    return store.create_rollout(
        name=loaded.name,
        version=chosen,
        plan_yaml=text,
        plan_json=loaded.model_dump(mode="json"),
        created_by=actor,
        state_json=state_json(None, shell),
    )


def send_verb(  # noqa: PLR0917 (the service call people know: who, what, why, where)
    store: Store,
    rollout_id: str,
    verb: str,
    actor: str,
    comment: str = "",
    env: str | None = None,
) -> EventRecord | ApprovalRecord:
    """Give an operator verb: ``pause``, ``resume``, ``promote``, ``abort``, ``retry`` (queued
    for the controller), or ``approve`` / ``reject`` entry into ``env`` (default: the
    environment the rollout waits for). :class:`EngineError` when it does not apply now,
    ``NotFound`` for an unknown rollout."""
    stored = load_stored(store.get_rollout(rollout_id))
    state = engine_state(stored)
    if state.status.terminal:
        raise EngineError(f"rollout {rollout_id} has ended ({state.status.value})")
    if verb in ("approve", "reject"):
        return _decide_environment(
            store, stored, state, approve=verb == "approve", actor=actor, comment=comment, env=env
        )
    try:
        chosen = Verb(verb)
    except ValueError:
        known = ", ".join([*(v.value for v in Verb), "approve", "reject"])
        raise EngineError(f"unknown verb {verb!r} (known: {known})") from None
    check_verb(state, chosen)
    said = f": {comment}" if comment else ""
    return store.append_event(
        rollout_id,
        NewEvent(
            kind=f"{COMMAND_PREFIX}{chosen.value}",
            message=f"{actor} asked to {chosen.value} the rollout{said}",
            data={"verb": chosen.value, "comment": comment},
            actor=actor,
        ),
    )


def _decide_environment(
    store: Store,
    stored: StoredRollout,
    state: RolloutState,
    *,
    approve: bool,
    actor: str,
    comment: str,
    env: str | None,
) -> ApprovalRecord:
    plan, rollout_id = stored.plan, stored.record.id
    if env is None:
        if state.status is not Status.AWAITING_APPROVAL:
            raise EngineError(
                f"rollout {rollout_id} is not waiting for an approval "
                f"({state.status.value}); name the environment with --env"
            )
        env = plan.environments[state.env_index].name
    names = [e.name for e in plan.environments]
    if env not in names:
        raise EngineError(f"the plan has no environment '{env}' (it has {', '.join(names)})")
    if not plan.environment(env).approval.required:
        raise EngineError(f"{env} needs no approval")
    decision = ApprovalDecision.APPROVE if approve else ApprovalDecision.REJECT
    try:
        return store.add_approval(rollout_id, env, actor, decision, comment)
    except Conflict as exc:
        raise EngineError(f"{actor} cannot decide twice on {env}: {exc}") from exc


def sign_off(
    store: Store,
    rollout_id: str,
    gate: int,
    actor: str,
    roles: tuple[str, ...],
    *,
    approve: bool = True,
    comment: str = "",
) -> EventRecord:
    """Sign off (or refuse) manual checklist gate number ``gate`` (1-based) as ``actor``
    holding ``roles``. :class:`EngineError` for a gate that is not a manual one or a person
    without the role it needs."""
    stored = load_stored(store.get_rollout(rollout_id))
    checklist = stored.plan.checklist
    if not 1 <= gate <= len(checklist):
        raise EngineError(f"there is no checklist gate {gate} (the plan has {len(checklist)})")
    manual = checklist[gate - 1].manual
    if manual is None:
        raise EngineError(f"gate {gate} ('{checklist[gate - 1].item}') runs by itself")
    if manual.role not in roles:
        raise EngineError(
            f"gate {gate} needs someone with the role '{manual.role}': pass --role "
            f"{manual.role} if you hold it"
        )
    if manual.people and actor not in manual.people:
        raise EngineError(f"only {', '.join(manual.people)} may sign off gate {gate}")
    word = "signed off" if approve else "refused"
    return store.append_event(
        rollout_id,
        NewEvent(
            kind=SIGN_OFF,
            message=f"{actor} {word} gate {gate} ('{checklist[gate - 1].item}')"
            + (f": {comment}" if comment else ""),
            data={"gate": gate, "roles": list(roles), "approve": approve, "comment": comment},
            actor=actor,
        ),
    )
