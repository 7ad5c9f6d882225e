"""The scenario of a dry run: synthetic traffic, how each version behaves, and the outside world.

A scenario is YAML beside the plan. Every key but ``traffic`` has a default::

    description: The new version doubles its error rate half an hour in.
    seed: 7                   # the same seed gives the same run
    horizon: 1d               # give up (and report where the rollout stands) after this long
    traffic:
      requests_per_second: 20 # or a schedule: [{at: 0s, requests_per_second: 20}, ...]
      users: 50000            # the population requests are drawn from
      environments:           # optional, per environment: its own rate and population
        staging: {requests_per_second: 2, users: 40}
    segments:                 # the share of users in each segment a stage opens to
      internal-staff: 2%
    control:                  # the version running today
      error_rate: 0.5%
      latency: {median: 120ms, p99: 450ms}   # log-normal
      conversion: 3.1%        # every conversion metric, unless named under `metrics`
      metrics:                # the plan's own metrics, by name
        crashes: 0.01%                     # count: events per request
        order_value: {mean: 52, sd: 20}    # mean
    canary:                   # the new version when healthy; what it leaves out is as control
      latency: {median: 110ms}
    regressions:              # what goes wrong with the new version, and when
      - after: 30m            # time since the rollout started (default 0: from the start)
        error_rate: x2        # x2 = twice; +40% = 40 % more; -3% = 3 % less
        environment: production   # default: every environment
    world:                    # how the outside world answers
      gates: pass             # pass, fail, or how many attempts fail first; or per item
      approvals: 15m          # granted this long after being asked; never; reject
      operator: {on_pause: abort, after: 10m}

Per-name answers are mappings whose ``default`` entry covers the names left out
(``gates: {default: pass, Security audit clean: fail}``); a single value is that default.
Names are checked against the plan by :mod:`rollout.simulate.loader`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from rollout.errors import CriterionSyntaxError
from rollout.plan.durations import parse_duration
from rollout.plan.model import Section
from rollout.plan.types import Name, Percent, Seconds
from rollout.plan.wording import describe

__all__ = [
    "ALWAYS",
    "NEVER",
    "REJECT",
    "Arm",
    "EnvironmentTraffic",
    "Latency",
    "MeanValue",
    "Operator",
    "RateStep",
    "Regression",
    "Scenario",
    "Traffic",
    "World",
    "pick",
]

ALWAYS = 1_000_000
"""The number of failures ``fail`` stands for: every attempt fails."""

NEVER = "never"
REJECT = "reject"

_FACTOR = re.compile(r"^\s*[x×*]\s*([0-9]+(?:\.[0-9]+)?)\s*$", re.IGNORECASE)
_RELATIVE = re.compile(r"^\s*([+-])\s*([0-9]+(?:\.[0-9]+)?)\s*%\s*$")


def _change(value: Any) -> float:
    """``x2`` -> 2.0, ``+40%`` -> 1.4, ``-3%`` -> 0.97: the factor a regression applies."""
    text = value if isinstance(value, str) else ""
    factor: float | None = None
    if match := _FACTOR.match(text):
        factor = float(match.group(1))
    elif match := _RELATIVE.match(text):
        size = float(match.group(2)) / 100.0
        factor = 1.0 + size if match.group(1) == "+" else 1.0 - size
    if factor is None:
        raise PydanticCustomError(
            "change",
            "expected a change like x2 (twice), +40% (40 % more) or -3% (3 % less), found {found}",
            {"found": describe(value)},
        )
    if factor < 0:
        raise PydanticCustomError("change", "a value cannot fall by more than 100%")
    return factor


def _answer(value: Any) -> int:
    """``pass`` -> 0, ``fail`` -> :data:`ALWAYS`, a whole number -> that many failures first."""
    if value == "pass":
        return 0
    if value == "fail":
        return ALWAYS
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    raise PydanticCustomError(
        "answer",
        "expected pass, fail, or how many attempts fail before one passes (0, 1, 2...), "
        "found {found}",
        {"found": describe(value)},
    )


def _wait(value: Any) -> float | str:
    """A delay in seconds, or ``never`` / ``reject`` as written."""
    if value in (NEVER, REJECT):
        return str(value)
    problem = PydanticCustomError(
        "wait",
        "expected a delay like 0s or 15m, 'never' or 'reject', found {found}",
        {"found": describe(value)},
    )
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise problem
    try:
        seconds = parse_duration(value)
    except CriterionSyntaxError:
        raise problem from None
    return seconds


Change = Annotated[
    float,
    BeforeValidator(_change),
    WithJsonSchema({"type": "string", "examples": ["x2", "+40%", "-3%"]}),
]
Answer = Annotated[
    int,
    BeforeValidator(_answer),
    WithJsonSchema({"anyOf": [{"enum": ["pass", "fail"]}, {"type": "integer", "minimum": 0}]}),
]
Wait = Annotated[
    float | str,
    BeforeValidator(_wait),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "number", "minimum": 0}]}),
]


def _per_name(value: Any) -> Any:
    # A single value is the answer for every name; a mapping may name some and set `default`.
    return value if isinstance(value, dict) else {"default": value}


# --------------------------------------------------------------------------- traffic


class RateStep(Section):
    """From ``at`` (since the rollout started) on, ``requests_per_second`` arrive."""

    at: Seconds
    requests_per_second: float = Field(ge=0)


class EnvironmentTraffic(Section):
    """One environment's own request rate and population (each defaults to the main one)."""

    requests_per_second: float | None = Field(default=None, ge=0)
    users: int | None = Field(default=None, ge=1, le=10_000_000)


