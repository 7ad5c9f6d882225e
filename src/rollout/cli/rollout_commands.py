"""Rollout commands: ``start``, ``status``, ``approve``/``reject``, the operator verbs
(``pause``, ``resume``, ``promote``, ``abort``, ``retry``), ``history`` and ``controller``.

They work on the local database (``--database``, else ``$ROLLOUT_DATABASE_URL``, else
``.rollout/rollout.db``), or with ``--server URL`` and ``--token`` on a Rollout server's API
(:mod:`rollout.cli._remote`; ``controller`` is always local): ``start`` and the verbs record
what was asked, with who asked, and a running ``rollout controller`` carries it out. An
unknown rollout id prints ``no rollout ro_x (see `rollout status`)`` and exits with 2; a verb
that does not apply now says why, exit 2.
Heavy imports happen inside the commands, so other commands start fast.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from rollout.cli import app, err_console
from rollout.cli._options import (
    AsJson,
    Database,
    Server,
    Token,
    actor_name,
    actor_option,
    fail,
)
from rollout.cli._remote import RolloutsClient
from rollout.cli.rollout_display import (
    ENDED,
    event_json,
    event_line,
    rollout_panel,
    rollouts_table,
    show_live,
    status_console,
    view_json,
)

if TYPE_CHECKING:
    from rich.console import RenderableType

    from rollout.engine.controller import RolloutView
    from rollout.plan.render import RolloutProgress
    from rollout.store import Store

Actor = Annotated[str | None, actor_option("Who gives the command")]
RolloutId = Annotated[str, typer.Argument(metavar="ID", help="The rollout's id (ro_...).")]
Comment = Annotated[
    str, typer.Option("--comment", "-m", help="Why, in a few words (kept in the audit trail).")
]


@contextmanager
def _store(database: str | None, rollout_id: str | None = None) -> Iterator[Store]:
    """The store, with an unknown ``rollout_id`` turned into the plain message and exit 2."""
    from rollout.store import open_store

    with open_store(database) as store, _naming_unknown(rollout_id):
        yield store


@contextmanager
def _client(
    server: str, token: str | None, actor: str | None, rollout_id: str | None = None
) -> Iterator[RolloutsClient]:
    """The server's API, with an unknown ``rollout_id`` turned into the plain message."""
    with (
        RolloutsClient(server, token=token, actor=actor_name(actor)) as client,
        _naming_unknown(rollout_id),
    ):
        yield client


@contextmanager
def _naming_unknown(rollout_id: str | None) -> Iterator[None]:
    """Says ``no rollout ID`` (exit 2) when ``rollout_id`` is unknown, locally or on a server
    alike. Without an id the missing thing is something else, so its own message stands."""
    from rollout.errors import NotFound

    try:
        yield
    except NotFound:
        if rollout_id is None:
            raise
        fail(f"no rollout {rollout_id} (see `rollout status`)")


# --------------------------------------------------------------------------- start


