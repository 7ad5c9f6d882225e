"""What the demo showed, in numbers: one :class:`PhaseResult` per release, and the report.

Every figure comes from what happened: the shoppers' own tally of the answers they got
(:class:`~rollout.demo.traffic.TrafficSummary`), the SDK telemetry the server stored, and the
rollout's audit trail. Times are epoch seconds.

Worked example of the headline numbers: the bad release was first served at 12:00:03.1; the
controller decided to roll back at 12:00:17.6 (14.5 s later) and the flag was back at 0 % at
12:00:17.8; 98 of the 1,210 shoppers who visited met it, and 14 of its 279 answers were
errors (5.0 %) against 31 of 3,080 (1.0 %) for the current checkout over the same time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from rollout.demo.behaviour import Quality
from rollout.demo.inbox import Message
from rollout.demo.traffic import ReleaseTally, TrafficSummary

__all__ = ["ArmTelemetry", "DemoReport", "Phase", "PhaseResult", "render_report"]


@dataclass(frozen=True)
class Phase:
    """One release the demo rolls out: ``expected`` is the status it must end in."""

    number: int
    title: str
    release: str
    quality: Quality
    expected: str


@dataclass(frozen=True)
class ArmTelemetry:
    """What the SDK reported for one flag arm over a phase: requests and failed ones."""

    variant: str
    requests: int = 0
    errors: int = 0


@dataclass(frozen=True)
class PhaseResult:
    """How one phase went.

    ``status`` is the rollout's final status ('' if it never started), ``reason`` its last
    reason and ``cause`` why it rolled back ('' when it did not); ``decided_at`` is when the
    controller decided to roll back (or the rollout succeeded) and ``finished_at`` when it
    ended; ``problem`` says what went wrong with the phase itself ('' when it went as
    expected).
    """

    phase: Phase
    rollout_id: str
    status: str
    reason: str
    cause: str
    started_at: float
    ended_at: float
    decided_at: float | None
    finished_at: float | None
    traffic: TrafficSummary
    current_release: str
    telemetry: tuple[ArmTelemetry, ...] = ()
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem and self.status == self.phase.expected

    @property
    def new(self) -> ReleaseTally:
        """What the shoppers got from the release rolled out."""
        return self.traffic.of(self.phase.release)

    @property
    def current(self) -> ReleaseTally:
        """What the shoppers got from the current checkout."""
        return self.traffic.of(self.current_release)

    @property
    def exposure_to_decision(self) -> float | None:
        """Seconds from the new release's first answer to a shopper to the controller's
        decision (None when either did not happen)."""
        first = self.new.first_seen
        if first is None or self.decided_at is None:
            return None
        return self.decided_at - first


@dataclass(frozen=True)
class DemoReport:
    """The whole demo: its phases, the rollout document of the last rollout that succeeded
    (Markdown), the dashboard's address, and the notifications the team received."""

    phases: tuple[PhaseResult, ...]
    document: str
    dashboard_url: str
    notifications: tuple[Message, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return bool(self.phases) and all(p.ok for p in self.phases)

    @property
    def problems(self) -> list[str]:
        found = []
        for result in self.phases:
            if result.problem:
                found.append(f"phase {result.phase.number}: {result.problem}")
            elif result.status != result.phase.expected:
                found.append(
                    f"phase {result.phase.number}: {result.phase.release} ended "
                    f"{result.status or 'without a rollout'}, not {result.phase.expected}: "
                    f"{result.reason}"
                )
        return found


# --------------------------------------------------------------------------- rendering


def _share(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f}%" if whole else "—"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f} s"


def _errors(tally: ReleaseTally) -> str:
    return (
        f"{tally.errors:,} of {tally.requests:,} answers ({_share(tally.errors, tally.requests)})"
    )


def _status_style(status: str) -> str:
    if status == "succeeded":
        return "bold green"
    if status == "rolled_back":
        return "bold yellow"
    return "bold red"


def _phase_table(result: PhaseResult, total_users: int) -> Table:
    phase = result.phase
    table = Table.grid(padding=(0, 2))
    table.add_column(style="dim", no_wrap=True)
    table.add_column()
    new, current = result.new, result.current
    table.add_row("Rollout", f"{result.rollout_id or '—'} ({result.traffic.requests:,} requests)")
    table.add_row(
        "Shoppers",
        f"{len(new.users):,} of {total_users:,} shoppers met {phase.release} "
        f"({_share(len(new.users), total_users)})",
    )
    table.add_row(f"Errors, {phase.release}", _errors(new))
    table.add_row(f"Errors, {result.current_release}", _errors(current))
    for arm in result.telemetry:
        table.add_row(
            f"SDK telemetry, {arm.variant}",
            f"{arm.errors:,} failed of {arm.requests:,} checkout requests "
            f"({_share(arm.errors, arm.requests)})",
        )
    table.add_row(
        "Orders",
        f"{phase.release}: {new.orders:,} placed, {new.declined:,} declined; "
        f"{result.current_release}: {current.orders:,} placed, {current.declined:,} declined",
    )
    if phase.expected == "rolled_back":
        table.add_row(
            "Caught",
            f"{_seconds(result.exposure_to_decision)} from its first exposure to the rollback "
            "decision"
            + (
                f"; everyone back on {result.current_release} "
                f"{_seconds(result.finished_at - result.decided_at)} later"
                if result.finished_at is not None and result.decided_at is not None
                else ""
            ),
        )
        if new.last_seen is not None and result.decided_at is not None:
            table.add_row(
                "Last served",
                f"{phase.release} answered its last shopper "
                f"{_seconds(new.last_seen - result.decided_at)} after the decision",
            )
    return table


def render_report(report: DemoReport) -> RenderableType:
    """The report as Rich renderables: one block per phase, then the verdict."""
    parts: list[RenderableType] = [Text("Demo report", style="bold underline")]
    for result in report.phases:
        phase = result.phase
        head = Text.assemble(
            (f"Phase {phase.number}: ", "bold"),
            (f"{phase.release} ", "bold"),
            (result.status or "not started", _status_style(result.status)),
            f"  (expected {phase.expected})",
        )
        parts += [Text(""), head]
        if result.cause:
            parts.append(Text.assemble(("Rolled back because: ", "bold"), result.cause))
        elif result.reason:
            parts.append(Text.assemble(("Outcome: ", "bold"), result.reason))
        if result.problem:
            parts.append(Text(f"Problem: {result.problem}", style="bold red"))
        parts.append(_phase_table(result, len(result.traffic.users)))
    if report.notifications:
        parts += [Text(""), Text("Notifications the team received", style="bold")]
        parts += [Text(f"  • {escape(m.text)}", overflow="fold") for m in report.notifications]
    parts.append(Text(""))
    if report.ok:
        parts.append(
            Text(
                "Demo passed: the bad release was rolled back by itself and the good one shipped.",
                style="bold green",
            )
        )
    else:
        parts.append(Text("Demo FAILED:", style="bold red"))
        parts += [Text(f"  • {problem}") for problem in report.problems]
    return Group(*parts)
