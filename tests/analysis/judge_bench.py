"""How long one ``judge`` call takes on a long stage window: a day of one-minute intervals.

Run it as a script (not collected by pytest):

    python tests/analysis/judge_bench.py [--intervals 1440] [--repeat 3]

Each interval holds a minute of traffic at 20 requests a second, a tenth of it on the canary:
errors at 0.4 %, conversions at 8.7 %, and log-normal latencies (median 120 ms, p99 about
340 ms), the same in both arms. The controller judges every criterion on the whole window at
every tick, so a stage of ``n`` ticks costs about ``n / 2`` times the figure printed here.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
from traffic_sim import sketch_of

from rollout.analysis import ArmStats, Interval, MetricSpec, infer_metric_spec, judge, metric_spec
from rollout.plan.criteria import parse_criterion

_ERRORS = infer_metric_spec("error_rate")
_P99 = infer_metric_spec("latency_p99")
assert _ERRORS is not None and _P99 is not None
CRITERIA: tuple[tuple[str, MetricSpec], ...] = (
    ("error_rate < 1%", _ERRORS),
    ("error_rate: no regression", _ERRORS),
    ("latency_p99 <= control * 1.10", _P99),
    ("latency_p99 < 400ms", _P99),
    ("add_to_cart_rate: no drop > 1%", metric_spec("add_to_cart_rate", "conversion")),
)


def day_of_traffic(intervals: int, *, seed: int = 1, start: float = 1.7e9) -> list[Interval]:
    """``intervals`` one-minute intervals of the traffic described in the module docstring."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(intervals):
        arms = []
        for share in (0.1, 0.9):
            n = int(rng.poisson(1200 * share))
            latencies = np.exp(rng.normal(np.log(120.0), 0.448, n)) if n else None
            arms.append(
                ArmStats(
                    n,
                    int(rng.binomial(n, 0.004)),
                    sketch_of(latencies) if latencies is not None else None,
                    conversions=int(rng.binomial(n, 0.087)),
                )
            )
        out.append(Interval(start + 60.0 * i, start + 60.0 * (i + 1), arms[0], arms[1]))
    return out


def best_time(criterion: str, spec: MetricSpec, data: Sequence[Interval], repeat: int) -> float:
    """The fastest of ``repeat`` judge calls, in seconds of CPU time (steady on a busy machine)."""
    parsed = parse_criterion(criterion)
    times = []
    for _ in range(repeat):
        began = time.process_time()
        judge(parsed, spec, data, role="success")
        times.append(time.process_time() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=1440)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    data = day_of_traffic(args.intervals)
    print(f"judge on {args.intervals:,} intervals (best of {args.repeat}):")
    for criterion, spec in CRITERIA:
        print(f"  {criterion:<34} {best_time(criterion, spec, data, args.repeat) * 1e3:8.1f} ms")


if __name__ == "__main__":
    main()
