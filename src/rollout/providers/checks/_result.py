"""What a check is told (:class:`CheckContext`) and what it reports (:class:`CheckResult`).

Both are frozen values: the runner builds a context from the action it carries out and records
the result in the audit trail (``summary`` as the action's message, :meth:`CheckResult.payload`
as its JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

DetailValue = str | int | float | bool | None


@dataclass(frozen=True)
class CheckContext:
    """The action a check runs for, handed to commands as ``ROLLOUT_*`` variables.

    ``key`` is the action's idempotency key (``rollout:step:attempt``), so a command can skip
    work it already did for that key. ``instance`` is set for a rolling batch's per-instance
    command. Relative ``cwd`` values resolve against ``base_dir`` (the plan's directory);
    ``env`` adds variables to every command's environment.

    >>> sorted(CheckContext("r-42", "v2.4.0", environment="production").variables().items())[:3]
    [('ROLLOUT_ATTEMPT', ''), ('ROLLOUT_ENVIRONMENT', 'production'), ('ROLLOUT_ID', 'r-42')]
    """

    rollout_id: str
    version: str
    environment: str = ""
    stage: str = ""
    key: str = ""
    instance: str = ""
    base_dir: Path = field(default_factory=Path.cwd)
    env: Mapping[str, str] = field(default_factory=dict)

    def variables(self) -> dict[str, str]:
        """The ``ROLLOUT_*`` variables every command sees (empty strings when not known).

        ``ROLLOUT_STEP`` and ``ROLLOUT_ATTEMPT`` are read off the key, so scripts need not
        parse it.
        """
        _, step, attempt = _split_key(self.key)
        return {
            "ROLLOUT_ID": self.rollout_id,
            "ROLLOUT_VERSION": self.version,
            "ROLLOUT_ENVIRONMENT": self.environment,
            "ROLLOUT_STAGE": self.stage,
            "ROLLOUT_IDEMPOTENCY_KEY": self.key,
            "ROLLOUT_STEP": step,
            "ROLLOUT_ATTEMPT": attempt,
            "ROLLOUT_INSTANCE": self.instance,
        }

    def resolve(self, path: str) -> Path:
        """``path`` made absolute against ``base_dir`` (``~`` expanded)."""
        candidate = Path(path).expanduser()
        return candidate if candidate.is_absolute() else self.base_dir / candidate


def _split_key(key: str) -> tuple[str, str, str]:
    # The rollout id never contains ':', the attempt is the last part, the step is in between.
    head, _, attempt = key.rpartition(":")
    rollout, _, step = head.partition(":")
    if not head or not attempt.isdigit():
        return "", "", ""
    return rollout, step, attempt


@dataclass(frozen=True)
class CheckResult:
    """How a check ended, in plain words and in numbers.

    ``summary`` is one line a person reads in the audit trail, e.g. ``"`make test` exited 0 in
    12.3 s"`` or ``"GET https://shop.example/health answered 503, expected 200"``.
    ``duration_s`` is the wall time in seconds (all attempts and pauses included).
    ``output_tail`` is the end of what the command printed or the server answered (secrets
    masked). ``details`` are the facts behind the summary (``exit_code``, ``status``,
    ``latency_ms``, ``attempts``, ...), JSON-ready.
    """

    passed: bool
    summary: str
    duration_s: float
    output_tail: str = ""
    details: Mapping[str, DetailValue] = field(default_factory=dict)

    def payload(self) -> dict[str, DetailValue]:
        """The result as JSON for the store: the fields, with ``details`` merged in."""
        return {
            **dict(self.details),
            "passed": self.passed,
            "summary": self.summary,
            "duration_s": round(self.duration_s, 3),
            "output_tail": self.output_tail,
        }


def seconds(value: float) -> str:
    """A duration as people say it: ``0.0123 -> "12 ms"``, ``12.34 -> "12.3 s"``.

    >>> seconds(0.0123), seconds(12.34), seconds(600)
    ('12 ms', '12.3 s', '600 s')
    """
    if value < 1:
        return f"{value * 1000:.0f} ms"
    text = f"{value:.1f}".removesuffix(".0")
    return f"{text} s"


def shown_command(command: str, limit: int = 80) -> str:
    """A command for a one-line summary: in backticks, first line only, cut at ``limit``.

    >>> shown_command("make test")
    '`make test`'
    """
    lines = command.strip().splitlines() or [""]
    text = lines[0].strip()
    if len(lines) > 1 or len(text) > limit:
        text = text[:limit].rstrip() + " …"
    return f"`{text}`"


def last_line(text: str, limit: int = 200) -> str:
    """The last non-empty line of ``text``, cut at ``limit`` characters ('' when none)."""
    for line in reversed(text.splitlines()):
        found = line.strip()
        if found:
            return found if len(found) <= limit else found[: limit - 1] + "…"
    return ""
