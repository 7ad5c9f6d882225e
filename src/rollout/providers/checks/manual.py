"""Manual sign-offs: not run, but approved by a person holding a role.

A checklist item ``manual: {role: security, people: [carol, dan]}`` is proven when someone with
the role ``security`` (and, because ``people`` is listed, who is carol or dan) signs it off.

>>> from rollout.plan.model import ManualSignOff
>>> gate = ManualSignOff(role="security", people=("carol",))
>>> sign_off_problem(gate, "carol", ["security", "dev"]) is None
True
>>> sign_off_problem(gate, "erin", ["security"])
'only carol may sign it off, not erin'
"""

from __future__ import annotations

from collections.abc import Iterable

from rollout.plan.model import ManualSignOff


def sign_off_problem(gate: ManualSignOff, actor: str, roles: Iterable[str]) -> str | None:
    """Why ``actor`` holding ``roles`` cannot sign ``gate`` off, or None when they can.

    Roles compare exactly (``security`` is not ``Security``); an empty ``people`` list means
    anyone with the role.
    """
    if gate.role not in set(roles):
        return f"it needs someone with the role '{gate.role}', which {actor} does not hold"
    if gate.people and actor not in gate.people:
        names = gate.people[0] if len(gate.people) == 1 else ", ".join(gate.people[:-1])
        if len(gate.people) > 1:
            names += f" or {gate.people[-1]}"
        return f"only {names} may sign it off, not {actor}"
    return None


def satisfies(gate: ManualSignOff, actor: str, roles: Iterable[str]) -> bool:
    """Whether a sign-off by ``actor`` holding ``roles`` proves ``gate``."""
    return sign_off_problem(gate, actor, roles) is None
