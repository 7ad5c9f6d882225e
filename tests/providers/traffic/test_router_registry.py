"""The registry maps a plan's traffic type to a router; unknown types are errors."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from rollout.errors import TrafficError
from rollout.plan.model import FlagRouter
from rollout.providers.traffic import (
    AppliedWeight,
    RouterContext,
    RouterRegistry,
    TrafficRouter,
    default_registry,
    router_for,
)

CONTEXT = RouterContext(version="v2", environment="production", base_dir=Path("/srv/plan"))


@dataclass
class FakeFlagRouter:
    flag: str | None
    percent: float = 0.0

    def set_weight(self, canary_percent: float, key: str) -> AppliedWeight:
        self.percent = canary_percent
        return AppliedWeight(canary_percent, canary_percent, True, f"flag {self.flag}")

    def get_weight(self) -> float:
        return self.percent

    def finalize(self, promoted: bool, key: str = "") -> AppliedWeight:
        return self.set_weight(100.0 if promoted else 0.0, key)


def test_the_default_registry_knows_the_self_contained_routers() -> None:
    assert default_registry().types() == ("command", "haproxy", "nginx")


def test_the_flag_router_is_an_error_until_someone_registers_it() -> None:
    spec = FlagRouter(type="flag", flag="new-checkout")
    with pytest.raises(TrafficError, match=r"no traffic router for type 'flag'.*command, haproxy"):
        router_for(spec, CONTEXT)

    registry = default_registry()
    registry.register("flag", lambda spec, context: FakeFlagRouter(spec.flag))
    router = router_for(spec, CONTEXT, registry)
    assert isinstance(router, TrafficRouter)
    assert router.set_weight(5, key="r1:stage-1:1").detail == "flag new-checkout"


def test_a_type_cannot_be_registered_twice_by_accident() -> None:
    registry = RouterRegistry()
    registry.register("flag", lambda spec, context: FakeFlagRouter(None))
    with pytest.raises(TrafficError, match="already registered"):
        registry.register("flag", lambda spec, context: FakeFlagRouter("other"))
    registry.register("flag", lambda spec, context: FakeFlagRouter("other"), replace=True)
    assert registry.create(FlagRouter(type="flag"), CONTEXT).get_weight() == 0.0


def test_something_without_a_type_is_an_error() -> None:
    with pytest.raises(TrafficError, match="type None"):
        router_for(object(), CONTEXT)


def test_relative_paths_resolve_against_the_plan_directory() -> None:
    assert CONTEXT.resolve("lb/upstream.conf") == Path("/srv/plan/lb/upstream.conf")
    assert CONTEXT.resolve("/etc/nginx/x.conf") == Path("/etc/nginx/x.conf")
