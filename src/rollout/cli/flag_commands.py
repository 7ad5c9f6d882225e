"""``rollout flags``: list, get, set, rollout, kill, revive, delete and history of flags.

With ``--server URL`` (or ``$ROLLOUT_SERVER``) the commands call that server's API, presenting
``--token`` (or ``$ROLLOUT_TOKEN``); without,
they open the local store directly (``--database``, else ``$ROLLOUT_DATABASE_URL``, else
``.rollout/rollout.db``). Both ways go through the same write path (validation, versioning,
audit trail, fan-out to SSE clients), so they behave alike: a bad definition prints each problem
as ``field: message`` and exits with 2; a missing flag exits with 2; a lost ``--if-version``
race or an unreachable server exits with 1.

Heavy imports (HTTP client, database) happen inside the commands, so other commands start fast.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from rollout.cli import app, err_console
from rollout.cli._options import (
    FAILURE,
    AsJson,
    Server,
    Token,
    actor_name,
    actor_option,
    database_option,
    fail,
)
from rollout.cli._remote import flags_client

if TYPE_CHECKING:
    from rollout.flags import Flag, Serve
    from rollout.server.flag_service import FlagsAPI
    from rollout.store import DefinitionChange, FlagRecord

flags_app = typer.Typer(
    name="flags",
    help="Feature flags: list, inspect, define, ramp, kill and audit them.",
    no_args_is_help=True,
)
app.add_typer(flags_app)

Env = Annotated[
    str,
    typer.Option("--env", "-e", envvar="ROLLOUT_ENV", help="The environment of the flag."),
]
Database = Annotated[str | None, database_option("Local database URL (without --server).")]
Actor = Annotated[str | None, actor_option("Who makes the change")]
IfVersion = Annotated[
    int | None,
    typer.Option(
        "--if-version",
        metavar="N",
        min=0,
        help="Change it only if it is at version N (0: only if it does not exist yet).",
        show_default=False,
    ),
]
Key = Annotated[str, typer.Argument(metavar="KEY", help="The flag's key.", show_default=False)]


# --------------------------------------------------------------------------- plumbing


@contextmanager
def _flags_api(
    server: str | None, database: str | None, token: str | None = None
) -> Iterator[FlagsAPI]:
    """The server's API with ``server``, else the local store's :class:`FlagService`, with
    every error turned into a message and an exit code."""
    from pydantic import ValidationError

    from rollout.errors import FlagError, NotFound, RolloutError

    try:
        with _open(server, database, token) as api:
            yield api
    except FlagError as exc:
        from rollout.server.problems import problems_of

        fail("\n".join(str(problem) for problem in problems_of(exc)))
    except ValidationError as exc:  # an answer from the server this client cannot read
        fail(f"error: unexpected answer: {exc}", FAILURE)
    except NotFound as exc:
        fail(str(exc))
    except RolloutError as exc:  # a lost --if-version race (Conflict) too
        fail(f"error: {exc}", FAILURE)


@contextmanager
def _open(server: str | None, database: str | None, token: str | None) -> Iterator[FlagsAPI]:
    if server:
        with flags_client(server, token) as client:
            yield client
        return

    from rollout.server.feeds import make_feed
    from rollout.server.flag_service import FlagService
    from rollout.store import open_store

    try:
        feed = make_feed(database)
    except ValueError as exc:
        fail(str(exc))
    with open_store(database) as store:
        service = FlagService(store)
        # Tells running servers (Redis fan-out); PostgreSQL is told by the store itself.
        service.add_listener(feed.announce)
        try:
            yield service
        finally:
            feed.close()


def _percent(value: float) -> str:
    return f"{value:.3f}".rstrip("0").rstrip(".") + "%"


def _serves(serve: Serve) -> str:
    """``'on'`` or ``on 25% / off 75%``."""
    if serve.variant is not None:
        return repr(serve.variant)
    return " / ".join(f"{name} {_percent(weight / 1000)}" for name, weight in serve.weights())


def describe(flag: Flag) -> str:
    """One line on what a flag serves: ``on; 1 rule; then on 25% / off 75%``."""
    if not flag.on:
        served = repr(flag.off_variant) if flag.off_variant else "the caller's default"
        return f"killed: serves {served} to everyone"
    rules = f"{len(flag.rules)} rule{'s' * (len(flag.rules) != 1)}; then " if flag.rules else ""
    return f"on; {rules}{_serves(flag.fallthrough)}"


def _flag_of(record: FlagRecord) -> Flag:
    from rollout.flags import Flag

    return Flag.model_validate(record.definition)


def _done(verb: str, record: FlagRecord) -> None:
    typer.echo(
        f"{verb} {record.key} in {record.environment} (version {record.version}): "
        f"{describe(_flag_of(record))}"
    )


def _record_json(record: FlagRecord) -> dict[str, Any]:
    return {
        "environment": record.environment,
        "key": record.key,
        "version": record.version,
        "updated_at": record.updated_at.isoformat(),
        "updated_by": record.updated_by,
        "definition": record.definition,
    }


def _change_json(change: DefinitionChange) -> dict[str, Any]:
    return {
        "version": change.version,
        "change": change.change,
        "actor": change.actor,
        "at": change.at.isoformat(),
        "definition": change.definition,
        "diff": list(change.diff),
    }


def _read_definition(path: Path) -> Mapping[str, Any]:
    """A flag definition from a JSON or YAML file (by extension; else JSON, then YAML)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")
    suffix = path.suffix.lower()
    data: Any = None
    if suffix not in {".yaml", ".yml"}:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            if suffix == ".json":
                fail(f"{path}:{exc.lineno}:{exc.colno}: not valid JSON: {exc.msg}")
    if data is None:
        data = _load_yaml(path, text)
    if not isinstance(data, dict):
        fail(f"{path}: a flag definition is a mapping (JSON object), not {type(data).__name__}")
    return data


