"""Moving traffic: ``set_traffic`` through the environment's router, ``set_flag`` through the
built-in flag router.

A stage that names a segment opens the new version to that segment's members only (all of
them, or the stage's share of them): the flag router writes
:func:`rollout.flags.with_stage_audience`, which replaces the previous stage's segment rule, and
reads it back. The segment must exist in the environment's flag service; when it does not, the
action fails with a reason that says how to create it (the engine retries, then holds the
rollout). A router that shifts a share of requests (nginx, haproxy, a command) cannot pick
people, so a segment there fails the action too (the plan's cross-checks refuse such a plan
before it starts). Any change to a percentage of everyone, a rollback to 0 % included, removes
the segment rule (:func:`rollout.flags.with_rollout_percent`).

A flag switched off by someone (its kill switch) is not switched back on by a ramp: the ramp
fails and says so, and the operator decides.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rollout.engine.actions import SetFlag, SetTraffic
from rollout.engine.actions_exec_world import AudienceStore, ChangeListener, Done, plan_flag
from rollout.errors import NotFound, StoreError, TrafficError
from rollout.flags import Flag, stage_segment, with_stage_audience
from rollout.plan.model import FlagRouter, FlagSpec
from rollout.providers.traffic import (
    AppliedWeight,
    RouterContext,
    check_percent,
    format_percent,
    router_for,
)
from rollout.providers.traffic.flag import FlagTrafficRouter, live_percent

if TYPE_CHECKING:
    from rollout.engine.actions_exec import ActionExecutor


class AudienceRouter(FlagTrafficRouter):
    """The flag router, able to open the flag to a stage's segment as well as to a share of
    everyone (same store access, version checks and change notices)."""

    def __init__(
        self,
        store: AudienceStore,
        environment: str,
        flag_key: str,
        actor: str,
        spec: FlagSpec | None = None,
        *,
        on_change: ChangeListener | None = None,
    ) -> None:
        super().__init__(store, environment, flag_key, actor, spec, on_change=on_change)
        self.segments = store

    def set_audience(
        self, percent: float, segment: str | None, segment_percent: float, key: str
    ) -> AppliedWeight:
        """Serve the new version to ``percent`` % of everyone or, with a ``segment``, to
        ``segment_percent`` % of its members and nobody else; read it back. ``TrafficError``
        when the segment does not exist, the flag is switched off, or the read-back differs."""
        if segment is None:
            return self.set_weight(percent, key)
        share = check_percent(segment_percent)
        self._require_segment(segment)

        def change(flag: Flag) -> Flag:
            if not flag.on and share > 0:
                raise TrafficError(
                    f"flag {self.flag_key} is switched off in {self.environment} (its kill "
                    f"switch), so segment {segment} cannot get the new version; switch it on first"
                )
            return with_stage_audience(flag, share, segment)

        self._write(change, 0.0)
        record = self._read()
        if record is None:
            raise TrafficError(
                f"flag {self.flag_key} disappeared from {self.environment} right after it "
                "was written"
            )
        flag = self._validated(record)
        opened = stage_segment(flag)
        if opened != (segment, share) or live_percent(flag) != 0.0:
            raise TrafficError(
                f"read-back mismatch: asked for {format_percent(share)}% of segment {segment} "
                f"only, but flag {self.flag_key} in {self.environment} serves "
                f"{_words(opened, live_percent(flag))} (version {record.version}, by "
                f"{record.updated_by})"
            )
        who = _words(opened, 0.0)
        return AppliedWeight(
            0.0,
            0.0,
            verified=True,
            detail=f"flag {self.flag_key} in {self.environment} serves the new version to "
            f"{who} and to nobody else (version {record.version})",
        )

    def _require_segment(self, segment: str) -> None:
        try:
            self.segments.get_segment(self.environment, segment)
        except NotFound:
            raise TrafficError(
                f"segment '{segment}' does not exist in {self.environment}: create it through "
                f"the API (PUT /api/v1/environments/{self.environment}/segments/{segment})"
            ) from None
        except StoreError as exc:
            raise TrafficError(f"could not read segment {segment}: {exc}") from exc


def _words(opened: tuple[str, float] | None, everyone: float) -> str:
    if opened is None:
        return f"{format_percent(everyone)}% of everyone"
    segment, share = opened
    members = "every member" if share >= 100.0 else f"{format_percent(share)}%"
    said = f"{members} of segment {segment}"
    return said if everyone == 0.0 else f"{said} and {format_percent(everyone)}% of everyone"


def set_traffic(ex: ActionExecutor, action: SetTraffic) -> Done:
    """Set the environment's router to ``action.percent`` (or the stage's segment) and read
    it back."""
    spec = action.router or FlagRouter(type="flag", flag=ex.plan.strategy.flag)
    if action.segment is not None:
        if not isinstance(spec, FlagRouter):
            return Done(
                False,
                f"the {spec.type} router shifts a share of requests and cannot open "
                f"{action.environment} to segment {action.segment}: only the flag router can",
            )
        key = spec.flag or ex.plan.strategy.flag
        if key is None:
            return Done(False, "the flag router needs a flag: set 'flag' in the traffic block")
        applied = _router(ex, action.environment, key).set_audience(
            action.percent, action.segment, action.segment_percent, action.key
        )
    else:
        context = RouterContext(ex.version, action.environment, ex.base_dir)
        applied = router_for(spec, context, ex.routers).set_weight(action.percent, action.key)
    message = applied.detail
    if not applied.verified:
        message += " (not verified: the router has no way to read the weight back)"
    details = {
        "requested_percent": applied.requested_percent,
        "live_percent": applied.canary_percent,
        "verified": applied.verified,
        **_segment_details(action.segment, action.segment_percent),
    }
    return Done(True, message, details)


def set_flag(ex: ActionExecutor, action: SetFlag) -> Done:
    """Enable, ramp (a share of everyone, or the stage's segment) or disable ``action.flag``."""
    router = _router(ex, action.environment, action.flag)
    said: list[str] = []
    # A ramp (a percentage) never switches a killed flag back on: someone switched it off
    # on purpose, so the ramp fails and says so. Only a plain "enable" step does.
    if action.enabled is True and action.percent is None:
        said.append(router.set_enabled(True, action.key).detail)
    if action.percent is not None:
        applied = router.set_audience(
            action.percent, action.segment, action.segment_percent, action.key
        )
        said.append(applied.detail)
    if action.enabled is False:
        said.append(router.set_enabled(False, action.key).detail)
    details = _segment_details(action.segment, action.segment_percent)
    return Done(True, "; ".join(said) or "nothing to change", details)


def _router(ex: ActionExecutor, environment: str, flag: str) -> AudienceRouter:
    return AudienceRouter(
        ex.flag_store,
        environment,
        flag,
        ex.actor,
        plan_flag(ex.plan, flag),
        on_change=ex.world.on_flag_change,
    )


def _segment_details(segment: str | None, share: float) -> dict[str, object]:
    return {} if segment is None else {"segment": segment, "segment_percent": share}
