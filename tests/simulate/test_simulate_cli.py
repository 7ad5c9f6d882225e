"""``rollout simulate`` as a user runs it, through ``rollout.cli.main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from simulate_cases import plan_data, scenario_data

from rollout.cli import main


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``rollout ARGS``; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    captured = capsys.readouterr()
    code = exit_info.value.code
    return (code if isinstance(code, int) else 1 if code else 0), captured.out, captured.err


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A plan, a scenario with an error regression from t+12m, and a good one."""
    plan, bad, good = tmp_path / "plan.yaml", tmp_path / "bad.yaml", tmp_path / "good.yaml"
    plan.write_text(json.dumps(plan_data()), encoding="utf-8")
    regression = [{"name": "doubled errors", "after": "12m", "error_rate": "x3"}]
    bad.write_text(json.dumps(scenario_data(regressions=regression)), encoding="utf-8")
    good.write_text(json.dumps(scenario_data()), encoding="utf-8")
    return plan, bad, good


def test_one_run_prints_the_timeline_the_stages_and_who_met_the_bad_version(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]
) -> None:
    plan, bad, _ = files
    code, out, err = run(capsys, "simulate", str(plan), "--scenario", str(bad))
    assert (code, err) == (0, "")  # a rollback is an outcome, not an error
    assert f"Dry run of checkout 2.0 against {bad}, seed 4" in out
    assert "rollout of 2.0 started by simulation" in out
    assert "stage 1 (Canary): t+8m" in out and "rolled back" in out
    assert "rollback trigger fired: error_rate: no regression" in out
    assert "Outcome: rolled_back (ended after" in out
    assert "Users who met the bad version:" in out


def test_json_holds_the_same_run(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]
) -> None:
    plan, bad, _ = files
    code, out, _ = run(capsys, "simulate", str(plan), "-s", str(bad), "--json", "--seed", "9")
    assert code == 0
    data = json.loads(out)
    assert (data["plan"], data["scenario"], data["seed"]) == (str(plan), str(bad), 9)
    assert data["status"] == "rolled_back"
    assert data["phases"][0]["name"] == "stage 1 (Canary)"
    assert data["users_exposed_to_bad_version"] > 0
    code, again, _ = run(capsys, "simulate", str(plan), "-s", str(bad), "--json", "--seed", "9")
    assert again == out


def test_runs_print_a_summary(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path]
) -> None:
    plan, bad, good = files
    code, out, _ = run(capsys, "simulate", str(plan), "-s", str(bad), "--runs", "3", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["summary"]["runs"] == 3 and data["summary"]["rolled_back_share"] == 1.0
    assert [r["seed"] for r in data["runs"]] == [4, 5, 6]
    assert {r["rolled_back_in"] for r in data["runs"]} == {"production · stage 1 (Canary)"}
    assert "events" not in data["runs"][0]
    code, out, _ = run(capsys, "simulate", str(plan), "-s", str(good), "--runs", "2")
    assert code == 0
    assert "2 dry runs of checkout 2.0" in out and "seeds 4-5" in out
    assert "Outcomes: succeeded 2" in out and "Rolled back: 0% of runs (0 of 2)" in out


def test_a_bad_scenario_is_reported_at_its_line_and_column_with_exit_2(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    plan, _, _ = files
    broken = tmp_path / "broken.yaml"
    broken.write_text("traffic:\n  requests_per_second: lots\nworld: {approvals: {prod: 1h}}\n")
    code, out, err = run(capsys, "simulate", str(plan), "--scenario", str(broken))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"{broken}:2:24: traffic.requests_per_second: expected a number, found 'lots'",
    ]
    broken.write_text("traffic: {requests_per_second: 1}\nworld: {approvals: {prod: 1h}}\n")
    code, _, err = run(capsys, "simulate", str(plan), "--scenario", str(broken))
    assert code == 2
    assert err.startswith(f"{broken}:2:21: world.approvals.prod: the plan has no environment")
    assert "Traceback" not in err


def test_a_bad_plan_or_a_missing_file_exits_2(
    capsys: pytest.CaptureFixture[str], files: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    plan, bad, _ = files
    code, _, err = run(capsys, "simulate", str(plan), "--scenario", str(tmp_path / "no.yaml"))
    assert (code, err.strip()) == (2, f"{tmp_path / 'no.yaml'}: no such file")
    broken_plan = tmp_path / "broken-plan.yaml"
    broken_plan.write_text(plan.read_text().replace('"20m"', '"20 minutes"', 1))
    code, _, err = run(capsys, "simulate", str(broken_plan), "--scenario", str(bad))
    assert code == 2 and "stages[0].duration: unknown unit 'minutes'" in err
    code, _, err = run(capsys, "simulate", str(plan), "--scenario", str(bad), "--runs", "0")
    assert code == 2 and "--runs" in err


def test_the_bad_version_reaches_a_stages_percentage_of_its_segment(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # 2,000 users; the segment holds 10 % of them (200); the stage opens to 25 % of it: 50.
    data = plan_data()
    data["stages"][0]["audience"] = {"percent": 25, "segment": "beta"}
    plan, bad = tmp_path / "plan.yaml", tmp_path / "bad.yaml"
    plan.write_text(json.dumps(data), encoding="utf-8")
    scenario = scenario_data(
        segments={"beta": "10%"},
        traffic={"requests_per_second": 20, "users": 2000},
        regressions=[{"latency_p99": "+10%"}],
        horizon="25m",
    )
    bad.write_text(json.dumps(scenario), encoding="utf-8")
    code, out, _ = run(capsys, "simulate", str(plan), "--scenario", str(bad))
    assert code == 0
    assert "Users who met the bad version: 50 (production 50);" in out
