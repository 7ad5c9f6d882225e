"""The options and plumbing the commands share, in one place so that ``--server``,
``--token``, ``--database``, ``--actor`` and ``--json`` read and behave the same wherever they
appear, and a mistake or a failure ends with the same kind of message and exit code.

Where the commands word an option for their own subject (``--actor`` is "who gives the command"
for a rollout but "who makes the change" for a flag), the module builds its alias from the
factory here, so the flag names, environment variables and the rest of the text stay common::

    Actor = Annotated[str | None, actor_option("Who makes the change")]
"""

from __future__ import annotations

import getpass
from typing import Annotated, Any, NoReturn

import typer

from rollout.cli import err_console

USER_MISTAKE = 2
"""Exit code of a user mistake (an unknown id, a bad file, a verb that does not apply now)."""
FAILURE = 1
"""Exit code of a failure that is not the user's (a lost race, an unreachable server)."""

SERVER_ENV = "ROLLOUT_SERVER"
TOKEN_ENV = "ROLLOUT_TOKEN"
ACTOR_ENV = "ROLLOUT_ACTOR"

_DATABASE_DEFAULT = "Default: $ROLLOUT_DATABASE_URL, else .rollout/rollout.db."


def database_option(what: str = "Database URL.") -> Any:
    """``--database URL``, described as ``what`` followed by where the default comes from."""
    return typer.Option(
        "--database", metavar="URL", help=f"{what} {_DATABASE_DEFAULT}", show_default=False
    )


def actor_option(who: str) -> Any:
    """``--actor`` (``$ROLLOUT_ACTOR``); ``who`` says what the actor does, in the command's
    words: ``"Who gives the command"``."""
    return typer.Option(
        "--actor",
        envvar=ACTOR_ENV,
        help=f"{who}, for the audit trail. Default: your login name.",
        show_default=False,
    )


Server = Annotated[
    str | None,
    typer.Option(
        "--server",
        envvar=SERVER_ENV,
        metavar="URL",
        help="Talk to this Rollout server instead of the local database.",
        show_default=False,
    ),
]
Token = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar=TOKEN_ENV,
        metavar="TOKEN",
        help="API token for --server (rollout tokens create). Default: $ROLLOUT_TOKEN.",
        show_default=False,
    ),
]
Database = Annotated[str | None, database_option()]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def fail(message: str, code: int = USER_MISTAKE) -> NoReturn:
    """Print ``message`` on stderr as it is (no markup) and exit with ``code``."""
    err_console.print(message, markup=False)
    raise typer.Exit(code)


def actor_name(actor: str | None) -> str:
    """The actor the audit trail records: ``actor`` when given, else the login name.

    A process without a login (a container without a passwd entry) is recorded as ``cli``
    rather than failing the command."""
    if actor:
        return actor
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "cli"
