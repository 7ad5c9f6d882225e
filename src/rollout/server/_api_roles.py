"""The roles an API token can have and what each may do; plain data, so the CLI can check a
role name without importing the web framework.

=============  ===============================================================================
``admin``      everything
``deployer``   read rollouts and flags; start, pause, resume, promote, abort and retry rollouts;
               write flags and segments
``approver``   read rollouts and flags; approve and reject environments; sign off manual gates
``sdk``        read one environment's flag config and its stream; report outcome telemetry
               (an SDK sends one key for both)
``telemetry``  report outcome telemetry; read ``/metrics`` (what monitoring systems hold)
=============  ===============================================================================

Each access below lists the roles that have it besides ``admin``.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    """What a token may do (see the module docstring)."""

    ADMIN = "admin"
    DEPLOYER = "deployer"
    APPROVER = "approver"
    SDK = "sdk"
    TELEMETRY = "telemetry"


READ = (Role.DEPLOYER, Role.APPROVER)
"""Reading rollouts (status, history, document, events) and flag definitions."""
DEPLOY = (Role.DEPLOYER,)
"""Starting rollouts, operator verbs, writing flags and segments."""
APPROVE = (Role.APPROVER,)
"""Approving or rejecting an environment; signing off a manual checklist gate."""
SDK_READ = (Role.SDK, Role.DEPLOYER, Role.APPROVER)
"""An environment's flag config and its SSE stream."""
TELEMETRY = (Role.TELEMETRY, Role.SDK)
"""``POST /telemetry``."""
METRICS = (Role.TELEMETRY, Role.DEPLOYER, Role.APPROVER)
"""``GET /metrics``."""


def parse_role(text: str) -> Role:
    """The role called ``text``; ``ValueError`` naming the known roles otherwise.

    >>> parse_role("deployer")
    <Role.DEPLOYER: 'deployer'>
    """
    try:
        return Role(text.strip().lower())
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise ValueError(f"unknown role {text!r} (known: {known})") from None


def allows(role: Role, roles: tuple[Role, ...]) -> bool:
    """Whether a token of ``role`` has an access granted to ``roles`` (admin has every one)."""
    return role is Role.ADMIN or role in roles
