"""``rollout start|status|approve|reject|pause|resume|promote|abort|retry|history|controller``
and ``rollout render --rollout`` as a user runs them, with a controller ticking on a fake
clock in between."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from shell_plans import FakeClock, canary, write_plan

from rollout.cli import main
from rollout.engine.controller import Controller
from rollout.store import Store, open_store


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


class Cli:
    """The CLI on one database, and an in-process controller on a fake clock beside it."""

    def __init__(self, capsys: pytest.CaptureFixture[str], url: str, store: Store) -> None:
        self.capsys, self.url, self.store = capsys, url, store
        self.clock = FakeClock()
        self.controller = Controller(store, owner="ctl", clock=self.clock)

    def __call__(self, *args: str, actor: str = "alice") -> tuple[int, str, str]:
        return run(self.capsys, *args, "--database", self.url, "--actor", actor)

    def plain(self, *args: str) -> tuple[int, str, str]:
        return run(self.capsys, *args, "--database", self.url)

    def tick(self, times: int = 1) -> str:
        for _ in range(times):
            self.controller.run_once()
            self.clock.advance(60)
        return self.status()

    def status(self) -> str:
        code, out, _ = self.plain("status", "--json")
        assert code == 0
        return str(json.loads(out)[0]["status"])


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> Iterator[Cli]:
    url = f"sqlite:///{tmp_path / 'rollout.db'}"
    with open_store(url) as store:
        yield Cli(capsys, url, store)


def started(cli: Cli, work: Path, text: str | None = None) -> str:
    code, out, err = cli("start", str(write_plan(work, text or canary())))
    assert code == 0, err
    assert out.startswith("Started rollout ro_") and out.endswith(" of shop 2.0.\n")
    assert "rollout status" in err
    return out.split()[2]


def test_start_then_the_cli_controller_then_status_and_history(cli: Cli, work: Path) -> None:
    rid = started(cli, work)
    code, out, _ = cli.plain("controller", "--once", "--id", "cli-ctl")
    assert (code, out) == (0, f"{rid}: validating\n")

    code, out, _ = cli.plain("status", rid, "--json")
    view = json.loads(out)[0]
    assert (view["status"], view["environment"], view["controller"]) == (
        "validating",
        "staging",
        "cli-ctl",
    )
    code, out, _ = cli.plain("status")
    assert code == 0 and rid[:8] in out and "validat" in out
    code, out, _ = cli.plain("status", rid)
    assert code == 0 and "Environment" in out and "staging (1 of 2)" in out

    code, out, err = cli.plain("history", rid)
    assert code == 0 and "rollout.created" in out and "about to run_gate for gate/1" in out
    assert f"chain {rid}:" in err and "intact" in err
    code, out, _ = cli.plain("history", rid, "--json")
    trail = json.loads(out)
    assert trail["intact"] is True
    kinds = [e["kind"] for e in trail["events"]]
    assert kinds[0] == "rollout.created" and kinds.count("action.intent") == 6
    assert {e["actor"] for e in trail["events"]} == {"alice", "cli-ctl"}


def test_approvals_and_verbs_given_on_the_cli_reach_the_controller(cli: Cli, work: Path) -> None:
    rid = started(cli, work)
    assert cli.tick(3) == "awaiting_approval"
    code, _, err = cli("approve", rid, actor="alice")
    assert code == 0  # recorded, but the engine does not count the starter's own approval
    code, out, _ = cli("approve", rid, "--comment", "QA passed", actor="bob")
    assert (code, out) == (0, f"bob approved production for {rid}.\n")
    assert cli.tick() == "observing"

    code, out, _ = cli("pause", rid, "-m", "checking a graph", actor="dana")
    assert (code, out) == (0, f"Pause of {rid} queued by dana; the controller applies it.\n")
    assert cli.tick(3) == "paused"
    code, _, err = cli("promote", rid)
    assert code == 2 and "cannot promote" in err and "paused" in err
    assert cli("resume", rid)[0] == 0
    assert cli.tick() == "observing"
    assert cli("promote", rid, actor="erin")[0] == 0
    cli.controller.run_once()
    code, out, _ = cli.plain("status", rid, "--json")
    assert json.loads(out)[0]["stage"] == "Everyone"
    assert cli("abort", rid, "-m", "enough")[0] == 0
    assert cli.tick() == "rolled_back"
    code, out, _ = cli.plain("status", rid, "--json")
    [view] = json.loads(out)
    assert (view["status"], view["audience_percent"]) == ("rolled_back", 0.0)

    code, out, _ = cli.plain("history", rid)
    for said in (
        "paused by dana (checking a graph)",
        "resumed by alice",
        "promoted by erin",
        "aborted by alice (enough)",
        "alice started this rollout, and production does not allow self-approval",
    ):
        assert said in out


def test_a_manual_gate_is_signed_off_on_the_cli(cli: Cli, work: Path) -> None:
    text = canary().replace(
        "  - item: Audit clean\n    run: ./ledger.sh gate-audit\n",
        "  - item: Docs updated\n    manual: {role: writer}\n",
    )
    rid = started(cli, work, text)
    assert cli.tick() == "gating"
    code, _, err = cli("approve", rid, "--gate", "2", actor="ann")
    assert code == 2 and "pass --role writer if you hold it" in err
    code, out, _ = cli("approve", rid, "--gate", "2", "--role", "writer", actor="ann")
    assert (code, out) == (0, f"ann signed off gate 2 of {rid}.\n")
    assert cli.tick() != "gating"


def test_render_with_a_rollout_ticks_what_passed(cli: Cli, work: Path) -> None:
    rid = started(cli, work)
    for _ in range(30):
        status = cli.tick()
        if status == "awaiting_approval":
            cli("approve", rid, actor="carol")
        if status == "succeeded":
            break
    plan = str(work / "plan.yaml")
    code, out, _ = cli.plain("render", plan, "--rollout", rid)
    assert code == 0
    assert "- [x] Tests pass" in out and "- [x] Audit clean" in out
    assert "**Status:** succeeded" in out
    assert out.count("**Outcome:** passed") == 2
    assert "- [x] Smoke tests passing" in out and "- [x] Key user flows verified" in out
    code, out, _ = run(cli.capsys, "render", plan)
    assert code == 0 and "- [ ] Tests pass" in out and "**Outcome:**" not in out


@pytest.mark.parametrize(
    "args",
    [
        ("status", "ro_nope"),
        ("pause", "ro_nope"),
        ("history", "ro_nope"),
        ("approve", "ro_nope"),
        ("render", "PLAN", "--rollout", "ro_nope"),
    ],
)
def test_an_unknown_rollout_is_a_plain_message(cli: Cli, work: Path, args: tuple[str, ...]) -> None:
    args = tuple(str(write_plan(work, canary())) if a == "PLAN" else a for a in args)
    code, out, err = cli.plain(*args)
    assert (code, out) == (2, "")
    assert err == "no rollout ro_nope (see `rollout status`)\n"


def test_an_invalid_plan_or_a_second_rollout_of_it_is_refused(cli: Cli, work: Path) -> None:
    code, _, err = cli("start", str(write_plan(work, canary().replace("10%", "ten"), "bad.yaml")))
    assert code == 2 and "bad.yaml:" in err and "stages[0].audience" in err
    rid = started(cli, work)
    code, _, err = cli("start", str(work / "plan.yaml"))
    assert code == 2
    assert (
        err == f"rollout {rid} of shop is still pending: wait for it to end, or abort it "
        f"(rollout abort {rid})\n"
    )


def test_status_watch_on_a_finished_rollout_shows_it_once(cli: Cli, work: Path) -> None:
    rid = started(cli, work)
    assert cli("abort", rid)[0] == 0
    assert cli.tick() == "failed"
    code, out, _ = cli.plain("status", rid, "--watch", "--interval", "0.2")
    assert code == 0 and "failed" in out and "aborted by alice" in out
