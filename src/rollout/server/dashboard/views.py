"""What the dashboard pages show, read from the store into frozen values the templates render.

Everything here reads; nothing changes the store. The engine's own service calls
(:func:`~rollout.engine.controller.rollout_status`, :func:`list_rollout_status`) give the status
of a rollout; this module adds what a page needs beside it: the timeline of environments and
stages, the criteria with their charts, the event log, and which operator verbs apply now.

Charts draw the series the controller stored with each verdict (``ShellState.series``, and a
stage note's for the stage that ended last): the evidence the verdict rested on, not the
metric sources asked again.

Times are epoch seconds or aware UTC datetimes, as the store and engine give them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from rollout.engine import Verb, verb_problem
from rollout.engine.controller import RolloutView, list_rollout_status, rollout_status
from rollout.engine.runner import (
    CriterionView,
    JudgedSeries,
    StageNote,
    StoredRollout,
    load_stored,
)
from rollout.engine.state import RolloutState, Status
from rollout.plan.model import Audience, Plan
from rollout.server.dashboard.access import DECIDE, OPERATE, Viewer
from rollout.server.dashboard.svg import render_chart
from rollout.store import EventRecord, Store

EVENTS_SHOWN = 100
"""Newest audit events on a rollout page (the full trail is ``rollout history``)."""

TONES = {
    "pending": "active",
    "gating": "active",
    "deploying": "active",
    "ramping": "active",
    "observing": "active",
    "validating": "active",
    "awaiting_approval": "waiting",
    "paused": "waiting",
    "succeeded": "good",
    "rolling_back": "bad",
    "rolled_back": "bad",
    "rollback_failed": "bad",
    "failed": "bad",
}
"""Status word -> colour family: active (blue), waiting (amber), good (green), bad (red)."""

VERDICT_TONES = {"pass": "good", "fail": "bad", "inconclusive": "waiting", "error": "bad"}


def status_words(status: str) -> str:
    """``awaiting_approval`` -> ``awaiting approval``."""
    return status.replace("_", " ")


def tone_of(status: str) -> str:
    return TONES.get(status, "active")


def engine_state(stored: StoredRollout) -> RolloutState:
    """The rollout's engine state; a rollout the controller has not ticked yet is pending."""
    if stored.engine is not None:
        return stored.engine
    record = stored.record
    return RolloutState.new(
        record.id, record.version, record.created_by, record.created_at.timestamp()
    )


def audience_words(audience: Audience) -> str:
    """``10%``, ``segment beta-testers``, or ``10% of segment beta-testers``."""
    percent = f"{audience.percent:g}%" if audience.percent is not None else ""
    segment = f"segment {audience.segment}" if audience.segment else ""
    return " of ".join(part for part in (percent, segment) if part) or "everyone"


# --------------------------------------------------------------------------- the list


@dataclass(frozen=True)
class RolloutRow:
    """One line of the rollouts list."""

    view: RolloutView
    tone: str
    where: str

    @property
    def status_words(self) -> str:
        return status_words(self.view.status)


def where_words(view: RolloutView) -> str:
    """Where a rollout is: ``production · stage 2 of 3 (Half)``, ``staging``, or ``—``."""
    if not view.environment:
        return "—"
    if not view.stage:
        return view.environment
    return f"{view.environment} · stage {view.stage_number} of {view.stage_count} ({view.stage})"


def rollout_rows(store: Store, now: float, limit: int = 50) -> list[RolloutRow]:
    """The newest ``limit`` rollouts, newest first."""
    return [
        RolloutRow(view, tone_of(view.status), where_words(view))
        for view in list_rollout_status(store, now=now, limit=limit)
    ]


def list_fingerprint(store: Store, limit: int = 50) -> str:
    """A short digest of the listed rollouts' ids and revisions: it changes whenever a
    rollout of the list is created or saves a new state."""
    listed = [(r.id, r.revision) for r in store.list_rollouts(limit=limit)]
    return hashlib.sha256(repr(listed).encode()).hexdigest()[:16]


# --------------------------------------------------------------------------- one rollout


@dataclass(frozen=True)
class StageStep:
    """A stage of one environment: ``status`` is ``not started``, ``running``, ``paused``,
    ``passed`` or ``rolled back``."""

    number: int
    name: str
    audience: str
    duration: float
    status: str
    reason: str = ""

    @property
    def tone(self) -> str:
        return {"running": "active", "paused": "waiting", "passed": "good"}.get(
            self.status, "bad" if self.status == "rolled back" else "idle"
        )


@dataclass(frozen=True)
class EnvironmentStep:
    """An environment of the progression with its status and, if staged, its stages."""

    name: str
    status: str
    tone: str
    current: bool
    approval: bool
    stages: tuple[StageStep, ...]


@dataclass(frozen=True)
class CriterionCard:
    """A criterion as last judged, with its chart (None when there is nothing to draw)."""

    text: str
    role: str
    verdict: str
    reason: str
    shown: str
    chart: Markup | None

    @property
    def tone(self) -> str:
        return VERDICT_TONES.get(self.verdict, "waiting")


