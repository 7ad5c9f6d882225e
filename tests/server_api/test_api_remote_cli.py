"""``rollout --server URL --token T``: the rollout and flag commands against a live server give
what they give locally, name the token as the actor, and say plainly what the server refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from api_support import TOKEN_NAMES, FakeClock, plan, run, tick_until

from rollout.engine.controller import Controller
from rollout.server._api_roles import Role
from rollout.server.run import BackgroundServer
from rollout.store import Store

DEPLOYER, APPROVER = TOKEN_NAMES[Role.DEPLOYER], TOKEN_NAMES[Role.APPROVER]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ROLLOUT_SERVER", "ROLLOUT_TOKEN", "ROLLOUT_ACTOR", "ROLLOUT_DATABASE_URL"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def remote(server: BackgroundServer, tokens: dict[Role, str]) -> dict[Role, list[str]]:
    """The options that point a command at the server, with each role's token."""
    return {role: ["--server", server.url, "--token", secret] for role, secret in tokens.items()}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rollout.yaml"
    path.write_text(text)
    return path


def started_id(out: str) -> str:
    assert out.startswith("Started rollout ro_"), out
    return out.split()[2]


def test_start_steer_approve_and_read_a_rollout_remotely(
    capsys: pytest.CaptureFixture[str],
    remote: dict[Role, list[str]],
    tmp_path: Path,
    store: Store,
    controller: Controller,
    clock: FakeClock,
) -> None:
    path = write(tmp_path, plan("shop", approval="{required: true}"))
    code, out, _ = run(capsys, "start", str(path), "--version", "2.4.1", *remote[Role.DEPLOYER])
    assert code == 0
    rollout_id = started_id(out)
    assert out == f"Started rollout {rollout_id} of shop 2.4.1.\n"
    assert store.get_rollout(rollout_id).created_by == DEPLOYER

    tick_until(controller, clock, store, rollout_id, "awaiting_approval")
    code, out, _ = run(capsys, "approve", rollout_id, "-m", "ok", *remote[Role.APPROVER])
    assert (code, out) == (0, f"{APPROVER} approved production for {rollout_id}.\n")
    tick_until(controller, clock, store, rollout_id, "observing")

    code, out, _ = run(capsys, "pause", rollout_id, "--actor", "mallory", *remote[Role.DEPLOYER])
    assert (code, out) == (
        0,
        f"Pause of {rollout_id} queued by {DEPLOYER}; the controller applies it.\n",
    )
    controller.run_once()

    code, out, _ = run(capsys, "status", rollout_id, "--json", *remote[Role.APPROVER])
    assert code == 0
    [view] = json.loads(out)
    assert (view["id"], view["status"], view["created_by"]) == (rollout_id, "paused", DEPLOYER)
    assert view["reason"] == f"paused by {DEPLOYER}"
    assert view["last_events"][-1]["seq"] == len(store.list_events(rollout_id))

    code, out, _ = run(capsys, "status", rollout_id, *remote[Role.APPROVER])
    assert code == 0 and rollout_id in out and "Some (1 of 2)" in out

    code, out, _ = run(capsys, "status", *remote[Role.DEPLOYER])
    assert code == 0 and "shop" in out and "paused" in out and DEPLOYER in out

    code, out, err = run(capsys, "history", rollout_id, *remote[Role.DEPLOYER])
    assert code == 0
    assert len(out.splitlines()) == len(store.list_events(rollout_id))
    assert f"{APPROVER}" in out and "command.pause" in out
    assert err.strip().endswith("intact")


def test_the_same_command_locally_and_remotely_shows_the_same_rollout(
    capsys: pytest.CaptureFixture[str],
    remote: dict[Role, list[str]],
    tmp_path: Path,
    db_url: str,
) -> None:
    path = write(tmp_path, plan("shop"))
    _, out, _ = run(capsys, "start", str(path), *remote[Role.DEPLOYER])
    rollout_id = started_id(out)
    _, local, _ = run(capsys, "history", rollout_id, "--json", "--database", db_url)
    _, over_http, _ = run(capsys, "history", rollout_id, "--json", *remote[Role.DEPLOYER])
    assert json.loads(local) == json.loads(over_http)


def test_the_server_and_token_may_come_from_the_environment(
    capsys: pytest.CaptureFixture[str],
    server: BackgroundServer,
    tokens: dict[Role, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    store: Store,
) -> None:
    monkeypatch.setenv("ROLLOUT_SERVER", server.url)
    monkeypatch.setenv("ROLLOUT_TOKEN", tokens[Role.DEPLOYER])
    code, out, _ = run(capsys, "start", str(write(tmp_path, plan("shop"))))
    assert code == 0
    assert store.get_rollout(started_id(out)).created_by == DEPLOYER
    code, out, _ = run(capsys, "flags", "set", "beta", "--percent", "5")
    assert (code, out) == (0, "Set beta in production (version 1): on; on 5% / off 95%\n")
    assert store.get_flag("production", "beta").updated_by == DEPLOYER


def test_refusals_are_plain_messages(
    capsys: pytest.CaptureFixture[str],
    server: BackgroundServer,
    remote: dict[Role, list[str]],
    tmp_path: Path,
) -> None:
    path = write(tmp_path, plan("shop"))
    code, _, err = run(capsys, "start", str(path), "--server", server.url)
    assert code == 1
    assert err.startswith(f"error: the server at {server.url} refused: this needs an API token")

    code, _, err = run(capsys, "start", str(path), *remote[Role.SDK])
    assert (code, err) == (
        1,
        f"error: the server at {server.url} refused: "
        f"{TOKEN_NAMES[Role.SDK]} holds the sdk role; this needs admin or deployer\n",
    )
    code, _, err = run(capsys, "flags", "list", *remote[Role.TELEMETRY])
    assert code == 1 and "holds the telemetry role" in err

    code, _, err = run(capsys, "pause", "ro_nobody", *remote[Role.DEPLOYER])
    assert (code, err) == (2, "no rollout ro_nobody (see `rollout status`)\n")

    code, out, _ = run(capsys, "start", str(path), *remote[Role.DEPLOYER])
    rollout_id = started_id(out)
    code, _, err = run(capsys, "resume", rollout_id, *remote[Role.DEPLOYER])
    assert (code, err) == (2, f"cannot resume rollout {rollout_id}: the rollout is not paused\n")

    bad = write(tmp_path, plan("other").replace("duration: 5m", "duration: 5 parsecs", 1))
    code, _, err = run(capsys, "start", str(bad), *remote[Role.DEPLOYER])
    assert code == 2
    assert "stages[0].duration: unknown unit 'parsecs'" in err and ":16:" in err

    code, _, err = run(capsys, "status", "--server", "http://127.0.0.1:9", "--token", "x")
    assert code == 1 and "cannot reach the server at http://127.0.0.1:9" in err