def _load_yaml(path: Path, text: str) -> Any:
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)
        fail(f"{where}: not valid YAML: {exc.problem or exc}")
    except YAMLError as exc:
        fail(f"{path}: not valid YAML: {exc}")


# --------------------------------------------------------------------------- commands


@flags_app.command("list", help="List the flags of an environment and what each serves.")
def list_flags(
    *,
    env: Env = "production",
    server: Server = None,
    token: Token = None,
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    with _flags_api(server, database, token) as api:
        records = api.list_flags(env)
    if as_json:
        typer.echo(json.dumps([_record_json(r) for r in records], indent=2, ensure_ascii=False))
        return
    if not records:
        err_console.print(f"No flags in {env}.", markup=False)
        return
    rows = [(r.key, f"v{r.version}", r.updated_by, describe(_flag_of(r))) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    for row in rows:
        typer.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
            + "  "
            + row[3]
        )


@flags_app.command(
    help="Print a flag's definition as JSON (its version and author go to stderr). "
    "Edit it and feed it back with: rollout flags set KEY --file FILE."
)
def get(
    *,
    key: Key,
    env: Env = "production",
    server: Server = None,
    token: Token = None,
    database: Database = None,
) -> None:
    with _flags_api(server, database, token) as api:
        record = api.get_flag(env, key)
    err_console.print(
        f"{key} in {env}: version {record.version}, by {record.updated_by} "
        f"at {record.updated_at.isoformat(timespec='seconds')}",
        markup=False,
    )
    typer.echo(json.dumps(record.definition, indent=2, ensure_ascii=False))


@flags_app.command(
    "set",
    help="Create or replace a flag: from a JSON or YAML file, or a boolean flag from options."
    "\n\nInline, the flag serves 'on' to --percent % of subjects and 'off' to the rest "
    "(replacing any rules). To change only the percentage of an existing flag, use "
    "'rollout flags rollout'.\n\n"
    "Examples: rollout flags set new-checkout --percent 5;  "
    "rollout flags set new-checkout --file new-checkout.yaml",
)
def set_flag(
    *,
    key: Key,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            "-f",
            metavar="FILE",
            help="The definition (JSON or YAML).",
            show_default=False,
        ),
    ] = None,
    percent: Annotated[
        float | None,
        typer.Option(
            "--percent",
            "-p",
            help="Inline: the share of subjects served 'on' (0..100). Default 0.",
            show_default=False,
        ),
    ] = None,
    on: Annotated[
        bool | None,
        typer.Option(
            "--on/--off", help="Inline: switched on (default) or killed.", show_default=False
        ),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", "-d", help="Inline: what the flag is for.")
    ] = None,
    env: Env = "production",
    server: Server = None,
    token: Token = None,
    database: Database = None,
    actor: Actor = None,
    if_version: IfVersion = None,
) -> None:
    definition: dict[str, Any]
    if file is not None:
        if percent is not None or on is not None or description is not None:
            fail("give either --file or the inline options (--percent, --on/--off, --description)")
        definition = dict(_read_definition(file))
    else:
        definition = {
            "description": description or "",
            "on": True if on is None else on,
            "fallthrough": {
                "rollout": {
                    "variant": "on",
                    "percent": 0.0 if percent is None else percent,
                    "rest": "off",
                }
            },
        }
    with _flags_api(server, database, token) as api:
        record = api.put_flag(env, key, definition, actor_name(actor), if_version)
    _done("Set", record)


