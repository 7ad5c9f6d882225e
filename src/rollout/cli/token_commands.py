"""``rollout tokens``: create, list and revoke the API tokens a server accepts.

Tokens live in the database the server uses (``--database``, else ``$ROLLOUT_DATABASE_URL``,
else ``.rollout/rollout.db``), as SHA-256 hashes only: ``create`` prints the secret once, on
stdout alone (``export ROLLOUT_TOKEN=$(rollout tokens create ci --role deployer)``), and it
cannot be shown again. A token's name is who the audit trail says acted. Creating and revoking
are audited themselves. Roles: see ``rollout tokens create --help``.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from rollout.cli import app, err_console
from rollout.cli._options import AsJson, Database, actor_name, actor_option, fail

NAME_MAX_LENGTH = 200

tokens_app = typer.Typer(
    name="tokens",
    help="API tokens for the server: create, list, revoke.",
    no_args_is_help=True,
)
app.add_typer(tokens_app)

Actor = Annotated[str | None, actor_option("Who does it")]

ROLES_HELP = (
    "admin: everything. deployer: start and steer rollouts, change flags. approver: approve "
    "or reject environments, sign off gates. sdk: read flag config and its stream, report "
    "telemetry. telemetry: report telemetry, read /metrics. Every role but sdk and telemetry "
    "reads rollouts and flags."
)


@tokens_app.command(
    help="Create a token for NAME with a role; prints the secret once (on stdout alone).\n\n"
    + ROLES_HELP
    + "\n\nExample: rollout tokens create deploy-bot --role deployer"
)
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Who uses it (the audit actor).")],
    *,
    role: Annotated[str, typer.Option("--role", "-r", help="The token's role.")],
    actor: Actor = None,
    database: Database = None,
) -> None:
    from rollout.server import parse_role
    from rollout.store import open_store

    try:
        chosen = parse_role(role)
    except ValueError as exc:
        fail(str(exc))
    name = name.strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        fail(f"a token's name has 1 to {NAME_MAX_LENGTH} characters")
    with open_store(database) as store:
        issued = store.create_token(name, chosen.value, actor=actor_name(actor))
    typer.echo(issued.secret)
    err_console.print(
        f"Created token {issued.record.id} for {name} ({chosen.value}). The secret above is "
        "shown only this once: store it now (clients send it as `Authorization: Bearer ...`, "
        "the command line reads $ROLLOUT_TOKEN).",
        markup=False,
    )


@tokens_app.command("list", help="List tokens (never their secrets), oldest first.")
def list_tokens(
    *,
    active: Annotated[bool, typer.Option("--active", help="Only tokens not revoked.")] = False,
    as_json: AsJson = False,
    database: Database = None,
) -> None:
    from rollout.store import open_store

    with open_store(database) as store:
        tokens = store.list_tokens(include_revoked=not active)
    if as_json:
        rows = [
            {
                "id": t.id,
                "name": t.name,
                "role": t.role,
                "created_at": t.created_at.isoformat(),
                "revoked_at": t.revoked_at.isoformat() if t.revoked_at else None,
            }
            for t in tokens
        ]
        typer.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        return
    if not tokens:
        err_console.print("No tokens: create one with `rollout tokens create NAME --role ROLE`.")
        return
    for token in tokens:
        created = token.created_at.isoformat(timespec="seconds")
        state = (
            f"revoked {token.revoked_at.isoformat(timespec='seconds')}"
            if token.revoked_at
            else "active"
        )
        typer.echo(f"{token.id}  {token.name:<20}  {token.role:<9}  {created}  {state}")


@tokens_app.command(
    help="Revoke a token (by id), or every active token of a name; it stops working at once."
)
def revoke(
    token: Annotated[str, typer.Argument(metavar="ID|NAME", help="A token id or a name.")],
    *,
    actor: Actor = None,
    database: Database = None,
) -> None:
    from rollout.store import open_store

    with open_store(database) as store:
        known = store.list_tokens()
        chosen = [t for t in known if t.id == token] or [
            t for t in known if t.name == token and t.active
        ]
        if not chosen:
            fail(f"no token {token!r} (see `rollout tokens list`)")
        for record in chosen:
            revoked = store.revoke_token(record.id, actor=actor_name(actor))
            typer.echo(f"Revoked {revoked.id} ({revoked.name}, {revoked.role}).")
