"""The plan commands as a user runs them: init, validate, render, schema.

Most tests go through ``rollout.cli.main`` (the console script's entry point, with its error
handling); one group runs the installed ``rollout`` script in a real subprocess.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rollout.cli import main
from rollout.plan.loader import load_plan
from rollout.plan.render import render_document
from rollout.plan.schema import plan_json_schema

FIXTURE = Path(__file__).parents[1] / "plan" / "render_fixture.yaml"
STRATEGIES = ("canary", "blue-green", "rolling", "feature-flag")


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``rollout ARGS``; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1 if code else 0), captured.out, captured.err


@pytest.fixture
def broken(tmp_path: Path) -> Path:
    """The fixture plan with two mistakes: a duration in unknown units and a bad percentage."""
    text = FIXTURE.read_text(encoding="utf-8")
    text = text.replace("duration: 2h", "duration: 2 hrs").replace("rollout: 25%", "rollout: 250%")
    path = tmp_path / "broken.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def line_of(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


# --------------------------------------------------------------------------- validate


def test_validate_reports_a_valid_plan_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "validate", str(FIXTURE))
    assert code == 0
    assert out == f"✓ {FIXTURE}: valid (canary, 3 environments, 3 stages)\n"


def test_validate_shows_file_names_as_they_are(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = tmp_path / "[prod] rollout.yaml"  # brackets are not console markup
    plan.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    code, out, _ = run(capsys, "validate", str(plan))
    assert code == 0
    assert out.startswith(f"✓ {plan}: valid")


def test_validate_lists_every_problem_at_its_place(
    capsys: pytest.CaptureFixture[str], broken: Path
) -> None:
    code, out, _ = run(capsys, "validate", str(broken))
    assert code == 2
    lines = out.splitlines()
    assert lines[-1] == f"✗ {broken}: invalid (2 problems)"
    problems = lines[:-1]
    assert len(problems) == 2
    duration_line, percent_line = line_of(broken, "2 hrs"), line_of(broken, "250%")
    assert problems[0].startswith(f"{broken}:{percent_line}:")
    assert ": flags[1].rollout: " in problems[0]
    assert problems[1].startswith(f"{broken}:{duration_line}:")
    assert ": stages[1].duration: " in problems[1]


def test_validate_checks_every_file_and_fails_if_any_is_invalid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.yaml"
    code, out, err = run(capsys, "validate", str(FIXTURE), str(missing))
    assert code == 2
    assert f"✓ {FIXTURE}: valid" in out
    assert f"{missing}: no such file" in out
    assert "Traceback" not in out + err


def test_validate_json_is_machine_readable(
    capsys: pytest.CaptureFixture[str], broken: Path
) -> None:
    code, out, _ = run(capsys, "validate", "--json", str(FIXTURE), str(broken))
    assert code == 2
    report = json.loads(out)
    assert report["valid"] is False
    good, bad = report["plans"]
    assert good == {
        "file": str(FIXTURE),
        "valid": True,
        "strategy": "canary",
        "environments": 3,
        "stages": 3,
        "problems": [],
    }
    assert bad["valid"] is False
    assert {problem["path"] for problem in bad["problems"]} == {
        "flags[1].rollout",
        "stages[1].duration",
    }
    assert all(problem["line"] > 0 and problem["column"] > 0 for problem in bad["problems"])


# --------------------------------------------------------------------------- render


def test_render_prints_the_document(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "render", str(FIXTURE))
    assert code == 0
    assert out == render_document(load_plan(FIXTURE))


def test_render_writes_a_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "ROLLOUT.md"
    code, out, err = run(capsys, "render", str(FIXTURE), "-o", str(target))
    assert code == 0
    assert out == ""
    assert target.read_text(encoding="utf-8") == render_document(load_plan(FIXTURE))
    assert str(target) in err


def test_render_refuses_to_overwrite_the_plan(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    plan = tmp_path / "rollout.yaml"
    plan.write_text(FIXTURE.read_text(encoding="utf-8"), encoding="utf-8")
    code, _, err = run(capsys, "render", str(plan), "--output", str(plan))
    assert code == 2
    assert "is the plan itself" in err
    assert plan.read_text(encoding="utf-8") == FIXTURE.read_text(encoding="utf-8")


def test_render_of_an_invalid_plan_prints_its_problems(
    capsys: pytest.CaptureFixture[str], broken: Path
) -> None:
    code, out, err = run(capsys, "render", str(broken))
    assert code == 2
    assert out == ""
    assert f"{broken}:{line_of(broken, '2 hrs')}:" in err
    assert "Traceback" not in err


def test_render_to_an_unwritable_place_is_a_plain_message(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "no" / "such" / "dir" / "ROLLOUT.md"
    code, _, err = run(capsys, "render", str(FIXTURE), "-o", str(target))
    assert code == 2
    assert f"{target}: cannot write" in err


# --------------------------------------------------------------------------- schema


def test_schema_prints_the_plan_json_schema(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, _ = run(capsys, "schema")
    assert code == 0
    assert json.loads(out) == plan_json_schema()
    target = tmp_path / "rollout.schema.json"
    code, _, _ = run(capsys, "schema", "-o", str(target))
    assert code == 0
    assert json.loads(target.read_text(encoding="utf-8")) == plan_json_schema()


# --------------------------------------------------------------------------- init


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_init_writes_a_valid_starter_of_the_strategy(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, strategy: str
) -> None:
    target = tmp_path / "rollout.yaml"
    code, out, err = run(capsys, "init", "--strategy", strategy, "-o", str(target))
    assert code == 0
    assert out == ""
    assert f"rollout validate {target}" in err
    plan = load_plan(target)
    assert plan.strategy.type == strategy
    assert "#" in target.read_text(encoding="utf-8")  # the starter is commented


def test_init_prints_the_canary_starter_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "init")
    assert code == 0
    assert "type: canary" in out


def test_init_overwrites_only_with_force(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    target = tmp_path / "rollout.yaml"
    target.write_text("mine\n", encoding="utf-8")
    code, _, err = run(capsys, "init", "-o", str(target))
    assert code == 2
    assert "already exists" in err
    assert "--force" in err
    assert target.read_text(encoding="utf-8") == "mine\n"
    code, _, _ = run(capsys, "init", "-o", str(target), "--force")
    assert code == 0
    assert load_plan(target).strategy.type == "canary"


def test_init_rejects_an_unknown_strategy(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "init", "--strategy", "big-bang")
    assert code == 2
    assert out == ""
    assert "big-bang" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["init", "validate", "render", "schema"])
def test_every_command_explains_itself_with_an_example(
    capsys: pytest.CaptureFixture[str], command: str
) -> None:
    code, out, _ = run(capsys, command, "--help")
    assert code == 0
    assert f"Example: rollout {command}" in " ".join(out.split())


# --------------------------------------------------------------------------- the real script


SCRIPT = Path(sys.executable).with_name("rollout")


def script(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    if not SCRIPT.exists():
        pytest.fail(f"the rollout script is not installed next to {sys.executable}")
    return subprocess.run(
        [str(SCRIPT), *args], capture_output=True, text=True, cwd=cwd, timeout=60, check=False
    )


def test_the_installed_script_validates_and_renders(tmp_path: Path) -> None:
    valid = script("validate", str(FIXTURE), cwd=tmp_path)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith(f"✓ {FIXTURE}: valid")
    rendered = script("render", str(FIXTURE), "-o", "ROLLOUT.md", cwd=tmp_path)
    assert rendered.returncode == 0, rendered.stderr
    assert (tmp_path / "ROLLOUT.md").read_text(encoding="utf-8").startswith("# Rollout Plan\n")


def test_the_installed_script_reports_a_missing_plan_without_a_traceback(tmp_path: Path) -> None:
    result = script("render", "nowhere.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "nowhere.yaml: no such file"
