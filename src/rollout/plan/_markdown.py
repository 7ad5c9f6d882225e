"""Small, pure helpers for writing the rollout document: Markdown, plain words, plan parts.

Everything here returns text and touches nothing. Three concerns live side by side because the
document needs them at every line:

- Markdown: :func:`code` (an inline code span that survives backticks), :func:`cell` (a GFM
  table cell: pipes escaped, newlines kept as ``<br>``, never empty), :func:`table`,
  :func:`link`, :func:`one_line`.
- Words: :func:`number`, :func:`percent`, :func:`duration`, :func:`latency`, :func:`plural`,
  :func:`join_words`, and :func:`mask_url`, which hides credentials before a URL is printed.
- Plan parts in words, one model object at a time (``describe_gate``, ``describe_approval``,
  ``describe_step``, ...); :mod:`rollout.plan.render` assembles them into sections.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from rollout.plan.model import (
    Approval,
    Audience,
    Check,
    ChecklistItem,
    FlagValue,
    HttpCheck,
    MetricSource,
    Migrations,
    Plan,
    RollbackStep,
    Router,
    SpikeCheck,
    Strategy,
)

EMPTY = "—"
"""What an empty optional part renders as, so no table cell or label is ever blank."""

MASK = "****"

# --------------------------------------------------------------------------- Markdown

_BACKTICKS = re.compile(r"`+")
_WHITESPACE = re.compile(r"\s+")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space.

    A newline inside a list item or a label would end it; this keeps the line whole.

    >>> one_line("  two\\n  lines ")
    'two lines'
    """
    return _WHITESPACE.sub(" ", text).strip()


def code(text: str) -> str:
    """An inline code span showing ``text`` literally, whatever backticks it contains.

    CommonMark closes a span at the first backtick run as long as the opening one, so the fence
    is one backtick longer than the longest run inside; a space pads text that starts or ends
    with a backtick (the renderer strips one space from each side).

    >>> code("make test")
    '`make test`'
    >>> code("echo `date`")
    '`` echo `date` ``'
    """
    text = one_line(text)
    if not text:
        return EMPTY  # an empty span would show its backticks
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or longest else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def cell(text: str) -> str:
    """``text`` made safe for one GFM table cell; an empty cell becomes ``—``.

    A pipe would end the cell, so it is escaped (GFM removes the backslash again, also inside
    code spans); a newline would end the row, so line breaks become ``<br>``.

    >>> cell("a | b\\nc")
    'a \\\\| b<br>c'
    >>> cell("  ")
    '—'
    """
    lines = [line.strip() for line in text.strip().splitlines()]
    joined = "<br>".join(line for line in lines if line)
    return joined.replace("|", "\\|") if joined else EMPTY


def table(header: str, rows: Iterable[Sequence[str]]) -> list[str]:
    """A GFM table: ``header`` (the header and delimiter lines, as written) then one line per
    row, each cell passed through :func:`cell`. A table with no rows gets one row of ``—``.
    """
    header_lines = header.splitlines()
    width = header_lines[0].count("|") - 1
    body = [f"| {' | '.join(cell(text) for text in row)} |" for row in rows]
    for line in body:
        # A wrong cell count is a bug in the caller, not something a reader should see.
        if line.count("|") - line.count("\\|") != width + 1:
            raise ValueError(f"table row has the wrong number of cells: {line!r}")
    return [*header_lines, *(body or [f"| {' | '.join([EMPTY] * width)} |"])]


def link(title: str, target: str) -> str:
    """A Markdown link; brackets in the title are escaped, an awkward target is put in <...>.

    >>> link("Testing plan", "docs/TESTING PLAN.md")
    '[Testing plan](<docs/TESTING PLAN.md>)'
    """
    shown = one_line(title).replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
    target = one_line(target)
    if any(char in target for char in " ()<>"):
        target = "<" + target.replace("<", "%3C").replace(">", "%3E") + ">"
    return f"[{shown}]({target})"


# --------------------------------------------------------------------------- words


def number(value: float) -> str:
    """A number as people write it: no trailing zeros, no exponent.

    >>> [number(v) for v in (25.0, 0.5, 12.3456789, 1e-3)]
    ['25', '0.5', '12.345679', '0.001']
    """
    if value == int(value):
        return str(int(value))
    return f"{value:.6f}".rstrip("0").rstrip(".")


