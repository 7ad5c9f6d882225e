"""What the engine asks the world to do: one frozen dataclass per kind of action.

Every action names its place with ``step`` (``production/stage-2/traffic``, ``gate/3``,
``rollback/1``) and carries ``attempt`` (1, 2, ... as the step is retried), so its idempotency key
``f"{rollout_id}:{step}:{attempt}"`` is the same however often ``decide`` is called with the same
state: the runner records the key before acting and skips keys already done. Traffic and flag
actions set a value (never "add 5 %"), so applying one twice changes nothing.

``description`` says in plain words what the action does; ``payload()`` is the JSON the store
keeps with the key (everything but the identity and the description).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import TypeAdapter

from rollout.plan.model import Check, ChecklistItem, CommandCheck, Migrations, Router

CheckPurpose = Literal["validation", "preview", "health"]
DeployTarget = Literal["environment", "idle-colour", "instances"]
MigrationPhase = Literal["expand", "contract", "rollback"]

_IDENTITY = frozenset({"rollout_id", "step", "attempt", "description"})


@dataclass(frozen=True, kw_only=True)
class Action:
    """Base of every action: identity (rollout, step, attempt) and a plain-words description."""

    kind: ClassVar[str] = "action"
    rollout_id: str
    step: str
    attempt: int = 1
    description: str = ""

    @property
    def key(self) -> str:
        """The idempotency key, ``f"{rollout_id}:{step}:{attempt}"``.

        >>> SetTraffic(rollout_id="r1", step="prod/stage-2/traffic", attempt=2,
        ...            environment="prod", percent=25.0, router=None).key
        'r1:prod/stage-2/traffic:2'
        """
        return f"{self.rollout_id}:{self.step}:{self.attempt}"

    def payload(self) -> dict[str, Any]:
        """What the action does, as JSON: its kind and every field but the identity."""
        data: dict[str, Any] = _adapter(type(self)).dump_python(self, mode="json")
        body = {name: value for name, value in data.items() if name not in _IDENTITY}
        return {"kind": self.kind, **body}


_ADAPTERS: dict[type[Action], TypeAdapter[Any]] = {}


def _adapter(cls: type[Action]) -> TypeAdapter[Any]:
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


@dataclass(frozen=True, kw_only=True)
class RunGate(Action):
    """Run checklist item ``index`` (1-based in descriptions) to prove it: a command, an HTTP
    check, the migrations' round trip, the rollback plan's runnability, or the monitoring's
    reachability. Manual items are not run; see :class:`RequestSignOff`."""

    kind: ClassVar[str] = "run_gate"
    index: int
    item: ChecklistItem


@dataclass(frozen=True, kw_only=True)
class RequestSignOff(Action):
    """Ask someone with ``role`` (one of ``people`` when listed) to sign off a manual item."""

    kind: ClassVar[str] = "request_sign_off"
    index: int
    item: str
    role: str
    people: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RecordBaseline(Action):
    """Measure ``metrics`` over the ``window`` seconds before the start and report the values
    (in criterion units: a fraction for rates, milliseconds for latency) as the result's
    ``values``."""

    kind: ClassVar[str] = "record_baseline"
    metrics: tuple[str, ...]
    window: float


@dataclass(frozen=True, kw_only=True)
class RequestApproval(Action):
    """Ask for approval to enter ``environment``: ``min_approvals`` distinct people, from
    ``approvers`` when that list is not empty."""

    kind: ClassVar[str] = "request_approval"
    environment: str
    approvers: tuple[str, ...]
    min_approvals: int
    timeout: float | None = None


@dataclass(frozen=True, kw_only=True)
class Deploy(Action):
    """Run a deploy command: for the whole ``environment``, to bring up the idle colour
    (blue-green), or for a batch of ``instances`` (rolling; each instance in turn sees
    ``ROLLOUT_INSTANCE``). Also used to put ``instances`` back on the old version."""

    kind: ClassVar[str] = "deploy"
    environment: str
    command: CommandCheck
    target: DeployTarget = "environment"
    instances: tuple[str, ...] = ()
    version: str = ""


@dataclass(frozen=True, kw_only=True)
class Migrate(Action):
    """Run database migrations in ``environment``: ``expand`` (every revision except the
    contract ones), ``contract`` (the contract revisions, after general availability) or
    ``rollback`` (down to ``migrations.rollback``: the start revision or a named one)."""

    kind: ClassVar[str] = "migrate"
    environment: str
    phase: MigrationPhase
    migrations: Migrations


@dataclass(frozen=True, kw_only=True)
class SetTraffic(Action):
    """Send ``percent`` % of ``environment``'s traffic to the new version through ``router``
    (0 sends everyone back to the old version; 100 is a blue-green switch).

    With a ``segment`` (a stage's audience), the new version goes to ``segment_percent`` % of
    the segment's members and to nobody else: ``percent`` is then 0, the share of everyone
    outside it. Only the flag router can pick people that way."""

    kind: ClassVar[str] = "set_traffic"
    environment: str
    percent: float
    router: Router | None
    segment: str | None = None
    segment_percent: float = 100.0


@dataclass(frozen=True, kw_only=True)
class SetFlag(Action):
    """Set ``flag`` in ``environment``: its rollout ``percent`` and/or whether it is
    ``enabled``. With a ``segment`` (a stage's audience), the flag serves the new version to
    ``segment_percent`` % of the segment's members and to nobody else (``percent`` is 0)."""

    kind: ClassVar[str] = "set_flag"
    environment: str
    flag: str
    percent: float | None = None
    enabled: bool | None = None
    segment: str | None = None
    segment_percent: float = 100.0


@dataclass(frozen=True, kw_only=True)
class RunCheck(Action):
    """Run a check in ``environment``: post-deployment ``validation`` (smoke, key flows), a
    blue-green ``preview`` check of the idle colour, or a rolling batch's ``health`` check,
    which runs once per instance of the batch (``instances``, each told its own through
    ``ROLLOUT_INSTANCE``)."""

    kind: ClassVar[str] = "run_check"
    environment: str
    check: Check
    purpose: CheckPurpose
    instances: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True)
class RunCommand(Action):
    """Run a command of the rollback plan in ``environment``; exit code 0 is success."""

    kind: ClassVar[str] = "run_command"
    environment: str
    command: str
    timeout: float


@dataclass(frozen=True)
class NotifyContext:
    """What a message template can say: ``{rollout} {version} {environment} {stage} {state}
    {reason}``."""

    rollout: str
    version: str
    environment: str
    stage: str
    state: str
    reason: str


@dataclass(frozen=True, kw_only=True)
class Notify(Action):
    """Tell people: at ``moment``, send the communication plan's ``announcements`` (indexes into
    ``plan.communication``), or, for a rollback step, the step's own ``channel``/``message``."""

    kind: ClassVar[str] = "notify"
    moment: str
    announcements: tuple[int, ...]
    context: NotifyContext
    channel: str | None = None
    message: str | None = None


@dataclass(frozen=True, kw_only=True)
class RunRollbackStep(Action):
    """Rollback step ``index`` (0-based) of the plan, resolved into the concrete ``action`` to
    carry out under this step's key. ``action`` has the same identity as this wrapper."""

    kind: ClassVar[str] = "run_rollback_step"
    index: int
    name: str
    action: SetTraffic | SetFlag | RunCommand | Migrate | Deploy | Notify = field()


ACTION_TYPES: tuple[type[Action], ...] = (
    RunGate,
    RequestSignOff,
    RecordBaseline,
    RequestApproval,
    Deploy,
    Migrate,
    SetTraffic,
    SetFlag,
    RunCheck,
    RunCommand,
    Notify,
    RunRollbackStep,
)
