"""``rollout server`` is the whole product in one process: it also runs the controller, so a
rollout started against its database is carried out to the end with nothing else running."""

from __future__ import annotations

import json
import time
from pathlib import Path

from server_process import ServerProcess

from rollout.cli import main

PLAN = """\
name: tiny
overview: {summary: A tiny rollout the server carries out on its own}
checklist:
  - item: Rollback plan documented
    rollback: documented
strategy: {type: canary, flag: tiny-flag}
environments:
  - name: production
flags:
  - key: tiny-flag
stages:
  - {name: Half, audience: 50%, duration: 2s}
  - {name: Everyone, audience: 100%, duration: 2s}
monitoring: {interval: 1s}
validation: {window: 2s}
rollback:
  - flag: {key: tiny-flag, percent: 0}
"""


def _status(capsys, rollout_id: str, database: str) -> dict[str, object]:  # type: ignore[no-untyped-def]
    try:
        main(["status", rollout_id, "--json", "--database", database])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    (view,) = json.loads(capsys.readouterr().out)
    return view  # type: ignore[no-any-return]


def _started(capsys, plan: Path, database: str) -> str:  # type: ignore[no-untyped-def]
    try:
        main(["start", str(plan), "--version", "1.1", "--database", database])
    except SystemExit as exit_:
        assert exit_.code in (0, None)
    out = capsys.readouterr().out
    return next(word for word in out.split() if word.startswith("ro_")).strip(".:,")


def test_the_server_carries_a_rollout_out_by_itself(tmp_path: Path, db_file: str, capsys) -> None:  # type: ignore[no-untyped-def]
    plan = tmp_path / "rollout.yaml"
    plan.write_text(PLAN)
    with ServerProcess(db_file, "--no-auth", "--controller-interval", "0.2") as server:
        rollout_id = _started(capsys, plan, db_file)
        deadline = time.monotonic() + 60
        status = _status(capsys, rollout_id, db_file)
        while status["status"] != "succeeded" and time.monotonic() < deadline:
            assert status["status"] not in {"rolled_back", "rollback_failed", "failed"}, status
            time.sleep(0.2)
            status = _status(capsys, rollout_id, db_file)
        server.stop()
    assert status["status"] == "succeeded", status
    assert "controller on" in "".join(server.lines)
