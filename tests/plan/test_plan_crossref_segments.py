"""A stage's segment is applied through a flag; a plan that names one where nothing can pick
people (another router, a rolling or blue-green rollout) is refused when it is loaded."""

from __future__ import annotations

import pytest

from rollout.errors import PlanError
from rollout.plan import load_plan_text

PLAN = """\
name: shop
overview: {{summary: New checkout}}
checklist:
  - {{item: All tests passing, run: make test}}
strategy: {strategy}
environments:
  - name: staging
    staged: false
    traffic: {{type: command, set: "./weight.sh {{weight}}"}}
  - name: production
{production}
flags:
  - key: new-checkout
stages:
  - name: staff
    audience:
      segment: internal-staff
    duration: 10m
  - {{name: everyone, audience: 100, duration: 10m}}
rollback:
  - traffic: 0
"""

CANARY = "{type: canary, flag: new-checkout}"
NGINX = (
    "    traffic: {type: nginx, config_file: /etc/nginx/up.conf, upstream: shop,"
    " stable: '10.0.0.1:80', canary: '10.0.0.2:80'}"
)


def problems(
    strategy: str = CANARY, production: str = "    deploy: {run: ./deploy.sh}"
) -> list[str]:
    try:
        load_plan_text(PLAN.format(strategy=strategy, production=production), "plan.yaml")
    except PlanError as exc:
        return [str(problem) for problem in exc.problems]
    return []


@pytest.mark.parametrize(
    "production",
    ["    deploy: {run: ./deploy.sh}", "    traffic: {type: flag, flag: new-checkout}"],
)
def test_a_segment_through_the_flag_router_is_fine(production: str) -> None:
    # staging's command router does not matter: stages do not run there.
    assert problems(production=production) == []
    assert problems("{type: feature-flag, flag: new-checkout}", production) == []


def test_a_segment_with_a_router_that_moves_a_share_of_requests_is_refused() -> None:
    assert problems(production=NGINX) == [
        "plan.yaml:17:16: stages[0].audience.segment: segment 'internal-staff' cannot be "
        "applied: environment 'production' moves traffic with the nginx router, which shifts a "
        "share of requests and cannot pick people; use the flag router there (traffic: {type: "
        "flag}) or give this stage a percentage instead"
    ]


def test_a_segment_in_a_rolling_or_blue_green_rollout_is_refused() -> None:
    rolling = (
        "{type: rolling, flag: new-checkout, rolling: {instances: [a, b], deploy: ./up.sh,"
        " undeploy: ./down.sh, health_check: {name: up, run: ./ok.sh}}}"
    )
    (found,) = problems(rolling)
    assert found.startswith("plan.yaml:17:16: stages[0].audience.segment: segment")
    assert "a rolling rollout replaces whole instances" in found
    (found,) = problems("{type: blue-green, flag: new-checkout}")
    assert "a blue-green rollout switches all traffic at once" in found


def with_stages(stages: str, strategy: str = CANARY) -> list[str]:
    """Problems of the plan above with its stages replaced by ``stages``."""
    text = PLAN.format(strategy=strategy, production="    deploy: {run: ./deploy.sh}")
    text = text[: text.index("stages:")] + "stages:\n" + stages + "rollback:\n  - traffic: 0\n"
    try:
        load_plan_text(text, "plan.yaml")
    except PlanError as exc:
        return [str(problem) for problem in exc.problems]
    return []


def test_narrowing_to_a_segment_is_allowed_with_a_reason() -> None:
    stages = """\
  - {name: canary, audience: 10%, duration: 10m}
  - {name: staff, audience: {segment: internal-staff, REASON}, duration: 10m}
  - {name: everyone, audience: 100, duration: 10m}
"""
    assert with_stages(stages.replace(", REASON", "")) == [
        "plan.yaml:16:19: stages[1].audience: the audience narrows from 10% (stage 'canary') to "
        "all of segment 'internal-staff' only: everyone outside the segment who had the new "
        "version would lose it; if that is intended, say why in 'audience.reason'"
    ]
    assert with_stages(stages.replace("REASON", "reason: staff try the fix alone")) == []


def test_where_segments_cannot_be_applied_a_stage_serves_its_percentage_of_everyone() -> None:
    # As the engine does there: 50% of everyone, short of the end, and the segment refused.
    rolling = (
        "{type: rolling, flag: new-checkout, rolling: {instances: [a, b], deploy: ./up.sh,"
        " undeploy: ./down.sh, health_check: {name: up, run: ./ok.sh}}}"
    )
    found = with_stages(
        "  - {name: x, audience: {percent: 50, segment: s}, duration: 10m}\n", rolling
    )
    assert [problem.split(": ")[1] for problem in found] == [
        "stages[0].audience",
        "stages[0].audience.segment",
    ]
    assert "the last stage reaches 50% but flag 'new-checkout' ends at 100%" in found[0]
