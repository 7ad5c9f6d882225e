"""Finding nginx's master process and proving that a reload took effect.

nginx reloads on SIGHUP: the master re-reads its config and, only if that succeeds, starts new
worker processes and tells the old ones to finish their requests and exit ("worker process is
shutting down"). If the new config fails in the master (say a ``listen`` port is taken, which
``nginx -t`` does not try), the old workers simply keep serving. So a reload is proven when the
master has a worker it did not have before and none of the old workers is still serving.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")


@dataclass(frozen=True)
class Generation:
    """The master's children at one moment: pid -> process title."""

    master: int
    children: tuple[tuple[int, str], ...]

    def serving_workers(self) -> frozenset[int]:
        """Workers that take new connections (not the ones finishing up after a reload)."""
        return frozenset(
            pid
            for pid, title in self.children
            if "worker process" in title and "shutting down" not in title
        )

    def replaced(self, before: Generation) -> bool:
        """True when this generation has a new serving worker and no serving worker of
        ``before`` still serves: the master loaded a new config."""
        now = self.serving_workers()
        old = before.serving_workers()
        return bool(now - old) and not (now & old)


def read_generation(master: int) -> Generation:
    """The current children of ``master`` (from /proc on Linux, else from ``ps``)."""
    table = _from_proc() if _PROC.is_dir() else _from_ps()
    children = tuple(sorted((pid, title) for pid, ppid, title in table if ppid == master))
    return Generation(master, children)


def alive(pid: int) -> bool:
    """Whether a process ``pid`` exists (signal 0 checks without disturbing it)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _from_proc() -> list[tuple[int, int, str]]:
    table = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            title = (entry / "cmdline").read_bytes()
        except OSError:  # the process ended while we looked
            continue
        # The command name in field 2 may hold spaces and parentheses; fields after the last
        # ')' are plain: state, ppid, ...
        fields = stat[stat.rfind(")") + 2 :].split()
        table.append((int(entry.name), int(fields[1]), _title(title)))
    return table


def _from_ps() -> list[tuple[int, int, str]]:
    done = subprocess.run(
        ["ps", "-A", "-o", "pid=,ppid=,args="],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    table = []
    for line in done.stdout.splitlines():
        match = re.match(r"\s*(\d+)\s+(\d+)\s+(.*)$", line)
        if match:
            table.append((int(match.group(1)), int(match.group(2)), match.group(3).strip()))
    return table


def _title(cmdline: bytes) -> str:
    # nginx overwrites its argv with the title and pads it with NULs or spaces.
    return cmdline.replace(b"\0", b" ").decode("utf-8", errors="replace").strip()
