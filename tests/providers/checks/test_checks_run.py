"""run_check dispatches plan check models; manual sign-offs are judged, not run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from checks_http_server import Server, http_server

from rollout.errors import CheckError
from rollout.plan.model import Check, ChecklistItem, CommandCheck, HttpCheck, ManualSignOff
from rollout.providers.checks import CheckContext, run_check, satisfies, sign_off_problem


@pytest.fixture
def server() -> Iterator[Server]:
    with http_server() as running:
        yield running


@pytest.fixture
def context(tmp_path: Path) -> CheckContext:
    return CheckContext("r-7", "v3", environment="staging", key="r-7:gate/1:1", base_dir=tmp_path)


def test_a_checklist_command_item_runs_with_its_own_timeout(context: CheckContext) -> None:
    item = ChecklistItem.model_validate({"item": "slow gate", "run": "sleep 5", "timeout": "0.3s"})

    result = run_check(item, context)

    assert not result.passed
    assert "timed out after 0.3 s" in result.summary


def test_a_checklist_http_item_retries_as_the_plan_says(
    server: Server, context: CheckContext
) -> None:
    item = ChecklistItem.model_validate(
        {"item": "health", "http": {"url": f"{server.base}/flaky?fails=1"}, "retries": 2}
    )
    waits: list[float] = []

    result = run_check(item, context, sleep=waits.append)

    assert result.passed
    assert waits == [1.0]


def test_the_retries_can_be_overridden_by_the_caller(server: Server, context: CheckContext) -> None:
    item = ChecklistItem.model_validate(
        {"item": "health", "http": {"url": f"{server.base}/flaky?fails=1"}, "retries": 2}
    )

    result = run_check(item, context, retries=0, sleep=lambda _: None)

    assert not result.passed
    assert server.counts["/flaky"] == 1


def test_a_validation_check_runs_its_command(context: CheckContext) -> None:
    check = Check.model_validate({"name": "smoke", "run": 'test "$ROLLOUT_ENVIRONMENT" = staging'})

    assert run_check(check, context).passed


def test_a_validation_http_check_runs(server: Server, context: CheckContext) -> None:
    check = Check.model_validate({"name": "smoke", "http": {"url": f"{server.base}/fail"}})

    result = run_check(check, context)

    assert not result.passed
    assert "answered 503, expected 200" in result.summary


def test_a_deploy_command_runs_in_its_directory_with_its_env(
    context: CheckContext, tmp_path: Path
) -> None:
    (tmp_path / "ops").mkdir()
    command = CommandCheck(run='echo "$TARGET" > target.txt', cwd="ops", env={"TARGET": "blue"})

    result = run_check(command, context, timeout=10)

    assert result.passed, result.summary
    assert (tmp_path / "ops" / "target.txt").read_text() == "blue\n"


def test_a_bare_http_check_runs(server: Server, context: CheckContext) -> None:
    assert run_check(HttpCheck(url=f"{server.base}/health"), context).passed


@pytest.mark.parametrize(
    ("gate", "says"),
    [
        ({"manual": {"role": "security"}}, "manual sign-off"),
        ({"migrations": "tested"}, "'migrations' gate"),
        ({"rollback": "documented"}, "'rollback' gate"),
        ({"monitoring": "configured"}, "'monitoring' gate"),
    ],
)
def test_gates_that_are_not_checks_are_refused(
    context: CheckContext, gate: dict[str, object], says: str
) -> None:
    item = ChecklistItem.model_validate({"item": "proof", **gate})

    with pytest.raises(CheckError, match=says):
        run_check(item, context)


def test_a_sign_off_needs_the_role() -> None:
    gate = ManualSignOff(role="security")

    assert satisfies(gate, "carol", ["dev", "security"])
    assert sign_off_problem(gate, "bob", ["dev"]) == (
        "it needs someone with the role 'security', which bob does not hold"
    )


def test_a_sign_off_with_people_needs_one_of_them() -> None:
    gate = ManualSignOff(role="security", people=("carol", "dan", "erin"))

    assert satisfies(gate, "dan", ["security"])
    assert not satisfies(gate, "frank", ["security"])
    assert sign_off_problem(gate, "frank", ["security"]) == (
        "only carol, dan or erin may sign it off, not frank"
    )
    assert not satisfies(gate, "carol", ["dev"])  # named, but without the role
