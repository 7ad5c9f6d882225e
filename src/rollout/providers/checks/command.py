"""Command checks: a shell command that passes when it exits 0.

Plan forms::

    checklist:
      - item: Tests pass
        run: make test              # ChecklistItem: timeout 10 min by default
        timeout: 15m
    validation:
      smoke:
        - name: smoke
          run: ./scripts/smoke.sh   # Check: timeout 5 min by default

The command runs through ``/bin/sh -c`` in the plan's directory (or its ``cwd``, relative to
it), with the controller's environment plus the plan's ``env`` (whose values may be
``${VAR}`` references, filled in at run time) plus the rollout's context:

=============================  ========================================================
``ROLLOUT_ID``                 the rollout's id
``ROLLOUT_VERSION``            the release being rolled out
``ROLLOUT_ENVIRONMENT``        the environment (empty before the first one)
``ROLLOUT_STAGE``              the stage (empty outside stages)
``ROLLOUT_IDEMPOTENCY_KEY``    ``rollout:step:attempt``: skip work already done for it
``ROLLOUT_STEP``               the step part of the key (``gate/2``)
``ROLLOUT_ATTEMPT``            the attempt part of the key (``1``, ``2``, ...)
``ROLLOUT_INSTANCE``           the instance, for a rolling batch's per-instance command
=============================  ========================================================

The context variables win over the plan's ``env``, so a check cannot be told it runs for another
rollout. The result's summary is plain words: ``"`make test` exited 0 in 12.3 s"``,
``"`make test` exited 2 after 4.1 s: FAILED tests/test_cart.py::test_total"``, ``"`make test`
timed out after 600 s and was stopped"``. A command that cannot start (not found, not
executable, no such working directory) is a failed check that says so, never an exception.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

from rollout.providers.checks._result import (
    CheckContext,
    CheckResult,
    DetailValue,
    last_line,
    seconds,
    shown_command,
)
from rollout.providers.process import OUTPUT_LIMIT, Finished, run
from rollout.providers.secrets import MissingVariable, expand_all, scrubber_for

DISPLAY_TAIL = 4000
"""Characters of output kept in ``CheckResult.output_tail`` (the details keep up to 64 KiB of
each stream)."""


def run_command(
    command: str,
    context: CheckContext,
    *,
    timeout: float,
    cwd: str | None = None,
    env: Mapping[str, str] | None = None,
    grace: float = 5.0,
    limit: int = OUTPUT_LIMIT,
) -> CheckResult:
    """Run ``command`` and report whether it exited 0.

    ``timeout`` is in seconds; past it the command's whole process group gets SIGTERM, then
    SIGKILL ``grace`` seconds later. ``cwd`` (default: ``context.base_dir``) is resolved against
    ``context.base_dir``. ``env`` values may hold ``${VAR}`` references; one that is not set
    fails the check before anything runs. ``limit`` bytes are kept of each output stream.
    """
    shown = shown_command(command)
    try:
        extra, scrub = expand_all(dict(env or {}))
    except MissingVariable as exc:
        return CheckResult(
            False,
            f"{shown} did not run: {exc}",
            0.0,
            details={"command": command, "exit_code": None},
        )
    workdir = context.resolve(cwd) if cwd else context.base_dir
    environment = {**os.environ, **context.env, **extra, **context.variables()}
    # The shell fills in the command's own ${VAR} references; a command that prints one (an
    # error echoing a header) must not carry the value into the audit trail.
    scrub = scrub + scrubber_for(command, environment)
    ran = run(
        command,
        timeout=timeout,
        cwd=workdir,
        env=environment,
        scrub=scrub,
        grace=grace,
        limit=limit,
    )
    return _result(command, ran)


def _result(command: str, ran: Finished) -> CheckResult:
    shown = shown_command(command)
    details: dict[str, DetailValue] = {
        "command": command,
        "exit_code": ran.returncode,
        "timed_out": ran.timed_out,
        "stdout": ran.stdout,
        "stderr": ran.stderr,
    }
    if ran.stdout_dropped or ran.stderr_dropped:
        details["stdout_dropped_bytes"] = ran.stdout_dropped
        details["stderr_dropped_bytes"] = ran.stderr_dropped
    output = ran.excerpt(DISPLAY_TAIL)
    # stderr says why a command failed; a quiet one may have said it on stdout.
    why = last_line(ran.stderr) or last_line(ran.stdout)
    took = seconds(ran.duration_s)
    if ran.returncode is None:
        summary = f"{shown} could not start: {ran.start_error}"
        return CheckResult(False, summary, ran.duration_s, output, details)
    if ran.timed_out:
        summary = f"{shown} timed out after {ran.timeout_s:g} s and was stopped"
        summary += f"; last output: {why}" if why else ""
        return CheckResult(False, summary, ran.duration_s, output, details)
    if ran.returncode == 0:
        return CheckResult(True, f"{shown} exited 0 in {took}", ran.duration_s, output, details)
    if ran.cannot_start:
        summary = f"{shown} could not start: {ran.cannot_start}"
        summary += f" ({why})" if why else f" (exit {ran.returncode})"
        return CheckResult(False, summary, ran.duration_s, output, details)
    if ran.returncode < 0:
        name = _signal_name(-ran.returncode)
        summary = f"{shown} was killed by {name} after {took}"
    else:
        summary = f"{shown} exited {ran.returncode} after {took}"
    summary += f": {why}" if why else " (no output)"
    return CheckResult(False, summary, ran.duration_s, output, details)


def _signal_name(number: int) -> str:
    try:
        return f"signal {number} ({signal.Signals(number).name})"
    except ValueError:
        return f"signal {number}"
