"""Expand and contract: which pending revisions run before the rollout, which after it.

Expand revisions add what the new version needs while keeping the old one working; they run
before the first stage. Contract revisions remove what only the old version needed; they run
only after general availability, when no old version is left to break. So in the chain every
contract revision must come after every expand revision: otherwise running the expand ones
would mean running a contract one early.

>>> from rollout.providers.migrations.tool import Revision
>>> chain = [Revision("a1", None), Revision("b2", "a1"), Revision("c3", "b2")]
>>> expand, contract = plan_phases(chain, {"c3"})
>>> [r.id for r in expand], [r.id for r in contract]
(['a1', 'b2'], ['c3'])
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

from rollout.errors import MigrationError
from rollout.providers.migrations.tool import Revision


def plan_phases(
    pending: Sequence[Revision], contract_revisions: Collection[str]
) -> tuple[list[Revision], list[Revision]]:
    """Split ``pending`` (oldest first) into (expand, contract), each in chain order.

    ``contract_revisions`` holds full revision ids; those not pending (already run, or not in
    this chain) play no part. ``MigrationError`` when an expand revision comes after a
    contract revision, naming both.
    """
    expand: list[Revision] = []
    contract: list[Revision] = []
    for rev in pending:
        if rev.id in contract_revisions:
            contract.append(rev)
        elif contract:
            raise MigrationError(
                f"contract revision {contract[0].label} comes before expand revision "
                f"{rev.label} in the chain; contract revisions run only after general "
                "availability, so they must come after every expand revision (move it to the "
                f"end of the chain, or list {rev.id} under contract_revisions too)"
            )
        else:
            expand.append(rev)
    return expand, contract
