"""Loader for ``cases.json``, the evaluation cases every Rollout flag evaluator must pass.

The server's evaluator runs them in ``test_cases.py``; the SDK's tests run the same file::

    from flag_cases import load_cases          # with tests/flags on sys.path, or import by path
    for case in load_cases():
        client = make_client(case.config_text) # the raw JSON text of the config
        result = client.evaluate(case.flag, case.context, case.default)
        assert case.expect.matches(result.value, result.variant, result.reason, ...)

A config that does not load (bad JSON or a failed validation) must make every evaluation serve
the caller's default with reason ERROR and error code PARSE_ERROR.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CASES_FILE = Path(__file__).with_name("cases.json")


@dataclass(frozen=True)
class Expected:
    value: Any
    variant: str | None
    reason: str
    error_code: str | None
    rule_index: int | None = None  # checked only when the case gives it
    bucket: int | None = None  # for splits: the bucket of the bucket-by value


@dataclass(frozen=True)
class FlagCase:
    name: str
    config_name: str
    config_text: str
    flag: str
    context: dict[str, Any]
    default: Any
    expect: Expected

    def __str__(self) -> str:
        return self.name


def load_cases(path: Path = CASES_FILE) -> list[FlagCase]:
    """Every case in the file, its config as JSON text (raw text when it is not an object)."""
    document = json.loads(path.read_text(encoding="utf-8"))
    configs = {
        name: config if isinstance(config, str) else json.dumps(config)
        for name, config in document["configs"].items()
    }
    return [
        FlagCase(
            name=raw["name"],
            config_name=raw["config"],
            config_text=configs[raw["config"]],
            flag=raw["flag"],
            context=raw["context"],
            default=raw["default"],
            expect=Expected(**raw["expect"]),
        )
        for raw in document["cases"]
    ]