@dataclass(frozen=True)
class EndedStage:
    """The stage that ended last (``status`` ``passed`` or ``rolled back``, ``at`` epoch
    seconds), with the criteria and charts of the judgement that ended it."""

    environment: str
    number: int
    name: str
    status: str
    at: float
    criteria: tuple[CriterionCard, ...]

    @property
    def tone(self) -> str:
        return "good" if self.status == "passed" else "bad"


@dataclass(frozen=True)
class VerbButton:
    """An operator verb that applies now; ``allowed`` says whether the viewer's role may use it
    (``refusal`` says why not)."""

    verb: str
    label: str
    hint: str
    allowed: bool
    refusal: str = ""


@dataclass(frozen=True)
class ApprovalAsk:
    """The environment waiting for approval, what it needs, and the viewer's decision so far
    ('' before it)."""

    environment: str
    needs: str
    decided: str
    button_allowed: bool
    refusal: str = ""


@dataclass(frozen=True)
class RolloutPage:
    """Everything the rollout page shows; ``fingerprint`` identifies what it was built from."""

    view: RolloutView
    tone: str
    timeline: tuple[EnvironmentStep, ...]
    criteria: tuple[CriterionCard, ...]
    ended: EndedStage | None
    events: tuple[EventRecord, ...]
    verbs: tuple[VerbButton, ...]
    approval: ApprovalAsk | None
    fingerprint: Fingerprint

    @property
    def status_words(self) -> str:
        return status_words(self.view.status)


@dataclass(frozen=True)
class Fingerprint:
    """What a rollout page was built from: the rollout's ``revision`` (one more per state
    save) and the ``seq`` of its newest audit event (approvals and queued verbs add events
    without a save). Written ``"<revision>.<seq>"``."""

    revision: int
    seq: int

    def __str__(self) -> str:
        return f"{self.revision}.{self.seq}"

    @classmethod
    def parse(cls, text: str) -> Fingerprint | None:
        """The fingerprint written as ``text``; None when it is not one."""
        revision, _, seq = text.partition(".")
        if not (revision.isdigit() and seq.isdigit()):
            return None
        return cls(int(revision), int(seq))

    def now(self, store: Store, rollout_id: str) -> Fingerprint:
        """The rollout's fingerprint now; cheap: one row and the events after ``seq``."""
        revision = store.get_rollout(rollout_id).revision
        newer = store.list_events(rollout_id, after_seq=self.seq)
        return Fingerprint(revision, newer[-1].seq if newer else self.seq)


def _live_status(state: RolloutState) -> Status:
    return (state.paused_from or state.status) if state.status is Status.PAUSED else state.status


def timeline(stored: StoredRollout, state: RolloutState) -> tuple[EnvironmentStep, ...]:
    """Each environment in order with its status, and each stage of the staged ones."""
    plan = stored.plan
    started = state.status not in (Status.PENDING, Status.GATING)
    ended = state.status.terminal
    steps = []
    for index, env in enumerate(plan.environments):
        current = started and index == state.env_index
        if not started or index > state.env_index:
            words, tone = "not started", "idle"
        elif index < state.env_index or state.status is Status.SUCCEEDED:
            words, tone = "deployed and validated", "good"
        else:
            words, tone = status_words(state.status.value), tone_of(state.status.value)
        stages = _stages(plan, stored, state, index) if plan.is_staged(env) else ()
        steps.append(
            EnvironmentStep(
                env.name, words, tone, current and not ended, env.approval.required, stages
            )
        )
    return tuple(steps)


def _stages(
    plan: Plan, stored: StoredRollout, state: RolloutState, env_index: int
) -> tuple[StageStep, ...]:
    env = plan.environments[env_index].name
    live = _live_status(state)
    here = (
        env_index == state.env_index
        and not state.status.terminal
        and live in (Status.RAMPING, Status.OBSERVING)
    )
    steps = []
    for index, stage in enumerate(plan.stages):
        note = stored.shell.stages.get(f"{env}/{index + 1}")
        if note is not None:
            status, reason = note.status, note.reason
        elif here and index == state.stage_index:
            status = "paused" if state.status is Status.PAUSED else "running"
            reason = state.reason
        else:
            status, reason = "not started", ""
        steps.append(
            StageStep(
                index + 1,
                stage.name,
                audience_words(stage.audience),
                stage.duration,
                status,
                reason,
            )
        )
    return tuple(steps)


def criterion_cards(
    criteria: Sequence[CriterionView], series: Sequence[JudgedSeries], prefix: str = "chart"
) -> tuple[CriterionCard, ...]:
    """The criteria of one judgement, each with the chart of the series its verdict rested
    on (none for a criterion that had no data, or a rollout stored without series); chart
    ids are ``<prefix>-<number>``."""
    by_criterion = {kept.criterion: kept for kept in series}
    cards = []
    for number, criterion in enumerate(criteria, start=1):
        kept = by_criterion.get(criterion.text)
        chart = None
        if kept is not None:
            chart = render_chart(
                kept.points(),
                unit=kept.unit,
                title=criterion.text,
                start=kept.start,
                ident=f"{prefix}-{number}",
            )
        cards.append(
            CriterionCard(
                criterion.text,
                criterion.role,
                criterion.verdict,
                criterion.reason,
                criterion.shown,
                chart,
            )
        )
    return tuple(cards)


