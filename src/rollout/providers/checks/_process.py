"""Running a shell command with a deadline, keeping only the end of what it prints.

The command runs through ``/bin/sh -c`` in a session (process group) of its own. At the
deadline the whole group gets SIGTERM, and SIGKILL ``grace`` seconds later if anything is still
there, so a timeout stops what the command started too, not just the shell in front of it.

Output is read as it comes (no pipe ever fills up and blocks the command) and only the last
``limit`` bytes of each stream are kept, so a chatty build cannot fill the audit trail.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

OUTPUT_LIMIT = 64 * 1024
"""Bytes kept of each of stdout and stderr: the last 64 KiB."""

# After the shell has exited, how long to keep reading output that its background children
# may still be writing before giving up on them (they keep running; we stop listening).
_DRAIN_S = 0.5
_SLICE_S = 0.05


@dataclass(frozen=True)
class Ran:
    """How a command ended.

    ``returncode`` is the exit status (negative: killed by that signal), or None when it could
    not be started (``start_error`` says why). ``timed_out`` is True when the deadline stopped
    it. ``stdout``/``stderr`` are the last ``limit`` bytes, decoded; ``*_dropped`` count the
    bytes cut from the front.
    """

    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool = False
    start_error: str = ""
    stdout_dropped: int = 0
    stderr_dropped: int = 0


class _Tail:
    """The last ``limit`` bytes of a stream, and how many bytes went before them."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        extra = len(self.data) - self.limit
        if extra > 0:
            del self.data[:extra]
            self.dropped += extra

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


def run_shell(
    command: str,
    *,
    timeout: float,
    cwd: Path,
    env: Mapping[str, str],
    grace: float = 5.0,
    limit: int = OUTPUT_LIMIT,
) -> Ran:
    """Run ``command`` through ``/bin/sh -c`` in ``cwd`` with exactly ``env``.

    Never raises for the command's sake: a command that cannot start comes back with
    ``returncode=None`` and ``start_error``; one past its ``timeout`` (seconds) is stopped and
    comes back with ``timed_out=True``.
    """
    started = time.monotonic()
    if not cwd.is_dir():
        return Ran(None, "", "", 0.0, start_error=f"the working directory {cwd} does not exist")
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env),
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the command or its env
        return Ran(None, "", "", time.monotonic() - started, start_error=str(exc))
    out, err = _Tail(limit), _Tail(limit)
    timed_out = _pump(process, {process.stdout: out, process.stderr: err}, started + timeout, grace)
    returncode = process.wait()
    return Ran(
        returncode,
        out.text(),
        err.text(),
        time.monotonic() - started,
        timed_out=timed_out,
        stdout_dropped=out.dropped,
        stderr_dropped=err.dropped,
    )


def _pump(
    process: subprocess.Popen[bytes],
    streams: Mapping[IO[bytes] | None, _Tail],
    deadline: float,
    grace: float,
) -> bool:
    """Read the streams while the process runs, and afterwards until they close or the drain
    time runs out; stop the process group at ``deadline`` (SIGTERM, SIGKILL after ``grace``).
    Returns whether the deadline was reached."""
    selector = selectors.DefaultSelector()
    for stream, tail in streams.items():
        if stream is not None:
            selector.register(stream, selectors.EVENT_READ, tail)
    timed_out = False
    kill_at: float | None = None
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if not timed_out and now >= deadline:
                timed_out = True
                _signal_group(process, signal.SIGTERM)
                kill_at = now + grace
            if kill_at is not None and now >= kill_at:
                _signal_group(process, signal.SIGKILL)
                kill_at = None
            if exited_at is None and process.poll() is not None:
                exited_at = now
            if exited_at is not None and (not selector.get_map() or now >= exited_at + _DRAIN_S):
                break
            if not selector.get_map():
                # The command closed its output but runs on: wait for it (or the deadline).
                time.sleep(_SLICE_S)
                continue
            for key, _ in selector.select(timeout=_SLICE_S):
                chunk = os.read(key.fd, 65536)
                if chunk:
                    key.data.add(chunk)
                else:
                    selector.unregister(key.fileobj)
        if timed_out:
            # Whatever of the group outlived the shell must not outlive the timeout.
            _signal_group(process, signal.SIGKILL)
    finally:
        selector.close()
        for stream in streams:
            if stream is not None:
                stream.close()
    return timed_out


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(process.pid, signum)
