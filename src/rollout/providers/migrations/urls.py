"""Database URLs as a plan writes them: ``${VAR}`` references, expanded only when used.

A plan stores ``database_url: ${DATABASE_URL}`` so that no secret sits in the repository.
:func:`expand` fills the references in from the process environment at the moment of use; the
result is handed straight to the database driver and never kept on an object or written down.
:func:`display` is the form for messages: the password masked.

>>> expand("postgresql+psycopg://app:${DB_PASSWORD}@db/shop", {"DB_PASSWORD": "s3cret"})
'postgresql+psycopg://app:s3cret@db/shop'
>>> display("postgresql+psycopg://app:s3cret@db/shop")
'postgresql+psycopg://app:***@db/shop'
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from rollout.errors import MigrationError
from rollout.providers import secrets


def expand(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with every ``${NAME}`` replaced by ``environ[NAME]`` (default: ``os.environ``).

    A reference to an unset variable is a ``MigrationError`` naming the variable (never its
    value); text without references comes back unchanged.
    """
    return expanded(text, environ).text


def expanded(text: str, environ: Mapping[str, str] | None = None) -> secrets.Expanded:
    """:func:`expand`, with the scrubber that masks the values it filled in."""
    try:
        return secrets.expand(text, environ)
    except secrets.MissingVariable as exc:
        names = ", ".join(f"${{{name}}}" for name in exc.names)
        verb = "is" if len(exc.names) == 1 else "are"
        raise MigrationError(
            f"the database URL refers to {names}, which {verb} not set in the environment"
        ) from exc


def parse(url: str) -> URL:
    """``url`` as a SQLAlchemy ``URL``; ``MigrationError`` when it is not a database URL."""
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as exc:
        shown = url if "${" in url else "the URL given"
        raise MigrationError(f"{shown} is not a database URL (dialect+driver://...)") from exc


def display(url: str | URL) -> str:
    """``url`` fit for a message or a log: the password replaced by ``***``."""
    parsed = url if isinstance(url, URL) else parse(url)
    return parsed.render_as_string(hide_password=True)


def is_sqlite(url: str | URL) -> bool:
    """Whether ``url`` is a SQLite database (a file, or ``:memory:``)."""
    parsed = url if isinstance(url, URL) else parse(url)
    return parsed.get_backend_name() == "sqlite"
