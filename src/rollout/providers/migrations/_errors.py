"""Third-party errors told in one line, for the ``MigrationError`` that wraps them."""

from __future__ import annotations

from alembic.util.exc import CommandError
from sqlalchemy.exc import DBAPIError

from rollout.errors import MigrationError


def explain(exc: BaseException) -> str:
    """The first line of what went wrong: the database's own message when there is one.

    A driver error reads ``DuplicateColumn: column "note" of relation "orders" already
    exists``; Alembic's and Rollout's own errors read as their message; anything else as
    ``TypeName: message``.
    """
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = f"{type(exc.orig).__name__}: {exc.orig}"
    elif isinstance(exc, CommandError | MigrationError):
        text = str(exc)
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else type(exc).__name__
