"""Many runs, summed up: shares, means and seeds that hold together."""

from __future__ import annotations

from statistics import fmean

import pytest
from simulate_cases import MINUTE, plan, scenario

from rollout.simulate import simulate, simulate_runs


def test_a_regression_is_rolled_back_in_every_run_and_the_means_add_up() -> None:
    p = plan()
    bad = scenario(p, regressions=[{"after": "12m", "error_rate": "x3"}])
    summary = simulate_runs(p, bad, 4)
    assert [run.seed for run in summary.runs] == [bad.seed + i for i in range(4)]
    assert summary.runs[0] == simulate(p, bad)  # run 0 is the single run with the same seed
    assert summary.count == 4 and summary.rolled_back == 4
    assert summary.rolled_back_share == 1.0
    assert summary.outcomes == {"rolled_back": 4}
    times = [run.rollback_at for run in summary.runs if run.rollback_at is not None]
    assert summary.mean_time_to_rollback == pytest.approx(fmean(times))
    # Caught after the regression starts (t+12m), within the stage it starts in (20m bake).
    assert min(times) > 12 * MINUTE and max(times) < 30 * MINUTE
    delays = [run.detection_delay for run in summary.runs if run.detection_delay is not None]
    assert summary.mean_detection_delay == pytest.approx(fmean(delays))
    assert summary.mean_users_exposed == fmean(run.users_bad for run in summary.runs)
    assert summary.mean_users_exposed > 0 and summary.mean_error_events > 0


def test_a_good_release_is_not_rolled_back() -> None:
    p = plan()
    summary = simulate_runs(p, scenario(p), 3, seed=100)
    assert [run.seed for run in summary.runs] == [100, 101, 102]
    assert summary.rolled_back == 0 and summary.rolled_back_share == 0.0
    assert summary.mean_time_to_rollback is None and summary.mean_detection_delay is None
    assert summary.mean_users_exposed == 0.0
    assert summary.to_json()["outcomes"] == {"succeeded": 3}


def test_at_least_one_run() -> None:
    p = plan()
    with pytest.raises(ValueError, match="at least 1"):
        simulate_runs(p, scenario(p), 0)
