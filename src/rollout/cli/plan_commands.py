"""Plan commands: ``init``, ``validate``, ``render`` and ``schema``.

A user mistake (a missing file, an invalid plan, a file that would be overwritten) prints a
plain message and exits with code 2; nothing here ends in a traceback. Documents and schemas go
to stdout byte for byte (no Rich markup is applied to them), messages about them to stderr.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from rollout.cli import app, err_console
from rollout.cli._options import FAILURE, USER_MISTAKE, database_option, fail
from rollout.errors import PlanError, Problem
from rollout.plan.model import Plan

out_console = Console(highlight=False, soft_wrap=True)


class StarterStrategy(StrEnum):
    """The strategies a starter plan exists for."""

    CANARY = "canary"
    BLUE_GREEN = "blue-green"
    ROLLING = "rolling"
    FEATURE_FLAG = "feature-flag"


OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="FILE", help="Write to FILE instead of standard output."
    ),
]


def _command(function: Callable[..., None]) -> Callable[..., None]:
    """Register ``function`` as a command, its docstring paragraphs as the help text.

    Rich help keeps single line breaks, so each paragraph is joined into one line and the
    terminal wraps it.
    """
    paragraphs = inspect.cleandoc(function.__doc__ or "").split("\n\n")
    text = "\n\n".join(" ".join(paragraph.split()) for paragraph in paragraphs)
    return app.command(help=text)(function)


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot write: {exc.strerror or exc}")


def _emit(text: str, output: Path | None, what: str) -> None:
    """``text`` to stdout, or to ``output`` with a one-line note on stderr."""
    if output is None:
        typer.echo(text, nl=False)
        return
    _write(output, text)
    err_console.print(f"Wrote {what} to {output}", markup=False)


# --------------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Checked:
    """The outcome of validating one plan file: the plan, or every problem found."""

    file: str
    plan: Plan | None
    problems: tuple[Problem, ...] = ()

    def summary(self) -> str:
        """``canary, 3 environments, 4 stages`` (for a valid plan)."""
        assert self.plan is not None
        environments = len(self.plan.environments)
        stages = len(self.plan.stages)
        return (
            f"{self.plan.strategy.type}, {environments} environment{'s' * (environments != 1)}, "
            f"{stages} stage{'s' * (stages != 1)}"
        )


def check_plan(path: Path) -> Checked:
    """Load and validate the plan at ``path``; a missing or unreadable file is a problem too."""
    from rollout.plan.loader import load_plan  # YAML and validation load only when used

    try:
        return Checked(str(path), load_plan(path))
    except PlanError as exc:
        return Checked(str(path), None, exc.problems)


def _load_or_fail(path: Path) -> Plan:
    checked = check_plan(path)
    if checked.plan is None:
        fail("\n".join(str(problem) for problem in checked.problems))
    return checked.plan


# --------------------------------------------------------------------------- commands


@_command
def init(
    strategy: Annotated[
        StarterStrategy,
        typer.Option("--strategy", "-s", help="The deployment strategy of the starter plan."),
    ] = StarterStrategy.CANARY,
    output: OutputOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite FILE if it already exists.")
    ] = False,
) -> None:
    """Start a rollout plan from a commented starter for a strategy.

    Every section of the rollout template is there, with comments saying what each setting
    does. Edit it, then check it with `rollout validate`.

    Example: rollout init --strategy blue-green -o rollout.yaml
    """
    try:
        starter = resources.files("rollout.plan").joinpath("starters", f"{strategy.value}.yaml")
        text = starter.read_text(encoding="utf-8")
    except OSError:
        fail(f"error: the {strategy.value} starter plan is missing from this installation", FAILURE)
    if output is not None and output.exists() and not force:
        fail(f"{output} already exists; pass --force to overwrite it")
    _emit(text, output, f"the {strategy.value} starter plan")
    if output is not None:
        err_console.print(f"Next: edit it, then run: rollout validate {output}", markup=False)


@_command
def validate(
    plans: Annotated[
        list[Path],
        typer.Argument(metavar="PLAN", help="One or more plan files (YAML).", show_default=False),
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print the results as JSON (for editors and CI).")
    ] = False,
) -> None:
    """Check rollout plans and report every problem, each at its line and column.

    A valid plan prints one line: ✓ rollout.yaml: valid (canary, 3 environments, 4 stages).
    An invalid one prints each problem as FILE:LINE:COLUMN: PATH: MESSAGE. The exit code is 2
    when any plan is invalid, so the command can gate a CI job.

    Example: rollout validate rollout.yaml
    """
    results = [check_plan(path) for path in plans]
    invalid = [result for result in results if result.plan is None]
    if as_json:
        typer.echo(json.dumps(_as_json(results), indent=2, ensure_ascii=False))
    else:
        for result in results:
            if result.plan is not None:
                out_console.print(f"[green]✓[/] {escape(result.file)}: valid ({result.summary()})")
                continue
            for problem in result.problems:
                out_console.print(str(problem), markup=False)
            count = len(result.problems)
            problems = f"{count} problem{'s' * (count != 1)}"
            out_console.print(f"[red]✗[/] {escape(result.file)}: invalid ({problems})")
    if invalid:
        raise typer.Exit(USER_MISTAKE)


def _as_json(results: list[Checked]) -> dict[str, Any]:
    plans = []
    for result in results:
        entry: dict[str, Any] = {"file": result.file, "valid": result.plan is not None}
        if result.plan is not None:
            entry |= {
                "strategy": result.plan.strategy.type,
                "environments": len(result.plan.environments),
                "stages": len(result.plan.stages),
            }
        entry["problems"] = [
            {
                "file": problem.file,
                "line": problem.line,
                "column": problem.column,
                "path": problem.path,
                "message": problem.message,
            }
            for problem in result.problems
        ]
        plans.append(entry)
    return {"valid": all(entry["valid"] for entry in plans), "plans": plans}


@_command
def render(
    plan: Annotated[Path, typer.Argument(metavar="PLAN", help="The plan file (YAML).")],
    output: OutputOption = None,
    rollout: Annotated[
        str | None,
        typer.Option(
            "--rollout",
            metavar="ID",
            help="Tick the checklist and fill in stage outcomes from this rollout.",
        ),
    ] = None,
    database: Annotated[str | None, database_option("Database of --rollout.")] = None,
) -> None:
    """Write the rollout document (Markdown, in the rollout template's shape) for a plan.

    The document is generated from the plan, so it always says what will actually run.
    Secrets in channels and URLs are masked. With --rollout, it also shows how far that
    rollout got.

    Example: rollout render rollout.yaml -o ROLLOUT.md
    """
    from rollout.plan.render import render_document

    loaded = _load_or_fail(plan)
    if output is not None and output.exists() and output.resolve() == plan.resolve():
        fail(f"{output} is the plan itself; choose another output file")
    progress = None
    if rollout is not None:
        from rollout.cli.rollout_commands import rollout_progress_for

        progress = rollout_progress_for(rollout, database)
    try:
        document = render_document(loaded, progress)
    except ValueError as exc:
        fail(f"rollout {rollout} does not fit {plan}: {exc}")
    _emit(document, output, "the rollout document")


@_command
def schema(output: OutputOption = None) -> None:
    """Print the JSON Schema of a rollout plan, for editor completion and checks.

    Example: rollout schema -o rollout.schema.json, then put the line
    "# yaml-language-server: $schema=rollout.schema.json" at the top of the plan so that
    editors with the YAML language server complete and check every key.
    """
    from rollout.plan.schema import plan_json_schema

    text = json.dumps(plan_json_schema(), indent=2, ensure_ascii=False) + "\n"
    _emit(text, output, "the plan's JSON Schema")