class Traffic(Section):
    """Requests per second, constant or as a step schedule, from a population of ``users``."""

    requests_per_second: float | None = Field(default=None, ge=0)
    schedule: tuple[RateStep, ...] = ()
    users: int = Field(default=100_000, ge=1, le=10_000_000)
    environments: dict[str, EnvironmentTraffic] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_rate(self) -> Traffic:
        if (self.requests_per_second is None) == (not self.schedule):
            raise ValueError("traffic needs exactly one of 'requests_per_second' and 'schedule'")
        if self.schedule and self.schedule[0].at != 0:
            raise ValueError("a traffic schedule starts at 0s (the start of the rollout)")
        times = [step.at for step in self.schedule]
        if times != sorted(set(times)):
            raise ValueError(
                "the steps of a traffic schedule must come in order of 'at', once each"
            )
        return self

    def rate(self, elapsed: float, environment: str) -> float:
        """Requests per second in ``environment`` at ``elapsed`` seconds into the rollout.

        >>> Traffic(schedule=({"at": 0, "requests_per_second": 5},
        ...                   {"at": 60, "requests_per_second": 9})).rate(90.0, "production")
        9.0
        """
        own = self.environments.get(environment)
        if own is not None and own.requests_per_second is not None:
            return own.requests_per_second
        if self.requests_per_second is not None:
            return self.requests_per_second
        current = self.schedule[0].requests_per_second
        for step in self.schedule:
            if step.at > elapsed:
                break
            current = step.requests_per_second
        return current

    def population(self, environment: str) -> int:
        """How many distinct users make ``environment``'s requests."""
        own = self.environments.get(environment)
        return own.users if own is not None and own.users is not None else self.users


# --------------------------------------------------------------------------- behaviour


class Latency(Section):
    """A log-normal latency: its ``median`` and its ``p99`` (default: three times the median)."""

    median: Seconds = Field(gt=0)
    p99: Seconds | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _tail_above_median(self) -> Latency:
        if self.p99 is not None and self.p99 <= self.median:
            raise ValueError("the p99 must be above the median")
        return self


class MeanValue(Section):
    """A measured value per request (a ``mean`` metric): normal with ``mean`` and ``sd``."""

    mean: float
    sd: float = Field(default=0.0, ge=0)


class Arm(Section):
    """How one version behaves. ``metrics`` covers the plan's own metrics by name: a rate for
    conversion (conversions per exposure) and count metrics (events per request), a
    :class:`MeanValue` for mean metrics.

    What ``control`` leaves out is 0.5 % errors, a median of 100 ms with a p99 of 300 ms, and
    3 % conversion; what ``canary`` leaves out is as the control."""

    error_rate: Percent | None = None
    latency: Latency | None = None
    conversion: Percent | None = None
    metrics: dict[str, Percent | MeanValue] = Field(default_factory=dict)


