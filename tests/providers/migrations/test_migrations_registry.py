"""The tool registry: the plan's `tool:` picks the tool; an unknown one is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from _migration_projects import PROJECTS

from rollout.errors import MigrationError
from rollout.plan.model import Migrations
from rollout.providers.migrations import (
    AlembicTool,
    MigrationTool,
    Revision,
    ToolRegistry,
    default_registry,
    tool_for,
)


class FakeTool:
    """A tool with one revision, enough to prove the registry hands out what it was given."""

    name = "fake"

    def current(self, url: str) -> str | None:
        return None

    def head(self) -> str:
        return "r1"

    def revision(self, ref: str) -> Revision:
        return Revision("r1", None)

    def revisions(self, after: str | None, upto: str | None = None) -> list[Revision]:
        return [] if after else [Revision("r1", None)]

    def pending(self, url: str) -> list[Revision]:
        return self.revisions(self.current(url))

    def upgrade(self, url: str, target: str) -> None:
        pass

    def downgrade(self, url: str, target: str | None) -> None:
        pass


def spec(tool: str = "alembic", config: str = "good/alembic.ini") -> Migrations:
    # model_construct: the plan model only admits the tools Rollout ships.
    return Migrations.model_construct(tool=tool, config=config, database_url="sqlite://")


def test_the_default_registry_serves_alembic_from_the_plan_s_directory() -> None:
    assert default_registry().tools() == ("alembic",)
    tool = tool_for(spec(), base_dir=PROJECTS)
    assert isinstance(tool, AlembicTool)
    assert isinstance(tool, MigrationTool)
    assert tool.config_path == PROJECTS / "good" / "alembic.ini"


def test_an_unknown_tool_is_an_error_naming_the_known_ones() -> None:
    with pytest.raises(
        MigrationError,
        match=r"no migration tool 'flyway' is available "
        r"\(known: alembic\)",
    ):
        tool_for(spec(tool="flyway"), base_dir=PROJECTS)


def test_another_tool_can_be_registered_but_not_twice_by_accident() -> None:
    registry = default_registry()
    registry.register("fake", lambda spec, base_dir: FakeTool())
    assert registry.tools() == ("alembic", "fake")
    assert tool_for(spec(tool="fake"), Path("."), registry).head() == "r1"
    with pytest.raises(MigrationError, match="a migration tool 'fake' is already registered"):
        registry.register("fake", lambda spec, base_dir: FakeTool())
    registry.register("fake", lambda spec, base_dir: FakeTool(), replace=True)


def test_an_empty_registry_knows_nothing() -> None:
    with pytest.raises(MigrationError, match=r"\(known: none\)"):
        ToolRegistry().create(spec(), PROJECTS)


def test_a_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(
        MigrationError,
        match=r"the Alembic configuration .*db/alembic.ini does "
        r"not exist",
    ):
        tool_for(spec(config="db/alembic.ini"), base_dir=tmp_path)
