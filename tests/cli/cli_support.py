"""Running ``rollout`` in the test process as a user's shell would, for the CLI tests."""

from __future__ import annotations

import pytest

from rollout.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``rollout ARGS`` through the console script's entry point: (exit code, out, err)."""
    try:
        main(list(args))
        code = 0
    except SystemExit as exit_info:
        value = exit_info.code
        code = value if isinstance(value, int) else 1 if value else 0
    captured = capsys.readouterr()
    return code, captured.out, captured.err
