"""Gate checks: commands and HTTP smoke requests, and manual sign-off rules.

:func:`run_check` runs a plan check (``Check``, a ``run``/``http`` ``ChecklistItem``, a bare
``CommandCheck`` or ``HttpCheck``) for a :class:`CheckContext` and returns a frozen
:class:`CheckResult` whose ``summary`` says in plain words how it went::

    result = run_check(item, CheckContext("r-42", "v2.4.0", key="r-42:gate/1:1"))
    result.passed, result.summary      # (True, '`make test` exited 0 in 12.3 s')

A check that runs and fails is a result with ``passed=False``, never an exception; only a check
kind that is not run here (a manual sign-off, a migrations gate) raises ``CheckError``.
:func:`satisfies` / :func:`sign_off_problem` say whether a person's sign-off proves a manual
gate. :mod:`~rollout.providers.secrets` fills ``${VAR}`` references in at the moment of
use.
"""

from rollout.providers.checks._result import CheckContext, CheckResult
from rollout.providers.checks.command import run_command
from rollout.providers.checks.http import run_http
from rollout.providers.checks.manual import satisfies, sign_off_problem
from rollout.providers.checks.run import DEFAULT_TIMEOUT_S, CheckModel, run_check

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "CheckContext",
    "CheckModel",
    "CheckResult",
    "run_check",
    "run_command",
    "run_http",
    "satisfies",
    "sign_off_problem",
]
