"""The ``rollout`` command.

One Typer app; each concern registers its commands from its own module (``plan_commands``,
``flag_commands``, ...) so the command line grows without one module growing with it.
User mistakes become a plain message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from rollout import __version__
from rollout.errors import (
    CriterionSyntaxError,
    EngineError,
    FlagError,
    NotFound,
    PlanError,
    RolloutError,
)

USER_MISTAKES = (PlanError, CriterionSyntaxError, FlagError, EngineError, NotFound)

app = typer.Typer(
    name="rollout",
    help="Rollout: a rollout plan that runs itself.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"rollout {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Rollout: a rollout plan that runs itself."""


def _register_commands() -> None:
    # Imported for their side effect of adding commands to ``app``.
    from rollout.cli import (
        audit_commands,  # noqa: F401
        demo_commands,  # noqa: F401
        flag_commands,  # noqa: F401
        plan_commands,  # noqa: F401
        rollout_commands,  # noqa: F401
        server_commands,  # noqa: F401
        simulate_commands,  # noqa: F401
        token_commands,  # noqa: F401
    )


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``rollout`` console script."""
    _register_commands()
    try:
        app(args=argv, prog_name="rollout", standalone_mode=True)
    except USER_MISTAKES as exc:
        err_console.print(str(exc), markup=False)
        sys.exit(2)
    except RolloutError as exc:
        err_console.print(f"error: {exc}", markup=False)
        sys.exit(1)
