"""The flag service: HTTP API, SSE stream, telemetry intake and replica fan-out.

* :func:`create_app` -- the FastAPI app over a :class:`~rollout.store.Store` (routes in
  :mod:`rollout.server.app`; the wire protocol SDKs rely on is fixed there).
* :class:`FlagService` -- the one write path for flags and segments (validate, store, audit,
  announce), used by the API and by ``rollout flags`` without a server.
* :class:`Broadcaster`, :class:`ConfigRelay` and the feeds (:func:`make_feed`) -- how a change
  reaches every SSE client of every replica.
* :class:`BackgroundServer`, :func:`make_server` -- running the app under uvicorn.
* :class:`FlagsClient` -- the same operations as :class:`FlagService`, over HTTP.
* The rollout API's bodies (:class:`RolloutStatusOut`, :class:`RolloutList`,
  :class:`VerbAccepted`, :class:`DecisionOut`, :class:`HistoryOut`, :class:`PlanProblemsBody`),
  which ``rollout --server`` reads, and a token's :class:`Role` (:func:`parse_role`).

Exports load on first use, so ``rollout flags`` without a server does not import FastAPI.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rollout.server._api_roles import Role, parse_role
    from rollout.server._api_schemas import (
        DecisionOut,
        HistoryOut,
        PlanProblemsBody,
        RolloutList,
        RolloutStatusOut,
        VerbAccepted,
    )
    from rollout.server.app import create_app
    from rollout.server.broadcast import Broadcaster, Subscription
    from rollout.server.client import FlagsClient, ServerUnavailable
    from rollout.server.context import ServerContext
    from rollout.server.feeds import (
        ChangeFeed,
        InProcessFeed,
        PostgresFeed,
        RedisFeed,
        make_feed,
    )
    from rollout.server.flag_service import ConfigDocument, FlagsAPI, FlagService
    from rollout.server.problems import (
        FieldProblem,
        InvalidDefinition,
        PreconditionFailed,
        SegmentInUse,
    )
    from rollout.server.relay import ConfigRelay
    from rollout.server.run import BackgroundServer, RolloutServer, bind, make_server

_WHERE = {
    "Role": "_api_roles",
    "parse_role": "_api_roles",
    "DecisionOut": "_api_schemas",
    "HistoryOut": "_api_schemas",
    "PlanProblemsBody": "_api_schemas",
    "RolloutList": "_api_schemas",
    "RolloutStatusOut": "_api_schemas",
    "VerbAccepted": "_api_schemas",
    "create_app": "app",
    "Broadcaster": "broadcast",
    "Subscription": "broadcast",
    "FlagsClient": "client",
    "ServerUnavailable": "client",
    "ServerContext": "context",
    "ChangeFeed": "feeds",
    "InProcessFeed": "feeds",
    "PostgresFeed": "feeds",
    "RedisFeed": "feeds",
    "make_feed": "feeds",
    "ConfigDocument": "flag_service",
    "FlagService": "flag_service",
    "FlagsAPI": "flag_service",
    "FieldProblem": "problems",
    "InvalidDefinition": "problems",
    "PreconditionFailed": "problems",
    "SegmentInUse": "problems",
    "ConfigRelay": "relay",
    "BackgroundServer": "run",
    "RolloutServer": "run",
    "bind": "run",
    "make_server": "run",
}

__all__ = [
    "BackgroundServer",
    "Broadcaster",
    "ChangeFeed",
    "ConfigDocument",
    "ConfigRelay",
    "DecisionOut",
    "FieldProblem",
    "FlagService",
    "FlagsAPI",
    "FlagsClient",
    "HistoryOut",
    "InProcessFeed",
    "InvalidDefinition",
    "PlanProblemsBody",
    "PostgresFeed",
    "PreconditionFailed",
    "RedisFeed",
    "Role",
    "RolloutList",
    "RolloutServer",
    "RolloutStatusOut",
    "SegmentInUse",
    "ServerContext",
    "ServerUnavailable",
    "Subscription",
    "VerbAccepted",
    "bind",
    "create_app",
    "make_feed",
    "make_server",
    "parse_role",
]


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"rollout.server.{module}"), name)
