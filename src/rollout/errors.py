"""Every error Rollout raises on purpose, in one tree.

::

    RolloutError                      anything Rollout raises deliberately
    ├── PlanError                     the user's plan is wrong; carries every Problem found
    ├── CriterionSyntaxError          a criterion or duration does not parse (has a column)
    ├── FlagError                     a flag or segment definition is invalid
    ├── StoreError                    the database failed or holds something unexpected
    │   ├── NotFound                  no such rollout / flag / token
    │   ├── Conflict                  a version or lease check failed (someone else won)
    │   └── LeaseLost                 this controller no longer holds the rollout's lease
    ├── EngineError                   an operator verb does not apply in the current state
    └── ProviderError                 an outside system failed (translated where it enters)
        ├── MetricsError              a metric source failed (never used for "no data")
        ├── TrafficError              a router could not apply or read back a weight
        ├── CheckError                a gate's command or HTTP check could not run
        ├── NotifyError               a notification could not be delivered
        └── MigrationError            a migration tool failed or a schema check failed

User mistakes (``PlanError``, ``CriterionSyntaxError``, ``FlagError``, ``EngineError``,
``NotFound``) are reported by the CLI as plain messages with exit code 2, never as a traceback.
Third-party exceptions are wrapped where they enter: ``raise TrafficError(...) from exc``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    """One thing wrong with a plan, located as precisely as we know.

    ``line`` and ``column`` are 1-based; 0 means "unknown". ``path`` is the dotted field path
    (``stages[1].duration``). Rendered as ``file:line:column: path: message``.
    """

    file: str
    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = self.file or "<plan>"
        if self.line:
            where += f":{self.line}"
            if self.column:
                where += f":{self.column}"
        field = f" {self.path}:" if self.path else ""
        return f"{where}:{field} {self.message}"


class RolloutError(Exception):
    """Base of every error Rollout raises on purpose."""


class PlanError(RolloutError):
    """A plan has one or more problems; all of them are in ``problems``, sorted by place."""

    def __init__(self, problems: list[Problem] | tuple[Problem, ...]) -> None:
        self.problems: tuple[Problem, ...] = tuple(sorted(problems))
        super().__init__("\n".join(str(p) for p in self.problems))


class CriterionSyntaxError(RolloutError):
    """A criterion or duration text does not parse; ``column`` is 1-based within ``text``."""

    def __init__(self, message: str, text: str, column: int) -> None:
        self.message = message
        self.text = text
        self.column = column
        super().__init__(f"column {column}: {message}")


class FlagError(RolloutError):
    """A flag or segment definition is invalid; ``field`` names where."""

    def __init__(self, message: str, field: str = "") -> None:
        self.message = message
        self.field = field
        super().__init__(f"{field}: {message}" if field else message)


class StoreError(RolloutError):
    """The store failed, or holds something it should not."""


class NotFound(StoreError):
    """No such rollout, flag, segment or token."""


class Conflict(StoreError):
    """An optimistic version check or a lease check failed: someone else changed it first."""


class LeaseLost(StoreError):
    """This controller no longer holds the lease on a rollout and must stop acting on it."""


class EngineError(RolloutError):
    """An operator verb does not apply to the rollout in its current state."""


class ProviderError(RolloutError):
    """An outside system failed. Subclasses name which kind."""


class MetricsError(ProviderError):
    """A metric source failed (timeout, bad query, bad answer). "No data" is not an error."""


class TrafficError(ProviderError):
    """A traffic router could not apply a weight, or could not read back what is live."""


class CheckError(ProviderError):
    """A gate's check could not run at all (as opposed to running and failing)."""


class NotifyError(ProviderError):
    """A notification could not be delivered."""


class MigrationError(ProviderError):
    """A migration tool failed, or a migration check found a schema difference."""
