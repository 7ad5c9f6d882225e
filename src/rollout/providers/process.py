"""Running an outside program with a deadline, for every provider that runs the user's commands.

A command given as a string runs through ``/bin/sh -c``; a sequence runs the program directly.
Either way it runs in a session (process group) of its own, so at the deadline the whole group
is stopped -- SIGTERM, then SIGKILL ``grace`` seconds later if anything is still there -- and a
timeout stops what the command started too, not just the shell in front of it.

Output is read as it comes (no pipe ever fills up and blocks the command) and only the last
``limit`` bytes of each stream are kept, so a chatty build cannot fill the audit trail. Once the
command has exited, a background child still holding its output does not hold the caller: it is
listened to for half a second more, then left running (a deploy may start a service on purpose).

``scrub`` masks the ``${VAR}`` secrets the command was given (see
:mod:`rollout.providers.secrets`) in everything :func:`run` returns, so no caller can quote one
by mistake.

:func:`run` never raises for the command's sake: a command that cannot start or runs past its
deadline comes back saying so, and the caller words the result (a failed check, a
``TrafficError``...); :meth:`Finished.or_raise` is for callers that want an error then.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from rollout.providers.secrets import NO_SECRETS, Scrubber

OUTPUT_LIMIT = 64 * 1024
"""Bytes kept of each of stdout and stderr by default: the last 64 KiB."""

EXCERPT_CHARS = 2000
"""Characters of output an error message quotes by default: the last 2,000."""

# What /bin/sh reports when it cannot run the command at all (POSIX: 127 not found, 126 found
# but not executable). A program run directly has no shell in front of it, so there its exit
# codes are its own.
_SHELL_CANNOT = {127: "command not found", 126: "found but not executable"}

# After the command has exited, how long to keep reading output that its background children
# may still be writing before giving up on them (they keep running; we stop listening).
_DRAIN_S = 0.5
_SLICE_S = 0.05


def tail(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The last ``limit`` characters of ``text`` (stripped), marked with ``…`` when cut.

    >>> tail("  first line\\nlast line  ", 9)
    '…last line'
    """
    text = text.strip()
    return text if len(text) <= limit else "…" + text[-limit:]


@dataclass(frozen=True)
class Finished:
    """How a command ended.

    ``returncode`` is the exit status (negative: killed by that signal), or None when it could
    not be started (``start_error`` says why). ``timed_out`` is True when the deadline of
    ``timeout_s`` seconds stopped it. ``stdout``/``stderr`` are the last ``limit`` bytes of each
    stream, decoded as UTF-8, secrets masked; ``*_dropped`` count the bytes cut from the front.
    ``through_shell`` says whether ``/bin/sh`` ran it (and so whether 126/127 are the shell's).
    """

    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timeout_s: float
    through_shell: bool = True
    timed_out: bool = False
    start_error: str = ""
    stdout_dropped: int = 0
    stderr_dropped: int = 0

    @property
    def cannot_start(self) -> str:
        """Why the command never ran: why it could not be started, or what the shell's
        exit 127/126 mean (``"command not found"``, ``"found but not executable"``); "" when
        it ran."""
        if self.returncode is None:
            return self.start_error
        if self.through_shell and not self.timed_out:
            return _SHELL_CANNOT.get(self.returncode, "")
        return ""

    def excerpt(self, limit: int = EXCERPT_CHARS) -> str:
        """stdout and stderr together, cut to their last ``limit`` characters; "" when the
        command printed nothing."""
        parts = [part.strip() for part in (self.stdout, self.stderr) if part.strip()]
        return tail("\n".join(parts), limit)

    @property
    def output(self) -> str:
        """:meth:`excerpt` for an error message: ``"(no output)"`` when there is none."""
        return self.excerpt() or "(no output)"

    def problem(self, what: str) -> str | None:
        """Why the command did not run to its end, in words naming ``what`` (``"the traffic set
        command"``), or None when it did (whatever its exit code: the caller judges that).

        >>> Finished(None, "", "", 0.0, 5.0, start_error="embedded null byte").problem("nginx -t")
        'nginx -t could not be started: embedded null byte'
        """
        if self.timed_out:
            return (
                f"{what} did not finish within {self.timeout_s:g} s and was stopped; "
                f"output so far:\n{self.output}"
            )
        if self.returncode is None:
            return f"{what} could not be started: {self.start_error}"
        if self.cannot_start:
            return f"{what} could not be started: {self.cannot_start}; its output:\n{self.output}"
        return None

    def or_raise(self, what: str, error: Callable[[str], Exception]) -> Finished:
        """This result, or ``error`` raised with :meth:`problem`'s words when the command did
        not run to its end. A non-zero exit is *not* an error here: callers judge it."""
        problem = self.problem(what)
        if problem is not None:
            raise error(problem)
        return self


def run(
    command: str | Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    scrub: Scrubber = NO_SECRETS,
    grace: float = 5.0,
    limit: int | None = OUTPUT_LIMIT,
) -> Finished:
    """Run ``command`` in ``cwd`` (default: the current directory) with exactly ``env``
    (default: this process's environment) and wait at most ``timeout`` seconds.

    Past the deadline the command's process group gets SIGTERM, and SIGKILL ``grace`` seconds
    later (at once when ``grace`` is 0). ``limit`` bytes are kept of each stream (None: all of
    it, for output the caller parses whole). Never raises for the command's sake.
    """
    started = time.monotonic()
    shell = isinstance(command, str)

    def not_started(why: str) -> Finished:
        return Finished(None, "", "", time.monotonic() - started, timeout, shell, start_error=why)

    if cwd is not None and not cwd.is_dir():
        return not_started(f"the working directory {cwd} does not exist")
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command] if isinstance(command, str) else list(command),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            start_new_session=True,
        )
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the command or its env
        return not_started(scrub(str(exc)))
    out, err = _Tail(limit), _Tail(limit)
    timed_out = _pump(process, {process.stdout: out, process.stderr: err}, started + timeout, grace)
    returncode = process.wait()
    return Finished(
        returncode,
        scrub(out.text()),
        scrub(err.text()),
        time.monotonic() - started,
        timeout,
        shell,
        timed_out=timed_out,
        stdout_dropped=out.dropped,
        stderr_dropped=err.dropped,
    )


class _Tail:
    """The last ``limit`` bytes of a stream (all of it when ``limit`` is None), and how many
    bytes went before them."""

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.data = bytearray()
        self.dropped = 0

    def add(self, chunk: bytes) -> None:
        self.data += chunk
        extra = 0 if self.limit is None else len(self.data) - self.limit
        if extra > 0:
            del self.data[:extra]
            self.dropped += extra

    def text(self) -> str:
        return self.data.decode("utf-8", errors="replace")


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
    for stream, kept in streams.items():
        if stream is not None:
            selector.register(stream, selectors.EVENT_READ, kept)
    timed_out = False
    kill_at: float | None = None
    exited_at: float | None = None
    try:
        while True:
            now = time.monotonic()
            if not timed_out and now >= deadline:
                timed_out = True
                _signal_group(process, signal.SIGTERM if grace > 0 else signal.SIGKILL)
                kill_at = now + grace if grace > 0 else None
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
