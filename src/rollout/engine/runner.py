"""The runner: one rollout's tick, carried out durably against the store.

A tick repeats *rounds* until the engine asks for nothing more (or :data:`MAX_ROUNDS`):

1. **act** on the actions the stored state still has pending, each under its idempotency key:
   ``record_action_intent`` first (a key already DONE or FAILED is not run again: its stored
   result is used), then the action through its provider, then ``record_action_done`` /
   ``record_action_failed`` with the result;
2. **observe**: those results, approvals and operator commands appended to the audit trail
   since the last round, and the metric data of the window the engine judges
   (:mod:`rollout.engine.runner_observe`);
3. **decide** (pure);
4. **save** the engine's next state, the actions it issued (now pending) and one audit event
   per reason, in one transaction, under the revision read and the controller's lease.

Nothing a script prints of a secret reaches the store: the values of every ``${VAR}`` the plan
names are masked (``****``) in each action's result (by the executor), in the metric sources'
failures and in every audit event the runner saves.

Crash safety follows from the order. The actions of a decision are saved (as pending) before
any of them runs, and each runs only after its intent is recorded. After a crash the next
controller finds them pending: a key DONE or FAILED is fed back as it ended; a key with an
intent but no end, or with no intent yet, is run (again). So a command may run twice with the
same ``ROLLOUT_IDEMPOTENCY_KEY`` (it must be idempotent by that key), never with two keys for
one attempt; traffic and flag actions are set-to-value. The state that ends a rollout is saved
with its last actions (the final announcements) pending and ``pending_work`` set, so a
controller that dies before sending them leaves them to the next one, which leases ended
rollouts with pending work too.

How the state is stored (the engine's plus the runner's own) is in
:mod:`rollout.engine.runner_store`; the lease kept while actions run in
:mod:`rollout.engine.runner_lease`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from rollout.engine._judging import metric_request
from rollout.engine.actions_exec import ActionExecutor, Done, World
from rollout.engine.decide import decide
from rollout.engine.observation import ActionResult, Observation
from rollout.engine.runner_lease import CRASH_ENV, LeaseKeeper, crash_point
from rollout.engine.runner_observe import (
    COMMAND_PREFIX,
    SIGN_OFF,
    judge_view,
    measure,
    note_stages,
    operator_input,
    result_of,
    stage_name,
)
from rollout.engine.runner_store import (
    RUNNER_KEY,
    CriterionView,
    JudgedSeries,
    ShellState,
    StageNote,
    StoredRollout,
    decode_action,
    encode_action,
    load_stored,
    state_json,
)
from rollout.engine.state import RolloutState
from rollout.errors import Conflict, LeaseLost, NotFound, StoreError
from rollout.plan.model import Plan
from rollout.store import ActionStatus, NewEvent, RolloutRecord, Store

MAX_ROUNDS = 40
"""Rounds in one tick at most; a plan that needs more continues on the next tick."""


@dataclass(frozen=True)
class TickReport:
    """What one tick of one rollout did: ``actions`` run (keys), ``saves`` made, the status
    it left the rollout in, and ``stopped`` (why it stopped acting early: a lost lease or a
    conflicting save; '' when it did not)."""

    rollout_id: str
    status: str
    actions: tuple[str, ...] = ()
    saves: int = 0
    stopped: str = ""


class Runner:
    """Ticks rollouts for the controller ``owner`` (see the module docstring).

    ``clock`` gives ``now`` in seconds since the epoch. ``lease_ttl`` (seconds) is renewed in
    the background while an action runs, so a long deploy keeps its lease. The caller holds
    the rollout's lease before calling :meth:`tick`.
    """

    def __init__(
        self,
        store: Store,
        world: World,
        *,
        owner: str,
        clock: Callable[[], float],
        lease_ttl: float = 30.0,
    ) -> None:
        self.store = store
        self.world = world
        self.owner = owner
        self.clock = clock
        self.lease_ttl = lease_ttl
        self._executors: dict[str, ActionExecutor] = {}
        self._plans: dict[str, Plan] = {}

    def tick(
        self, rollout_id: str, now: float | None = None, *, leased_at: float | None = None
    ) -> TickReport:
        """Run rounds for one rollout until it waits; ``now`` fixes the time (tests).

        ``leased_at`` is when (``time.monotonic()``) the caller last took or renewed the
        lease; the lease is renewed before an action once a third of its TTL has passed."""
        ran: list[str] = []
        saves = 0
        status = ""
        keeper = LeaseKeeper(self.store, rollout_id, self.owner, self.lease_ttl, leased_at)
        try:
            record = self.store.get_rollout(rollout_id)
            for round_number in range(MAX_ROUNDS):
                stored = load_stored(record, self._plans.get(rollout_id))
                self._plans[rollout_id] = stored.plan
                status = record.status.value
                if record.terminal and not stored.shell.pending:
                    break  # ended, and its last announcements are out
                at = self.clock() if now is None else now
                results = self._carry_out(stored, at, ran, keeper)
                # Operator input is read once a tick; what arrives meanwhile waits for the next.
                saved, more, record = self._round(stored, results, at, round_number == 0)
                status = record.status.value
                saves += saved
                if not more:
                    break
        except (LeaseLost, StoreError) as exc:
            if isinstance(exc, NotFound):
                raise
            return TickReport(rollout_id, status, tuple(ran), saves, str(exc))
        return TickReport(rollout_id, status, tuple(ran), saves)

    # ------------------------------------------------------------------ act

    def _executor(self, stored: StoredRollout, version: str) -> ActionExecutor:
        found = self._executors.get(stored.record.id)
        if found is None:
            found = ActionExecutor(
                stored.plan, stored.record.id, version, stored.base_dir, self.world
            )
            self._executors[stored.record.id] = found
        return found

    def _carry_out(
        self, stored: StoredRollout, now: float, ran: list[str], keeper: LeaseKeeper
    ) -> list[ActionResult]:
        """Run the pending actions (others first, notifications last: telling people must
        never hold up a rollback) and return their results."""
        if not stored.shell.pending:
            return []
        rollout_id = stored.record.id
        actions = [decode_action(rollout_id, data) for data in stored.shell.pending]
        actions.sort(key=lambda a: a.kind == "notify")
        executor = self._executor(stored, stored.record.version)
        stage = stage_name(stored.plan, stored.engine)
        results = []
        for action in actions:
            # Under a valid lease only: no intent is recorded by a controller that lost it.
            keeper.ensure()
            try:
                record = self.store.record_action_intent(
                    rollout_id,
                    action.step,
                    action.attempt,
                    action.kind,
                    encode_action(action),
                    actor=self.owner,
                )
            except Conflict:
                # Recorded before with another payload (an older release encoded it
                # differently): the key is what counts, so the stored record stands.
                record = self.store.get_action(action.key)
            if record.status is ActionStatus.INTENT:
                crash_point("intent")
                with keeper.held():
                    done = executor.execute(action, now, stage)
                ran.append(action.key)
                crash_point("act")
                if done.ok:
                    record = self.store.record_action_done(
                        action.key, done.result_json(), actor=self.owner
                    )
                else:
                    record = self.store.record_action_failed(
                        action.key, done.message, done.result_json(), actor=self.owner
                    )
                crash_point("done")
                keeper.check()
            results.append(result_of(action.key, record.status, record.result))
        return results

    # ------------------------------------------------------------------ observe, decide, save

    def _round(
        self, stored: StoredRollout, results: list[ActionResult], now: float, read_input: bool
    ) -> tuple[int, bool, RolloutRecord]:
        """Decide and save; returns (saves made, whether the decision issued actions, the
        record as it is now)."""
        record, plan = stored.record, stored.plan
        state = stored.engine or RolloutState.new(record.id, record.version, record.created_by, now)
        events = (
            self.store.list_events(record.id, after_seq=stored.shell.events_seen)
            if read_input
            else []
        )
        votes, sign_offs, commands = operator_input(events)
        executor = self._executor(stored, state.version)
        scrub = executor.scrub
        window, problem = measure(plan, state, now, executor)
        problem = scrub(problem)  # a metric script's output, quoted in its error
        observation = Observation(tuple(results), votes, sign_offs, commands, window)
        decision = decide(plan, state, observation, now)
        after = decision.next_state
        shell = replace(
            stored.shell,
            pending=tuple(encode_action(a) for a in decision.actions),
            events_seen=events[-1].seq if events else stored.shell.events_seen,
            stages=note_stages(plan, state, after, stored.shell.stages, now, window=window),
            metrics_problem=problem,
        )
        request = metric_request(plan, after)
        if window is not None and request is not None and request.window == window.window:
            criteria, series = judge_view(plan, after, window, now)
            shell = replace(shell, criteria=criteria, series=series, judged_at=now)
        elif request is None:
            shell = replace(shell, criteria=(), series=(), judged_at=None)
        consumed = bool(votes or sign_offs or commands)
        unchanged = (
            stored.engine == after
            and not results
            and not consumed
            # The cursor alone, or the time of an unchanged judgement, is not worth a write;
            # nor are its series alone (a partial step's end moves with the clock): what is
            # stored stays one judgement's verdicts with the series they rested on.
            and replace(
                shell,
                events_seen=stored.shell.events_seen,
                judged_at=stored.shell.judged_at,
                series=stored.shell.series,
            )
            == stored.shell
        )
        if unchanged:
            return 0, False, record
        saved = self.store.save_rollout_state(
            record.id,
            record.revision,
            after.status.value,
            state_json(after, shell),
            [
                replace(event, message=scrub(event.message), data=scrub.data(event.data))
                for event in self._events(
                    state, after, decision.reasons, stored.shell.metrics_problem, problem
                )
            ],
            lease_owner=self.owner,
            # An ended rollout with actions left (its last announcements) stays leasable, so
            # the next controller sends them if this one dies before it does.
            pending_work=bool(shell.pending),
        )
        crash_point("save")
        if after.status.terminal and shell.pending:
            crash_point("final")
        return 1, bool(decision.actions), saved

    def _events(
        self,
        before: RolloutState,
        after: RolloutState,
        reasons: tuple[str, ...],
        old_problem: str,
        problem: str,
    ) -> list[NewEvent]:
        data = {"controller": self.owner}
        events = [
            NewEvent(kind="rollout.reason", message=reason, data=data, actor=self.owner)
            for reason in reasons
        ]
        if after.status != before.status:
            events.append(
                NewEvent(
                    kind="rollout.state",
                    message=f"{before.status.value} -> {after.status.value}",
                    data={**data, "from": before.status.value, "to": after.status.value},
                    actor=self.owner,
                )
            )
        if problem and problem != old_problem:
            events.append(
                NewEvent(kind="metrics.problem", message=problem, data=data, actor=self.owner)
            )
        return events


__all__ = [
    "COMMAND_PREFIX",
    "CRASH_ENV",
    "MAX_ROUNDS",
    "RUNNER_KEY",
    "SIGN_OFF",
    "CriterionView",
    "Done",
    "JudgedSeries",
    "Runner",
    "ShellState",
    "StageNote",
    "StoredRollout",
    "TickReport",
    "decode_action",
    "encode_action",
    "judge_view",
    "load_stored",
    "measure",
    "state_json",
]
