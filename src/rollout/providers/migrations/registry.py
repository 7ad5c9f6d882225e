"""Which migration tool serves a plan's ``migrations: tool:``: a registry, never a fallback.

>>> default_registry().tools()
('alembic',)

A tool is built from the plan's ``migrations`` block and the plan's directory (relative paths,
such as ``config: db/alembic.ini``, resolve against it)::

    tool = tool_for(plan.migrations, base_dir=plan_path.parent)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rollout.errors import MigrationError
from rollout.plan.model import Migrations
from rollout.providers.migrations.tool import MigrationTool

ToolFactory = Callable[[Migrations, Path], MigrationTool]
"""Builds a tool from the plan's ``migrations`` block and the plan's directory."""


class ToolRegistry:
    """Maps a plan's ``tool`` name to the factory that builds it."""

    def __init__(self) -> None:
        self._factories: dict[str, ToolFactory] = {}

    def register(self, name: str, factory: ToolFactory, *, replace: bool = False) -> None:
        """Serve ``name`` with ``factory``; registering a name twice is an error unless
        ``replace`` is given."""
        if name in self._factories and not replace:
            raise MigrationError(f"a migration tool {name!r} is already registered")
        self._factories[name] = factory

    def tools(self) -> tuple[str, ...]:
        """The registered tool names, sorted."""
        return tuple(sorted(self._factories))

    def create(self, spec: Migrations, base_dir: Path) -> MigrationTool:
        """The tool ``spec.tool`` names; ``MigrationError`` naming the known tools otherwise."""
        factory = self._factories.get(spec.tool)
        if factory is None:
            known = ", ".join(self.tools()) or "none"
            raise MigrationError(f"no migration tool {spec.tool!r} is available (known: {known})")
        return factory(spec, base_dir)


def _alembic(spec: Migrations, base_dir: Path) -> MigrationTool:
    from rollout.providers.migrations.alembic import AlembicTool

    return AlembicTool(base_dir / spec.config)


def default_registry() -> ToolRegistry:
    """A fresh registry with the tools Rollout ships: ``alembic``."""
    registry = ToolRegistry()
    registry.register("alembic", _alembic)
    return registry


def tool_for(
    spec: Migrations, base_dir: Path, registry: ToolRegistry | None = None
) -> MigrationTool:
    """The tool the plan's ``migrations`` block asks for, from ``registry`` (default: a
    :func:`default_registry`)."""
    return (registry or default_registry()).create(spec, base_dir)
