"""Fork server for the crash tests.

Run as ``python shell_crash_worker.py``: it imports Rollout once, then for each JSON request on
stdin forks a child that runs a controller on one rollout, and prints how the child ended
(``{"signal": 9}`` or ``{"exit": 0}``). Forking a warmed-up process makes each run cost
milliseconds instead of a fresh interpreter's seconds, while every child is still a real
process that really dies of SIGKILL.

A request: ``url`` (database), ``cwd`` (where the plan's commands run), ``owner`` (controller
id), ``rollout``, ``clock_file`` (seconds since the epoch; the child advances it by ``step``
after every tick, so time carries on across restarts), ``ticks`` (at most), ``crash_at``
(``intent:2``: the runner's kill point, or null).
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rollout.engine import runner_lease
from rollout.engine.controller import Controller
from rollout.providers.notify import AppriseNotifier
from rollout.store import open_store


def child(request: dict[str, Any]) -> None:
    os.chdir(request["cwd"])
    if request.get("crash_at"):
        os.environ[runner_lease.CRASH_ENV] = request["crash_at"]
    else:
        os.environ.pop(runner_lease.CRASH_ENV, None)
    runner_lease.crash_counts.clear()
    clock_file = Path(request["clock_file"])

    def now() -> float:
        return float(clock_file.read_text())

    store = open_store(request["url"], clock=lambda: datetime.fromtimestamp(now(), UTC))
    controller = Controller(
        store,
        owner=request["owner"],
        clock=now,
        notifier=AppriseNotifier(attempts=1, sleep=lambda _s: None, timeout=5.0),
    )
    for _ in range(request["ticks"]):
        controller.run_once()
        if store.get_rollout(request["rollout"]).terminal:
            break
        clock_file.write_text(repr(now() + request["step"]))
    store.close()


def main() -> None:
    for line in sys.stdin:
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            code = 0
            try:
                child(request)
            except BaseException:
                traceback.print_exc()
                code = 3
            os._exit(code)
        _, status = os.waitpid(pid, 0)
        if os.WIFSIGNALED(status):
            result: dict[str, int] = {"signal": os.WTERMSIG(status)}
        else:
            result = {"exit": os.WEXITSTATUS(status)}
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
