"""Plans and scripts for the runner and controller tests: real commands in a work folder.

Every action script appends ``<ROLLOUT_IDEMPOTENCY_KEY> <what>`` to ``raw.txt`` on every run,
and to ``ledger.txt`` only the first time it sees a key (so it is idempotent by key, as the
runner's contract asks of commands). The command router keeps each environment's weight in
``weight-<environment>.txt``. ``metrics.sh`` answers for the command metric source: 1,000
requests per arm and interval, the canary failing 10 % of them while ``bad`` exists, else
0.5 % (as the control always does).
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rollout.engine.controller import Controller, send_verb
from rollout.store import Store

START = 1_800_000_000.0

LEDGER_SH = """\
#!/bin/sh
# Usage: ledger.sh WHAT [ARGS...]; exits 1 when WHAT is "fail".
echo "$ROLLOUT_IDEMPOTENCY_KEY $*" >> raw.txt
grep -q "^$ROLLOUT_IDEMPOTENCY_KEY " ledger.txt 2>/dev/null \\
  || echo "$ROLLOUT_IDEMPOTENCY_KEY $*" >> ledger.txt
if [ "$1" = weight ]; then echo "$2" > "weight-$ROLLOUT_ENVIRONMENT.txt"; fi
if [ "$1" = fail ]; then echo "this check fails on purpose" >&2; exit 1; fi
if [ -e "fail-$1" ]; then echo "$1 fails while fail-$1 exists" >&2; exit 1; fi
exit 0
"""

WEIGHT_SH = """\
#!/bin/sh
cat "weight-$ROLLOUT_ENVIRONMENT.txt" 2>/dev/null || echo 0
"""

METRICS_SH = """\
#!/bin/sh
# One interval per step of [ROLLOUT_START, ROLLOUT_END), as the command metric source wants.
[ -e bad ] && errors=100 || errors=5
awk -v s="$ROLLOUT_START" -v e="$ROLLOUT_END" -v st="$ROLLOUT_STEP" -v n="$errors" 'BEGIN {
  printf "{\\"intervals\\": ["
  sep = ""
  for (t = s; t + st <= e + 1e-6; t += st) {
    printf "%s{\\"start\\": %.17g, \\"end\\": %.17g, ", sep, t, t + st
    printf "\\"canary\\": {\\"requests\\": 1000, \\"errors\\": %d}, ", n
    printf "\\"control\\": {\\"requests\\": 1000, \\"errors\\": 5}}"
    sep = ", "
  }
  print "]}"
}'
"""


def write_scripts(folder: Path) -> Path:
    """Put the scripts into ``folder`` (made executable); returns ``folder``."""
    for name, text in (
        ("ledger.sh", LEDGER_SH),
        ("weight.sh", WEIGHT_SH),
        ("metrics.sh", METRICS_SH),
    ):
        path = folder / name
        path.write_text(text)
        path.chmod(0o755)
    return folder


def ledger(folder: Path, name: str = "ledger.txt") -> list[tuple[str, str]]:
    """``(key, what)`` lines of the ledger (``raw.txt`` with ``name="raw.txt"``)."""
    path = folder / name
    if not path.exists():
        return []
    lines = [line.split(" ", 1) for line in path.read_text().splitlines() if line]
    return [(parts[0], parts[1] if len(parts) > 1 else "") for parts in lines]


def step_of(key: str) -> str:
    """The step of an idempotency key ``rollout:step:attempt``."""
    return key.split(":", 1)[1].rsplit(":", 1)[0]


CANARY = """\
name: {name}
overview: {{summary: A canary through two environments with commands., version: "2.0"}}
checklist:
  - item: Tests pass
    run: ./ledger.sh gate-tests
  - item: Audit clean
    run: ./ledger.sh gate-audit
strategy:
  type: canary
  rollback_trigger: [error_rate > 5%]
environments:
  - name: staging
    deploy: {{run: ./ledger.sh deploy}}
    staged: false
    traffic: {{type: command, set: "./ledger.sh weight {{weight}}", get: ./weight.sh}}
  - name: production
    approval: {{required: true, approvers: [bob, carol]}}
    deploy: {{run: ./ledger.sh deploy}}
    traffic: {{type: command, set: "./ledger.sh weight {{weight}}", get: ./weight.sh}}
stages:
  - name: Canary
    audience: 10%
    duration: 5m
    success: [error_rate < 2%]
  - name: Everyone
    audience: 100%
    duration: 5m
    success: [error_rate < 2%]
monitoring:
  interval: 1m
  source: {{type: command, run: ./metrics.sh}}
rollback:
  - traffic: 0
  - run: ./ledger.sh drain
validation:
  window: 2m
  smoke: [{{name: smoke, run: ./ledger.sh smoke}}]
  key_flows: [{{name: buy one item, run: ./ledger.sh flow}}]
"""


FEATURE_FLAG = """\
name: {name}
overview: {{summary: Ramp a flag in one environment., version: "2.0"}}
checklist:
  - item: Rollback plan documented
    rollback: documented
strategy: {{type: feature-flag, flag: new-checkout}}
environments:
  - name: production
flags:
  - key: new-checkout
    rollout: 100%
stages:
  - name: Some
    audience: 20%
    duration: {duration}
  - name: All
    audience: 100%
    duration: {duration}
rollback:
  - flag: {{key: new-checkout, percent: 0}}
validation:
  window: {duration}
"""


def canary(name: str = "shop") -> str:
    return CANARY.format(name=name)


def feature_flag(name: str = "flags", duration: str = "5m") -> str:
    return FEATURE_FLAG.format(name=name, duration=duration)


def write_plan(folder: Path, text: str, name: str = "plan.yaml") -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return path


@dataclass
class FakeClock:
    """Seconds since the epoch that move only when told; ``moment()`` for the store."""

    now: float = START

    def __call__(self) -> float:
        return self.now

    def moment(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)

    def advance(self, seconds: float) -> None:
        self.now += seconds


ENDED = {"succeeded", "rolled_back", "rollback_failed", "failed"}


def drive(
    controller: Controller,
    clock: FakeClock,
    store: Store,
    rollout_id: str,
    *,
    step: float = 60.0,
    ticks: int = 60,
    each: Callable[[str], None] | None = None,
) -> str:
    """Tick until the rollout ends (at most ``ticks`` times), ``step`` seconds apart;
    ``each(status)`` runs after every tick. Returns the final status."""
    for _ in range(ticks):
        controller.run_once()
        status = store.get_rollout(rollout_id).status.value
        if status in ENDED:
            return status
        if each is not None:
            each(status)
        clock.advance(step)
    return store.get_rollout(rollout_id).status.value


def approver(store: Store, rollout_id: str, who: str = "bob") -> Callable[[str], None]:
    def each(status: str) -> None:
        if status == "awaiting_approval":
            send_verb(store, rollout_id, "approve", who)

    return each
