"""``rollout demo``: watch a bad release get caught and rolled back, and a good one ship.

Everything runs on this machine (loopback only, SQLite, no other service): the Rollout server
with its controller and dashboard, a sample shop whose checkout has two versions behind the
flag ``new-checkout``, and synthetic shoppers. See :mod:`rollout.demo.run`. Exit code 0 only
when the bad release ended rolled back and the good one succeeded; otherwise 1, with what went
wrong. Heavy imports happen inside the command.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from rollout.cli import app
from rollout.cli._options import FAILURE, fail

INTERRUPTED = 130
"""Exit code of a demo stopped by Ctrl-C or SIGTERM, as a shell reports a SIGINT death."""


@contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """While the demo runs, SIGTERM stops it like Ctrl-C does: everything it started is
    stopped first. The previous handler comes back afterwards."""

    def interrupt(_number: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@app.command(
    help="Watch a bad release get caught and rolled back by itself, then a good one ship.\n\n"
    "Starts the Rollout server (API, controller, dashboard) and a sample shop on loopback "
    "ports, sends shoppers through it, and rolls out examples/demo.yaml twice: release "
    "2.0.0-bad (more failed checkouts, a slower p99, fewer orders), then 2.0.1. About two "
    "minutes; --fast takes under a minute.\n\n"
    "Example: rollout demo --fast --no-live"
)
def demo(
    *,
    fast: Annotated[
        bool,
        typer.Option("--fast", "--short", help="Shorter stages and more traffic (for tests, CI)."),
    ] = False,
    live: Annotated[
        bool | None,
        typer.Option(
            "--live/--no-live",
            help="A live screen, or plain lines. Default: live on a terminal.",
            show_default=False,
        ),
    ] = None,
    keep_running: Annotated[
        bool,
        typer.Option(
            "--keep-running", help="Leave the server up afterwards to browse the dashboard."
        ),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed of the shop's and the shoppers' randomness.")] = 1,
    plan: Annotated[
        Path | None,
        typer.Option(
            metavar="PLAN",
            help="The plan to run. Default: examples/demo.yaml.",
            show_default=False,
        ),
    ] = None,
    workdir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Keep the database and logs here (e.g. .rollout/demo). Default: a temporary "
            "folder, removed afterwards.",
            show_default=False,
        ),
    ] = None,
) -> None:
    from rich.console import Console
    from rich.markdown import Markdown

    from rollout.demo.pace import FAST, STANDARD, default_plan_path
    from rollout.demo.report import render_report
    from rollout.demo.run import Demo, DemoSettings
    from rollout.demo.view import LiveView, LogView, Watcher
    from rollout.errors import PlanError, Problem

    console = Console(highlight=False)
    chosen = plan or default_plan_path()
    if not chosen.is_file():
        raise PlanError(
            [Problem(str(chosen), 0, 0, "", "no such file: pass the demo plan with --plan")]
        )
    interactive = console.is_terminal if live is None else live
    watcher: Watcher = LiveView(console) if interactive else LogView(console)
    settings = DemoSettings(chosen, FAST if fast else STANDARD, seed=seed, workdir=workdir)
    demo_run = Demo(settings, watcher)  # reads the plan: its mistakes stop us here
    try:
        with _sigterm_interrupts(), demo_run as running:
            try:
                report = running.run()
            finally:
                watcher.close()
            if report.document:
                console.rule("The rollout document")
                shown = Markdown(report.document) if interactive else report.document
                console.print(shown, markup=False)
            console.rule("Report")
            console.print(render_report(report))
            if keep_running:
                running.serve_until_interrupted()
    except KeyboardInterrupt:
        fail("Interrupted: the demo stopped everything it had started.", INTERRUPTED)
    if not report.ok:
        kept = "" if workdir else " (run it with --workdir DIR to keep the database and logs)"
        fail("The demo did not go as expected: " + "; ".join(report.problems) + kept, FAILURE)