@flags_app.command(
    help="Serve the flag's treatment to PERCENT % of subjects (0.001 % steps).\n\n"
    "Raising the percentage keeps everyone who already had the treatment; 0 removes everyone. "
    "A boolean flag's treatment is its true variant; name them for other flags.\n\n"
    "Example: rollout flags rollout new-checkout 25"
)
def rollout(
    *,
    key: Key,
    percent: Annotated[float, typer.Argument(metavar="PERCENT", help="0..100", show_default=False)],
    treatment: Annotated[
        str | None,
        typer.Option(
            help="The variant the PERCENT get (default: the current one).", show_default=False
        ),
    ] = None,
    rest: Annotated[
        str | None,
        typer.Option(
            help="The variant everyone else gets (default: the current one).", show_default=False
        ),
    ] = None,
    env: Env = "production",
    server: Server = None,
    token: Token = None,
    database: Database = None,
    actor: Actor = None,
    if_version: IfVersion = None,
) -> None:
    with _flags_api(server, database, token) as api:
        record = api.set_rollout(
            env,
            key,
            percent,
            actor_name(actor),
            treatment=treatment,
            rest=rest,
            expected_version=if_version,
        )
    _done("Rolled out", record)


def _add_switch_command(name: str, on: bool, done: str, help_text: str) -> None:
    """Registers ``rollout flags NAME KEY``, which switches the flag ``on`` or off."""

    @flags_app.command(name, help=help_text)
    def switch(
        *,
        key: Key,
        env: Env = "production",
        server: Server = None,
        token: Token = None,
        database: Database = None,
        actor: Actor = None,
        if_version: IfVersion = None,
    ) -> None:
        with _flags_api(server, database, token) as api:
            record = api.set_enabled(env, key, on, actor_name(actor), expected_version=if_version)
        _done(done, record)


_add_switch_command(
    "kill",
    on=False,
    done="Killed",
    help_text="Kill switch: serve the flag's off variant to everyone, at once.",
)
_add_switch_command(
    "revive",
    on=True,
    done="Revived",
    help_text="Switch a killed flag back on: its rules and rollout apply again.",
)


@flags_app.command(help="Delete a flag (its history stays). SDKs then serve their defaults.")
def delete(
    *,
    key: Key,
    env: Env = "production",
    server: Server = None,
    token: Token = None,
    database: Database = None,
    actor: Actor = None,
    if_version: IfVersion = None,
) -> None:
    with _flags_api(server, database, token) as api:
        change = api.delete_flag(env, key, actor_name(actor), if_version)
    typer.echo(f"Deleted {key} in {env} (version {change.version})")


@flags_app.command(help="Every version of a flag: who changed what, when.")
def history(
    *,
    key: Key,
    env: Env = "production",
    server: Server = None,
    token: Token = None,
    database: Database = None,
    as_json: AsJson = False,
) -> None:
    with _flags_api(server, database, token) as api:
        changes = api.flag_history(env, key)
    if as_json:
        typer.echo(json.dumps([_change_json(c) for c in changes], indent=2, ensure_ascii=False))
        return
    for change in changes:
        when = change.at.isoformat(timespec="seconds")
        typer.echo(f"v{change.version}  {when}  {change.actor}  {change.change}")
        if change.change == "updated":
            for entry in change.diff:
                typer.echo(f"    {_diff_line(entry)}")


def _diff_line(entry: Mapping[str, Any]) -> str:
    """``/fallthrough/rollout/percent: 10.0 -> 25.0`` (``(none)`` for an added/removed leaf)."""

    def shown(name: str) -> str:
        if name not in entry:
            return "(none)"
        return json.dumps(entry[name], ensure_ascii=False)

    return f"{entry.get('path', '')}: {shown('old')} -> {shown('new')}"
