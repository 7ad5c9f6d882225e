"""Command checks with real shell commands: how each way a command ends is worded, and what
the command is told (the runner itself: tests/providers/test_process_runner.py)."""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from rollout.providers.checks import CheckContext, run_command
from rollout.providers.checks.command import DISPLAY_TAIL

PY = shlex.quote(sys.executable)


@pytest.fixture
def context(tmp_path: Path) -> CheckContext:
    return CheckContext(
        rollout_id="r-42",
        version="v2.4.0",
        environment="production",
        stage="canary 5%",
        key="r-42:production/stage-1/check:3",
        base_dir=tmp_path,
    )


def test_a_command_that_exits_0_passes(context: CheckContext) -> None:
    result = run_command("echo hello from the check", context, timeout=10)

    assert result.passed
    assert result.summary.startswith("`echo hello from the check` exited 0 in ")
    assert "hello from the check" in result.output_tail
    assert result.details["exit_code"] == 0


def test_a_failing_command_says_its_exit_code_and_last_stderr_line(
    context: CheckContext,
) -> None:
    command = "echo 'ran 12 tests'; echo 'warning: slow' >&2; echo 'FAILED test_total' >&2; exit 2"

    result = run_command(command, context, timeout=10)

    assert not result.passed
    assert result.summary.endswith(": FAILED test_total")
    assert " exited 2 after " in result.summary
    assert result.details["exit_code"] == 2
    assert result.details["stderr"] == "warning: slow\nFAILED test_total\n"
    assert "ran 12 tests" in result.output_tail and "FAILED test_total" in result.output_tail


def test_a_failure_without_stderr_quotes_stdout(context: CheckContext) -> None:
    result = run_command("echo 'database is not ready'; exit 1", context, timeout=10)

    assert result.summary.startswith("`echo 'database is not ready'; exit 1` exited 1 after ")
    assert result.summary.endswith(": database is not ready")


def test_a_timeout_is_a_failed_check_quoting_the_last_output(context: CheckContext) -> None:
    result = run_command("echo started; sleep 30", context, timeout=0.3, grace=0.5)

    assert not result.passed
    assert result.summary.endswith("` timed out after 0.3 s and was stopped; last output: started")
    assert result.details["timed_out"] is True


def test_a_command_that_is_not_found_is_a_failed_check(context: CheckContext) -> None:
    result = run_command("no-such-command-anywhere --check", context, timeout=10)

    assert not result.passed
    assert result.summary.startswith(
        "`no-such-command-anywhere --check` could not start: command not found ("
    )
    assert "no-such-command-anywhere" in result.summary.split("(", 1)[1]


def test_a_file_that_is_not_executable_is_a_failed_check(
    context: CheckContext, tmp_path: Path
) -> None:
    (tmp_path / "smoke.sh").write_text("#!/bin/sh\necho hi\n")

    result = run_command("./smoke.sh", context, timeout=10)

    assert result.summary.startswith("`./smoke.sh` could not start: found but not executable")


def test_a_missing_working_directory_is_a_failed_check(context: CheckContext) -> None:
    result = run_command("true", context, timeout=10, cwd="deploy/missing")

    assert not result.passed
    assert result.summary.startswith("`true` could not start: the working directory ")
    assert result.summary.endswith("deploy/missing does not exist")


def test_a_command_killed_by_a_signal_says_which(context: CheckContext) -> None:
    result = run_command("kill -KILL $$", context, timeout=10)

    assert not result.passed
    assert "was killed by signal 9 (SIGKILL)" in result.summary


def test_the_rollout_context_and_plan_env_are_in_the_environment(
    context: CheckContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SMOKE_TOKEN", "token-from-the-controller")
    dump = (
        f"{PY} -c 'import json, os; print(json.dumps({{k: v for k, v in os.environ.items() "
        f'if k.startswith(("ROLLOUT_", "PLAN_"))}}))\''
    )
    env = {"PLAN_TOKEN": "${SMOKE_TOKEN}", "PLAN_MODE": "strict", "ROLLOUT_ID": "spoofed"}

    result = run_command(dump, context, timeout=10, env=env)

    assert result.passed, result.summary
    seen = json.loads(result.output_tail)
    assert seen == {
        "ROLLOUT_ID": "r-42",
        "ROLLOUT_VERSION": "v2.4.0",
        "ROLLOUT_ENVIRONMENT": "production",
        "ROLLOUT_STAGE": "canary 5%",
        "ROLLOUT_IDEMPOTENCY_KEY": "r-42:production/stage-1/check:3",
        "ROLLOUT_STEP": "production/stage-1/check",
        "ROLLOUT_ATTEMPT": "3",
        "ROLLOUT_INSTANCE": "",
        # The command got the secret; what we keep of its output has it masked.
        "PLAN_TOKEN": "****",
        "PLAN_MODE": "strict",
    }
    check = run_command(
        'test "$PLAN_TOKEN" = token-from-the-controller', context, timeout=10, env=env
    )
    assert check.passed, check.summary


def test_an_unset_variable_in_the_plan_env_stops_the_command_before_it_runs(
    context: CheckContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DEPLOY_KEY", raising=False)

    result = run_command("touch ran", context, timeout=10, env={"KEY": "${DEPLOY_KEY}"})

    assert not result.passed
    assert result.summary == "`touch ran` did not run: ${DEPLOY_KEY} is not set in the environment"
    assert not (tmp_path / "ran").exists()


def test_the_working_directory_is_relative_to_the_plan(
    context: CheckContext, tmp_path: Path
) -> None:
    (tmp_path / "deploy").mkdir()

    result = run_command("pwd", context, timeout=10, cwd="deploy")

    assert Path(result.output_tail).resolve() == (tmp_path / "deploy").resolve()


def test_the_details_keep_the_end_of_each_stream_and_say_how_much_was_cut(
    context: CheckContext,
) -> None:
    command = f"{PY} -c \"print('x' * 20_000); print('the end')\""

    result = run_command(command, context, timeout=10, limit=10_000)

    stdout = result.details["stdout"]
    assert isinstance(stdout, str) and len(stdout) == 10_000 and stdout.endswith("the end\n")
    assert result.details["stdout_dropped_bytes"] == 20_000 + len("\nthe end\n") - 10_000
    assert result.output_tail == "…" + stdout.strip()[-DISPLAY_TAIL:]


def test_a_long_or_multi_line_command_is_cut_in_the_summary(context: CheckContext) -> None:
    long = run_command("true " + "x" * 200, context, timeout=10)
    multi = run_command("true\necho second line", context, timeout=10)

    assert long.summary.startswith("`true " + "x" * 75 + " …` exited 0 in ")
    assert multi.summary.startswith("`true …` exited 0 in ")


def test_an_environment_value_that_cannot_be_passed_is_a_failed_check(
    context: CheckContext,
) -> None:
    result = run_command("true", context, timeout=10, env={"BROKEN": "a\x00b"})

    assert not result.passed
    assert result.summary == "`true` could not start: embedded null byte"
