"""What every migration tool promises: the ``MigrationTool`` protocol and the values it returns.

A migration tool knows a project's chain of schema revisions (oldest first) and moves a
database along it. Revision ids are the tool's own (Alembic: ``"3f2a1c9d0b7e"``); ``None``
stands for *base*, the empty schema before the first revision. Database URLs are SQLAlchemy
URLs, already expanded (no ``${VAR}`` left; see :func:`rollout.providers.migrations.urls.expand`).
Every failure of the tool or the database is a :class:`~rollout.errors.MigrationError` that
names the revision and says what happened.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class Revision:
    """One schema revision of the chain.

    ``parent`` is the revision it builds on (``None`` for the first one). ``message`` is the
    first line of its description. ``has_downgrade`` is False when its downgrade is missing:
    a body of only ``pass`` / ``...`` / ``raise NotImplementedError`` while its upgrade does
    something (a revision that does nothing either way needs no downgrade).

    >>> Revision("3f2a1c", "9b7e00", "add orders.note").label
    '3f2a1c (add orders.note)'
    """

    id: str
    parent: str | None
    message: str = ""
    has_downgrade: bool = True

    @property
    def label(self) -> str:
        """The id and, when there is one, the message: how reports name a revision."""
        return f"{self.id} ({self.message})" if self.message else self.id


def label_of(revision: str | None) -> str:
    """How a revision id reads in a sentence: ``base`` (the empty schema) for ``None``."""
    return "base (the empty schema)" if revision is None else revision


class Verdict(StrEnum):
    """The outcome of one check; always shown with a reason in plain words."""

    PASS = "PASS"
    FAIL = "FAIL"
    SKIPPED = "SKIPPED"
    """Not checked, because an earlier failure left the scratch database in an unknown state."""


@runtime_checkable
class MigrationTool(Protocol):
    """Reads and moves a database along one project's chain of revisions.

    ``upgrade`` and ``downgrade`` are set-to-value: moving a database to where it already is
    does nothing, so a retried action is harmless. They move one revision at a time, each
    committed on its own, so a failure names the revision that failed and the database is left
    at the last revision that succeeded.
    """

    name: str

    def current(self, url: str) -> str | None:
        """The revision ``url``'s database is at; ``None`` when it has none yet (base)."""
        ...

    def head(self) -> str:
        """The newest revision of the chain."""
        ...

    def revision(self, ref: str) -> Revision:
        """The revision ``ref`` names: a full id or an unambiguous prefix of one."""
        ...

    def revisions(self, after: str | None, upto: str | None = None) -> list[Revision]:
        """The revisions after ``after`` up to and including ``upto`` (default: the head),
        oldest first. ``after=None`` starts at the first revision."""
        ...

    def pending(self, url: str) -> list[Revision]:
        """The revisions ``url``'s database has not run yet, oldest first."""
        ...

    def upgrade(self, url: str, target: str) -> None:
        """Run every revision after the database's current one up to ``target``."""
        ...

    def downgrade(self, url: str, target: str | None) -> None:
        """Undo every revision after ``target`` (``None``: all of them), newest first."""
        ...
