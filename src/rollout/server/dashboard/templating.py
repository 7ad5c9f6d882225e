"""The dashboard's Jinja2 environment: templates beside this module, every value escaped.

Autoescaping is on for every template, so a rollout name, a reason or a flag value is always
text, never markup; only values already wrapped as :class:`~markupsafe.Markup` by this package
(the SVG charts, the rendered rollout document) pass through as they are.

Filters: ``when`` (an aware datetime as a ``<time>`` element, UTC; the page's script shows it in
the reader's time zone), ``duration`` (seconds in words: ``1m30s``), ``percent`` (``12.5%``),
``words`` (``awaiting_approval`` -> ``awaiting approval``), ``event_kind`` (an audit event kind's
label and colour).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from rollout.plan.durations import format_duration
from rollout.server.dashboard.views import event_kind, status_words

TEMPLATES = Path(__file__).parent / "templates"


def when(moment: datetime | float | None) -> Markup:
    """``<time datetime="2027-01-15T08:03:00Z">2027-01-15 08:03:00 UTC</time>``; '' for None."""
    if moment is None:
        return Markup("")
    at = moment if isinstance(moment, datetime) else datetime.fromtimestamp(moment, UTC)
    at = at.astimezone(UTC)
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    shown = at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return Markup('<time datetime="{}">{}</time>').format(stamp, shown)


def duration(seconds: float | None) -> str:
    """Whole seconds in the plan's own words: ``90`` -> ``1m30s``; '' for None.

    >>> duration(90.4), duration(3600), duration(None)
    ('1m30s', '1h', '')
    """
    if seconds is None or not math.isfinite(seconds):
        return ""
    return format_duration(max(0, round(seconds)))


def percent(value: float | None) -> str:
    """``12.5`` -> ``12.5%``; '' for None."""
    return "" if value is None else f"{value:g}%"


@cache
def make_environment() -> Environment:
    """The environment (one per process: compiled templates are shared by every app)."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = when
    env.filters["duration"] = duration
    env.filters["percent"] = percent
    env.filters["words"] = status_words
    env.filters["event_kind"] = event_kind
    env.globals["escape"] = escape
    return env
