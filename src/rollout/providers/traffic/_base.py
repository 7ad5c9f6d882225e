"""What every traffic router promises: the ``TrafficRouter`` protocol and the values it returns.

A router moves a share of live traffic, ``canary_percent`` (0 to 100), to the new version and
reports what it *read back* as live afterwards. It never reports a success it could not verify:
when it cannot apply the weight, or cannot read back what is live, it raises
:class:`~rollout.errors.TrafficError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, runtime_checkable

from rollout.errors import TrafficError


@dataclass(frozen=True)
class AppliedWeight:
    """The outcome of a weight change, as read back from the system that routes traffic.

    ``requested_percent`` is what was asked for; ``canary_percent`` is what is live, read back
    (both 0 to 100). They differ when the system can only express certain ratios: HAProxy's
    integer weights (at most 256) carry 0.1 % as 1:256, i.e. 0.389 %. ``verified`` is False only
    when the router has no way to read back (a command router without a ``get`` script); then
    ``canary_percent`` repeats the request and the caller must treat the change as the user's
    word, not as a measurement. ``detail`` says in plain words what was read back.

    Example: ``AppliedWeight(5.0, 5.0, True, "upstream app: stable weight 19, canary weight 1")``.
    """

    requested_percent: float
    canary_percent: float
    verified: bool
    detail: str


@runtime_checkable
class TrafficRouter(Protocol):
    """Moves live traffic between the stable and the canary version.

    Every method is set-to-value, so repeating a call (after a crash, on a retry) is harmless.
    """

    def set_weight(self, canary_percent: float, key: str) -> AppliedWeight:
        """Send ``canary_percent`` % (0..100) of traffic to the canary and return what is live.

        ``key`` is the action's idempotency key (``rollout:step:attempt``); routers that run
        user commands hand it on as ``ROLLOUT_IDEMPOTENCY_KEY``. Raises ``TrafficError`` when the
        weight cannot be applied or what is live cannot be read back.
        """
        ...

    def get_weight(self) -> float:
        """The canary's live share in percent (0..100); ``TrafficError`` when unreadable."""
        ...

    def finalize(self, promoted: bool, key: str = "") -> AppliedWeight:
        """End of a rollout: all traffic to the new version (``promoted``) or back to the old."""
        ...


@dataclass(frozen=True)
class RouterContext:
    """What a router needs to know beyond its plan block.

    ``version`` is the release being rolled out and ``environment`` the environment's name (both
    are handed to command templates). Relative paths in the plan (an nginx ``config_file``, a
    HAProxy ``socket``) resolve against ``base_dir``, the plan's directory. ``env`` adds
    variables to the environment of commands the router runs.
    """

    version: str
    environment: str
    base_dir: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] = field(default_factory=dict)

    def resolve(self, path: str) -> Path:
        """``path`` made absolute against ``base_dir`` (``~`` expanded)."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate


def check_percent(canary_percent: float) -> float:
    """``canary_percent`` as a float, or ``TrafficError`` when it is not a number in 0..100."""
    value = float(canary_percent)
    if math.isnan(value) or not 0.0 <= value <= 100.0:
        raise TrafficError(f"a traffic weight must be a percentage from 0 to 100, not {value!r}")
    return value


def format_percent(percent: float) -> str:
    """A percentage as people write it: ``5.0 -> "5"``, ``2.5 -> "2.5"``, ``1/3 -> "0.333"``.

    Rounded to 3 decimals (the plan's finest step), trailing zeros dropped.
    """
    text = f"{percent:.3f}".rstrip("0").rstrip(".")
    return "0" if text in {"", "-0"} else text
