"""``rollout audit verify``: re-check the audit trail's hash chains.

Every audit event is hashed with the hash of the event before it (see
:mod:`rollout.store.events`), so an edited event, a deleted one or a rewritten end of a chain
shows. ``rollout audit verify ID`` checks one rollout's chain; ``--all`` checks every chain,
the global one (flag changes, tokens) first. Each chain gets one line on stdout; the exit code
is 0 when all are intact, 1 when one is not (the first bad event is described on stderr), and 2
for a mistake in the command (an unknown rollout).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from rollout.cli import app, err_console
from rollout.cli._options import FAILURE, Database, fail

if TYPE_CHECKING:
    from rollout.store import ChainReport, Store

TAMPERED = FAILURE
"""Exit code when a chain is broken: the trail is at fault, not the command."""

audit_app = typer.Typer(
    name="audit", help="The audit trail: check that nobody changed it.", no_args_is_help=True
)
app.add_typer(audit_app)


@audit_app.command(
    help="Re-check the hash chain of a rollout (or, with --all, of every rollout and the global "
    "chain); exits 1 and names the first bad event when one was edited, deleted or inserted.\n\n"
    "Example: rollout audit verify --all"
)
def verify(
    rollout_id: Annotated[
        str | None,
        typer.Argument(metavar="[ROLLOUT_ID]", help="The rollout's id.", show_default=False),
    ] = None,
    *,
    every: Annotated[bool, typer.Option("--all", help="Every chain, global first.")] = False,
    database: Database = None,
) -> None:
    from rollout.errors import NotFound
    from rollout.store import open_store

    if (rollout_id is None) == (not every):
        fail("name one rollout (rollout audit verify ro_...) or pass --all, not both")
    with open_store(database) as store:
        if rollout_id is not None:
            try:
                store.get_rollout(rollout_id)
            except NotFound:
                fail(f"no rollout {rollout_id} (see `rollout status`)")
            reports = [store.verify_chain(rollout_id)]
        else:
            reports = store.verify_all_chains()
        for report in reports:
            typer.echo(str(report))
        broken = [report for report in reports if not report.ok]
        if broken:
            err_console.print(_first_bad(store, broken[0]), markup=False)
    if broken:
        raise typer.Exit(TAMPERED)
    if not reports:
        err_console.print("No audit events yet.", markup=False)


def _first_bad(store: Store, report: ChainReport) -> str:
    """The first bad event of a broken chain, described as stored (if it still is)."""
    seq = report.first_bad_seq or 0
    head = f"TAMPERED: chain {report.chain}, event {seq}: {report.problem}"
    found = store.list_events(report.rollout_id, after_seq=seq - 1, limit=1)
    if not found or found[0].seq != seq:
        return head
    event = found[0]
    at = event.at.isoformat(timespec="seconds")
    return f"{head}\n  stored as: {at}  {event.actor}  {event.kind}  {event.message}"
