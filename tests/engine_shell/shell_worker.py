"""The client side of the fork server ``shell_crash_worker.py``: each request runs a controller
in a fresh child process, which the runner's crash hook may SIGKILL at a counted point."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from rollout.engine.runner import CRASH_ENV

HERE = Path(__file__).resolve().parent


class Worker:
    """The fork server (``shell_crash_worker.py``) in a subprocess."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(HERE / "shell_crash_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env={k: v for k, v in os.environ.items() if k != CRASH_ENV},
        )

    def run(self, **request: object) -> dict[str, int]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        assert answer, "the fork server died"
        result: dict[str, int] = json.loads(answer)
        return result

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(30)
