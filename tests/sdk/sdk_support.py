"""Helpers shared by the SDK tests: the shared flag cases, small configs, waiting on events."""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from rollout.sdk import ConfigChange, RolloutClient

FLAG_TESTS = Path(__file__).resolve().parents[1] / "flags"


def flag_cases() -> ModuleType:
    """tests/flags/flag_cases.py, the loader of the shared cases.json (one module object for
    the whole session, whichever test folder imports it first)."""
    module = sys.modules.get("flag_cases")
    if module is None:
        spec = importlib.util.spec_from_file_location("flag_cases", FLAG_TESTS / "flag_cases.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules["flag_cases"] = module
        spec.loader.exec_module(module)
    return module


def boolean_flag(key: str, percent: float = 0.0, **extra: Any) -> dict[str, Any]:
    """A boolean flag on for ``percent`` % of targeting keys."""
    flag: dict[str, Any] = {
        "key": key,
        "fallthrough": {"rollout": {"variant": "on", "percent": percent, "rest": "off"}},
    }
    flag.update(extra)
    return flag


def config_dict(version: int, *flags: dict[str, Any], environment: str = "test") -> dict[str, Any]:
    return {"environment": environment, "version": version, "flags": list(flags), "segments": []}


def write_config(path: Path, version: int, *flags: dict[str, Any]) -> Path:
    path.write_text(json.dumps(config_dict(version, *flags)), encoding="utf-8")
    return path


class Changes:
    """Collects a client's config changes; ``wait_for`` blocks (bounded) until one matches."""

    def __init__(self, client: RolloutClient) -> None:
        self._condition = threading.Condition()
        self.seen: list[ConfigChange] = []
        client.add_listener(self._on_change)

    def _on_change(self, change: ConfigChange) -> None:
        with self._condition:
            self.seen.append(change)
            self._condition.notify_all()

    def wait_for(self, predicate: Callable[[ConfigChange], bool], timeout: float) -> ConfigChange:
        with self._condition:
            found: list[ConfigChange] = []

            def match() -> bool:
                found[:] = [c for c in self.seen if predicate(c)]
                return bool(found)

            if not self._condition.wait_for(match, timeout):
                raise AssertionError(f"no matching config change within {timeout} s: {self.seen}")
            return found[0]