class Regression(Section):
    """A change to the new version from ``after`` (since the rollout started) until ``until``.

    Each change multiplies: ``error_rate: x2`` doubles the error rate, ``latency: +20%`` slows
    every request by a fifth, ``latency_p99: +40%`` raises the p99 by 40 % and keeps the median
    (a heavier tail), ``conversion: -3%`` converts 3 % fewer exposures. Traffic is drawn one
    monitoring interval at a time, so a regression changes the intervals that start at or
    after ``after`` (and before ``until``).
    """

    name: str | None = None
    after: Seconds = 0.0
    until: Seconds | None = None
    environment: Name | None = None
    error_rate: Change | None = None
    latency: Change | None = None
    latency_p99: Change | None = None
    conversion: Change | None = None
    metrics: dict[str, Change] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _changes_something(self) -> Regression:
        fields = (self.error_rate, self.latency, self.latency_p99, self.conversion)
        if all(value is None for value in fields) and not self.metrics:
            raise ValueError(
                "a regression changes at least one of error_rate, latency, latency_p99, "
                "conversion or metrics"
            )
        if self.until is not None and self.until <= self.after:
            raise ValueError("a regression's 'until' must come after its 'after'")
        return self

    def active(self, elapsed: float, environment: str) -> bool:
        """Whether the regression is on at ``elapsed`` seconds into the rollout."""
        if self.environment is not None and self.environment != environment:
            return False
        return self.after <= elapsed and (self.until is None or elapsed < self.until)

    def label(self, index: int) -> str:
        return self.name or f"regression {index + 1}"


# --------------------------------------------------------------------------- the world


class Operator(Section):
    """What the person on duty does when the rollout pauses for them (a failure after its
    retries, or a trigger under the manual rollback procedure): ``wait`` (nothing; the rollout
    stays paused), or ``abort`` it ``after`` this long."""

    on_pause: Literal["wait", "abort"] = "wait"
    after: Seconds = 0.0


_PerName = BeforeValidator(_per_name)


class World(Section):
    """How the outside world answers the rollout's actions.

    Answers: ``pass``, ``fail`` (every attempt), or a whole number (that many attempts fail,
    then one passes). Waits: a delay, ``never``, or ``reject`` (for sign-offs: refused).
    ``gates`` and ``sign_offs`` are keyed by checklist item, ``approvals`` and ``deploys`` by
    environment, ``checks`` by check name (validation, preview and health checks).
    """

    gates: Annotated[dict[str, Answer], _PerName] = Field(default_factory=dict)
    sign_offs: Annotated[dict[str, Wait], _PerName] = Field(default_factory=dict)
    approvals: Annotated[dict[str, Wait], _PerName] = Field(default_factory=dict)
    deploys: Annotated[dict[str, Answer], _PerName] = Field(default_factory=dict)
    checks: Annotated[dict[str, Answer], _PerName] = Field(default_factory=dict)
    migrations: Answer = 0
    traffic: Answer = 0
    rollback: Answer = 0
    operator: Operator = Field(default_factory=Operator)


def pick(answers: dict[str, Any], name: str, fallback: Any) -> Any:
    """The answer for ``name``: its own, else the ``default`` entry, else ``fallback``."""
    return answers.get(name, answers.get("default", fallback))


# --------------------------------------------------------------------------- the scenario


class Scenario(Section):
    """A whole scenario. Load it with :func:`rollout.simulate.loader.load_scenario`."""

    description: str = ""
    seed: int = Field(default=1, ge=0)
    horizon: Seconds = Field(default=86_400.0, gt=0)
    traffic: Traffic
    segments: dict[str, Percent] = Field(default_factory=dict)
    control: Arm = Field(default_factory=Arm)
    canary: Arm = Field(default_factory=Arm)
    regressions: tuple[Regression, ...] = ()
    world: World = Field(default_factory=World)
