"""Traffic routers: how a share of live traffic moves to the new version.

Every router implements :class:`TrafficRouter` (``set_weight``, ``get_weight``, ``finalize``)
and returns what it read back as live, as an :class:`AppliedWeight`; when it cannot apply a
weight or cannot read back it raises :class:`~rollout.errors.TrafficError`. A plan's
``traffic: type:`` picks the router through :func:`router_for`:

=========  =====================================================================
nginx      upstream weights in an included file, ``nginx -t``, reload, read back
haproxy    server weights through HAProxy's runtime API socket, read back
command    the user's ``set`` / ``get`` scripts
flag       the built-in flag store (registered by whoever holds the store)
=========  =====================================================================

:func:`check_percent` refuses a weight outside 0..100 and :func:`format_percent` writes one
as people do (``2.5``), for whoever asks a router for a weight.
"""

from rollout.providers.traffic._base import (
    AppliedWeight,
    RouterContext,
    TrafficRouter,
    check_percent,
    format_percent,
)
from rollout.providers.traffic.registry import (
    RouterFactory,
    RouterRegistry,
    default_registry,
    router_for,
)

__all__ = [
    "AppliedWeight",
    "RouterContext",
    "RouterFactory",
    "RouterRegistry",
    "TrafficRouter",
    "check_percent",
    "default_registry",
    "format_percent",
    "router_for",
]
