"""The checkout versions differ by what they do, measurably: the bad one fails more, is slower
in its tail and declines more payments; the good one is no worse than the current one."""

from __future__ import annotations

import random

from rollout.demo.behaviour import BAD, CURRENT, GOOD, Behaviour


def _measure(behaviour: Behaviour, n: int = 40_000) -> tuple[float, float, float]:
    rng = random.Random(11)
    outcomes = [behaviour.draw(rng) for _ in range(n)]
    times = sorted(o.service_ms for o in outcomes)
    failures = sum(o.fails for o in outcomes) / n
    declines = sum(behaviour.declines(rng) for _ in range(n)) / n
    return failures, times[int(0.99 * n)], declines


def test_each_version_behaves_as_its_numbers_say() -> None:
    for behaviour in (CURRENT, GOOD, BAD):
        failures, _, declines = _measure(behaviour)
        assert abs(failures - behaviour.error_rate) < 0.003
        assert abs(declines - behaviour.decline_rate) < 0.006


def test_the_bad_version_is_a_real_regression_and_the_good_one_is_not() -> None:
    current, good, bad = _measure(CURRENT), _measure(GOOD), _measure(BAD)
    assert bad[0] > 3 * current[0]  # failed checkouts
    assert bad[1] > 4 * current[1]  # p99 service time
    assert bad[2] > 3 * current[2]  # declined payments
    assert good[0] <= current[0] and good[1] <= current[1] and good[2] <= current[2] + 0.003
