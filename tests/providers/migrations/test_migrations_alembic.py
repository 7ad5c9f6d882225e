"""The Alembic tool: reading the chain, moving a database, and errors in plain words."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest
from _migration_projects import BASE, PROJECTS
from sqlalchemy import create_engine, text

from rollout.errors import MigrationError
from rollout.providers.migrations import MigrationTool, scratch_database
from rollout.providers.migrations.alembic import AlembicTool

Project = Callable[[str], AlembicTool]
ENV_DIR = PROJECTS / "_env"


def write_project(root: Path, revisions: dict[str, str], ini_extra: str = "") -> Path:
    """A throw-away Alembic project using the shared env.py; ``revisions`` maps file name to
    source. Returns the path of its alembic.ini."""
    versions = root / "versions"
    versions.mkdir(parents=True)
    for name, source in revisions.items():
        (versions / name).write_text(source)
    ini = root / "alembic.ini"
    ini.write_text(
        f"[alembic]\nscript_location = {ENV_DIR}\nversion_locations = versions\n"
        f"path_separator = os\n{ini_extra}"
    )
    return ini


def revision_source(rev: str, down: str | None, downgrade: str = "    pass") -> str:
    return (
        f'"""revision {rev}"""\n\nimport sqlalchemy as sa\nfrom alembic import op\n\n'
        f"revision = {rev!r}\ndown_revision = {down!r}\n\n\n"
        f"def upgrade() -> None:\n    op.create_table('t_{rev}', sa.Column('id', sa.Integer))\n"
        f"\n\ndef downgrade() -> None:\n{downgrade}\n"
    )


# ----------------------------------------------------------------------------- the chain


def test_the_chain_is_read_oldest_first_with_labels(project: Project) -> None:
    tool = project("good")

    assert isinstance(tool, MigrationTool)
    assert [r.label for r in tool.revisions(None)] == [
        "b0a5e0000001 (create customers, orders, coupons and audit_log)",
        "600d00000001 (add orders.note)",
        "600d00000002 (create shipments)",
        "600d00000003 (add customers.tier with a default)",
    ]
    assert tool.head() == "600d00000003"
    assert [r.id for r in tool.revisions(BASE, "600d00000002")] == [
        "600d00000001",
        "600d00000002",
    ]
    assert tool.revision("600d00000001").parent == BASE


def test_a_revision_may_be_named_by_an_unambiguous_prefix(project: Project) -> None:
    tool = project("good")
    assert tool.revision("b0a5").id == BASE
    with pytest.raises(
        MigrationError,
        match=r"revision '600d' is ambiguous: it could be "
        r"600d00000001, 600d00000002, 600d00000003",
    ):
        tool.revision("600d")
    with pytest.raises(MigrationError, match=r"there is no revision 'cafe' in the Alembic project"):
        tool.revision("cafe")


def test_missing_downgrades_are_recognised_in_the_source(project: Project) -> None:
    tool = project("missing_downgrade")
    assert {r.id: r.has_downgrade for r in tool.revisions(BASE)} == {
        "3155000000a1": False,  # `pass`, while its upgrade adds a column
        "3155000000a2": True,  # does nothing either way
        "3155000000a3": False,  # raise NotImplementedError(...)
    }


def test_relative_paths_are_read_from_the_ini_s_directory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)  # nowhere near the project
    tool = AlembicTool(PROJECTS / "good" / "alembic.ini")
    with scratch_database("sqlite://") as url:
        tool.upgrade(url, "head")
        assert tool.current(url) == "600d00000003"


def test_a_broken_configuration_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match=r"the Alembic configuration .*nothing.ini does not"):
        AlembicTool(tmp_path / "nothing.ini")

    (tmp_path / "empty.ini").write_text("[alembic]\n")
    with pytest.raises(MigrationError, match=r"empty.ini has no script_location in \[alembic\]"):
        AlembicTool(tmp_path / "empty.ini")

    (tmp_path / "lost.ini").write_text("[alembic]\nscript_location = migrations\n")
    with pytest.raises(
        MigrationError,
        match=r"script_location 'migrations' of .*lost.ini does "
        r"not exist \(relative paths are read from",
    ):
        AlembicTool(tmp_path / "lost.ini")


def test_a_chain_with_several_heads_is_refused(tmp_path: Path) -> None:
    ini = write_project(tmp_path, {
        "a.py": revision_source("aaaa", None),
        "b.py": revision_source("bbbb", "aaaa"),
        "c.py": revision_source("cccc", "aaaa"),
    })  # fmt: skip
    with pytest.raises(MigrationError, match=r"has several heads \(bbbb, cccc\); merge them"):
        AlembicTool(ini)


def test_a_merge_revision_is_refused(tmp_path: Path) -> None:
    ini = write_project(tmp_path, {
        "a.py": revision_source("aaaa", None),
        "b.py": revision_source("bbbb", "aaaa"),
        "c.py": revision_source("cccc", "aaaa"),
        "d.py": revision_source("dddd", None).replace("down_revision = None",
                                                        "down_revision = ('bbbb', 'cccc')"),
    })  # fmt: skip
    with pytest.raises(MigrationError, match=r"revision dddd merges bbbb, cccc; Rollout handles"):
        AlembicTool(ini)


# ----------------------------------------------------------------------------- a database


def test_upgrade_and_downgrade_are_set_to_value(project: Project) -> None:
    tool = project("good")
    with scratch_database("sqlite://") as url:
        assert tool.current(url) is None
        assert [r.id for r in tool.pending(url)][:2] == [BASE, "600d00000001"]

        tool.upgrade(url, "600d00000002")
        assert tool.current(url) == "600d00000002"
        assert [r.id for r in tool.pending(url)] == ["600d00000003"]
        tool.upgrade(url, "600d00000001")  # already past it: nothing happens
        assert tool.current(url) == "600d00000002"

        tool.downgrade(url, BASE)
        assert tool.current(url) == BASE
        tool.downgrade(url, "600d00000003")  # already below it: nothing happens
        assert tool.current(url) == BASE
        tool.downgrade(url, None)
        assert tool.current(url) is None


def test_a_failing_upgrade_names_its_revision_and_keeps_the_ones_before(project: Project) -> None:
    tool = project("leaky")
    with scratch_database("sqlite://") as url:
        tool.upgrade(url, "1eaf00000002")
        tool.downgrade(url, "1eaf00000001")  # this downgrade leaves orders.note behind
        with pytest.raises(MigrationError) as caught:
            tool.upgrade(url, "head")
        assert tool.current(url) == "1eaf00000001"
    assert str(caught.value).startswith(
        "upgrade of 1eaf00000002 (add orders.note) failed: OperationalError: duplicate column"
    )


def test_a_downgrade_past_a_missing_one_stops_there(project: Project) -> None:
    tool = project("missing_downgrade")
    with scratch_database("sqlite://") as url:
        tool.upgrade(url, "head")
        with pytest.raises(
            MigrationError,
            match=r"^revision 3155000000a3 \(add orders.shipped_at\)"
            r" has no downgrade; the database stays at "
            r"3155000000a3$",
        ):
            tool.downgrade(url, BASE)
        assert tool.current(url) == "3155000000a3"


def test_a_downgrade_that_raises_not_implemented_deep_inside_is_named(tmp_path: Path) -> None:
    helper = "    _irreversible()\n\n\ndef _irreversible() -> None:\n    raise NotImplementedError"
    ini = write_project(tmp_path, {
        "a.py": revision_source("aaaa", None, downgrade="    op.drop_table('t_aaaa')"),
        "b.py": revision_source("bbbb", "aaaa", downgrade=helper),
    })  # fmt: skip
    tool = AlembicTool(ini)
    assert tool.revision("bbbb").has_downgrade  # not visible in downgrade() itself
    with scratch_database("sqlite://") as url:
        tool.upgrade(url, "bbbb")
        with pytest.raises(
            MigrationError,
            match=r"^revision bbbb \(revision bbbb\) has no "
            r"downgrade \(it raises NotImplementedError\)$",
        ):
            tool.downgrade(url, None)
        assert tool.current(url) == "bbbb"


def test_a_database_ahead_of_the_code_is_a_clear_error(project: Project) -> None:
    tool = project("good")
    with scratch_database("sqlite://") as url:
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE alembic_version (version_num VARCHAR(32))"))
            connection.execute(text("INSERT INTO alembic_version VALUES ('feedbeef0001')"))
        engine.dispose()
        with pytest.raises(
            MigrationError,
            match=r"is at revision feedbeef0001, which the Alembic "
            r"project at .* does not know \(is the database "
            r"ahead of this code\?\)",
        ):
            tool.current(url)


def test_an_unreachable_database_is_a_clear_error_without_the_password(project: Project) -> None:
    with pytest.raises(MigrationError) as caught:
        project("good").current("postgresql+psycopg://app:hunter2@127.0.0.1:1/shop")
    message = str(caught.value)
    assert message.startswith(
        "cannot read the current revision of postgresql+psycopg://app:***@127.0.0.1:1/shop: "
        "OperationalError: "
    )
    assert "hunter2" not in message


def test_the_host_s_logging_survives_env_py_s_file_config(project: Project) -> None:
    # The good project's env.py calls logging.config.fileConfig, which by itself would disable
    # every existing logger and replace the root handlers.
    ours = logging.getLogger("rollout.test.migrations")
    handler = logging.NullHandler()
    root_handlers = list(logging.getLogger().handlers)
    ours.addHandler(handler)
    try:
        with scratch_database("sqlite://") as url:
            project("good").upgrade(url, "600d00000001")
        assert ours.disabled is False
        assert ours.handlers == [handler]
        assert logging.getLogger().handlers == root_handlers
    finally:
        ours.removeHandler(handler)
