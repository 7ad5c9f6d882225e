"""Which PromQL queries a metric needs, their defaults, and filling in their placeholders.

Every query is run once per arm over a range; see :mod:`rollout.providers.metrics.prometheus`
for the keys and what each must return.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from rollout.analysis import MetricKind
from rollout.errors import MetricsError
from rollout.plan.model import Metric

__all__ = [
    "DEFAULT_QUERIES",
    "LATENCY_UNITS",
    "QUERY_KEYS",
    "Queries",
    "fill",
    "queries_for",
]

DEFAULT_QUERIES: dict[str, str] = {
    "requests": 'sum(increase(http_requests_total{version="{arm}"}[{window}]))',
    "errors": 'sum(increase(http_requests_total{version="{arm}",code=~"5.."}[{window}]))',
    "latency": (
        'sum by (le) (increase(http_request_duration_seconds_bucket{version="{arm}"}[{window}]))'
    ),
}
"""Used for any key a metric leaves out that has a default: the conventional
``http_requests_total`` counter (with a ``code`` label) and the
``http_request_duration_seconds`` histogram, both labelled ``version="stable"|"canary"``."""

QUERY_KEYS: dict[MetricKind, tuple[str, ...]] = {
    "error_rate": ("requests", "errors"),
    "latency": ("latency",),
    "conversion": ("exposures", "conversions"),
    "mean": ("count", "sum", "sum_sq"),
    "count": ("requests", "events"),
}
"""The queries each kind of metric runs, first the one that counts the traffic."""

LATENCY_UNITS: dict[str, float] = {"s": 1000.0, "ms": 1.0}
"""Milliseconds per unit of a histogram's ``le`` label (``latency_unit``, default ``s``)."""

PLACEHOLDERS = ("arm", "window", "flag", "environment")

# `{name}` where name is an identifier: PromQL's own braces always hold a matcher (`a="b"`),
# never a bare identifier, so the two cannot be confused.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# rate()/irate() give per-second values; the analysis counts requests, so a rate read as a
# count would turn 1,000 requests a minute into 17 "requests" per step.
_PER_SECOND = re.compile(r"\b(i?rate)\s*\(")


@dataclass(frozen=True)
class Queries:
    """A metric's PromQL templates by key, and the unit of its histogram bounds (ms per
    unit: 1000 for seconds)."""

    templates: Mapping[str, str]
    latency_ms_per_unit: float = 1000.0


def queries_for(metric: str, kind: MetricKind, metric_def: Metric | None) -> Queries:
    """The templates ``metric`` runs: the plan's ``queries``, with the defaults filling in what
    it leaves out. ``MetricsError`` for an unknown key (a typo would otherwise be ignored), a
    missing query that has no default, an unknown ``latency_unit``, an unknown placeholder,
    or a per-second ``rate()`` where counts belong.

    >>> queries_for("error_rate", "error_rate", None).templates["errors"][:30]
    'sum(increase(http_requests_tot'
    """
    given = dict(metric_def.queries) if metric_def is not None else {}
    wanted = QUERY_KEYS[kind]
    unit = given.pop("latency_unit", "s") if kind == "latency" else "s"
    unknown = sorted(set(given) - set(wanted))
    if unknown:
        raise MetricsError(
            f"{metric}: unknown Prometheus {_plural('query', unknown)} {_names(unknown)}; a "
            f"{kind} metric takes {_names(wanted)}"
            + (" and optionally 'latency_unit'" if kind == "latency" else "")
        )
    templates = {key: given.get(key, DEFAULT_QUERIES.get(key, "")) for key in wanted}
    missing = [key for key, text in templates.items() if not text.strip()]
    if missing:
        raise MetricsError(
            f"{metric}: a {kind} metric on Prometheus needs the {_plural('query', missing)} "
            f"{_names(missing)} under 'queries' (there is no default for "
            f"{'it' if len(missing) == 1 else 'them'})"
        )
    if unit not in LATENCY_UNITS:
        raise MetricsError(
            f"{metric}: latency_unit is {unit!r}; write 's' (the Prometheus convention) or 'ms'"
        )
    for key, template in templates.items():
        per_second = _PER_SECOND.search(template)
        if per_second is not None:
            raise MetricsError(
                f"{metric}: the {key} query uses {per_second.group(1)}(), which gives a rate per "
                "second; the analysis needs counts per step: write increase(...[{window}])"
            )
        for name in _PLACEHOLDER.findall(template):
            if name not in PLACEHOLDERS:
                known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                raise MetricsError(
                    f"{metric}: unknown placeholder {{{name}}} in the {key} query; known: {known}"
                )
    return Queries(templates, LATENCY_UNITS[unit])


def fill(template: str, values: Mapping[str, str | None]) -> str:
    """``template`` with each ``{name}`` replaced, escaped for a PromQL double-quoted string
    (placeholders normally sit inside label matchers).

    >>> fill('up{version="{arm}"}[{window}]', {"arm": 'can"ary', "window": "30s"})
    'up{version="can\\\\"ary"}[30s]'

    ``MetricsError`` when the template uses a placeholder whose value is None (``{flag}``
    without a flag).
    """

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        value = values.get(name)
        if value is None:
            raise MetricsError(f"the query uses {{{name}}}, but there is no {name} to fill in")
        return value.replace("\\", "\\\\").replace('"', '\\"')

    return _PLACEHOLDER.sub(replace, template)


def _names(keys: tuple[str, ...] | list[str]) -> str:
    quoted = [f"'{key}'" for key in keys]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def _plural(word: str, items: tuple[str, ...] | list[str]) -> str:
    return word if len(items) == 1 else word.replace("y", "ies")