@app.command(help="Start a rollout of a plan; a running `rollout controller` carries it out.")
def start(
    plan: Annotated[Path, typer.Argument(metavar="PLAN", help="The plan file (YAML).")],
    *,
    version: Annotated[
        str | None,
        typer.Option(help="The version to roll out. Default: the plan's overview.version."),
    ] = None,
    actor: Actor = None,
    database: Database = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Example: rollout start rollout.yaml --version 2.4.1

    With --server, the plan's relative paths resolve against the server's working directory."""
    from rollout.engine.controller import start_rollout

    if server:
        try:
            text = plan.read_text(encoding="utf-8")
        except OSError as exc:
            fail(f"{plan}: cannot read: {exc.strerror or exc}")
        with _client(server, token, actor) as client:
            view = client.start(text, version)
        rollout_id, name, started = view.id, view.name, view.version
    else:
        with _store(database) as store:
            record = start_rollout(store, plan, version, actor_name(actor))
        rollout_id, name, started = record.id, record.name, record.version
    typer.echo(f"Started rollout {rollout_id} of {name} {started}.")
    err_console.print(
        f"A controller runs it (rollout controller); follow it with: "
        f"rollout status {rollout_id} --watch",
        markup=False,
    )


# --------------------------------------------------------------------------- verbs

OPERATOR_VERBS: tuple[tuple[str, str], ...] = (
    ("pause", "Pause a rollout: the bake clock stops and nothing moves until resume."),
    ("resume", "Resume a paused rollout where it was (past fired triggers, if any)."),
    ("promote", "End the current stage's (or validation's) bake early, unless it fails."),
    ("abort", "Roll back now: the plan's rollback steps run in order."),
    ("retry", "Run again what failed (a gate, a deploy, a check) and carry on."),
)
"""The operator verbs, each a command of the same name: ``(verb, help)``."""


def _add_verb_command(verb: str, help_text: str) -> None:
    """Registers ``rollout VERB ID``, which records ``verb`` for a running controller to apply.

    The command is named after the verb so the command line, the API and the audit trail all
    say the same word; every verb takes the same options and answers the same way."""

    @app.command(verb, help=help_text)
    def send(
        rollout_id: RolloutId,
        *,
        comment: Comment = "",
        actor: Actor = None,
        database: Database = None,
        server: Server = None,
        token: Token = None,
    ) -> None:
        from rollout.engine.controller import send_verb

        if server:
            with _client(server, token, actor, rollout_id) as client:
                who = client.verb(rollout_id, verb, comment).actor
        else:
            who = actor_name(actor)
            with _store(database, rollout_id) as store:
                send_verb(store, rollout_id, verb, who, comment)
        typer.echo(
            f"{verb.capitalize()} of {rollout_id} queued by {who}; the controller applies it."
        )


for _verb, _help in OPERATOR_VERBS:
    _add_verb_command(_verb, _help)


# --------------------------------------------------------------------------- approve, reject

Env = Annotated[
    str | None,
    typer.Option(
        "--env",
        "-e",
        help="The environment decided on. Default: the one the rollout waits for.",
        show_default=False,
    ),
]
Gate = Annotated[
    int | None,
    typer.Option("--gate", metavar="N", help="Sign off manual checklist gate N instead."),
]
Role = Annotated[
    list[str] | None,
    typer.Option(
        "--role",
        envvar="ROLLOUT_ROLES",
        help="A role you hold, for --gate (repeatable; $ROLLOUT_ROLES: comma-separated).",
        show_default=False,
    ),
]


def _add_decision_command(verb: str, *, approve: bool, help_text: str) -> None:
    """Registers ``rollout VERB ID``: ``approve`` (or not) the environment a rollout waits for,
    or with ``--gate N`` sign off (or refuse) a manual checklist gate.

    Approving and rejecting differ only in the answer, so one command body serves both.
    Example: ``rollout approve ro_x8k2 --env production -m "QA signed off"``."""

    @app.command(verb, help=help_text)
    def decide(
        rollout_id: RolloutId,
        *,
        env: Env = None,
        gate: Gate = None,
        role: Role = None,
        comment: Comment = "",
        actor: Actor = None,
        database: Database = None,
        server: Server = None,
        token: Token = None,
    ) -> None:
        from rollout.engine.controller import send_verb, sign_off

        who = actor_name(actor)
        held = tuple(r.strip() for value in role or () for r in value.split(",") if r.strip())
        signed = "signed off" if approve else "refused"
        if server:
            with _client(server, token, actor, rollout_id) as client:
                if gate is not None:
                    who = client.sign_off(rollout_id, gate, held, approve, comment).actor
                    typer.echo(f"{who} {signed} gate {gate} of {rollout_id}.")
                    return
                decision = client.decide(rollout_id, approve, env, comment)
            who, decided = decision.approver, decision.environment
        else:
            with _store(database, rollout_id) as store:
                if gate is not None:
                    sign_off(store, rollout_id, gate, who, held, approve=approve, comment=comment)
                    typer.echo(f"{who} {signed} gate {gate} of {rollout_id}.")
                    return
                record = send_verb(store, rollout_id, verb, who, comment, env)
            decided = str(getattr(record, "environment", env))
        word = "approved" if approve else "rejected"
        typer.echo(f"{who} {word} {decided} for {rollout_id}.")


_add_decision_command(
    "approve",
    approve=True,
    help_text="Approve a rollout's entry into an environment, or sign off a manual gate.",
)
_add_decision_command(
    "reject",
    approve=False,
    help_text="Reject a rollout's entry into an environment (it stops), or refuse a gate.",
)


# --------------------------------------------------------------------------- status, history


@app.command(help="Show a rollout (or, without ID, a table of rollouts).")
def status(
    rollout_id: Annotated[
        str | None, typer.Argument(metavar="[ID]", help="The rollout's id.", show_default=False)
    ] = None,
    *,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Keep it on screen, live.")] = False,
    interval: Annotated[float, typer.Option(min=0.2, help="Seconds between refreshes.")] = 2.0,
    as_json: AsJson = False,
    database: Database = None,
    server: Server = None,
    token: Token = None,
) -> None:
    """Example: rollout status ro_x8k2 --watch"""
    with _views(database, server, token, rollout_id) as (all_views, one_view):

        def screen() -> tuple[RenderableType, bool]:
            if rollout_id is None:
                return rollouts_table(all_views()), False
            view = one_view(rollout_id)
            return rollout_panel(view), view.status in ENDED

        if as_json:
            views = [one_view(rollout_id)] if rollout_id else all_views()
            typer.echo(json.dumps([view_json(v) for v in views], indent=2, ensure_ascii=False))
            return
        console = status_console()
        if not watch:
            console.print(screen()[0])
            return
        show_live(console, screen, interval)


@contextmanager
def _views(
    database: str | None, server: str | None, token: str | None, rollout_id: str | None
) -> Iterator[tuple[Callable[[], list[RolloutView]], Callable[[str], RolloutView]]]:
    """How to read status views: (every rollout's, one rollout's), locally or from a server."""
    if server:
        with _client(server, token, None, rollout_id) as client:
            yield client.views, client.view
        return
    from rollout.engine.controller import list_rollout_status, rollout_status

    with _store(database, rollout_id) as store:
        yield (lambda: list_rollout_status(store)), (lambda rid: rollout_status(store, rid))


@app.command(help="The audit trail of a rollout: every decision, action and command, in order.")
def history(
    rollout_id: RolloutId,
    *,
    as_json: AsJson = False,
    database: Database = None,
    server: Server = None,
    token: Token = None,
) -> None:
    if server:
        with _client(server, token, None, rollout_id) as client:
            trail = client.history(rollout_id)
        events = [event.record() for event in trail.events]
        report = trail.chain.report(rollout_id, rollout_id)
    else:
        with _store(database, rollout_id) as store:
            store.get_rollout(rollout_id)
            events = store.list_events(rollout_id)
            report = store.verify_chain(rollout_id)
    if as_json:
        body = {
            "rollout": rollout_id,
            "intact": report.ok,
            "events": [event_json(e) for e in events],
        }
        typer.echo(json.dumps(body, indent=2, ensure_ascii=False))
        return
    for event in events:
        typer.echo(event_line(event))
    err_console.print(str(report), markup=False)


# --------------------------------------------------------------------------- controller


@app.command(
    help="Run rollouts: lease them, act, judge, move on; several may share PostgreSQL. On "
    "PostgreSQL it listens for stored telemetry (LISTEN rollout_telemetry) and judges "
    "rollback triggers as batches land, not only every --interval."
)
def controller(
    *,
    once: Annotated[
        bool, typer.Option("--once", help="One tick of every rollout, then exit.")
    ] = False,
    interval: Annotated[float, typer.Option(min=0.1, help="Seconds between ticks.")] = 5.0,
    controller_id: Annotated[
        str | None,
        typer.Option("--id", help="This controller's id. Default: hostname-pid-random."),
    ] = None,
    lease_ttl: Annotated[
        float, typer.Option(min=1.0, help="Seconds a lease lasts unless renewed.")
    ] = 30.0,
    max_rollouts: Annotated[
        int, typer.Option(min=1, help="Rollouts this controller holds at a time.")
    ] = 50,
    database: Database = None,
) -> None:
    """Example: rollout controller --database postgresql://rollout@db/rollout"""
    import logging

    from rollout.engine.controller import Controller, wake_on_telemetry
    from rollout.server.feeds import make_feed
    from rollout.server.flag_service import FlagService

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # the store's schema check is routine
    try:
        feed = make_feed(database)
    except ValueError as exc:
        fail(str(exc))
    with _store(database) as store:
        service = FlagService(store)
        # Servers hear of flag changes: PostgreSQL through NOTIFY, Redis through the feed.
        service.add_listener(feed.announce)
        runner = Controller(
            store,
            owner=controller_id,
            lease_ttl=lease_ttl,
            max_rollouts=max_rollouts,
            flag_store=service,
        )
        try:
            if once:
                for report in runner.run_once():
                    stopped = f" (stopped: {report.stopped})" if report.stopped else ""
                    typer.echo(f"{report.rollout_id}: {report.status}{stopped}")
                return
            err_console.print(f"Controller {runner.owner} running; Ctrl-C to stop.", markup=False)
            listener = wake_on_telemetry(runner)
            try:
                runner.run_forever(interval)
            finally:
                if listener is not None:
                    listener.stop()
        finally:
            feed.close()


# --------------------------------------------------------------------------- render


def rollout_progress_for(rollout_id: str, database: str | None) -> RolloutProgress:
    """The progress of ``rollout_id`` for ``rollout render --rollout``; an unknown id exits
    with the plain message and code 2."""
    from rollout.engine.controller import rollout_progress

    with _store(database, rollout_id) as store:
        return rollout_progress(store, rollout_id)
