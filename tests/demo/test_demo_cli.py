"""`rollout demo` refuses a plan it cannot run before starting anything, without a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.cli import main


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1 if code else 0), captured.out, captured.err


def test_a_missing_plan_is_a_user_mistake(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "nope.yaml"
    code, out, err = _run(capsys, "demo", "--no-live", "--plan", str(missing))
    assert code == 2
    assert f"{missing}: no such file: pass the demo plan with --plan" in " ".join(err.split())
    assert "Traceback" not in err and out == ""


def test_an_invalid_plan_lists_its_problems(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = tmp_path / "demo.yaml"
    plan.write_text("name: demo\nstages: nope\n", encoding="utf-8")
    code, _, err = _run(capsys, "demo", "--no-live", "--plan", str(plan))
    assert code == 2
    assert f"{plan}:2:" in err  # file:line:column problems, as `rollout validate` prints them
    assert "Traceback" not in err


def test_the_help_explains_it_with_an_example(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "demo", "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "Example: rollout demo --fast --no-live" in text
    for option in ("--fast", "--no-live", "--keep-running", "--seed", "--workdir"):
        assert option in text
