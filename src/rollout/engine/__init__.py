"""The rollout state machine: pure ``decide()`` and the runner that carries out its actions.

The pure core (everything here but the runner and the controller) takes a plan, the stored
state, an observation and the time, and returns a :class:`Decision`::

    state = RolloutState.new("r-42", "v2.4.0", started_by="alice", now=clock())
    decision = decide(plan, state, Observation(), now=clock())
    # carry out decision.actions, store decision.next_state, then on the next tick:
    decision = decide(plan, decision.next_state, Observation(results=...), now=clock())

:func:`metric_request` says which criteria the shell should measure for the current window;
:func:`check_verb` refuses an operator verb that does not apply, with a reason.

What a plan means to the judge, for the shell's charts, baselines and simulations to agree with
it: :func:`spec_for` (a metric's kind), :func:`triggers` (a stage's rollback triggers, the
strategy's included), :func:`spike_checks` and :func:`planned_baseline` (post-deployment
validation). The engine's wording, for reports beside its reasons: :func:`seconds` (a duration,
``1h30m``) and :func:`stage_label` (``stage 2 (Limited Release)``).
"""

from rollout.engine._judging import (
    metric_request,
    planned_baseline,
    spec_for,
    spike_checks,
    triggers,
)
from rollout.engine._verbs import check_verb, verb_problem
from rollout.engine._words import seconds, stage_label
from rollout.engine.actions import (
    ACTION_TYPES,
    Action,
    Deploy,
    Migrate,
    Notify,
    NotifyContext,
    RecordBaseline,
    RequestApproval,
    RequestSignOff,
    RunCheck,
    RunCommand,
    RunGate,
    RunRollbackStep,
    SetFlag,
    SetTraffic,
)
from rollout.engine.decide import Decision, decide
from rollout.engine.observation import (
    ActionResult,
    Command,
    MetricRequest,
    MetricWindow,
    Observation,
    Verb,
)
from rollout.engine.state import (
    Hold,
    LedgerEntry,
    Outcome,
    RolloutState,
    SignOff,
    Status,
    Vote,
)

__all__ = [
    "ACTION_TYPES",
    "Action",
    "ActionResult",
    "Command",
    "Decision",
    "Deploy",
    "Hold",
    "LedgerEntry",
    "MetricRequest",
    "MetricWindow",
    "Migrate",
    "Notify",
    "NotifyContext",
    "Observation",
    "Outcome",
    "RecordBaseline",
    "RequestApproval",
    "RequestSignOff",
    "RolloutState",
    "RunCheck",
    "RunCommand",
    "RunGate",
    "RunRollbackStep",
    "SetFlag",
    "SetTraffic",
    "SignOff",
    "Status",
    "Verb",
    "Vote",
    "check_verb",
    "decide",
    "metric_request",
    "planned_baseline",
    "seconds",
    "spec_for",
    "spike_checks",
    "stage_label",
    "triggers",
    "verb_problem",
]
