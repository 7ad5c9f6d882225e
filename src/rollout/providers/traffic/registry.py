"""Which router serves a plan's ``traffic: type:``: a registry, never a silent fallback.

>>> registry = default_registry()
>>> registry.types()
('command', 'haproxy', 'nginx')

The flag router (``type: flag``) needs the store, so whoever holds the store registers it::

    registry = default_registry()
    registry.register("flag", lambda spec, context: FlagTrafficRouter(store, spec, context))
    router = router_for(environment.traffic, context, registry)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rollout.errors import TrafficError
from rollout.providers.traffic._base import RouterContext, TrafficRouter

RouterFactory = Callable[[Any, RouterContext], TrafficRouter]
"""Builds a router from its plan block (a ``rollout.plan.model`` router model) and context."""


class RouterRegistry:
    """Maps a plan's router ``type`` to the factory that builds it."""

    def __init__(self) -> None:
        self._factories: dict[str, RouterFactory] = {}

    def register(self, type_name: str, factory: RouterFactory, *, replace: bool = False) -> None:
        """Serve ``type_name`` with ``factory``. Registering a type twice is an error unless
        ``replace`` is given (so two parts of a program cannot silently fight over it)."""
        if type_name in self._factories and not replace:
            raise TrafficError(f"a traffic router for type {type_name!r} is already registered")
        self._factories[type_name] = factory

    def types(self) -> tuple[str, ...]:
        """The registered types, sorted."""
        return tuple(sorted(self._factories))

    def create(self, spec: Any, context: RouterContext) -> TrafficRouter:
        """The router for ``spec`` (any object with a ``type`` attribute, normally a plan
        router model). ``TrafficError`` naming the known types when ``spec.type`` has none."""
        type_name = getattr(spec, "type", None)
        factory = self._factories.get(type_name) if isinstance(type_name, str) else None
        if factory is None:
            known = ", ".join(self.types()) or "none"
            raise TrafficError(
                f"no traffic router for type {type_name!r} is available here (known: {known})"
            )
        return factory(spec, context)


def default_registry() -> RouterRegistry:
    """A fresh registry with the routers that need nothing but their plan block:
    ``nginx``, ``haproxy`` and ``command``."""
    from rollout.providers.traffic.command import CommandTrafficRouter
    from rollout.providers.traffic.haproxy import HaproxyTrafficRouter
    from rollout.providers.traffic.nginx import NginxTrafficRouter

    registry = RouterRegistry()
    registry.register("nginx", NginxTrafficRouter)
    registry.register("haproxy", HaproxyTrafficRouter)
    registry.register("command", CommandTrafficRouter)
    return registry


def router_for(
    spec: Any, context: RouterContext, registry: RouterRegistry | None = None
) -> TrafficRouter:
    """The router a plan's ``traffic:`` block asks for, from ``registry`` (default: a
    :func:`default_registry`). ``TrafficError`` for a type nobody registered."""
    return (registry or default_registry()).create(spec, context)
