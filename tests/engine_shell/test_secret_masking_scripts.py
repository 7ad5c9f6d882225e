"""Scripts a plan runs may print the secrets they were given: a traffic router's script, a metric
script, a deploy command and a migration each print every secret they can see, on stdout and on
stderr, and fail the first time. None of those values reaches the store (events, action records,
stored state), ``rollout history --json`` or the API's history answer; ``****`` stands where
each was."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from shell_plans import FakeClock, write_plan

from rollout.cli import main
from rollout.engine.controller import Controller, send_verb, start_rollout
from rollout.server.app import create_app
from rollout.server.run import BackgroundServer
from rollout.store import Store, open_store

SECRETS = {
    "TRAFFIC_TOKEN": "traffic-s3cret-1111",
    "METRICS_TOKEN": "metrics-s3cret-2222",
    "DEPLOY_TOKEN": "deploy-s3cret-3333",
    # Named only by the notification channel: a script inherits it all the same.
    "HOOK_TOKEN": "hook-s3cret-4444",
}
EVERY_SECRET = " ".join(f"${name}" for name in SECRETS)

LEAK_SH = f"""\
#!/bin/sh
# Usage: leak.sh WHAT [ARGS...]: prints every secret it can see, fails the first time for WHAT.
echo "$1 sees $* {EVERY_SECRET}"
echo "$1 sees $* {EVERY_SECRET}" >&2
if [ ! -e "failed-$1" ]; then touch "failed-$1"; exit 1; fi
if [ "$1" = traffic ]; then echo "$2" > weight.txt; fi
exit 0
"""

LEAK_METRICS_SH = f"""\
#!/bin/sh
# stdout is the metrics' JSON once the first run has failed; stderr is free for messages.
echo "metrics sees $* {EVERY_SECRET}" >&2
if [ ! -e failed-metrics ]; then
  touch failed-metrics; echo "metrics sees $* {EVERY_SECRET}"; exit 1
fi
exec ./metrics.sh
"""

ALEMBIC_INI = """\
[alembic]
script_location = migrations
"""

ENV_PY = """\
from alembic import context
from sqlalchemy import engine_from_config, pool

config = context.config
connectable = engine_from_config(
    config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.",
    poolclass=pool.NullPool,
)
with connectable.connect() as connection:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
"""

REVISION = f'''\
"""create orders

Revision ID: 5ec000000001
Revises:
"""

import os
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision = "5ec000000001"
down_revision = None


def upgrade() -> None:
    said = "migration sees " + " ".join(
        os.environ[name] for name in ({", ".join(repr(n) for n in SECRETS)}, "APP_DATABASE_URL")
    )
    print(said)
    print(said, file=sys.stderr)
    marker = Path(__file__).parent / "failed-once"
    if not marker.exists():
        marker.touch()
        raise RuntimeError(said)
    op.create_table("orders", sa.Column("id", sa.Integer, primary_key=True))


def downgrade() -> None:
    op.drop_table("orders")
'''

PLAN = """\
name: leaky
overview: {{summary: Scripts that print the secrets they were given., version: "2.0"}}
checklist:
  - {{item: Tests pass, run: "true"}}
strategy: {{type: canary}}
environments:
  - name: production
    deploy: {{run: ./leak.sh deploy, env: {{DEPLOY_TOKEN: "${{DEPLOY_TOKEN}}"}}}}
    traffic:
      type: command
      set: "./leak.sh traffic {{weight}} ${{TRAFFIC_TOKEN}}"
      get: cat weight.txt
migrations:
  database_url: ${{APP_DATABASE_URL}}
stages:
  - {{name: Canary, audience: 10%, duration: 2m, success: [error_rate < 2%]}}
  - {{name: Everyone, audience: 100%, duration: 2m, success: [error_rate < 2%]}}
monitoring:
  interval: 1m
  source: {{type: command, run: "./leak-metrics.sh ${{METRICS_TOKEN}}"}}
rollback:
  - traffic: 0
communication:
  - when: [any]
    audience: ops
    channel: json://127.0.0.1:{port}/hook?token=${{HOOK_TOKEN}}
"""


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def write_project(work: Path) -> None:
    """The leaking scripts and an Alembic project whose one revision leaks too."""
    for name, text in (("leak.sh", LEAK_SH), ("leak-metrics.sh", LEAK_METRICS_SH)):
        (work / name).write_text(text)
        (work / name).chmod(0o755)
    (work / "alembic.ini").write_text(ALEMBIC_INI)
    versions = work / "migrations" / "versions"
    versions.mkdir(parents=True)
    (work / "migrations" / "env.py").write_text(ENV_PY)
    (versions / "5ec000000001_create_orders.py").write_text(REVISION)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the audit trail is kept: SQLite, then PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'trail.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    with open_store(store_url, clock=clock.moment) as opened:
        yield opened


def run_to_end(controller: Controller, clock: FakeClock, store: Store, rollout_id: str) -> str:
    """Tick a minute apart until the rollout ends; a held failure is retried, as an operator
    would once the script is fixed."""
    for _ in range(40):
        controller.run_once()
        status = store.get_rollout(rollout_id).status.value
        if status in {"succeeded", "rolled_back", "rollback_failed", "failed"}:
            return status
        if status == "paused":
            send_verb(store, rollout_id, "retry", "alice", "the script is fixed")
        clock.advance(60)
    return store.get_rollout(rollout_id).status.value


def test_what_scripts_print_of_the_plans_secrets_is_masked_everywhere(
    store_url: str,
    store: Store,
    work: Path,
    clock: FakeClock,
    make_controller: Callable[..., Controller],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_project(work)
    named = {**SECRETS, "APP_DATABASE_URL": f"sqlite:///{work / 'app.db'}"}
    for name, value in named.items():
        monkeypatch.setenv(name, value)
    plan = write_plan(work, PLAN.format(port=closed_port()))
    rollout_id = start_rollout(store, plan, None, "alice").id

    assert run_to_end(make_controller(), clock, store, rollout_id) == "succeeded"

    events = store.list_events(rollout_id)
    failed = {e.data["kind"]: e.message for e in events if e.kind == "action.failed"}
    problems = [e.message for e in events if e.kind == "metrics.problem"]
    # Each script failed once, and what it printed is in the trail with the secrets masked.
    for said in (failed["migrate"], failed["deploy"], failed["set_traffic"], *problems):
        assert " sees " in said and "**** **** **** ****" in said, said
    assert problems, "the metric script's failure was not recorded"
    stored = [e.message + json.dumps(e.data) for e in events]
    stored += [json.dumps(a.payload) + json.dumps(a.result) for a in store.list_actions(rollout_id)]
    stored.append(json.dumps(store.get_rollout(rollout_id).state_json))
    capsys.readouterr()  # what the migration printed went to the controller's own output
    code = cli(["history", rollout_id, "--json", "--database", store_url])
    history = capsys.readouterr().out
    assert code == 0 and " sees **** " in history
    with BackgroundServer(create_app(store, auth=False)) as server:
        answer = httpx.get(f"{server.url}/api/v1/rollouts/{rollout_id}/history", timeout=30)
    assert answer.status_code == 200 and " sees **** " in answer.text

    for text in (*stored, history, answer.text):
        leaked = [name for name, value in named.items() if value in text]
        assert not leaked, f"{leaked} leaked into {text[:300]}"


def cli(args: list[str]) -> int:
    """``rollout ARGS`` as the console script runs it; its exit code."""
    try:
        main(args)
    except SystemExit as exit_info:
        return exit_info.code if isinstance(exit_info.code, int) else 1
    return 0