def percent(value: float) -> str:
    """A percentage (0..100) with its sign: ``percent(2.5) == '2.5%'``."""
    return f"{number(value)}%"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``plural(1, "stage") == '1 stage'``; ``plural(3, "stage") == '3 stages'``."""
    return f"{count} {noun if count == 1 else (nouns or noun + 's')}"


_UNITS = (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60))


def duration(seconds: float) -> str:
    """A duration in seconds as words, largest unit first.

    >>> [duration(s) for s in (900, 7200, 5400, 90, 0.5, 0)]
    ['15 minutes', '2 hours', '1 hour 30 minutes', '1 minute 30 seconds', '0.5 seconds', \
'0 seconds']
    """
    parts = []
    rest = seconds
    for name, size in _UNITS:
        whole = int(rest // size)
        if whole:
            parts.append(plural(whole, name))
            rest -= whole * size
    rest = round(rest, 6)
    if rest or not parts:
        parts.append(f"{number(rest)} {'second' if rest == 1 else 'seconds'}")
    return " ".join(parts)


def latency(seconds: float) -> str:
    """A latency in seconds, in milliseconds below one second: ``latency(0.3) == '300 ms'``."""
    return f"{number(seconds * 1000)} ms" if seconds < 1 else f"{number(seconds)} s"


def join_words(items: Sequence[str], last: str = "and") -> str:
    """``a``, ``a and b``, ``a, b and c`` (``last`` may be ``or``)."""
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


# --------------------------------------------------------------------------- secrets

_VARIABLE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*\}")
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
# Schemes whose host and path are an address; elsewhere (slack://, discord://, tgram://, ...)
# Apprise puts tokens where a host would be, so every token-like part is hidden.
_ADDRESS_SCHEMES = {"http", "https", "json", "jsons", "xml", "xmls", "form", "forms"}
_SECRET_KEYS = re.compile(r"token|key|secret|pass|auth|sig|credential|webhook", re.IGNORECASE)


def _looks_secret(part: str) -> bool:
    """Whether one URL part could be a credential. Written ``${VAR}``, it never is, nor is an
    e-mail address; otherwise a long string, or a mix of letters and digits, is treated as one
    (over-masking is safe)."""
    if not part or _VARIABLE.fullmatch(part) or _EMAIL.fullmatch(part):
        return False
    has_digit = any(char.isdigit() for char in part)
    has_letter = any(char.isalpha() for char in part)
    return len(part) >= 16 or (len(part) >= 6 and has_digit and has_letter)


def _mask_part(part: str) -> str:
    return MASK if _looks_secret(part) else part


def _mask_userinfo(userinfo: str) -> str:
    user, colon, password = userinfo.partition(":")
    if colon:
        # A password is always a secret, whatever it looks like.
        shown = password if _VARIABLE.fullmatch(password) else MASK
        return f"{_mask_part(user)}:{shown}"
    return _mask_part(user)


def _mask_host(host: str, address: bool) -> str:
    name, colon, port = host.partition(":")
    # A host name (dotted, or a plain word) is an address; a port that is not a number is not.
    shown_name = name if address or "." in name else _mask_part(name)
    if colon and not port.isdigit():
        return f"{shown_name}:{MASK if not _VARIABLE.fullmatch(port) else port}"
    return f"{shown_name}{colon}{port}"


def _mask_query(query: str) -> str:
    pairs = []
    for pair in query.split("&"):
        key, equals, value = pair.partition("=")
        secret = value and not _VARIABLE.fullmatch(value)
        if equals and secret and (_SECRET_KEYS.search(key) or _looks_secret(value)):
            value = MASK
        pairs.append(f"{key}{equals}{value}")
    return "&".join(pairs)


def mask_url(url: str) -> str:
    """``url`` with every credential replaced by ``****``; ``${VAR}`` parts are shown as written.

    Passwords are always hidden; user names, hosts of token-style schemes, path segments and
    query values are hidden when they look like tokens (long, or letters mixed with digits);
    query values are also hidden when their key names a secret. Fragments (``#channel``) stay.

    >>> mask_url("slack://T1ABC2DEF/B3GHI4JKL/abcdefghijklmnopqrstuvwx/#deploys")
    'slack://****/****/****/#deploys'
    >>> mask_url("mailto://alice:hunter2@example.com")
    'mailto://alice:****@example.com'
    >>> mask_url("slack://${SLACK_TOKEN}/#deploys")
    'slack://${SLACK_TOKEN}/#deploys'
    """
    scheme, separator, rest = url.strip().partition("://")
    if not separator:
        return url.strip()
    rest, hash_mark, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    address = scheme.lower() in _ADDRESS_SCHEMES or scheme.lower().startswith("mailto")
    userinfo, at, host = authority.rpartition("@")
    shown = f"{_mask_userinfo(userinfo)}@" if at else ""
    shown += _mask_host(host, address)
    if slash:
        shown += "/" + "/".join(_mask_part(segment) for segment in path.split("/"))
    if question:
        shown += "?" + _mask_query(query)
    return f"{scheme}://{shown}{hash_mark}{fragment}"


# --------------------------------------------------------------------------- plan parts


_STRATEGY_NOUNS = {
    "canary": "a canary release",
    "blue-green": "a blue-green deployment",
    "rolling": "a rolling update",
    "feature-flag": "a feature-flag rollout",
}


def strategy_noun(strategy: Strategy) -> str:
    """The strategy as a noun phrase: ``a canary release``, ``a rolling update``."""
    return _STRATEGY_NOUNS[strategy.type]


def describe_gate(item: ChecklistItem) -> str:
    """What proves a checklist item: ``gate: `make test```, ``sign-off by security (carol)``."""
    if item.run is not None:
        return f"gate: {code(item.run)}"
    if item.http is not None:
        return f"gate: {describe_http(item.http)}"
    if item.migrations is not None:
        return "gate: the migrations' upgrade and downgrade round trip"
    if item.rollback is not None:
        return "gate: the rollback plan has runnable steps"
    if item.monitoring is not None:
        return "gate: every metric the stages use has a source and answers"
    if item.manual is not None:
        people = f" ({join_words(list(item.manual.people), 'or')})" if item.manual.people else ""
        return f"sign-off by {one_line(item.manual.role)}{people}"
    raise AssertionError("a checklist item has exactly one gate")


def describe_http(check: HttpCheck) -> str:
    """``GET `https://…/health` answers 200 or 204 within 300 ms`` (credentials masked)."""
    expected = check.expect_status
    statuses = expected if isinstance(expected, list) else [expected]
    answer = join_words([str(status) for status in statuses], "or")
    text = f"{check.method} {code(mask_url(check.url))} answers {answer}"
    if check.max_latency is not None:
        text += f" within {latency(check.max_latency)}"
    return text


def describe_router(router: Router | None, strategy: Strategy) -> str:
    """How traffic moves: ``flag `new-checkout```, ``nginx upstream `app```, ...; no router
    means the built-in flag router on the strategy's flag."""
    if router is None or router.type == "flag":
        key = (router.flag if router is not None else None) or strategy.flag
        return f"flag {code(key)}" if key else "the flag router"
    if router.type == "nginx":
        return f"nginx upstream {code(router.upstream)}"
    if router.type == "haproxy":
        return f"HAProxy backend {code(router.backend)}"
    return f"the command {code(router.set)}"


def describe_approval(approval: Approval) -> str:
    """``No``, ``Yes — any approver``, ``Yes — alice``, ``Yes — 2 of alice, bob``, with the
    self-approval rule and the timeout when the plan sets them."""
    if not approval.required:
        return "No"
    if not approval.approvers:
        count = approval.min_approvals
        who = "any approver" if count == 1 else f"any {count} approvers"
    elif len(approval.approvers) == 1:
        who = approval.approvers[0]
    else:
        who = f"{approval.min_approvals} of {', '.join(approval.approvers)}"
    text = f"Yes — {who}"
    if approval.allow_self_approval:
        text += ", self-approval allowed"
    if approval.timeout is not None:
        text += f"; rejected after {duration(approval.timeout)} without a decision"
    return text


def describe_flag_value(value: FlagValue) -> str:
    """A flag value as YAML writes it, in code: ``false``, ``learned-v2``, ``0.5``."""
    if isinstance(value, bool):
        return code("true" if value else "false")
    if isinstance(value, float):
        return code(number(value))
    return code(str(value))


def describe_downgrade(migrations: Migrations) -> str:
    """Where the rollback migration goes: the start revision, or the one the plan names."""
    if migrations.rollback == "downgrade-to-start":
        return "downgrade to the revision recorded at start"
    return f"downgrade to revision {code(migrations.rollback)}"


def short_audience(audience: Audience) -> str:
    """An audience in a few characters, for the overview's ramp: ``5%``, ``5% of `beta```."""
    if audience.percent is not None and audience.segment is not None:
        return f"{percent(audience.percent)} of {code(audience.segment)}"
    if audience.percent is not None:
        return percent(audience.percent)
    return code(audience.segment or "")


def describe_source(source: MetricSource) -> str:
    """Where a metric is measured: built-in telemetry, Prometheus (URL masked), a command."""
    if source.type == "builtin":
        return "Rollout's built-in telemetry"
    if source.type == "prometheus":
        return f"Prometheus at {code(mask_url(source.url))}"
    return f"the command {code(source.run)}"


def describe_step(plan: Plan, step: RollbackStep) -> str:
    """One rollback step as an instruction: ``Set the new version's traffic to 0%``,
    ``Run `./rollback.sh```, ``Notify on-call: <message>``; a named step leads with its name."""
    if step.traffic is not None:
        text = f"Set the new version's traffic to {percent(step.traffic)}"
    elif step.flag is not None:
        change, key = step.flag, code(step.flag.key)
        if change.enabled is not None:
            text = f"Switch flag {key} {'on' if change.enabled else 'off'}"
            if change.percent is not None:
                text += f" and set it to {percent(change.percent)}"
        elif change.percent is not None:
            text = f"Set flag {key} to {percent(change.percent)}"
        else:
            text = f"Leave flag {key} as it is"
    elif step.run is not None:
        text = f"Run {code(step.run)}"
    elif step.migrate is not None:
        target = (
            describe_downgrade(plan.migrations)
            if plan.migrations
            else "downgrade to the revision recorded at start"
        )
        text = f"Run the rollback migration ({target})"
    elif step.notify is not None:
        notify = step.notify
        if notify.audience:
            whom = one_line(notify.audience)
        elif notify.channel:
            whom = code(mask_url(notify.channel))
        else:
            whom = "every audience of the communication plan"
        text = f"Notify {whom}: {one_line(notify.message)}"
    else:
        raise AssertionError("a rollback step has exactly one action")
    return f"**{one_line(step.name)}:** {text}" if step.name else text


_MOMENTS = {
    "started": "rollout started",
    "approval_needed": "approval needed",
    "environment_started": "environment started",
    "stage_started": "stage started",
    "stage_passed": "stage passed",
    "rolling_back": "rolling back",
    "rolled_back": "rolled back",
    "rollback_failed": "rollback failed",
    "succeeded": "succeeded",
    "paused": "paused",
    "any": "every change",
}


def describe_moment(moment: str) -> str:
    """When a message goes out, in words: ``rolling back``, ``stage Limited Release``."""
    kind, colon, name = moment.partition(":")
    if colon and kind.strip() == "stage":
        return f"stage {one_line(name)}"
    return _MOMENTS.get(moment, moment.replace("_", " "))


def _describe_check(check: Check) -> str:
    how = describe_http(check.http) if check.http is not None else code(check.run or "")
    return f"{code(check.name)} ({how})"


def describe_checks(checks: Sequence[Check]) -> str:
    """``"`health` (GET `https://…` answers 200) and `e2e` (`make e2e`)"``, or none defined."""
    return join_words([_describe_check(check) for check in checks]) if checks else "none defined"


def describe_spike(spike: SpikeCheck | None, window: float) -> str:
    """``"`error_rate` within +50% of its baseline over the 5 minutes after deployment"``."""
    if spike is None:
        return "not checked"
    return (
        f"{code(spike.metric)} within +{percent(spike.tolerance)} of its baseline over the "
        f"{duration(window)} after deployment"
    )
