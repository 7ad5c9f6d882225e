"""Moving traffic: ``set_traffic`` through the environment's router, ``set_flag`` through the
built-in flag router.

A flag switched off by someone (its kill switch) is not switched back on by a ramp: the ramp
fails and says so, and the operator decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollout.engine.actions import SetFlag, SetTraffic
from rollout.engine.actions_exec_world import Done, plan_flag
from rollout.plan.model import FlagRouter
from rollout.providers.traffic import RouterContext, router_for
from rollout.providers.traffic.flag import FlagTrafficRouter

if TYPE_CHECKING:
    from rollout.engine.actions_exec import ActionExecutor


def set_traffic(ex: ActionExecutor, action: SetTraffic) -> Done:
    """Set the environment's router to ``action.percent`` and read it back."""
    spec = action.router or FlagRouter(type="flag", flag=ex.plan.strategy.flag)
    context = RouterContext(ex.version, action.environment, ex.base_dir)
    applied = router_for(spec, context, ex.routers).set_weight(action.percent, action.key)
    message = applied.detail
    if not applied.verified:
        message += " (not verified: the router has no way to read the weight back)"
    if action.segment:
        message += f"; the {spec.type} router moves a percentage, not segment {action.segment}"
    details = {
        "requested_percent": applied.requested_percent,
        "live_percent": applied.canary_percent,
        "verified": applied.verified,
    }
    return Done(True, message, details)


def set_flag(ex: ActionExecutor, action: SetFlag) -> Done:
    """Enable, ramp or disable the flag ``action.flag``."""
    router = FlagTrafficRouter(
        ex.flag_store,
        action.environment,
        action.flag,
        ex.actor,
        plan_flag(ex.plan, action.flag),
        on_change=ex.world.on_flag_change,
    )
    said: list[str] = []
    # A ramp (a percentage) never switches a killed flag back on: someone switched it off
    # on purpose, so the ramp fails and says so. Only a plain "enable" step does.
    if action.enabled is True and action.percent is None:
        said.append(router.set_enabled(True, action.key).detail)
    if action.percent is not None:
        said.append(router.set_weight(action.percent, action.key).detail)
    if action.enabled is False:
        said.append(router.set_enabled(False, action.key).detail)
    if action.segment:
        said.append(f"segment {action.segment} is opened by the percentage only")
    return Done(True, "; ".join(said) or "nothing to change")
