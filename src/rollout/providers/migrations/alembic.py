"""The Alembic migration tool, driven through Alembic's Python API.

:class:`AlembicTool` reads the project's ``alembic.ini``; ``script_location``,
``version_locations`` and ``prepend_sys_path`` resolve relative to the file's own directory
(Alembic's command line resolves them against the working directory), so a plan works from
anywhere. The database URL is passed in for each call and set as ``sqlalchemy.url`` on an
in-memory configuration, never written back: the project's ``env.py`` must take its URL from
``config.get_main_option("sqlalchemy.url")``, as Alembic's templates do.

The chain must be linear (one head, no merge revisions): every check here moves one revision at
a time and names the revision that failed. Upgrades and downgrades run one revision per Alembic
command, each committed on its own. Alembic's ``op`` and ``context`` are process-wide proxies,
so commands are serialised by a lock; and an ``env.py`` that calls ``logging.config.fileConfig``
would otherwise silence the host process's loggers, so the logging setup is restored after each
command.

>>> tool = AlembicTool(Path("alembic.ini"))          # doctest: +SKIP
>>> [r.label for r in tool.revisions(after=None)]    # doctest: +SKIP
['1a2b3c4d5e6f (create orders)', '9f8e7d6c5b4a (add orders.note)']
"""

from __future__ import annotations

import ast
import logging
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import Script, ScriptDirectory
from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from rollout.errors import MigrationError
from rollout.providers.migrations._errors import explain
from rollout.providers.migrations.tool import Revision
from rollout.providers.migrations.urls import display, parse

_COMMAND_LOCK = threading.RLock()


