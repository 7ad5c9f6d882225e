"""The typed, immutable model of a rollout plan: one class per section of the template.

A plan is YAML in the user's repository; :func:`rollout.plan.loader.load_plan` turns it into a
:class:`Plan`. Every model is frozen and rejects unknown keys, so a misspelt key is an error, not a
silently ignored setting. Section by section (template heading -> field):

==============================  ===========================================
Overview                        ``overview``
Pre-Deployment Checklist        ``checklist`` (each item a gate that runs)
Deployment Strategy             ``strategy``
Environment Progression         ``environments``
Feature Flags                   ``flags``
Database Migrations             ``migrations``
Rollout Stages                  ``stages``
Monitoring During Rollout       ``monitoring``
Rollback Plan                   ``rollback``
Communication Plan              ``communication``
Post-Deployment Validation      ``validation``
Related Documents               ``related``
==============================  ===========================================

Cross-references (a stage's flag exists, a metric is defined, audiences rise) are checked by
:mod:`rollout.plan.crossref`, which reports each problem at its field path.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from rollout.plan.types import CriterionField, Name, Percent, Seconds

StrategyType = Literal["canary", "blue-green", "rolling", "feature-flag"]


class Section(BaseModel):
    """Base of every plan model: frozen, unknown keys rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


def _exactly_one(model: BaseModel, fields: tuple[str, ...], what: str) -> None:
    chosen = [name for name in fields if getattr(model, name) is not None]
    if len(chosen) != 1:
        options = ", ".join(f"'{name}'" for name in fields)
        found = ", ".join(f"'{name}'" for name in chosen) or "none"
        raise ValueError(f"{what} needs exactly one of {options}; found {found}")


# --------------------------------------------------------------------------- checks


class HttpCheck(Section):
    """An HTTP smoke request: passes when the status (and body, and latency) are as expected."""

    url: str
    method: Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    expect_status: int | list[int] = 200
    expect_body: str | None = Field(
        default=None, description="A regular expression the response body must match."
    )
    max_latency: Seconds | None = None


class CommandCheck(Section):
    """A command run in a shell; exit code 0 passes. Output is captured into the audit trail."""

    run: str = Field(min_length=1)
    cwd: str | None = None
    env: dict[str, str] = Field(default_factory=dict)


class ManualSignOff(Section):
    """A person with ``role`` (and, if listed, one of ``people``) signs the item off."""

    role: str = Field(min_length=1)
    people: tuple[str, ...] = ()


class Check(Section):
    """A named check that runs: a command or an HTTP request. Used by validation and rolling."""

    name: str = Field(min_length=1)
    run: str | None = None
    http: HttpCheck | None = None
    timeout: Seconds = 300.0
    retries: int = Field(default=0, ge=0, le=20)

    @model_validator(mode="after")
    def _one_kind(self) -> Check:
        _exactly_one(self, ("run", "http"), "a check")
        return self


