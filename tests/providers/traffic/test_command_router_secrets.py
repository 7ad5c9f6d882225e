"""The command router's scripts get the secrets their command line names, through the shell;
what they print of them is masked in every error that quotes their output."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.errors import TrafficError
from rollout.plan.model import CommandRouter
from rollout.providers.traffic import RouterContext
from rollout.providers.traffic.command import CommandTrafficRouter

TOKEN = "lb-s3cret-token-77"


def router(tmp_path: Path, **fields: object) -> CommandTrafficRouter:
    spec = CommandRouter.model_validate({"type": "command", **fields})
    return CommandTrafficRouter(spec, RouterContext("v2", "production", tmp_path))


@pytest.fixture(autouse=True)
def token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LB_TOKEN", TOKEN)


def test_a_failing_set_script_is_quoted_with_the_secret_masked(tmp_path: Path) -> None:
    # The script really got the value: it wrote it where only the test looks.
    set_ = 'echo "$1" > got.txt; echo "denied for $1"; echo "token $1 expired" >&2; exit 2'
    failing = router(tmp_path, set=f"sh -c '{set_}' - ${{LB_TOKEN}} {{weight}}")

    with pytest.raises(TrafficError) as caught:
        failing.set_weight(5, key="r1:stage-1:1")

    assert (tmp_path / "got.txt").read_text().strip() == TOKEN
    said = str(caught.value)
    assert "exited with 2" in said and "denied for ****" in said and "token **** expired" in said
    assert TOKEN not in said


@pytest.mark.parametrize(
    "get",
    [
        'echo "auth ${LB_TOKEN}"; echo "no weight for ${LB_TOKEN}" >&2; exit 1',
        'echo "weight for ${LB_TOKEN}: a quarter"',
    ],
)
def test_a_get_script_that_cannot_tell_is_quoted_with_the_secret_masked(
    tmp_path: Path, get: str
) -> None:
    with pytest.raises(TrafficError) as caught:
        router(tmp_path, set="true", get=get).get_weight()

    assert "****" in str(caught.value)
    assert TOKEN not in str(caught.value)
