"""Feature flags: model, bucketing and the pure, compiled evaluator.

* :mod:`rollout.flags.model` -- the config JSON (``FlagConfig``) and its parts, with validation.
* :mod:`rollout.flags.clauses` -- targeting clauses and their operators.
* :mod:`rollout.flags.bucketing` -- ``murmur3_32(f"{salt}/{value}")`` into 100_000 buckets.
* :mod:`rollout.flags.evaluator` -- ``compile_config(config).evaluate(key, context, default)``.
* :mod:`rollout.flags.ramp` -- ``with_rollout_percent``, ``with_stage_audience`` (a stage opened
  to a segment), ``stage_segment`` and ``with_enabled`` for the engine.
* :mod:`rollout.flags.semver` -- the strict semver 2.0 parser behind the ``semver_*`` operators.
"""

from rollout.flags.bucketing import bucket
from rollout.flags.clauses import Clause, Op
from rollout.flags.evaluator import (
    CompiledConfig,
    ErrorCode,
    Evaluation,
    Reason,
    compile_config,
)
from rollout.flags.model import (
    Flag,
    FlagConfig,
    FlagKind,
    Rollout,
    Rule,
    Segment,
    SegmentRule,
    Serve,
    Weighted,
)
from rollout.flags.ramp import (
    STAGE_RULE,
    stage_segment,
    with_enabled,
    with_rollout_percent,
    with_stage_audience,
)

__all__ = [
    "STAGE_RULE",
    "Clause",
    "CompiledConfig",
    "ErrorCode",
    "Evaluation",
    "Flag",
    "FlagConfig",
    "FlagKind",
    "Op",
    "Reason",
    "Rollout",
    "Rule",
    "Segment",
    "SegmentRule",
    "Serve",
    "Weighted",
    "bucket",
    "compile_config",
    "stage_segment",
    "with_enabled",
    "with_rollout_percent",
    "with_stage_audience",
]
