"""The functional core stays pure: plan, flags, analysis and the engine's decide side import no
I/O library and never log (ARCHITECTURE.md, "Rules of the house")."""

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