class ChecklistItem(Section):
    """One pre-deployment checklist item and the gate that proves it.

    Exactly one of: ``run`` (a command), ``http`` (a smoke request), ``migrations: tested`` (the
    migrations' upgrade/downgrade round trip), ``rollback: documented`` (the rollback plan has
    runnable steps), ``monitoring: configured`` (every metric the stages use has a source and
    answers), ``manual`` (a named role signs off).
    """

    item: str = Field(min_length=1)
    run: str | None = None
    http: HttpCheck | None = None
    migrations: Literal["tested"] | None = None
    rollback: Literal["documented"] | None = None
    monitoring: Literal["configured"] | None = None
    manual: ManualSignOff | None = None
    timeout: Seconds = 600.0
    retries: int = Field(default=0, ge=0, le=20)

    @model_validator(mode="after")
    def _one_gate(self) -> ChecklistItem:
        _exactly_one(
            self,
            ("run", "http", "migrations", "rollback", "monitoring", "manual"),
            "a checklist item",
        )
        return self

    @property
    def gate(self) -> str:
        """Which kind of gate proves this item (``run``, ``http``, ``migrations``, ...)."""
        for name in ("run", "http", "migrations", "rollback", "monitoring", "manual"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated to have exactly one gate")


# --------------------------------------------------------------------------- strategy


class BlueGreen(Section):
    """Blue-green: bring up the idle colour, validate it, switch all traffic, keep the old."""

    rollback_window: Seconds = Field(
        default=3600.0, description="How long the old colour stays up, ready to switch back."
    )
    preview_checks: tuple[Check, ...] = ()


class Rolling(Section):
    """Rolling: replace instances in batches, with a health check between batches."""

    instances: tuple[str, ...] = Field(min_length=1)
    batch_size: Annotated[int, Field(ge=1)] = 1
    deploy: str = Field(
        min_length=1,
        description="Command that deploys one instance; sees ROLLOUT_INSTANCE and ROLLOUT_VERSION.",
    )
    undeploy: str | None = Field(
        default=None, description="Command that puts the old version back on one instance."
    )
    health_check: Check
    pause_between: Seconds = 0.0


class Strategy(Section):
    """How the new version meets users, what triggers a rollback, and who does the rollback."""

    type: StrategyType
    flag: Name | None = Field(
        default=None,
        description="The flag that splits traffic (feature-flag strategy; flag router).",
    )
    rollback_trigger: tuple[CriterionField, ...] = Field(
        default=(), description="Triggers judged in every stage, on top of each stage's own."
    )
    rollback: Literal["automatic", "manual"] = Field(
        default="automatic",
        description="automatic: roll back as soon as a trigger fires; manual: pause and notify.",
    )
    blue_green: BlueGreen | None = None
    rolling: Rolling | None = None

    @model_validator(mode="after")
    def _settings_match_type(self) -> Strategy:
        if self.type == "rolling" and self.rolling is None:
            raise ValueError(
                "the rolling strategy needs a 'rolling' block (instances, deploy, ...)"
            )
        if self.type != "rolling" and self.rolling is not None:
            raise ValueError(f"a 'rolling' block does not apply to the {self.type} strategy")
        if self.type != "blue-green" and self.blue_green is not None:
            raise ValueError(f"a 'blue_green' block does not apply to the {self.type} strategy")
        if self.type == "feature-flag" and self.flag is None:
            raise ValueError("the feature-flag strategy needs 'flag': the flag it ramps")
        return self


# --------------------------------------------------------------------------- environments


class Approval(Section):
    """Who must approve before the rollout enters an environment, and how many of them."""

    required: bool = False
    approvers: tuple[str, ...] = ()
    min_approvals: int = Field(default=1, ge=1)
    timeout: Seconds | None = Field(
        default=None, description="Reject automatically when nobody decides in time."
    )
    allow_self_approval: bool = Field(
        default=False, description="May the person who started the rollout approve it?"
    )

    @model_validator(mode="before")
    @classmethod
    def _from_bool(cls, value: Any) -> Any:
        # `approval: true` is the natural way to write "approval required".
        return {"required": value} if isinstance(value, bool) else value

    @model_validator(mode="after")
    def _enough_approvers(self) -> Approval:
        if self.approvers and self.min_approvals > len(self.approvers):
            raise ValueError(
                f"min_approvals is {self.min_approvals} but only {len(self.approvers)} "
                "approvers are listed"
            )
        return self


class FlagRouter(Section):
    """Built-in: the new version is behind a flag; traffic % is the flag's rollout %."""

    type: Literal["flag"]
    flag: Name | None = Field(default=None, description="Defaults to the strategy's flag.")


class NginxRouter(Section):
    """nginx: upstream weights written to an included file, checked with nginx -t, reloaded."""

    type: Literal["nginx"]
    config_file: str
    upstream: str
    stable: str = Field(description="host:port of the current version")
    canary: str = Field(description="host:port of the new version")
    nginx: str = "nginx"
    nginx_config: str | None = Field(default=None, description="Main config, for nginx -t / -s.")
    status_url: str | None = Field(default=None, description="Where to read back what is live.")


class HaproxyRouter(Section):
    """HAProxy: server weights set through the runtime API socket."""

    type: Literal["haproxy"]
    socket: str
    backend: str
    stable: str = Field(description="server name of the current version")
    canary: str = Field(description="server name of the new version")


class CommandRouter(Section):
    """The user's script: ``set`` gets {weight}, {version}, {environment}; ``get`` prints it."""

    type: Literal["command"]
    set: str = Field(min_length=1)
    get: str | None = None
    timeout: Seconds = 120.0


Router = Annotated[
    FlagRouter | NginxRouter | HaproxyRouter | CommandRouter, Field(discriminator="type")
]


class Environment(Section):
    """One environment of the progression, in order (development, staging, production)."""

    name: Name
    purpose: str = ""
    approval: Approval = Field(default_factory=Approval)
    traffic: Router | None = Field(
        default=None, description="How traffic moves here; defaults to the flag router."
    )
    deploy: CommandCheck | None = Field(
        default=None, description="Command that puts the new version into this environment."
    )
    staged: bool | None = Field(
        default=None,
        description=(
            "Run the rollout stages here (true), or go straight to 100% (false). "
            "Default: only the last environment is staged."
        ),
    )


# --------------------------------------------------------------------------- flags


FlagValue = bool | int | float | str


class FlagSpec(Section):
    """A feature flag the rollout gates behind: the template's Feature Flags table row."""

    key: Name
    description: str = ""
    default: FlagValue = Field(default=False, description="Served to everyone outside the rollout.")
    serve: FlagValue = Field(default=True, description="Served to the rollout's audience.")
    rollout: Percent = Field(default=100.0, description="Rollout % this plan ends at.")


# --------------------------------------------------------------------------- migrations


class Migrations(Section):
    """Database migrations: the tool, compatibility, and the tested way back."""

    tool: Literal["alembic"] = "alembic"
    config: str = Field(default="alembic.ini", description="Path to alembic.ini.")
    database_url: str = Field(
        description="Where to migrate; write it as ${ENV_VAR} so no secret is stored."
    )
    scratch_database_url: str | None = Field(
        default=None, description="Scratch database for the upgrade/downgrade round-trip test."
    )
    backwards_compatible: bool = True
    allow_incompatible: tuple[str, ...] = Field(
        default=(), description="Revisions whose breaking operations are deliberate."
    )
    contract_revisions: tuple[str, ...] = Field(
        default=(), description="Revisions that only run after general availability."
    )
    rollback: Literal["downgrade-to-start"] | str = Field(
        default="downgrade-to-start",
        description="The rollback migration: back to the revision recorded at start, or one named.",
    )


# --------------------------------------------------------------------------- stages


class Audience(Section):
    """Who sees the new version in a stage: a percentage, a segment, or both."""

    percent: Percent | None = None
    segment: str | None = None
    reason: str | None = Field(
        default=None, description="Why this stage's percentage is lower than the previous one."
    )

    @model_validator(mode="before")
    @classmethod
    def _from_scalar(cls, value: Any) -> Any:
        # `audience: 5%` and `audience: 5` mean a percentage.
        if isinstance(value, str) and not any(char.isdigit() for char in value):
            raise PydanticCustomError(
                "percent",
                "expected a percentage like 25 or 25%, found {found}; for a segment write {hint}",
                {"found": repr(value), "hint": f"'audience: {{segment: {value}}}'"},
            )
        return {"percent": value} if isinstance(value, int | float | str) else value

    @model_validator(mode="after")
    def _something(self) -> Audience:
        if self.percent is None and self.segment is None:
            raise ValueError("an audience needs a 'percent', a 'segment', or both")
        return self


class Stage(Section):
    """A rollout stage: set the audience, bake for ``duration``, judge, move on or roll back."""

    name: str = Field(min_length=1)
    audience: Audience
    duration: Seconds
    flag: Name | None = Field(default=None, description="Defaults to the strategy's flag.")
    success: tuple[CriterionField, ...] = ()
    rollback_trigger: tuple[CriterionField, ...] = ()
    min_requests: int = Field(
        default=0, ge=0, description="Canary requests needed before the stage can pass."
    )


# --------------------------------------------------------------------------- monitoring


class BuiltinSource(Section):
    """The SDKs' outcome telemetry, per flag arm, kept in Rollout's own store."""

    type: Literal["builtin"] = "builtin"


class PrometheusSource(Section):
    """A Prometheus server; queries are PromQL templates with {arm} and {window} filled in."""

    type: Literal["prometheus"]
    url: str
    timeout: Seconds = 10.0


class CommandSource(Section):
    """A script that prints the metric's values as JSON."""

    type: Literal["command"]
    run: str = Field(min_length=1)
    timeout: Seconds = 30.0


MetricSource = Annotated[
    BuiltinSource | PrometheusSource | CommandSource, Field(discriminator="type")
]
MetricKind = Literal["error_rate", "latency", "conversion", "mean", "count"]


class Metric(Section):
    """A metric a criterion can name, where it is measured, and its pre-rollout baseline."""

    kind: MetricKind
    higher_is_better: bool | None = Field(
        default=None,
        description="Default: false for error_rate, latency and count; true for conversion.",
    )
    source: MetricSource | None = Field(default=None, description="Default: monitoring.source.")
    queries: dict[str, str] = Field(
        default_factory=dict,
        description="Source-specific queries, e.g. for Prometheus {requests: ..., errors: ...}.",
    )
    percentile: float | None = Field(default=None, gt=0, lt=100)
    baseline: float | None = Field(
        default=None, description="Expected value before the rollout; measured when absent."
    )


class Monitoring(Section):
    """What is watched during the rollout, how often, and the baselines it is compared with."""

    interval: Seconds = Field(
        default=30.0,
        description=(
            "The step metrics are read in; triggers on builtin telemetry are judged as it lands."
        ),
    )
    baseline_window: Seconds = Field(
        default=3600.0, description="Window before the start over which baselines are measured."
    )
    source: MetricSource = Field(default_factory=BuiltinSource)
    error_rate_baseline: Percent | None = None
    latency_baseline: Seconds | None = Field(
        default=None, description="Expected p99 latency (or the plan's latency metric)."
    )
    business_metric: str | None = Field(
        default=None, description="Name of the key business metric, defined under 'metrics'."
    )
    business_baseline: float | None = None
    metrics: dict[str, Metric] = Field(default_factory=dict)


# --------------------------------------------------------------------------- rollback


class FlagChange(Section):
    """Set a flag's rollout % and/or switch it on or off."""

    key: Name
    percent: Percent | None = None
    enabled: bool | None = None


class Notify(Section):
    """Send a message to the communication plan's audience, or to a channel directly."""

    audience: str | None = None
    channel: str | None = None
    message: str = "Rollout {rollout} of {version}: {state}. {reason}"


class RollbackStep(Section):
    """One rollback step that runs. Exactly one of traffic, flag, run, migrate, notify."""

    name: str | None = None
    traffic: Percent | None = Field(
        default=None, description="Set the new version's traffic % (0 = all back to the old)."
    )
    flag: FlagChange | None = None
    run: str | None = None
    migrate: Literal["rollback"] | None = Field(
        default=None, description="Run the rollback migration (downgrade to the start revision)."
    )
    notify: Notify | None = None
    timeout: Seconds = 300.0
    retries: int = Field(default=3, ge=0, le=20)

    @model_validator(mode="after")
    def _one_action(self) -> RollbackStep:
        _exactly_one(self, ("traffic", "flag", "run", "migrate", "notify"), "a rollback step")
        return self

    @property
    def action(self) -> str:
        """Which kind of action this step runs."""
        for name in ("traffic", "flag", "run", "migrate", "notify"):
            if getattr(self, name) is not None:
                return name
        raise AssertionError("validated to have exactly one action")


# --------------------------------------------------------------------------- communication

Moment = str
"""When a message goes out: ``started``, ``approval_needed``, ``environment_started``,
``stage_started``, ``stage_passed``, ``rolling_back``, ``rolled_back``, ``rollback_failed``,
``failed`` (stopped before anything changed), ``rollback_step`` (a rollback plan's notify step),
``succeeded``, ``paused``, ``any``, or ``stage:<stage name>`` for one stage."""

MOMENTS = (
    "started",
    "approval_needed",
    "environment_started",
    "stage_started",
    "stage_passed",
    "rolling_back",
    "rolled_back",
    "rollback_failed",
    "failed",
    "rollback_step",
    "succeeded",
    "paused",
    "any",
)


class Announcement(Section):
    """A row of the communication plan: when, to whom, through which channel, what."""

    when: tuple[Moment, ...] = Field(min_length=1)
    audience: str = Field(min_length=1)
    channel: str = Field(
        min_length=1,
        description="An Apprise URL; secrets as ${ENV_VAR}, which is expanded only when sending.",
    )
    message: str = Field(
        default="Rollout {rollout} ({version}): {state} — {reason}",
        description="Template; sees {rollout} {version} {environment} {stage} {state} {reason}.",
    )

    @model_validator(mode="before")
    @classmethod
    def _when_scalar(cls, value: Any) -> Any:
        if isinstance(value, dict) and isinstance(value.get("when"), str):
            return {**value, "when": [value["when"]]}
        return value


# --------------------------------------------------------------------------- validation


class SpikeCheck(Section):
    """No spike of a metric against its baseline after deployment."""

    metric: str = "error_rate"
    tolerance: Percent = Field(default=50.0, description="Relative rise allowed, in %.")


class PerformanceCheck(SpikeCheck):
    """Latency within its baseline after deployment: a spike check on a latency metric."""

    metric: str = "latency_p99"


class Validation(Section):
    """Post-deployment validation, run after each environment reaches 100%."""

    window: Seconds = Field(default=300.0, description="How long to watch after deployment.")
    smoke: tuple[Check, ...] = ()
    key_flows: tuple[Check, ...] = ()
    no_error_spike: SpikeCheck | None = None
    performance: PerformanceCheck | None = Field(
        default=None, description="Latency within baseline; metric defaults to latency_p99."
    )


# --------------------------------------------------------------------------- related


class RelatedDocument(Section):
    """A document this plan is informed by or informs."""

    title: str = Field(min_length=1)
    path: str = Field(min_length=1, description="Relative path or URL.")
    relation: Literal["informed_by", "informs", "related"] = "informed_by"


# --------------------------------------------------------------------------- the plan


class Overview(Section):
    """What is being rolled out, by whom, and the approach in a few words."""

    summary: str = Field(min_length=1)
    owner: str | None = None
    service: str | None = None
    version: str | None = Field(default=None, description="The release; `rollout start --version`.")


class Plan(Section):
    """A whole rollout plan. Build it with :func:`rollout.plan.loader.load_plan`."""

    name: Name
    overview: Overview
    checklist: tuple[ChecklistItem, ...] = Field(min_length=1)
    strategy: Strategy
    environments: tuple[Environment, ...] = Field(min_length=1)
    flags: tuple[FlagSpec, ...] = ()
    migrations: Migrations | None = None
    stages: tuple[Stage, ...] = Field(min_length=1)
    monitoring: Monitoring = Field(default_factory=Monitoring)
    rollback: tuple[RollbackStep, ...] = Field(min_length=1)
    communication: tuple[Announcement, ...] = ()
    validation: Validation = Field(default_factory=Validation)
    related: tuple[RelatedDocument, ...] = ()

    def environment(self, name: str) -> Environment:
        """The environment called ``name``; KeyError when there is none."""
        for env in self.environments:
            if env.name == name:
                return env
        raise KeyError(name)

    def is_staged(self, env: Environment) -> bool:
        """Whether the rollout stages run in ``env`` (default: only in the last environment)."""
        if env.staged is not None:
            return env.staged
        return env is self.environments[-1]

    def flag(self, key: str) -> FlagSpec:
        """The plan's flag ``key``; KeyError when there is none."""
        for spec in self.flags:
            if spec.key == key:
                return spec
        raise KeyError(key)

    def stage_flag(self, stage: Stage) -> str | None:
        """The flag a stage ramps: its own, else the strategy's."""
        return stage.flag or self.strategy.flag
