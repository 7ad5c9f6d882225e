"""``rollout server``: the flag service (HTTP API, SSE stream, telemetry intake) under uvicorn.

Heavy imports (FastAPI, uvicorn, SQLAlchemy) happen inside the command, so other commands
start fast.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer

from rollout.cli import app, err_console
from rollout.cli._options import FAILURE, database_option, fail

if TYPE_CHECKING:
    from rollout.store import Store


class LogLevel(StrEnum):
    CRITICAL = "critical"
    ERROR = "error"
    WARNING = "warning"
    INFO = "info"
    DEBUG = "debug"


@app.command(
    help="Serve the API, the dashboard, the flag SSE stream and telemetry intake, and run the "
    "controller that carries rollouts out, all in one process.\n\n"
    "Flags live in the database (default: $ROLLOUT_DATABASE_URL, else .rollout/rollout.db). "
    "Several replicas on one PostgreSQL push every change to all their SSE clients through "
    "LISTEN/NOTIFY; set ROLLOUT_FANOUT=redis://... to use Redis pub/sub instead.\n\n"
    "Every request needs an API token (rollout tokens create NAME --role ROLE) unless the "
    "server runs with --no-auth (or ROLLOUT_AUTH=off): only for one person on their own "
    "machine.\n\n"
    "Example: rollout server --port 8000 --database postgresql://rollout@db/rollout"
)
def server(
    *,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port).")] = 8000,
    database: Annotated[
        str | None, database_option("Database URL (sqlite:///path or postgresql://...).")
    ] = None,
    fanout: Annotated[
        str | None,
        typer.Option(
            envvar="ROLLOUT_FANOUT",
            metavar="URL",
            help="redis://... to fan changes out through Redis; 'none' for one process only. "
            "Default: LISTEN/NOTIFY on PostgreSQL.",
            show_default=False,
        ),
    ] = None,
    keepalive: Annotated[
        float, typer.Option(help="Seconds between SSE keep-alive comments.", min=0.1)
    ] = 15.0,
    poll_interval: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds between checks for config versions no notification announced "
            "(changes written to the database by other tools); 0 turns them off.",
        ),
    ] = 5.0,
    log_level: Annotated[LogLevel, typer.Option(help="Log level.")] = LogLevel.INFO,
    controller: Annotated[
        bool,
        typer.Option(
            "--controller/--no-controller",
            help="Run the rollout controller in this process. Turn it off when separate "
            "`rollout controller` processes carry rollouts out.",
        ),
    ] = True,
    controller_interval: Annotated[
        float, typer.Option(min=0.05, help="Seconds between the controller's ticks.")
    ] = 1.0,
    auth: Annotated[
        bool,
        typer.Option(
            "--auth/--no-auth",
            envvar="ROLLOUT_AUTH",
            help="Require an API token on every request. --no-auth (ROLLOUT_AUTH=off) lets "
            "anyone who reaches the port do anything.",
        ),
    ] = True,
) -> None:
    from rollout import __version__
    from rollout.errors import StoreError
    from rollout.server.app import create_app
    from rollout.server.feeds import make_feed
    from rollout.server.run import bind, make_server, url_of
    from rollout.store import open_store

    try:
        feed = make_feed(database, fanout)
    except ValueError as exc:
        fail(str(exc))
    try:
        store = open_store(database)
    except StoreError as exc:
        fail(f"error: cannot open the database: {exc}", FAILURE)
    try:
        try:
            sock = bind(host, port)
        except OSError as exc:
            fail(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", FAILURE)
        application = create_app(
            store,
            feed=feed,
            keepalive_seconds=keepalive,
            poll_seconds=poll_interval,
            auth=auth,
        )
        if controller:
            from rollout.engine.controller import attach_to_server

            attach_to_server(application.state.rollout, interval=controller_interval)
        err_console.print(
            f"Rollout {__version__} serving on {url_of(sock)} "
            f"(database {store.url}, fan-out {feed.name}, "
            f"controller {'on' if controller else 'off'}; dashboard at {url_of(sock)}/)",
            markup=False,
        )
        _say_how_to_authenticate(store, auth)
        make_server(application, log_level=log_level.value, access_log=True).run(sockets=[sock])
    finally:
        store.close()


def _say_how_to_authenticate(store: Store, auth: bool) -> None:
    if not auth:
        err_console.print(
            "Authentication is OFF (--no-auth): anyone who can reach this port can start, "
            "steer and approve rollouts and change flags.",
            markup=False,
        )
    elif not store.list_tokens(include_revoked=False):
        err_console.print(
            "No API tokens yet: create one with `rollout tokens create NAME --role admin`.",
            markup=False,
        )
