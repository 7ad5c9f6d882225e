"""Random scripted worlds: whatever fails, whatever the metrics say and whatever operators do,
a rollout always ends (never loops), never issues an idempotency key twice, and ends the way
its history says it must."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from engine_plans import load, plan_data
from engine_sim import Sim, Telemetry, World
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rollout.engine import (
    Command,
    Hold,
    Outcome,
    RunRollbackStep,
    SignOff,
    Status,
    Verb,
    Vote,
)

STEPS = [
    "gate/1",
    "gate/2",
    "staging/deploy",
    "production/deploy",
    "*/traffic",
    "*/flag",
    "*/switch",
    "*/preview-1",
    "*/batch-*/deploy",
    "*/batch-*/health",
    "*/validation/*",
    "rollback/1",
    "rollback/2",
    "notify/*",
]
WINDOWS = ["production/stage-1", "production/stage-2", "production/stage-3", "*/validation"]
METRICS = ["error_rate", "latency_p99"]
CHANGING = ("deploy", "migrate", "set_traffic", "set_flag")


@dataclass(frozen=True)
class Scenario:
    strategy: str
    approval: str
    manual_gate: bool
    manual_rollback: bool
    failures: dict[str, int]
    bad: list[tuple[str, str]]
    quiet: list[tuple[str, str]]
    verbs: list[tuple[int, Verb]]
    on_trigger: Verb

    def plan_data(self) -> dict[str, Any]:
        data = plan_data(self.strategy)
        for stage, duration in zip(data["stages"], ("3m", "5m", "5m"), strict=True):
            stage["duration"] = duration
        data["validation"] = {
            "window": "2m",
            "smoke": [{"name": "health", "run": "./smoke.sh", "retries": 1}],
            "no_error_spike": {"tolerance": 50},
        }
        data["monitoring"] = {"error_rate_baseline": "0.5%"}
        if self.manual_rollback:
            data["strategy"]["rollback"] = "manual"
        if self.manual_gate:
            data["checklist"].append({"item": "Sign-off", "manual": {"role": "qa"}})
        if self.approval != "none":
            data["environments"][1]["approval"] = {"required": True, "timeout": "10m"}
        return data


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    pairs = st.tuples(st.sampled_from(WINDOWS), st.sampled_from(METRICS))
    return Scenario(
        strategy=draw(st.sampled_from(["canary", "feature-flag", "blue-green", "rolling"])),
        approval=draw(st.sampled_from(["none", "approve", "reject", "silence"])),
        manual_gate=draw(st.booleans()),
        manual_rollback=draw(st.booleans()),
        failures=draw(st.dictionaries(st.sampled_from(STEPS), st.integers(0, 5), max_size=4)),
        bad=draw(st.lists(pairs, max_size=2)),
        quiet=draw(st.lists(pairs, max_size=2)),
        verbs=draw(
            st.lists(st.tuples(st.integers(0, 80), st.sampled_from(list(Verb))), max_size=4)
        ),
        on_trigger=draw(st.sampled_from([Verb.ABORT, Verb.RESUME])),
    )


def _operator(sim: Sim, scenario: Scenario, tick: int, retries: list[int]) -> dict[str, Any]:
    """What people do this tick: the scripted verbs, plus answering whatever waits for them."""
    commands = [Command(verb, "ops") for at, verb in scenario.verbs if at == tick]
    votes, sign_offs = [], []
    state = sim.state
    if state.status is Status.PAUSED and not commands:
        if state.hold is Hold.FAILURE:
            retries[0] += 1
            commands.append(Command(Verb.RETRY if retries[0] <= 2 else Verb.ABORT, "ops"))
        elif state.hold is Hold.TRIGGER:
            commands.append(Command(scenario.on_trigger, "ops"))
        else:
            commands.append(Command(Verb.RESUME, "ops"))
    waiting_for_data = "holding until the data decides" in state.reason
    if state.status in (Status.OBSERVING, Status.VALIDATING) and waiting_for_data:
        commands.append(Command(Verb.PROMOTE, "ops"))
    if state.status is Status.AWAITING_APPROVAL and scenario.approval in ("approve", "reject"):
        votes.append(Vote("production", "bob", scenario.approval == "approve"))
    if state.status is Status.GATING and scenario.manual_gate:
        sign_offs.append(SignOff(2, "quinn", ("qa",)))
    return {"commands": commands, "votes": votes, "sign_offs": sign_offs}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_random_world_ends_and_ends_consistently(scenario: Scenario) -> None:
    world = World(fail=dict(scenario.failures))
    telemetry = Telemetry(bad=scenario.bad, quiet=scenario.quiet)
    sim = Sim(load(scenario.plan_data()), world=world, metrics=telemetry)
    retries = [0]
    for tick in range(600):
        if sim.state.status.terminal:
            break
        sim.tick(**_operator(sim, scenario, tick, retries))
    final = sim.state
    assert final.status.terminal, f"stuck in {final.status}: {final.reason}"
    assert final.reason
    rollback = sim.of(RunRollbackStep)
    if final.status is Status.SUCCEEDED:
        assert not rollback
        assert final.env_index == len(sim.plan.environments) - 1
    if final.status is Status.ROLLED_BACK:
        # Every step ran, in order, each until it succeeded or (a notification) gave up.
        assert [s.index for s in rollback] == sorted(s.index for s in rollback)
        for number, step in enumerate(sim.plan.rollback, start=1):
            entry = final.entry(f"rollback/{number}")
            assert entry is not None
            assert entry.outcome is Outcome.DONE or (step.notify is not None and entry.gave_up)
    if final.status is Status.ROLLBACK_FAILED:
        given_up = final.entry(f"rollback/{final.step + 1}")
        assert given_up is not None and given_up.gave_up
        assert sim.plan.rollback[final.step].notify is None
    if final.status is Status.FAILED:
        # Stopped before the environment it was in had changed: nothing to roll back there.
        env = sim.plan.environments[final.env_index].name
        assert not rollback
        assert not any(e.step.startswith(f"{env}/") and e.kind in CHANGING for e in final.ledger)
