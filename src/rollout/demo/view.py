"""What the demo shows while it runs: a Rich live view, or a plain log for non-interactive runs.

Both get the same :class:`Snapshot` a few times a second: the rollout's status view (stage,
audience, each criterion's value and verdict), the audit events new since the last snapshot,
the shoppers' traffic and the notifications received. :class:`LiveView` redraws one screen;
:class:`LogView` prints each new event once, and a traffic line every few seconds.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from rollout.demo.inbox import Message
from rollout.demo.report import Phase, PhaseResult
from rollout.demo.traffic import TrafficSummary
from rollout.engine.controller import RolloutView
from rollout.store import EventRecord

__all__ = ["LiveView", "LogView", "Snapshot", "Watcher"]


@dataclass(frozen=True)
class Snapshot:
    """The demo at one moment of a phase (``elapsed``: seconds since the phase began)."""

    phase: Phase
    phases: int
    elapsed: float
    dashboard_url: str
    view: RolloutView | None
    new_events: tuple[EventRecord, ...]
    traffic: TrafficSummary
    current_release: str
    notifications: tuple[Message, ...]
    flag_percent: float | None = None
    """The share the flag serves the new checkout as stored right now (None: no flag yet)."""


class Watcher(Protocol):
    """Where the demo reports progress."""

    def note(self, text: str) -> None: ...

    def show(self, snapshot: Snapshot) -> None: ...

    def phase_ended(self, result: PhaseResult) -> None: ...

    def close(self) -> None: ...


SHOWN_KINDS = ("rollout.created", "rollout.reason", "metrics.problem", "approval", "command.")
"""Audit events worth a line: decisions and their reasons, operator input, metric trouble.
(Each action's intent and end, and the bare state changes, repeat what the reasons say.)"""


def _worth_showing(event: EventRecord) -> bool:
    return event.kind.startswith(SHOWN_KINDS)


def _style(word: str) -> str:
    if word in ("succeeded", "pass"):
        return "green"
    if word in ("rolled_back", "rollback_failed", "failed", "fail", "error", "rolling_back"):
        return "bold red"
    if word in ("paused", "inconclusive", "awaiting_approval"):
        return "yellow"
    return "cyan"


def _traffic_line(snapshot: Snapshot, *, compact: bool = False) -> Text:
    """Requests per second, shoppers, and per release what the shoppers got (``compact``:
    shoppers and the error share only)."""
    traffic = snapshot.traffic
    line = Text.assemble(
        (f"{traffic.rate:,.0f} req/s", "bold"),
        f" · {len(traffic.users):,} shoppers · ",
    )
    for release in (snapshot.phase.release, snapshot.current_release):
        tally = traffic.of(release)
        share = f"{100.0 * tally.errors / tally.requests:.1f}%" if tally.requests else "—"
        line.append(f"{release}: ", style="bold")
        if compact:
            line.append(f"{len(tally.users):,} shoppers, {share} errors   ")
            continue
        line.append(
            f"{len(tally.users):,} shoppers, {tally.requests:,} answers, "
            f"{tally.errors:,} errors ({share}), {tally.orders:,} orders   "
        )
    return line


def _left(view: RolloutView) -> str:
    if view.time_left is None:
        return "—"
    return f"{view.time_left:.0f} s of {view.waiting_for}"


WIDE = 110
"""Columns from which the live view also shows each criterion's reason."""


def _rollout_panel(
    snapshot: Snapshot, events: list[EventRecord], width: int = WIDE
) -> RenderableType:
    """One screen of the phase: facts, criteria, the last events (one line each: the
    reasons in full are in the log and the report) and notifications."""
    view = snapshot.view
    phase = snapshot.phase
    title = (
        f"Phase {phase.number} of {snapshot.phases}: {phase.title} — release {phase.release}"
        f"  ({snapshot.elapsed:.0f} s)"
    )
    parts: list[RenderableType] = [
        Text.assemble(("Dashboard ", "dim"), snapshot.dashboard_url),
        _traffic_line(snapshot, compact=width < WIDE),
    ]
    if view is None:
        parts.append(Text("Starting the shop and the shoppers…", style="dim"))
        return Panel(Group(*parts), title=title, title_align="left")
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    stage = f"{view.stage} ({view.stage_number} of {view.stage_count})" if view.stage else "—"
    facts.add_row("Rollout", Text.assemble(f"{view.id}  ", (view.status, _style(view.status))))
    facts.add_row("Stage", stage)
    if snapshot.flag_percent is None:
        facts.add_row("Flag", "new-checkout is not created yet")
    else:
        facts.add_row(
            "Flag", f"new-checkout serves {view.version} to {snapshot.flag_percent:g}% of shoppers"
        )
    facts.add_row("Time left", _left(view))
    facts.add_row("Why", Text(view.reason or "—", overflow="fold"))
    if view.metrics_problem:
        facts.add_row("Metrics", Text(view.metrics_problem, style="yellow", overflow="fold"))
    parts.append(facts)
    if view.criteria:
        table = Table(expand=True, show_edge=False, pad_edge=False)
        table.add_column("criterion", no_wrap=True)
        table.add_column("role", no_wrap=True)
        table.add_column("value", no_wrap=True, justify="right")
        table.add_column("verdict", no_wrap=True)
        wide = width >= WIDE
        if wide:
            table.add_column("why", overflow="fold", ratio=1)
        for c in view.criteria:
            cells: list[RenderableType] = [
                escape(c.text),
                c.role,
                c.shown or "—",
                Text(c.verdict, _style(c.verdict)),
            ]
            table.add_row(*cells, *([escape(c.reason)] if wide else []))
        parts.append(table)
    if events:
        log = Table.grid(padding=(0, 1))
        log.add_column(style="dim", no_wrap=True, min_width=8)
        log.add_column(overflow="ellipsis", no_wrap=True)
        for event in events:
            log.add_row(event.at.astimezone().strftime("%H:%M:%S"), escape(event.message))
        parts += [Text("Last events", style="bold"), log]
    if snapshot.notifications:
        parts.append(Text("Notifications", style="bold"))
        parts += [
            Text(f"• {m.text}", overflow="ellipsis", no_wrap=True, style="magenta")
            for m in snapshot.notifications[-2:]
        ]
    return Panel(Group(*parts), title=title, title_align="left")


class LiveView:
    """One screen, redrawn with every snapshot (an interactive terminal)."""

    def __init__(self, console: Console, events: int = 5) -> None:
        self.console = console
        self._events: deque[EventRecord] = deque(maxlen=events)
        self._live: Live | None = None

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def show(self, snapshot: Snapshot) -> None:
        self._events.extend(e for e in snapshot.new_events if _worth_showing(e))
        shown = _rollout_panel(snapshot, list(self._events), self.console.width)
        if self._live is None:
            self._live = Live(shown, console=self.console, auto_refresh=False, transient=False)
            self._live.start()
        else:
            self._live.update(shown, refresh=True)

    def phase_ended(self, result: PhaseResult) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None
        self._events.clear()
        self.console.print(_ending(result))

    def close(self) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None


class LogView:
    """Plain lines: each audit event once, a traffic line every ``every`` seconds."""

    def __init__(self, console: Console, every: float = 5.0) -> None:
        self.console = console
        self.every = every
        self._last_line = 0.0
        self._status = ""

    def note(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False)

    def show(self, snapshot: Snapshot) -> None:
        at = f"[{snapshot.elapsed:5.1f} s]"
        for event in snapshot.new_events:
            if _worth_showing(event):
                self.note(f"{at} {event.message}")
        view = snapshot.view
        if view is not None and view.status != self._status:
            self._status = view.status
            share = "" if snapshot.flag_percent is None else f", flag at {snapshot.flag_percent:g}%"
            self.note(f"{at} rollout {view.id} is {view.status}{share}")
        now = time.monotonic()
        if now - self._last_line >= self.every:
            self._last_line = now
            self.console.print(Text(at + " ") + _traffic_line(snapshot), highlight=False)

    def phase_ended(self, result: PhaseResult) -> None:
        self.console.print(_ending(result))
        self._status = ""

    def close(self) -> None:
        return None


def _ending(result: PhaseResult) -> Text:
    phase = result.phase
    words = result.status or "not started"
    text = Text.assemble(
        (f"Phase {phase.number} ended: {phase.release} ", "bold"), (words, _style(words))
    )
    if result.cause:
        text.append(f" — {result.cause}")
    elif result.reason:
        text.append(f" — {result.reason}")
    if result.problem:
        text.append(f" — problem: {result.problem}", style="bold red")
    return text
