"""Dry runs of a plan against synthetic traffic: ``rollout simulate PLAN --scenario FILE``.

The real engine (:func:`rollout.engine.decide`) and the real analysis judge a rollout on a fake
clock, against a :class:`Scenario`: synthetic traffic, how each version behaves, regressions
that start at given times, and how the outside world answers. Pure apart from reading the
scenario file::

    scenario = load_scenario("examples/scenarios/error-regression.yaml", plan)
    result = simulate(plan, scenario)           # one run, the scenario's seed
    summary = simulate_runs(plan, scenario, 20)  # 20 seeds, summarised
"""

from rollout.simulate.loader import load_scenario, load_scenario_text
from rollout.simulate.run import Event, Phase, PhaseEnd, SimulationResult, simulate
from rollout.simulate.scenario import Scenario
from rollout.simulate.summary import RunsSummary, simulate_runs
from rollout.simulate.traffic import Exposure

__all__ = [
    "Event",
    "Exposure",
    "Phase",
    "PhaseEnd",
    "RunsSummary",
    "Scenario",
    "SimulationResult",
    "load_scenario",
    "load_scenario_text",
    "simulate",
    "simulate_runs",
]
