"""Idempotent actions (intent before acting, done after) and approvals.

The runner calls ``record_action_intent`` before it touches the world and
``record_action_done`` (or ``record_action_failed``) after. After a crash it calls
``record_action_intent`` again with the same key: the existing record comes back, and its status
says whether the action still has to be (re)applied. Each transition also appends an audit event
(``action.intent`` / ``action.done`` / ``action.failed``) to the rollout's chain, in the same
transaction, so the trail and the action table never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from rollout.errors import Conflict, NotFound
from rollout.store._db import StoreBase
from rollout.store._json import canonical_json, json_object
from rollout.store.events import append_events
from rollout.store.models import Action, Approval
from rollout.store.records import (
    ActionRecord,
    ActionStatus,
    ApprovalDecision,
    ApprovalRecord,
    NewEvent,
)
from rollout.store.rollouts import require_rollout


def action_key(rollout_id: str, step: str, attempt: int) -> str:
    """The idempotency key of an action: ``"ro_abc:stage-2.ramp:1"`` for
    ``("ro_abc", "stage-2.ramp", 1)``."""
    return f"{rollout_id}:{step}:{attempt}"


def _action_record(row: Action) -> ActionRecord:
    return ActionRecord(
        key=row.key,
        rollout_id=row.rollout_id,
        step=row.step,
        attempt=row.attempt,
        kind=row.kind,
        status=ActionStatus(row.status),
        payload=row.payload_json,
        result=row.result_json,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def _approval_record(row: Approval) -> ApprovalRecord:
    return ApprovalRecord(
        id=row.id,
        rollout_id=row.rollout_id,
        environment=row.environment,
        approver=row.approver,
        decision=ApprovalDecision(row.decision),
        comment=row.comment,
        at=row.at,
    )


def _locked_action(session: Session, key: str) -> Action:
    row = session.get(Action, key, with_for_update=True)
    if row is None:
        raise NotFound(f"no action {key!r}")
    return row


class ActionsMixin(StoreBase):
    """Action intent/done records and approvals."""

    def record_action_intent(
        self,
        rollout_id: str,
        step: str,
        attempt: int,
        kind: str,
        payload: Mapping[str, Any] | None = None,
        *,
        actor: str = "rollout",
    ) -> ActionRecord:
        """Record that action ``action_key(rollout_id, step, attempt)`` is about to run.

        Idempotent: if the key exists with the same kind and payload, the stored record is
        returned unchanged (check its ``status``: DONE means skip it). The same key with a
        different kind or payload raises ``Conflict``; an unknown rollout ``NotFound``.
        """
        key = action_key(rollout_id, step, attempt)
        body = json_object(payload or {}, f"payload of action {key}")
        now = self._now()
        with self._write() as session:
            existing = session.get(Action, key, with_for_update=True)
            if existing is not None:
                if existing.kind != kind or canonical_json(existing.payload_json) != (
                    canonical_json(body)
                ):
                    raise Conflict(f"action {key} was recorded with another kind or payload")
                return _action_record(existing)
            require_rollout(session, rollout_id)
            row = Action(
                key=key,
                rollout_id=rollout_id,
                step=step,
                attempt=attempt,
                kind=kind,
                status=ActionStatus.INTENT.value,
                payload_json=body,
                created_at=now,
            )
            session.add(row)
            session.flush()
            event = NewEvent(
                kind="action.intent",
                message=f"about to {kind} for {step} (attempt {attempt})",
                data={"key": key, "kind": kind, "payload": body},
                actor=actor,
            )
            append_events(session, rollout_id, [event], now)
            return _action_record(row)

    def _finish_action(
        self,
        key: str,
        status: ActionStatus,
        result: Mapping[str, Any] | None,
        actor: str,
    ) -> ActionRecord:
        now = self._now()
        with self._write() as session:
            row = _locked_action(session, key)
            if row.status == status.value:
                return _action_record(row)  # already recorded: a retried call changes nothing
            if row.status != ActionStatus.INTENT.value:
                raise Conflict(f"action {key} is already {row.status}, it cannot become {status}")
            row.status = status.value
            row.result_json = None if result is None else json_object(result, f"result of {key}")
            row.finished_at = now
            error = (row.result_json or {}).get("error")
            outcome = "done" if status is ActionStatus.DONE else f"failed: {error}"
            event = NewEvent(
                kind=f"action.{status.value}",
                message=f"{row.kind} for {row.step} (attempt {row.attempt}) {outcome}",
                data={"key": key, "kind": row.kind, "result": row.result_json},
                actor=actor,
            )
            append_events(session, row.rollout_id, [event], now)
            return _action_record(row)

    def record_action_done(
        self, key: str, result: Mapping[str, Any] | None = None, *, actor: str = "rollout"
    ) -> ActionRecord:
        """Mark an intended action done with its ``result``. Repeating it is harmless;
        ``Conflict`` if it was recorded as failed, ``NotFound`` if it was never intended."""
        return self._finish_action(key, ActionStatus.DONE, result, actor)

    def record_action_failed(
        self,
        key: str,
        error: str,
        result: Mapping[str, Any] | None = None,
        *,
        actor: str = "rollout",
    ) -> ActionRecord:
        """Mark an intended action failed; ``error`` says why in plain words and is kept in
        the result as ``"error"``. A retry is a new attempt, hence a new key."""
        body = {**(result or {}), "error": error}
        return self._finish_action(key, ActionStatus.FAILED, body, actor)

    def get_action(self, key: str) -> ActionRecord:
        """The action with this key; ``NotFound`` if it was never intended."""
        with self._read() as session:
            row = session.get(Action, key)
            if row is None:
                raise NotFound(f"no action {key!r}")
            return _action_record(row)

    def list_actions(self, rollout_id: str) -> list[ActionRecord]:
        """The rollout's actions in the order they were intended."""
        query = (
            select(Action)
            .where(Action.rollout_id == rollout_id)
            .order_by(Action.created_at, Action.key)
        )
        with self._read() as session:
            return [_action_record(row) for row in session.scalars(query)]

    def add_approval(
        self,
        rollout_id: str,
        environment: str,
        approver: str,
        decision: ApprovalDecision | str,
        comment: str = "",
    ) -> ApprovalRecord:
        """Record one person's decision on a rollout's entry into ``environment``, with an
        ``approval`` audit event. ``Conflict`` if that person already decided there;
        ``NotFound`` for an unknown rollout."""
        verdict = ApprovalDecision(str(decision))
        now = self._now()
        with self._write() as session:
            require_rollout(session, rollout_id)
            duplicate = select(Approval.decision).where(
                Approval.rollout_id == rollout_id,
                Approval.environment == environment,
                Approval.approver == approver,
            )
            earlier = session.scalars(duplicate).one_or_none()
            if earlier is not None:
                raise Conflict(f"{approver} already decided {earlier!r} for {environment}")
            row = Approval(
                rollout_id=rollout_id,
                environment=environment,
                approver=approver,
                decision=verdict.value,
                comment=comment,
                at=now,
            )
            session.add(row)
            session.flush()
            said = "approved" if verdict is ApprovalDecision.APPROVE else "rejected"
            event = NewEvent(
                kind="approval",
                message=f"{approver} {said} {environment}" + (f": {comment}" if comment else ""),
                data={"environment": environment, "decision": verdict.value, "comment": comment},
                actor=approver,
            )
            append_events(session, rollout_id, [event], now)
            return _approval_record(row)

    def list_approvals(
        self, rollout_id: str, environment: str | None = None
    ) -> list[ApprovalRecord]:
        """Decisions on a rollout (in one environment when given), oldest first."""
        query = select(Approval).where(Approval.rollout_id == rollout_id)
        if environment is not None:
            query = query.where(Approval.environment == environment)
        with self._read() as session:
            return [_approval_record(r) for r in session.scalars(query.order_by(Approval.id))]
