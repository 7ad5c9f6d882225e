"""One entry for the runner: :func:`run_check` runs a command or HTTP check of the plan.

It takes the plan's check models as they come in actions: a ``Check`` (validation, preview and
health checks), a ``ChecklistItem`` whose gate is ``run`` or ``http``, or a bare
``CommandCheck`` (deploy commands) or ``HttpCheck``. The other checklist gates
(``migrations``, ``rollback``, ``monitoring``) are proven by other providers, and ``manual``
ones are signed off by people (:mod:`rollout.providers.checks.manual`); handing one of those
here is a programming error, a :class:`~rollout.errors.CheckError`.
"""

from __future__ import annotations

import time

from rollout.errors import CheckError
from rollout.plan.model import Check, ChecklistItem, CommandCheck, HttpCheck
from rollout.providers.checks._result import CheckContext, CheckResult
from rollout.providers.checks.command import run_command
from rollout.providers.checks.http import Sleep, run_http

CheckModel = Check | ChecklistItem | CommandCheck | HttpCheck

DEFAULT_TIMEOUT_S = 300.0
"""Timeout for a bare ``CommandCheck`` or ``HttpCheck``, which carry none of their own."""


def run_check(
    check: CheckModel,
    context: CheckContext,
    *,
    timeout: float | None = None,
    retries: int | None = None,
    sleep: Sleep = time.sleep,
) -> CheckResult:
    """Run ``check`` for ``context`` and return how it ended; never raises for the check's sake.

    ``timeout`` (seconds) and ``retries`` default to the check's own (``Check`` and
    ``ChecklistItem`` carry them; bare models get ``DEFAULT_TIMEOUT_S`` and no retries).
    ``retries`` repeats a failed HTTP request with backoff within this one call; commands run
    once per call (a command's retry is a new attempt with a new idempotency key, which is
    the engine's to issue). Raises ``CheckError`` for a check kind that is not run here.
    """
    if isinstance(check, CommandCheck):
        return run_command(
            check.run,
            context,
            timeout=timeout or DEFAULT_TIMEOUT_S,
            cwd=check.cwd,
            env=check.env,
        )
    if isinstance(check, HttpCheck):
        return run_http(
            check, context, timeout=timeout or DEFAULT_TIMEOUT_S, retries=retries or 0, sleep=sleep
        )
    limit = timeout if timeout is not None else check.timeout
    tries = retries if retries is not None else check.retries
    if check.run is not None:
        return run_command(check.run, context, timeout=limit)
    if check.http is not None:
        return run_http(check.http, context, timeout=limit, retries=tries, sleep=sleep)
    # A Check always has run or http (the model validates it): only a checklist item is left.
    assert isinstance(check, ChecklistItem)
    if check.gate == "manual":
        raise CheckError(
            f"checklist item {check.item!r} is a manual sign-off: it is approved by a person, "
            "not run (see rollout.providers.checks.manual)"
        )
    raise CheckError(
        f"checklist item {check.item!r} is proven by its '{check.gate}' gate, not run as a check"
    )
