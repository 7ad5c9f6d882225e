"""How ``rollout status`` and ``rollout history`` show rollouts: the one-rollout panel, the
table of rollouts, the live ``--watch`` screen, the history lines and the ``--json`` shapes.

The commands (:mod:`rollout.cli.rollout_commands`) read the views and events, locally or from a
server; everything here only renders what they read. Rich loads only when something is shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from rollout.engine.controller import RolloutView
    from rollout.store import EventRecord

ENDED = frozenset({"succeeded", "rolled_back", "rollback_failed", "failed"})
"""The statuses after which a rollout no longer changes: ``--watch`` stops at them."""

Screen = Callable[[], "tuple[RenderableType, bool]"]
"""Draws the screen once: (what to show, whether it will no longer change)."""


def status_console() -> Console:
    """The console ``rollout status`` prints on."""
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=True)
    if not console.is_terminal:  # piped or captured: room for whole cells, not the 80 default
        console = Console(highlight=False, soft_wrap=True, width=max(console.width, 200))
    return console


def show_live(console: Console, screen: Screen, interval: float) -> None:
    """Keep ``screen`` on ``console``, redrawn every ``interval`` seconds, until it says it
    will no longer change or the user presses Ctrl-C."""
    from rich.live import Live

    shown, ended = screen()
    try:
        with Live(shown, console=console, auto_refresh=False) as live:
            while not ended:
                time.sleep(interval)
                shown, ended = screen()
                live.update(shown, refresh=True)
    except KeyboardInterrupt:
        return


def style_of(word: str) -> str:
    """The colour of a status or a verdict: green done well, red failed, yellow held."""
    if word in ("succeeded", "pass"):
        return "green"
    if word in ("rolled_back", "rollback_failed", "failed", "fail", "error"):
        return "bold red"
    if word in ("paused", "rolling_back", "inconclusive", "awaiting_approval"):
        return "yellow"
    return "cyan"


def _time_left(seconds: float | None, what: str) -> str:
    if seconds is None:
        return "—"
    from rollout.plan.durations import format_duration

    return f"{format_duration(float(round(seconds)))} of {what}"


def rollout_panel(view: RolloutView) -> RenderableType:
    """One rollout: where it is, why, its criteria with their verdicts and its last events."""
    from rich.console import Group
    from rich.markup import escape
    from rich.table import Table
    from rich.text import Text

    head = Text.assemble(
        (view.id, "bold"), f"  {view.name} {view.version}  ", (view.status, style_of(view.status))
    )
    facts = Table.grid(padding=(0, 2))
    environment = (
        f"{view.environment} ({view.environment_number} of {view.environment_count})"
        if view.environment
        else "— (checklist)"
    )
    stage = f"{view.stage} ({view.stage_number} of {view.stage_count})" if view.stage else "—"
    for label, value in (
        ("Environment", environment),
        ("Stage", stage),
        ("Audience", f"{view.audience_percent:g}% on {view.version}"),
        ("Time left", _time_left(view.time_left, view.waiting_for)),
        ("Why", view.reason or "—"),
        ("Controller", view.controller or "—"),
    ):
        facts.add_row(Text(label, style="dim"), Text(value))
    if view.metrics_problem:
        facts.add_row(Text("Metrics", style="dim"), Text(view.metrics_problem, style="yellow"))
    parts: list[RenderableType] = [head, facts]
    if view.criteria:
        criteria = Table(title="Criteria", title_justify="left", expand=False)
        for column in ("criterion", "role", "value", "verdict", "why"):
            criteria.add_column(column)
        for c in view.criteria:
            criteria.add_row(
                escape(c.text),
                c.role,
                c.shown or "—",
                Text(c.verdict, style_of(c.verdict)),
                escape(c.reason),
            )
        parts.append(criteria)
    if view.last_events:
        events = Table(title="Last events", title_justify="left", expand=False)
        for column in ("seq", "at", "by", "what"):
            events.add_column(column)
        for e in view.last_events:
            at = e.at.astimezone().strftime("%H:%M:%S")
            events.add_row(str(e.seq), at, escape(e.actor), escape(e.message))
        parts.append(events)
    return Group(*parts)


def rollouts_table(views: list[RolloutView]) -> RenderableType:
    """Every rollout, one row each (or how to start the first)."""
    from rich.table import Table
    from rich.text import Text

    if not views:
        return Text("No rollouts yet: start one with `rollout start PLAN`.")
    table = Table()
    # Ids and statuses are what people act on: never cut them; the other columns fold.
    for column in ("id", "status"):
        width = max(len(column), *(len(getattr(v, column)) for v in views))
        table.add_column(column, no_wrap=True, min_width=width)
    for column in ("plan", "version", "environment", "stage", "audience", "by"):
        table.add_column(column, overflow="fold")
    for v in views:
        table.add_row(
            v.id,
            Text(v.status, style_of(v.status)),
            v.name,
            v.version,
            v.environment or "—",
            v.stage or "—",
            f"{v.audience_percent:g}%",
            v.created_by,
        )
    return table


def event_line(event: EventRecord) -> str:
    """One audit event as a line of ``rollout history``: seq, local time, actor, kind, what."""
    at = event.at.astimezone().isoformat(sep=" ", timespec="seconds")
    return f"{event.seq:>4}  {at}  {event.actor:<16}  {event.kind:<16}  {event.message}"


def view_json(view: RolloutView) -> dict[str, Any]:
    """A rollout's view as ``rollout status --json`` prints it."""
    data = asdict(view)
    data["created_at"] = view.created_at.isoformat()
    data["updated_at"] = view.updated_at.isoformat()
    data["last_events"] = [event_json(e) for e in view.last_events]
    return data


def event_json(event: EventRecord) -> dict[str, Any]:
    """An audit event as ``rollout history --json`` and ``status --json`` print it."""
    return {
        "seq": event.seq,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "kind": event.kind,
        "message": event.message,
        "data": event.data,
        "hash": event.hash,
    }
