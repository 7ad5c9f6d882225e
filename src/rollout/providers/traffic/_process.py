"""Running an outside program with a deadline and its output captured.

The program runs in a session (process group) of its own, so a timeout kills everything it
started, not just the shell in front of it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from rollout.errors import TrafficError
from rollout.providers.secrets import NO_SECRETS, Scrubber
from rollout.providers.traffic._base import tail


@dataclass(frozen=True)
class Finished:
    """A program that ran to its end: exit code and what it printed (decoded as UTF-8)."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        """stdout and stderr together, for error messages (cut to its last 2,000 characters)."""
        parts = [part.strip() for part in (self.stdout, self.stderr) if part.strip()]
        return tail("\n".join(parts)) or "(no output)"


def run(
    command: str | Sequence[str],
    *,
    timeout: float,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    scrub: Scrubber = NO_SECRETS,
) -> Finished:
    """Run ``command`` (a string runs through ``/bin/sh -c``; a sequence runs directly).

    Waits at most ``timeout`` seconds, then kills the program's whole process group and raises
    ``TrafficError`` naming ``what`` with the output so far. A program that cannot be started at
    all also raises ``TrafficError``. A non-zero exit is *not* an error here: callers decide.
    ``scrub`` masks the secrets the program was given in what it printed, in the result and in
    the errors alike, so no caller can quote one by mistake.
    """
    try:
        process = subprocess.Popen(
            command,
            shell=isinstance(command, str),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise TrafficError(scrub(f"{what} could not be started: {exc}")) from exc
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _kill_group(process)
        try:
            out, err = process.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            # Something that left the process group still holds the pipes; stop waiting.
            process.kill()
            process.wait()
            out, err = b"", b""
        partial = Finished(-1, scrub(_decode(out)), scrub(_decode(err))).output
        raise TrafficError(
            f"{what} did not finish within {timeout:g} s and was stopped; output so far:\n{partial}"
        ) from exc
    return Finished(process.returncode, scrub(_decode(out)), scrub(_decode(err)))


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):  # already gone
        os.killpg(process.pid, signal.SIGKILL)


def _decode(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="replace")
