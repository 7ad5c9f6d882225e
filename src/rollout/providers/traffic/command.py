"""The command router: the user's own scripts move the traffic.

Plan block::

    traffic:
      type: command
      set: ./deploy/set-weight.sh {weight} {version} {environment}
      get: ./deploy/get-weight.sh {environment}     # optional, but without it nothing is verified
      timeout: 2m

``set`` and ``get`` run through ``/bin/sh -c`` in the plan's directory. Placeholders are
replaced by shell-quoted values: ``{weight}`` the canary percentage (``5``, ``2.5``),
``{version}``, ``{environment}`` and ``{key}`` (the action's idempotency key); ``get`` sees all
but ``{weight}``. The same values are in the environment as ``ROLLOUT_WEIGHT``,
``ROLLOUT_VERSION``, ``ROLLOUT_ENVIRONMENT`` and ``ROLLOUT_IDEMPOTENCY_KEY``, so a script can
skip work it already did for a key. Other braces (``${HOME}``, ``awk '{print $1}'``) are left
alone; an unknown ``{name}`` is rejected as a likely typo.

``${VAR}`` references in ``set`` and ``get`` are the shell's to fill in from the environment;
their values are masked (``****``) wherever the scripts' output is quoted.

``set`` must exit 0; otherwise ``TrafficError`` carries its output. ``get`` must exit 0 and
print the live canary percentage (``25`` or ``25%``) as the last line of its output; a value
that differs from the request by more than ``TOLERANCE`` percentage points is a read-back
mismatch, a ``TrafficError``. Without ``get`` the result says ``verified=False``: the engine
takes the weight on the user's word, which is the user's choice, and records it as unverified.
"""

from __future__ import annotations

import os
import re
import shlex

from rollout.errors import TrafficError
from rollout.plan.model import CommandRouter
from rollout.providers.process import Finished, run, tail
from rollout.providers.secrets import scrubber_for
from rollout.providers.traffic._base import (
    AppliedWeight,
    RouterContext,
    check_percent,
    format_percent,
)

TOLERANCE = 0.01
"""Largest difference, in percentage points, between the weight asked for and what ``get`` reads
back that still counts as applied (absorbs rounding in the user's scripts, nothing more)."""

# `{name}` not preceded by `$` (so `${HOME}` stays the shell's).
_PLACEHOLDER = re.compile(r"(?<!\$)\{([A-Za-z_][A-Za-z0-9_]*)\}")
_NUMBER = re.compile(r"^\s*([-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*%?\s*$")


def render(template: str, values: dict[str, str]) -> str:
    """``template`` with each known ``{name}`` replaced by the shell-quoted value.

    >>> render("set.sh {weight} {version}", {"weight": "5", "version": "v2; rm -rf /"})
    "set.sh 5 'v2; rm -rf /'"

    Raises ``TrafficError`` for a ``{name}`` that is not in ``values``.
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            known = ", ".join(f"{{{key}}}" for key in values)
            raise TrafficError(f"unknown placeholder {{{name}}} in {template!r}; known: {known}")
        return shlex.quote(values[name])

    return _PLACEHOLDER.sub(replace, template)


def parse_percent(output: str) -> float:
    """The percentage on the last non-empty line of ``output`` (``"25"``, ``"25 %"``).

    Raises ``TrafficError`` when that line is not a number from 0 to 100.
    """
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise TrafficError("the get command printed nothing; it must print the live percentage")
    match = _NUMBER.match(lines[-1])
    if match is None:
        raise TrafficError(
            f"the get command's last line is {lines[-1].strip()!r}, not a percentage like 25"
        )
    value = float(match.group(1))
    if not 0.0 <= value <= 100.0:
        raise TrafficError(f"the get command printed {value:g}, not a percentage from 0 to 100")
    return value


class CommandTrafficRouter:
    """Runs the plan's ``set`` / ``get`` scripts (see the module docstring for the contract)."""

    def __init__(self, spec: CommandRouter, context: RouterContext) -> None:
        self.spec = spec
        self.context = context
        # Reject typos in placeholders now, not halfway through a rollout.
        render(spec.set, self._values(0.0, ""))
        if spec.get is not None:
            render(spec.get, self._values(None, ""))

    def set_weight(self, canary_percent: float, key: str) -> AppliedWeight:
        percent = check_percent(canary_percent)
        values = self._values(percent, key)
        finished = self._run(self.spec.set, values, "the traffic set command")
        if finished.returncode != 0:
            raise TrafficError(
                f"the traffic set command exited with {finished.returncode} while setting "
                f"{format_percent(percent)}%; its output:\n{finished.output}"
            )
        if self.spec.get is None:
            return AppliedWeight(
                percent,
                percent,
                verified=False,
                detail=(
                    f"set command ran for {format_percent(percent)}%; not read back "
                    "(the plan has no get command)"
                ),
            )
        live = self._read(key)
        if abs(live - percent) > TOLERANCE:
            raise TrafficError(
                f"read-back mismatch: asked for {format_percent(percent)}% but the get command "
                f"reports {format_percent(live)}% live"
            )
        return AppliedWeight(
            percent,
            live,
            verified=True,
            detail=f"get command reports {format_percent(live)}% live",
        )

    def get_weight(self) -> float:
        if self.spec.get is None:
            raise TrafficError("cannot read the live weight: the command router has no get command")
        return self._read("")

    def finalize(self, promoted: bool, key: str = "") -> AppliedWeight:
        return self.set_weight(100.0 if promoted else 0.0, key)

    def _read(self, key: str) -> float:
        assert self.spec.get is not None
        values = self._values(None, key)
        finished = self._run(self.spec.get, values, "the traffic get command")
        if finished.returncode != 0:
            raise TrafficError(
                f"the traffic get command exited with {finished.returncode}; its output:\n"
                f"{finished.output}"
            )
        try:
            return parse_percent(finished.stdout)
        except TrafficError as exc:
            raise TrafficError(f"{exc}; its output:\n{tail(finished.stdout) or '(none)'}") from exc

    def _run(self, template: str, values: dict[str, str], what: str) -> Finished:
        """Run a script; the shell fills in its ``${VAR}`` references, and their values are
        masked in what it printed (a failing script's output is quoted in the error)."""
        env = self._env(values)
        return run(
            render(template, values),
            timeout=self.spec.timeout,
            env=env,
            cwd=self.context.base_dir,
            scrub=scrubber_for(template, env),
            grace=0,  # the plan's timeout is all a traffic change may take: killed at once
        ).or_raise(what, TrafficError)

    def _values(self, percent: float | None, key: str) -> dict[str, str]:
        values = {
            "version": self.context.version,
            "environment": self.context.environment,
            "key": key,
        }
        if percent is not None:
            values["weight"] = format_percent(percent)
        return values

    def _env(self, values: dict[str, str]) -> dict[str, str]:
        env = {**os.environ, **self.context.env}
        env["ROLLOUT_VERSION"] = values["version"]
        env["ROLLOUT_ENVIRONMENT"] = values["environment"]
        env["ROLLOUT_IDEMPOTENCY_KEY"] = values["key"]
        if "weight" in values:
            env["ROLLOUT_WEIGHT"] = values["weight"]
        else:
            env.pop("ROLLOUT_WEIGHT", None)
        return env
