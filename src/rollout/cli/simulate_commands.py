"""``rollout simulate PLAN --scenario FILE``: a dry run of a plan against synthetic traffic.

One run prints the timeline (the engine's reasons, verbatim), each stage and validation with
how it ended, where the rollout ended and how long it took, and how many users met the new
version while a regression was active. ``--runs N`` repeats it with seeds ``seed`` ...
``seed + N - 1`` and prints a summary. ``--json`` prints the same as JSON.

Exit code 0 when the simulation ran, whatever the rollout's outcome; 2 on a bad plan or
scenario (every problem at its file:line:column), like ``rollout validate``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from rollout.cli import app, err_console

if TYPE_CHECKING:
    from rollout.plan.model import Plan
    from rollout.simulate import RunsSummary, Scenario, SimulationResult

out_console = Console(highlight=False, soft_wrap=True)

_OUTCOME_STYLE = {
    "succeeded": "green",
    "rolled_back": "yellow",
    "rollback_failed": "bold red",
    "failed": "red",
}
_PHASE_STYLE = {"passed": "green", "rolled back": "yellow", "stopped": "red"}


@app.command(
    help="Dry-run a plan against synthetic traffic: the real engine on a fake clock. "
    "The scenario (YAML) sets the traffic, how the current and the new version behave, "
    "regressions starting at given times, and how gates, approvals and checks answer. "
    "Prints when each stage started, passed or rolled back and why, and how many users met "
    "the bad version. Exit code 0 whatever the rollout's outcome; 2 on a bad plan or "
    "scenario.\n\n"
    "Example: rollout simulate rollout.yaml --scenario error-regression.yaml --runs 20"
)
def simulate(
    plan_file: Annotated[Path, typer.Argument(metavar="PLAN", help="The plan file (YAML).")],
    scenario_file: Annotated[
        Path,
        typer.Option(
            "--scenario", "-s", metavar="FILE", help="The scenario file (YAML).", show_default=False
        ),
    ],
    seed: Annotated[
        int | None,
        typer.Option(min=0, help="Random seed. Default: the scenario's.", show_default=False),
    ] = None,
    runs: Annotated[
        int, typer.Option(min=1, max=10_000, help="Repeat with N seeds and summarise.")
    ] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    from rollout.plan.loader import load_plan
    from rollout.simulate import load_scenario, simulate_runs

    plan = load_plan(plan_file)
    scenario = load_scenario(scenario_file, plan)
    if runs == 1:
        summary = simulate_runs(plan, scenario, runs, seed)
    else:
        # Runs of a long plan take seconds each: show how far along they are, on stderr.
        with Progress(
            TextColumn("simulating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=err_console, transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("runs", total=runs)
            summary = simulate_runs(
                plan, scenario, runs, seed, done=lambda _: progress.advance(task)
            )
    head = {
        "plan": str(plan_file),
        "scenario": str(scenario_file),
        "description": scenario.description,
    }
    if runs == 1:
        (result,) = summary.runs
        if as_json:
            typer.echo(json.dumps(head | result.to_json(), indent=2, ensure_ascii=False))
        else:
            _show_run(plan, scenario, scenario_file, result)
        return
    if as_json:
        body = {"summary": summary.to_json(), "runs": [_brief(run) for run in summary.runs]}
        typer.echo(json.dumps(head | body, indent=2, ensure_ascii=False))
    else:
        _show_summary(plan, scenario_file, summary)


# --------------------------------------------------------------------------- one run


def _when(at: float | None) -> str:
    from rollout.engine import seconds

    return "-" if at is None else f"t+{seconds(at)}"


def _title(plan: Plan, scenario_file: Path) -> str:
    version = f" {plan.overview.version}" if plan.overview.version else ""
    return f"[bold]{escape(plan.name)}{escape(version)}[/] against {escape(str(scenario_file))}"


def _show_run(
    plan: Plan, scenario: Scenario, scenario_file: Path, result: SimulationResult
) -> None:
    console = out_console
    console.print(f"Dry run of {_title(plan, scenario_file)}, seed {result.seed}")
    if scenario.description:
        console.print(escape(scenario.description), style="dim")
    console.print()
    timeline = Table(title="Timeline", title_justify="left", box=None, show_header=False)
    timeline.add_column(style="cyan", no_wrap=True)
    timeline.add_column(no_wrap=True)
    timeline.add_column(overflow="fold")
    for event in result.events:
        for number, reason in enumerate(event.reasons):
            first = number == 0
            timeline.add_row(
                _when(event.at) if first else "", event.status.value if first else "", reason
            )
    console.print(timeline)
    console.print()
    if result.phases:
        console.print("[bold]Stages and validations[/]")
        for phase in result.phases:
            style = _PHASE_STYLE.get(phase.end.value, "cyan")
            ended = f" → {_when(phase.ended_at)}" if phase.ended_at is not None else ""
            console.print(
                f" {escape(phase.environment)} · {escape(phase.name)}: "
                f"{_when(phase.started_at)}{ended}, [{style}]{phase.end.value}[/]"
            )
            if phase.end.value != "passed" and phase.reason:
                console.print(f"   {escape(phase.reason)}", style="dim")
        console.print()
    for line in _outcome_lines(result):
        console.print(line)


def _outcome_lines(result: SimulationResult) -> list[str]:
    from rollout.engine import seconds

    style = _OUTCOME_STYLE.get(result.status.value, "cyan")
    ended = "ended" if result.finished else f"still {result.status.value} at the horizon"
    lines = [
        f"Outcome: [{style}]{result.status.value}[/] ({ended} after {seconds(result.duration)})",
        f"  {escape(result.reason)}",
    ]
    if result.rollback_at is not None:
        delay = result.detection_delay
        after_bad = f", {seconds(delay)} after the first bad request" if delay is not None else ""
        lines.append(f"Rollback began at {_when(result.rollback_at)}{after_bad}.")
    if result.bad_from is None:
        lines.append("No request met the new version while a regression was active.")
    else:
        where = ", ".join(
            f"{e.environment} {e.users_bad:,}" for e in result.exposure if e.users_bad
        )
        lines.append(
            f"Users who met the bad version: [bold]{result.users_bad:,}[/] ({where}); "
            f"they saw {result.errors_bad:,} error events on it."
        )
    return lines


# --------------------------------------------------------------------------- many runs


def _brief(run: SimulationResult) -> dict[str, Any]:
    full = run.to_json()
    return {key: value for key, value in full.items() if key not in ("events", "phases")}


def _show_summary(plan: Plan, scenario_file: Path, summary: RunsSummary) -> None:
    from rollout.engine import seconds

    console = out_console
    seeds = [run.seed for run in summary.runs]
    console.print(
        f"{summary.count} dry runs of {_title(plan, scenario_file)}, seeds {seeds[0]}-{seeds[-1]}"
    )
    console.print()
    table = Table(title="Runs", title_justify="left", box=box.SIMPLE_HEAD)
    for name in ("seed", "outcome", "took", "rollback", "bad users", "errors"):
        table.add_column(name, no_wrap=True, justify="left" if name == "outcome" else "right")
    table.add_column("rolled back in", overflow="fold")
    for run in summary.runs:
        phase = run.rolled_back_in
        table.add_row(
            str(run.seed),
            run.status.value,
            seconds(run.duration),
            _when(run.rollback_at),
            f"{run.users_bad:,}",
            f"{run.errors_bad:,}",
            escape(f"{phase.environment} · {phase.name}") if phase is not None else "-",
        )
    console.print(table)
    console.print()
    outcomes = ", ".join(f"{status} {count}" for status, count in summary.outcomes.items())
    console.print(f"Outcomes: {outcomes}")
    console.print(
        f"Rolled back: [bold]{summary.rolled_back_share:.0%}[/] of runs "
        f"({summary.rolled_back} of {summary.count})"
    )
    mean_rollback = summary.mean_time_to_rollback
    if mean_rollback is not None:
        delay = summary.mean_detection_delay
        after_bad = f" ({seconds(delay)} after the first bad request)" if delay is not None else ""
        console.print(f"Mean time to rollback: {_when(mean_rollback)}{after_bad}")
    console.print(f"Mean duration: {seconds(summary.mean_duration)}")
    console.print(
        f"Mean users who met the bad version: [bold]{summary.mean_users_exposed:,.0f}[/]; "
        f"mean error events they saw: {summary.mean_error_events:,.0f}"
    )