class AlembicTool:
    """A :class:`~rollout.providers.migrations.tool.MigrationTool` for one Alembic project.

    ``config_path`` is the project's ``alembic.ini``; ``version_table`` the table Alembic keeps
    the current revision in (Alembic's default unless the project's ``env.py`` changes it).
    Construction reads the chain of revisions and raises ``MigrationError`` when the file is
    missing, has no ``script_location``, or the chain is not linear.
    """

    name = "alembic"

    def __init__(self, config_path: Path, version_table: str = "alembic_version") -> None:
        self.config_path = config_path.resolve()
        self.version_table = version_table
        if not self.config_path.is_file():
            raise MigrationError(f"the Alembic configuration {config_path} does not exist")
        self._options = self._resolved_options()
        self._chain = self._load_chain()
        self._index = {rev.id: i for i, rev in enumerate(self._chain)}

    # ------------------------------------------------------------------ reading the chain

    def head(self) -> str:
        if not self._chain:
            raise MigrationError(f"the Alembic project at {self.config_path} has no revisions")
        return self._chain[-1].id

    def revision(self, ref: str) -> Revision:
        if ref == "head":
            return self._chain[self._index[self.head()]]
        if ref in self._index:
            return self._chain[self._index[ref]]
        matches = [rev for rev in self._chain if rev.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(rev.id for rev in matches)
            raise MigrationError(f"revision {ref!r} is ambiguous: it could be {ids}")
        raise MigrationError(
            f"there is no revision {ref!r} in the Alembic project at {self.config_path}"
        )

    def revisions(self, after: str | None, upto: str | None = None) -> list[Revision]:
        start = self._position(after)
        end = self._position(upto) if upto is not None else len(self._chain) - 1
        return list(self._chain[start + 1 : end + 1])

    def _position(self, ref: str | None) -> int:
        """Index of ``ref`` in the chain; -1 for base."""
        return -1 if ref is None else self._index[self.revision(ref).id]

    # ------------------------------------------------------------------ reading a database

    def current(self, url: str) -> str | None:
        engine = create_engine(parse(url), poolclass=NullPool)
        try:
            with engine.connect() as connection:
                context = MigrationContext.configure(
                    connection, opts={"version_table": self.version_table}
                )
                heads = context.get_current_heads()
        except SQLAlchemyError as exc:
            raise MigrationError(
                f"cannot read the current revision of {display(url)}: {explain(exc)}"
            ) from exc
        finally:
            engine.dispose()
        if len(heads) > 1:
            raise MigrationError(
                f"{display(url)} is at several revisions at once ({', '.join(heads)}); "
                "Rollout handles a linear chain of revisions only"
            )
        if heads and heads[0] not in self._index:
            raise MigrationError(
                f"{display(url)} is at revision {heads[0]}, which the Alembic project at "
                f"{self.config_path} does not know (is the database ahead of this code?)"
            )
        return heads[0] if heads else None

    def pending(self, url: str) -> list[Revision]:
        return self.revisions(self.current(url))

    # ------------------------------------------------------------------ moving a database

    def upgrade(self, url: str, target: str) -> None:
        goal = self.revision(target)
        for rev in self.revisions(self.current(url), goal.id):
            self._run(url, "upgrade", rev.id, rev)

    def downgrade(self, url: str, target: str | None) -> None:
        current = self.current(url)
        end = self._position(target)
        if current is None or self._index[current] <= end:
            return
        for rev in reversed(self._chain[end + 1 : self._index[current] + 1]):
            if not rev.has_downgrade:
                raise MigrationError(
                    f"revision {rev.label} has no downgrade; the database stays at {rev.id}"
                )
            self._run(url, "downgrade", rev.parent or "base", rev)

    def _run(self, url: str, verb: Literal["upgrade", "downgrade"], to: str, rev: Revision) -> None:
        """Run one Alembic command moving the database ``to`` a revision, for ``rev``."""
        step = command.upgrade if verb == "upgrade" else command.downgrade
        with _COMMAND_LOCK, _logging_preserved():
            try:
                step(self._config(url), to)
            except NotImplementedError as exc:
                if verb == "downgrade":
                    raise MigrationError(
                        f"revision {rev.label} has no downgrade (it raises NotImplementedError)"
                    ) from exc
                raise MigrationError(f"{verb} of {rev.label} failed: {explain(exc)}") from exc
            except Exception as exc:  # the project's own code may raise anything
                raise MigrationError(f"{verb} of {rev.label} failed: {explain(exc)}") from exc

    # ------------------------------------------------------------------ configuration

    def _config(self, url: str | None = None) -> Config:
        config = Config(str(self.config_path))
        for key, value in self._options.items():
            config.set_main_option(key, _escaped(value))
        if url is not None:
            config.set_main_option("sqlalchemy.url", _escaped(url))
        return config

    def _resolved_options(self) -> dict[str, str]:
        """``script_location`` and friends made absolute against the ini file's directory."""
        config = Config(str(self.config_path))
        here = self.config_path.parent
        try:
            location = config.get_main_option("script_location")
            versions = config.get_version_locations_list() or []
            sys_paths = config.get_prepend_sys_paths_list() or []
        except Exception as exc:  # configparser errors in the user's file
            raise MigrationError(f"cannot read {self.config_path}: {explain(exc)}") from exc
        if not location:
            raise MigrationError(f"{self.config_path} has no script_location in [alembic]")
        options = {"script_location": _located(here, location, self.config_path)}
        if versions:
            options["path_separator"] = "os"
            options["version_locations"] = os.pathsep.join(str(here / v) for v in versions)
        for entry in (str(here / p) for p in sys_paths):
            # Added once here rather than by Alembic on every command.
            if entry not in sys.path:
                sys.path.insert(0, entry)
        options["prepend_sys_path"] = ""
        return options

    def _load_chain(self) -> list[Revision]:
        try:
            with _logging_preserved():
                script = ScriptDirectory.from_config(self._config())
                heads = script.get_heads()
                chain: list[Revision] = []
                node = script.get_revision(heads[0]) if len(heads) == 1 else None
                while node is not None:
                    chain.append(_revision(node))
                    down = node.down_revision
                    node = script.get_revision(down) if isinstance(down, str) else None
        except Exception as exc:  # broken revision files raise whatever they raise
            raise MigrationError(
                f"cannot read the revisions of the Alembic project at {self.config_path}: "
                f"{explain(exc)}"
            ) from exc
        if len(heads) > 1:
            raise MigrationError(
                f"the Alembic project at {self.config_path} has several heads "
                f"({', '.join(sorted(heads))}); merge them, Rollout handles a linear chain only"
            )
        return list(reversed(chain))


def _located(here: Path, location: str, config_path: Path) -> str:
    path = Path(location)
    if path.is_absolute():
        return location
    if (here / path).exists():
        return str(here / path)
    if ":" in location:  # a package resource, "myapp:migrations"
        return location
    raise MigrationError(
        f"script_location {location!r} of {config_path} does not exist (relative paths are "
        f"read from the directory of the file, {here})"
    )


def _escaped(value: str) -> str:
    # Config values go through configparser interpolation, where % starts a reference.
    return value.replace("%", "%%")


def _revision(script: Script) -> Revision:
    down = script.down_revision
    if isinstance(down, tuple | list):
        raise MigrationError(
            f"revision {script.revision} merges {', '.join(down)}; Rollout handles a linear "
            "chain of revisions only"
        )
    message = script.doc.strip().splitlines()[0] if script.doc.strip() else ""
    return Revision(
        id=script.revision,
        parent=down,
        message=message,
        has_downgrade=not _downgrade_missing(Path(script.path)),
    )


def _downgrade_missing(path: Path) -> bool:
    """Whether the revision file's ``downgrade()`` does nothing while its ``upgrade()`` does
    something. "Does nothing": only ``pass``, ``...``, a docstring, or ``raise
    NotImplementedError``."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return False  # Alembic loaded it; let the run itself tell what is wrong
    bodies = {
        node.name: node.body
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name in {"upgrade", "downgrade"}
    }
    downgrade, upgrade = bodies.get("downgrade"), bodies.get("upgrade")
    if downgrade is None:
        return True
    if any(_raises_not_implemented(stmt) for stmt in downgrade):
        return True
    return _empty(downgrade) and upgrade is not None and not _empty(upgrade)


def _empty(body: list[ast.stmt]) -> bool:
    return all(
        isinstance(stmt, ast.Pass)
        or (isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant))
        for stmt in body
    )


def _raises_not_implemented(stmt: ast.stmt) -> bool:
    if not isinstance(stmt, ast.Raise) or stmt.exc is None:
        return False
    target = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
    return isinstance(target, ast.Name) and target.id == "NotImplementedError"


@contextmanager
def _logging_preserved() -> Iterator[None]:
    """Put the logging setup back as it was: ``env.py`` commonly calls ``fileConfig``, which
    replaces the root handlers and disables every logger the ini file does not name."""
    manager = logging.root.manager
    saved = {
        name: (logger.level, list(logger.handlers), logger.disabled, logger.propagate)
        for name, logger in manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
    }
    root = (logging.root.level, list(logging.root.handlers))
    try:
        yield
    finally:
        logging.root.setLevel(root[0])
        logging.root.handlers[:] = root[1]
        for name, logger in list(manager.loggerDict.items()):
            if not isinstance(logger, logging.Logger):
                continue
            if name in saved:
                level, handlers, disabled, propagate = saved[name]
            else:  # created by the file: leave it to propagate like any fresh logger
                level, handlers, disabled, propagate = logging.NOTSET, [], False, True
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.disabled = disabled
            logger.propagate = propagate


__all__ = ["AlembicTool"]
