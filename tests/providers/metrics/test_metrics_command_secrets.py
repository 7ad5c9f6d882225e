"""The metric command gets the secrets its command line names, through the shell; what it
prints of them is masked in the errors that quote its output."""

from __future__ import annotations

from pathlib import Path

import pytest

from rollout.analysis import infer_metric_spec
from rollout.errors import MetricsError
from rollout.plan.model import CommandSource
from rollout.providers.metrics import ArmSelector, CommandMetricSource

TOKEN = "warehouse-s3cret-42"
T0 = 1_767_225_600.0


@pytest.mark.parametrize(
    ("run", "said"),
    [
        ('echo "login as ${WH_TOKEN} refused" >&2; exit 3', "exited with 3"),
        ('echo "session ${WH_TOKEN}"; echo "query failed" >&2; exit 1', "exited with 1"),
    ],
)
def test_a_failing_metric_script_is_quoted_with_the_secret_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run: str, said: str
) -> None:
    monkeypatch.setenv("WH_TOKEN", TOKEN)
    spec = infer_metric_spec("error_rate")
    assert spec is not None
    source = CommandMetricSource(CommandSource(type="command", run=run, timeout=0.5), tmp_path)

    with pytest.raises(MetricsError, match=said) as caught:
        source.fetch(
            "error_rate", spec, None, ArmSelector("production"), start=T0, end=T0 + 60, step=30
        )

    assert "****" in str(caught.value)
    assert TOKEN not in str(caught.value)
