"""``rollout tokens`` and ``rollout server``'s authentication as an operator uses them."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
from api_support import bearer, run

from rollout.store import Store

R = "/api/v1/rollouts"


def test_create_list_and_revoke_a_token(
    capsys: pytest.CaptureFixture[str], db_url: str, http: httpx.Client, store: Store
) -> None:
    code, out, err = run(capsys, "tokens", "create", "ci-bot", "--role", "Deployer",
                         "--database", db_url, "--actor", "ops")  # fmt: skip
    assert code == 0
    secret = out.strip()
    assert out == secret + "\n" and re.fullmatch(r"rot_[A-Za-z0-9_-]{43}", secret)
    assert "shown only this once" in err
    assert http.get(R, headers=bearer(secret)).status_code == 200
    [event] = [e for e in store.list_events(None) if e.kind == "token.created"]
    assert (event.actor, event.data["name"], event.data["role"]) == ("ops", "ci-bot", "deployer")

    code, out, _ = run(capsys, "tokens", "list", "--database", db_url)
    assert code == 0 and secret not in out
    [line] = out.splitlines()
    assert re.match(r"tok_\S+  ci-bot\s+  deployer\s+  \S+  active$", line)
    code, out, _ = run(capsys, "tokens", "list", "--json", "--database", db_url)
    [listed] = json.loads(out)
    assert (listed["name"], listed["role"], listed["revoked_at"]) == ("ci-bot", "deployer", None)

    code, out, _ = run(capsys, "tokens", "revoke", "ci-bot", "--database", db_url)
    assert (code, out) == (0, f"Revoked {listed['id']} (ci-bot, deployer).\n")
    assert http.get(R, headers=bearer(secret)).status_code == 401
    code, out, _ = run(capsys, "tokens", "list", "--active", "--database", db_url)
    assert out == ""


def test_mistakes_are_plain_messages(capsys: pytest.CaptureFixture[str], db_url: str) -> None:
    code, out, err = run(capsys, "tokens", "create", "x", "--role", "god", "--database", db_url)
    assert (code, out) == (2, "")
    assert err == "unknown role 'god' (known: admin, deployer, approver, sdk, telemetry)\n"
    code, _, err = run(capsys, "tokens", "revoke", "nobody", "--database", db_url)
    assert (code, err) == (2, "no token 'nobody' (see `rollout tokens list`)\n")
    code, _, err = run(capsys, "tokens", "create", " ", "--role", "sdk", "--database", db_url)
    assert code == 2 and "1 to 200 characters" in err


ENTRY = "import sys; from rollout.cli import main; main(sys.argv[1:])"


def serve(db_url: str, **env: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """``rollout server`` on a free port; returns the process, its URL and its first lines."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ROLLOUT_")}
    process = subprocess.Popen(
        [sys.executable, "-c", ENTRY, "server", "--port", "0", "--database", db_url,
         "--log-level", "warning"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True, env={**clean, **env},
    )  # fmt: skip
    assert process.stderr is not None
    lines = []
    for line in process.stderr:
        lines.append(line)
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            lines.append(process.stderr.readline())  # what it says about authentication
            return process, found.group(1), lines
    process.wait(10)
    raise AssertionError("rollout server did not start:\n" + "".join(lines))


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(15)


def test_the_server_checks_tokens_unless_told_not_to(db_url: str) -> None:
    process, url, lines = serve(db_url)
    try:
        assert httpx.get(url + R).status_code == 401
        assert httpx.get(url + "/healthz").status_code == 200
        assert "No API tokens yet: create one with `rollout tokens create" in lines[-1]
    finally:
        stop(process)

    process, url, lines = serve(db_url, ROLLOUT_AUTH="off")
    try:
        assert httpx.get(url + R).status_code == 200
        assert "Authentication is OFF" in lines[-1]
    finally:
        stop(process)
