"""``rollout server`` as an operator runs it: starts, serves, stops cleanly on SIGTERM even
with SSE clients connected; clear messages for a bad fan-out or a taken port."""

from __future__ import annotations

import signal

import httpx
import pytest
from server_process import ServerProcess
from sse_client import END, SseReader

from rollout.cli import main
from rollout.server.run import bind


def test_the_server_serves_and_stops_on_sigterm_with_streams_open(db_file: str) -> None:
    server = ServerProcess(db_file, "--no-auth").wait_serving()
    try:
        assert httpx.get(f"{server.url}/healthz").json() == {"status": "ok"}
        reader = SseReader(f"{server.url}/api/v1/environments/production/stream")
        assert reader.next_config().id == "0"
        put = httpx.put(
            f"{server.url}/api/v1/environments/production/flags/f",
            json={"fallthrough": {"variant": "on"}},
        )
        assert put.status_code == 200
        assert reader.next_config().id == "1"
    finally:
        code = server.stop(timeout=8)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status tells why.
    assert code in (0, -signal.SIGTERM)
    assert reader.next(timeout=5) is END
    assert "Traceback" not in "".join(server.lines)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as info:
        main(list(args))
    code = info.value.code
    return (code if isinstance(code, int) else 1), capsys.readouterr().err


def test_an_unknown_fan_out_is_a_user_mistake(
    capsys: pytest.CaptureFixture[str], db_file: str
) -> None:
    code, err = run(capsys, "server", "--database", db_file, "--fanout", "kafka://x")
    assert code == 2
    assert "ROLLOUT_FANOUT" in err and "Traceback" not in err


def test_a_taken_port_is_reported_plainly(capsys: pytest.CaptureFixture[str], db_file: str) -> None:
    taken = bind("127.0.0.1", 0)
    try:
        port = str(taken.getsockname()[1])
        code, err = run(capsys, "server", "--database", db_file, "--port", port)
    finally:
        taken.close()
    assert code == 1
    assert f"cannot listen on 127.0.0.1:{port}" in err