def ended_stage(stored: StoredRollout) -> EndedStage | None:
    """The stage that ended last with the evidence that ended it; None before any stage
    ended with a judged window (or in a rollout stored before stages kept their evidence)."""
    notes: list[StageNote] = [n for n in stored.shell.stages.values() if n.criteria]
    if not notes:
        return None
    note = max(notes, key=lambda n: n.at)
    cards = criterion_cards(note.criteria, note.series, prefix="ended-chart")
    name = stored.plan.stages[note.stage].name
    return EndedStage(note.environment, note.stage + 1, name, note.status, note.at, cards)


VERB_TEXT = {
    Verb.PAUSE: ("Pause", "Stop where it is; the bake clock stops too."),
    Verb.RESUME: ("Resume", "Carry on from where it was paused."),
    Verb.PROMOTE: ("Promote", "End this bake now and move on."),
    Verb.RETRY: ("Retry", "Run what failed again."),
    Verb.ABORT: ("Abort", "Roll back now."),
}


def verb_buttons(state: RolloutState, viewer: Viewer) -> tuple[VerbButton, ...]:
    """The operator verbs that apply to the rollout now, in a stable order."""
    allowed = viewer.may(OPERATE)
    refusal = "" if allowed else viewer.refusal(OPERATE)
    return tuple(
        VerbButton(verb.value, label, hint, allowed, refusal)
        for verb, (label, hint) in VERB_TEXT.items()
        if verb_problem(state, verb) is None
    )


def approval_ask(
    store: Store, stored: StoredRollout, state: RolloutState, viewer: Viewer
) -> ApprovalAsk | None:
    """The approval the rollout waits for, if it waits for one."""
    if state.status is not Status.AWAITING_APPROVAL:
        return None
    env = stored.plan.environments[state.env_index]
    if not env.approval.required:
        return None
    approval = env.approval
    who = ", ".join(approval.approvers) if approval.approvers else "anyone allowed"
    count = approval.min_approvals
    needs = f"{count} approval{'s' if count != 1 else ''} from {who}"
    if not approval.allow_self_approval:
        needs += f" (not {stored.record.created_by}, who started it)"
    decided = next(
        (
            a.decision.value
            for a in store.list_approvals(stored.record.id, env.name)
            if a.approver == viewer.name
        ),
        "",
    )
    allowed = viewer.may(DECIDE)
    return ApprovalAsk(env.name, needs, decided, allowed, "" if allowed else viewer.refusal(DECIDE))


def rollout_page(store: Store, rollout_id: str, viewer: Viewer, now: float) -> RolloutPage:
    """The rollout page's content; ``NotFound`` for an unknown id."""
    # The revision is read before the events: a change in between shows as a newer fingerprint
    # on the next look, so the page is never left behind.
    stored = load_stored(store.get_rollout(rollout_id))
    state = engine_state(stored)
    view = rollout_status(store, rollout_id, now=now, events=EVENTS_SHOWN)
    seq = view.last_events[-1].seq if view.last_events else 0
    return RolloutPage(
        view=view,
        tone=tone_of(view.status),
        timeline=timeline(stored, state),
        # The verdicts and series of one stored judgement (the view reads the record again).
        criteria=criterion_cards(stored.shell.criteria, stored.shell.series),
        ended=ended_stage(stored),
        events=tuple(reversed(view.last_events)),
        verbs=verb_buttons(state, viewer),
        approval=approval_ask(store, stored, state, viewer),
        fingerprint=Fingerprint(stored.record.revision, seq),
    )


# --------------------------------------------------------------------------- event kinds


@dataclass(frozen=True)
class EventKind:
    """How the event log labels an audit event kind, and its colour family."""

    label: str
    tone: str


_EVENT_KINDS = {
    "rollout.created": EventKind("created", "idle"),
    "rollout.reason": EventKind("decision", "active"),
    "rollout.state": EventKind("status", "active"),
    "action.intent": EventKind("action", "idle"),
    "action.done": EventKind("action done", "good"),
    "action.failed": EventKind("action failed", "bad"),
    "approval": EventKind("approval", "waiting"),
    "command.sign_off": EventKind("sign-off", "waiting"),
    "metrics.problem": EventKind("metrics", "bad"),
}


def event_kind(kind: str) -> EventKind:
    """The label of an audit event kind: ``command.pause`` -> ``pause``, ``action.done`` ->
    ``action done``; unknown kinds show as they are."""
    known = _EVENT_KINDS.get(kind)
    if known is not None:
        return known
    if kind.startswith("command."):
        return EventKind(kind.removeprefix("command."), "waiting")
    return EventKind(kind, "idle")
