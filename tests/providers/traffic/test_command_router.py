"""The command router with real scripts: arguments, environment, timeout, failures, read-back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rollout.errors import TrafficError
from rollout.plan.model import CommandRouter
from rollout.providers.traffic import RouterContext, router_for
from rollout.providers.traffic.command import CommandTrafficRouter, parse_percent, render

# Records its arguments and the ROLLOUT_* environment as one JSON line, and keeps the weight
# where the get script finds it.
SET_SCRIPT = """\
#!/bin/sh
python3 - "$@" <<'EOF' >> calls.jsonl
import json, os, sys
keys = ("ROLLOUT_WEIGHT", "ROLLOUT_VERSION", "ROLLOUT_ENVIRONMENT", "ROLLOUT_IDEMPOTENCY_KEY")
print(json.dumps({"args": sys.argv[1:], "env": {k: os.environ.get(k) for k in keys}}))
EOF
printf '%s\\n' "$1" > weight.txt
echo "weight set to $1"
"""
GET_SCRIPT = "#!/bin/sh\necho 'reading the live weight' >&2\ncat weight.txt\n"


@pytest.fixture
def plan_dir(tmp_path: Path) -> Path:
    for name, text in (("set.sh", SET_SCRIPT), ("get.sh", GET_SCRIPT)):
        script = tmp_path / name
        script.write_text(text)
        script.chmod(0o755)
    return tmp_path


def make_router(plan_dir: Path, **fields: object) -> CommandTrafficRouter:
    spec = CommandRouter.model_validate({"type": "command", **fields})
    context = RouterContext(
        version="v2 'quoted'; echo injected", environment="production", base_dir=plan_dir
    )
    return CommandTrafficRouter(spec, context)


def calls(plan_dir: Path) -> list[dict[str, object]]:
    lines = (plan_dir / "calls.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines]


def test_set_gets_its_templated_arguments_and_the_idempotency_key(plan_dir: Path) -> None:
    router = make_router(
        plan_dir, set="./set.sh {weight} {version} {environment} {key}", get="./get.sh"
    )

    applied = router.set_weight(2.5, key="r1:production/stage-1/traffic:1")

    assert applied.verified and applied.canary_percent == 2.5
    [call] = calls(plan_dir)
    version = "v2 'quoted'; echo injected"  # arrives as one argument, never run as shell
    assert call["args"] == ["2.5", version, "production", "r1:production/stage-1/traffic:1"]
    assert call["env"] == {
        "ROLLOUT_WEIGHT": "2.5",
        "ROLLOUT_VERSION": version,
        "ROLLOUT_ENVIRONMENT": "production",
        "ROLLOUT_IDEMPOTENCY_KEY": "r1:production/stage-1/traffic:1",
    }
    assert router.get_weight() == 2.5


def test_finalize_sends_everything_to_the_new_version_or_back(plan_dir: Path) -> None:
    router = make_router(plan_dir, set="./set.sh {weight}", get="./get.sh")

    assert router.finalize(promoted=True, key="r1:done:1").canary_percent == 100.0
    assert router.finalize(promoted=False, key="r1:rollback:1").canary_percent == 0.0
    assert [call["args"] for call in calls(plan_dir)] == [["100"], ["0"]]


def test_without_a_get_command_the_result_says_unverified(plan_dir: Path) -> None:
    router = make_router(plan_dir, set="./set.sh {weight}")

    applied = router.set_weight(5, key="r1:stage-1:1")

    assert applied.verified is False
    assert applied.canary_percent == 5.0
    assert "not read back" in applied.detail
    with pytest.raises(TrafficError, match="no get command"):
        router.get_weight()


def test_a_set_command_that_fails_raises_with_its_output(plan_dir: Path) -> None:
    router = make_router(
        plan_dir, set="echo 'load balancer said no'; echo 'quota exceeded' >&2; exit 3"
    )

    with pytest.raises(TrafficError, match="exited with 3") as caught:
        router.set_weight(5, key="r1:stage-1:1")
    assert "load balancer said no" in str(caught.value)
    assert "quota exceeded" in str(caught.value)


def test_a_set_command_that_hangs_is_stopped_at_its_timeout(plan_dir: Path) -> None:
    router = make_router(plan_dir, set="echo started; sleep 30; echo never", timeout=0.5)

    with pytest.raises(TrafficError, match=r"(?s)did not finish within 0.5 s.*started") as caught:
        router.set_weight(5, key="r1:stage-1:1")
    assert "never" not in str(caught.value)


def test_a_set_script_that_is_not_there_cannot_start(plan_dir: Path) -> None:
    router = make_router(plan_dir, set="./deploy/set-weight.sh {weight}")

    with pytest.raises(TrafficError) as caught:
        router.set_weight(5, key="r1:stage-1:1")
    said = str(caught.value)
    assert said.startswith("the traffic set command could not be started: command not found;")
    assert "set-weight.sh" in said


def test_a_read_back_that_differs_is_a_mismatch(plan_dir: Path) -> None:
    router = make_router(plan_dir, set="./set.sh {weight}", get="echo 7")

    with pytest.raises(TrafficError, match=r"read-back mismatch: asked for 5% .* reports 7%"):
        router.set_weight(5, key="r1:stage-1:1")


@pytest.mark.parametrize(
    ("get", "message"),
    [
        ("echo 'about a quarter'", "not a percentage"),
        ("true", "printed nothing"),
        ("echo 250", "not a percentage from 0 to 100"),
        ("echo 'no state file' >&2; exit 1", r"(?s)exited with 1.*no state file"),
    ],
)
def test_a_get_command_that_cannot_tell_is_an_error(plan_dir: Path, get: str, message: str) -> None:
    router = make_router(plan_dir, set="true", get=get)

    with pytest.raises(TrafficError, match=message):
        router.get_weight()


def test_a_misspelt_placeholder_is_rejected_before_anything_runs(plan_dir: Path) -> None:
    with pytest.raises(TrafficError, match=r"unknown placeholder \{wieght\}"):
        make_router(plan_dir, set="./set.sh {wieght}")
    with pytest.raises(TrafficError, match=r"unknown placeholder \{weight\}"):
        make_router(plan_dir, set="./set.sh {weight}", get="./get.sh {weight}")
    assert not (plan_dir / "calls.jsonl").exists()


def test_shell_braces_are_left_to_the_shell() -> None:
    template = "awk '{print $1}' ${HOME}/w {weight}"
    assert render(template, {"weight": "5"}) == "awk '{print $1}' ${HOME}/w 5"


@pytest.mark.parametrize(
    ("output", "expected"),
    [("25\n", 25.0), ("note\n 2.5 % \n\n", 2.5), ("0", 0.0), ("100%", 100.0), (".5", 0.5)],
)
def test_parse_percent_reads_the_last_line(output: str, expected: float) -> None:
    assert parse_percent(output) == expected


def test_a_weight_outside_0_to_100_is_refused(plan_dir: Path) -> None:
    router = make_router(plan_dir, set="./set.sh {weight}")
    with pytest.raises(TrafficError, match="from 0 to 100"):
        router.set_weight(101, key="r1:x:1")
    assert not (plan_dir / "calls.jsonl").exists()


def test_registry_builds_the_command_router(plan_dir: Path) -> None:
    spec = CommandRouter(type="command", set="./set.sh {weight}", get="./get.sh")
    router = router_for(spec, RouterContext(version="v2", environment="t", base_dir=plan_dir))
    assert isinstance(router, CommandTrafficRouter)
    assert router.set_weight(50, key="r1:stage-3:1").canary_percent == 50.0
