"""The functional core stays pure: plan, flags, analysis and the engine's decide side import no
I/O library and never log (ARCHITECTURE.md, "Rules of the house"); and a package's private
modules (``_name``) are its own: other packages import what it exports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "rollout"
PURE_PACKAGES = ("plan", "flags", "analysis", "engine")
# Engine modules that form the imperative shell (they act on the world); everything else in
# engine/ is part of the pure core.
ENGINE_SHELL = {
    "runner", "runner_store", "runner_observe", "runner_lease",
    "controller", "controller_service", "controller_views",
    "actions_exec", "actions_exec_world", "actions_exec_gates", "actions_exec_deploy",
    "actions_exec_traffic",
}  # fmt: skip
FORBIDDEN = {
    "logging", "subprocess", "socket", "http", "urllib", "asyncio", "threading", "sqlite3",
    "httpx", "requests", "sqlalchemy", "alembic", "psycopg", "redis", "fastapi", "starlette",
    "uvicorn", "apprise", "prometheus_client", "openfeature",
    "rollout.store", "rollout.providers", "rollout.server", "rollout.sdk", "rollout.cli",
}  # fmt: skip


def _pure_modules() -> list[Path]:
    found = []
    for package in PURE_PACKAGES:
        for path in sorted((SRC / package).rglob("*.py")):
            if package == "engine" and path.stem in ENGINE_SHELL:
                continue
            found.append(path)
    return found


def _imported_names(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _is_forbidden(name: str) -> bool:
    return any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)


@pytest.mark.parametrize("path", _pure_modules(), ids=lambda p: str(p.relative_to(SRC)))
def test_pure_module_imports_no_io(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    bad = [name for name in _imported_names(tree) if _is_forbidden(name)]
    assert not bad, f"{path.relative_to(SRC)} imports I/O or logging: {bad}"


def test_the_check_catches_a_forbidden_import() -> None:
    tree = ast.parse("import logging\nfrom sqlalchemy.orm import Session\nfrom . import x\n")
    assert [n for n in _imported_names(tree) if _is_forbidden(n)] == [
        "logging",
        "sqlalchemy.orm",
    ]


# Imports of another package's private module that are known and being switched to the public
# name: (importing file, imported module). An entry that no longer matches fails the test below,
# so the list only shrinks.
PRIVATE_IMPORTS_BEING_SWITCHED: set[tuple[str, str]] = set()


def _imported_modules(tree: ast.AST) -> list[str]:
    """Every module name an import statement names, ``from a import _b`` counted as ``a._b``
    (``_b`` is then a private module or a private name of ``a``: private either way)."""
    names = _imported_names(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _foreign_private(importer: str, name: str) -> str | None:
    """The private module (or name) that ``name`` reaches in a top-level package of ``rollout``
    other than the one ``importer`` (a path relative to src/rollout) belongs to, else None:
    ``rollout.engine._judging.spec_for`` from ``simulate/run.py`` -> ``rollout.engine._judging``."""
    parts = name.split(".")
    own_package = importer.partition("/")[0]
    if parts[0] != "rollout" or len(parts) < 3 or parts[1] == own_package:
        return None
    for depth, part in enumerate(parts[2:], start=3):
        if part.startswith("_") and not part.startswith("__"):
            return ".".join(parts[:depth])
    return None


def _private_imports_across_packages() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(SRC.rglob("*.py")):
        importer = path.relative_to(SRC).as_posix()
        tree = ast.parse(path.read_text(), filename=str(path))
        for name in _imported_modules(tree):
            private = _foreign_private(importer, name)
            if private is not None:
                found.add((importer, private))
    return found


def test_no_package_imports_another_packages_private_module() -> None:
    found = _private_imports_across_packages()
    new = sorted(found - PRIVATE_IMPORTS_BEING_SWITCHED)
    assert not new, (
        "these import another package's private module; export the name from that package "
        f"(its __init__ or a public module) and import it from there: {new}"
    )
    switched = sorted(PRIVATE_IMPORTS_BEING_SWITCHED - found)
    assert not switched, f"no longer imported; remove from the switching list: {switched}"


def test_the_private_import_check_tells_own_from_foreign() -> None:
    tree = ast.parse(
        "from rollout.engine._judging import spec_for\n"
        "from rollout.analysis import _format as fmt, judge\n"
        "import rollout.plan._source\n"
        "from rollout.engine import decide\n"
        "from __future__ import annotations\n"
    )
    names = _imported_modules(tree)
    assert {_foreign_private("engine/runner.py", n) for n in names} == {
        None,
        "rollout.plan._source",
        "rollout.analysis._format",
    }
    assert {_foreign_private("simulate/run.py", n) for n in names} == {
        None,
        "rollout.engine._judging",
        "rollout.plan._source",
        "rollout.analysis._format",
    }
