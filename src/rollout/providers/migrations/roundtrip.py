"""The round trip: every pending revision must upgrade, downgrade cleanly, and upgrade again.

On a scratch database (see :mod:`rollout.providers.migrations.scratch`), :func:`round_trip`
first brings the schema to the revision production is at, then checks the pending revisions
one at a time, so a failure names its revision. For a revision R built on P:

1. at P, snapshot the schema (A);
2. upgrade to R, snapshot (B);
3. downgrade to P, snapshot: must equal A (the downgrade restores the schema);
4. upgrade to R again, snapshot: must equal B (the revision can run again after a rollback).

A missing downgrade (see :class:`~rollout.providers.migrations.tool.Revision`) fails step 3
without running it; the check goes on from B. When a step leaves the scratch database in a state
nothing can be said about (an upgrade or a downgrade raised), the remaining revisions are
SKIPPED. Each result says what went wrong in words, e.g. ``downgrade of 3f2a1c (add
orders.note) leaves column orders.note behind``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rollout.errors import MigrationError
from rollout.providers.migrations.compat import Step
from rollout.providers.migrations.diff import mismatch_problems, restore_problems
from rollout.providers.migrations.schema import SchemaReader
from rollout.providers.migrations.tool import MigrationTool, Revision, Verdict, label_of


@dataclass(frozen=True)
class RevisionResult:
    """The round trip of one revision: its verdict and, unless it passed, what went wrong."""

    revision: Revision
    verdict: Verdict
    problems: tuple[str, ...] = ()

    @property
    def reason(self) -> str:
        if self.verdict is Verdict.PASS:
            return "upgrade, downgrade and upgrade again each leave the expected schema"
        return "; ".join(self.problems)

    def __str__(self) -> str:
        return f"{self.verdict} {self.revision.label}: {self.reason}"


@dataclass(frozen=True)
class RoundTripReport:
    """Every pending revision's round trip, in chain order, from ``start`` (None: base).

    ``steps`` holds the schema before and after each upgrade that ran (for the compatibility
    check). ``error`` is set when the scratch database could not even be brought to ``start``.
    """

    start: str | None
    results: tuple[RevisionResult, ...]
    steps: tuple[Step, ...] = ()
    error: str | None = None

    @property
    def verdict(self) -> Verdict:
        failed = self.error or any(r.verdict is not Verdict.PASS for r in self.results)
        return Verdict.FAIL if failed else Verdict.PASS

    @property
    def reason(self) -> str:
        """One sentence for the checklist gate."""
        if self.error:
            return self.error
        count = len(self.results)
        if not count:
            return f"no pending revisions after {label_of(self.start)}"
        failed = [r for r in self.results if r.verdict is Verdict.FAIL]
        if not failed:
            plural = "s" if count != 1 else ""
            return f"{count} pending revision{plural} upgrade, downgrade and upgrade again cleanly"
        return "; ".join(r.reason for r in failed)

    def lines(self) -> list[str]:
        """The verdict, then one line per revision."""
        return [f"{self.verdict}: {self.reason}", *(str(r) for r in self.results)]


def round_trip(
    tool: MigrationTool,
    scratch_url: str,
    start: str | None,
    revisions: Sequence[Revision] | None = None,
) -> RoundTripReport:
    """Check ``revisions`` (default: every revision after ``start``) on ``scratch_url``, an
    expanded URL of an empty database that this check may change at will."""
    pending = tuple(tool.revisions(start) if revisions is None else revisions)
    with SchemaReader(scratch_url) as reader:
        return _round_trip(tool, scratch_url, start, pending, reader)


def _round_trip(
    tool: MigrationTool,
    scratch_url: str,
    start: str | None,
    pending: tuple[Revision, ...],
    reader: SchemaReader,
) -> RoundTripReport:
    try:
        if start is not None:
            tool.upgrade(scratch_url, start)
        schema = reader.snapshot()
    except MigrationError as exc:
        error = f"cannot bring the scratch database to {label_of(start)}: {exc}"
        skipped = tuple(
            RevisionResult(rev, Verdict.SKIPPED, (f"not checked: {error}",)) for rev in pending
        )
        return RoundTripReport(start, skipped, error=error)

    results: list[RevisionResult] = []
    steps: list[Step] = []
    stopped_at: Revision | None = None
    for rev in pending:
        if stopped_at is not None:
            why = f"not checked: the round trip stopped at {stopped_at.label}"
            results.append(RevisionResult(rev, Verdict.SKIPPED, (why,)))
            continue
        try:
            tool.upgrade(scratch_url, rev.id)
            upgraded = reader.snapshot()
        except MigrationError as exc:
            results.append(RevisionResult(rev, Verdict.FAIL, (str(exc),)))
            stopped_at = rev
            continue
        step = Step(rev, schema, upgraded)
        steps.append(step)
        if rev.has_downgrade:
            problems, stopped = _back_and_forth(tool, scratch_url, step, reader)
            stopped_at = rev if stopped else None
        else:
            problems = [f"revision {rev.label} has no downgrade"]
        verdict = Verdict.FAIL if problems else Verdict.PASS
        results.append(RevisionResult(rev, verdict, tuple(problems)))
        schema = upgraded
    return RoundTripReport(start, tuple(results), tuple(steps))


def _back_and_forth(
    tool: MigrationTool, url: str, step: Step, reader: SchemaReader
) -> tuple[list[str], bool]:
    """Steps 3 and 4 for the revision whose upgrade made ``step``: what went wrong, and
    whether the scratch database is left in an unknown state (then the round trip must stop)."""
    rev = step.revision
    try:
        tool.downgrade(url, rev.parent)
        restored = reader.snapshot()
    except MigrationError as exc:
        return [str(exc)], True
    problems = [
        f"downgrade of {rev.label} {words}" for words in restore_problems(step.before, restored)
    ]
    try:
        tool.upgrade(url, rev.id)
        again = reader.snapshot()
    except MigrationError as exc:
        return [*problems, f"after its downgrade, {exc}"], True
    problems.extend(
        f"upgrading {rev.label} again after its downgrade gives a different schema: {words}"
        for words in mismatch_problems(step.after, again)
    )
    return problems, False
