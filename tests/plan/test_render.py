"""The rollout document: the template's shape, filled from the plan, with progress and no secrets.

The expected shape is read from the template shipped with the package (``template.md``): its
headings, table header rows, checklist items and label lines, in order. The template's example
stages are replaced by the plan's own stages, labelled as the template labels them.
"""

from __future__ import annotations

import doctest
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from ruamel.yaml import YAML

import rollout.plan._markdown as markdown_helpers
import rollout.plan.render as render_module
from rollout.plan._markdown import code, duration, mask_url
from rollout.plan.model import Plan
from rollout.plan.render import (
    EnvironmentStatus,
    RolloutProgress,
    StageOutcome,
    StageStatus,
    ValidationItem,
    render_document,
)

HERE = Path(__file__).parent
TEMPLATE = resources.files("rollout.plan").joinpath("template.md").read_text(encoding="utf-8")
REPO = HERE.parents[1]


def fixture_data() -> dict[str, Any]:
    data = YAML(typ="safe").load((HERE / "render_fixture.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def fixture_plan(**changes: Any) -> Plan:
    return Plan.model_validate({**fixture_data(), **changes})


def minimal_plan(**changes: Any) -> Plan:
    data: dict[str, Any] = {
        "name": "tiny",
        "overview": {"summary": "A small change."},
        "checklist": [{"item": "Tests pass", "run": "make test"}],
        "strategy": {"type": "canary"},
        "environments": [{"name": "production"}],
        "stages": [
            {"name": "Canary", "audience": 10, "duration": "10m"},
            {"name": "Everyone", "audience": 100, "duration": 600},
        ],
        "rollback": [{"traffic": 0}],
    }
    return Plan.model_validate({**data, **changes})


# --------------------------------------------------------------------------- the template's shape


@dataclass(frozen=True)
class Expected:
    """One structural line: ``exact`` lines must match whole, others by their prefix."""

    text: str
    exact: bool
    checkbox: bool = False

    def matches(self, line: str) -> bool:
        if self.exact:
            return line == self.text
        # A checklist item may be ticked.
        ticked = self.text.replace("- [ ]", "- [x]", 1) if self.checkbox else self.text
        return line.startswith((self.text, ticked))


_LABEL = re.compile(r"^(- (?:\*\*[^*]+:\*\*|[A-Z][^:]*:))")
_NUMBERED = re.compile(r"^(\d+\.)")
_CHECKBOX = re.compile(r"^- \[ \] (.+)$")


def skeleton(markdown: str) -> list[Expected]:
    """Headings, table header and delimiter rows, checklist items, ``- Label:`` lines, numbered
    items, in document order."""
    lines = markdown.splitlines()
    found = []
    for index, line in enumerate(lines):
        following = lines[index + 1] if index + 1 < len(lines) else ""
        if line.startswith("#"):
            found.append(Expected(line, exact=True))
        elif line.startswith("|") and re.fullmatch(r"\|(?: *:?-+:? *\|)+", following):
            found += [Expected(line, exact=True), Expected(following, exact=True)]
        elif match := _CHECKBOX.match(line):
            found.append(Expected(f"- [ ] {match.group(1)}", exact=False, checkbox=True))
        elif (match := _LABEL.match(line)) or (match := _NUMBERED.match(line)):
            found.append(Expected(match.group(1), exact=False))
    return found


def _is_stage_heading(expected: Expected) -> bool:
    return expected.text.startswith("### Stage ")


def expected_skeleton(plan: Plan) -> list[Expected]:
    """The template's skeleton with its example checklist items, stages and rollback steps
    replaced by the plan's own, in the template's form."""
    template = skeleton(TEMPLATE)
    checklist = next(i for i, e in enumerate(template) if e.text == "## Pre-Deployment Checklist")
    examples = next(i for i in range(checklist + 1, len(template)) if not template[i].checkbox)
    items = [Expected(f"- [ ] {item.item}", exact=False, checkbox=True) for item in plan.checklist]
    template[checklist + 1 : examples] = items
    numbered = [i for i, e in enumerate(template) if _NUMBERED.match(e.text)]
    steps = [Expected(f"{number}.", exact=False) for number in range(1, len(plan.rollback) + 1)]
    template[numbered[0] : numbered[-1] + 1] = steps
    first = next(i for i, e in enumerate(template) if _is_stage_heading(e))
    end = next(i for i in range(first, len(template)) if template[i].text.startswith("## "))
    blocks: list[list[Expected]] = []
    for expected in template[first:end]:
        if _is_stage_heading(expected):
            blocks.append([])
        else:
            blocks[-1].append(expected)
    labels, last_labels = blocks[0], blocks[-1]
    stages: list[Expected] = []
    for number, stage in enumerate(plan.stages, 1):
        stages.append(Expected(f"### Stage {number}: {stage.name}", exact=True))
        is_last = number == len(plan.stages)
        stages += last_labels if is_last and not stage.rollback_trigger else labels
    return template[:first] + stages + template[end:]


def assert_shape(document: str, plan: Plan) -> None:
    """Every expected line appears, in order, and every label or item is followed by text."""
    lines = document.splitlines()
    position = 0
    for expected in expected_skeleton(plan):
        for index in range(position, len(lines)):
            line = lines[index]
            if expected.matches(line):
                if not expected.exact:
                    assert line[len(expected.text) :].strip(), f"nothing after {expected.text!r}"
                position = index + 1
                break
        else:
            raise AssertionError(f"{expected.text!r} missing or out of order after line {position}")


def tables(markdown: str) -> list[list[list[str]]]:
    """Each GFM table as rows of cell texts (the header row first), as a renderer reads it."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    found: list[list[list[str]]] = []
    for token in tokens:
        if token.type == "table_open":
            found.append([])
        elif token.type == "tr_open":
            found[-1].append([])
        elif token.type == "inline" and found and found[-1] and _in_cell(tokens, token):
            found[-1][-1].append(token.content)
    return found


def _in_cell(tokens: list[Any], inline: Any) -> bool:
    index = tokens.index(inline)
    return index > 0 and tokens[index - 1].type in ("th_open", "td_open")


def assert_tables_filled(document: str) -> None:
    template_tables = tables(TEMPLATE)
    rendered = tables(document)
    assert [table[0] for table in rendered] == [table[0] for table in template_tables]
    for table in rendered:
        header, *rows = table
        assert rows, f"table {header} has no rows"
        for row in rows:
            assert len(row) == len(header), row
            assert all(cell.strip() for cell in row), f"empty cell in {row}"


# --------------------------------------------------------------------------- shape


def test_the_fixture_mirrors_the_template_so_its_skeleton_is_the_templates() -> None:
    def unnumbered(found: list[Expected]) -> list[Expected]:
        return [e for e in found if not _NUMBERED.match(e.text)]  # it has more rollback steps

    assert unnumbered(expected_skeleton(fixture_plan())) == unnumbered(skeleton(TEMPLATE))
    assert len(skeleton(TEMPLATE)) > 40  # the parse found the template's structure


def test_every_heading_table_checklist_and_label_of_the_template_is_present_in_order() -> None:
    plan = fixture_plan()
    document = render_document(plan)
    assert document.startswith("# Rollout Plan\n")
    assert_shape(document, plan)
    assert_tables_filled(document)


def test_a_minimal_plan_keeps_the_shape_and_fills_every_part() -> None:
    plan = minimal_plan()
    document = render_document(plan)
    assert_shape(document, plan)
    assert_tables_filled(document)
    assert "| None | — | — | — |" in document  # no flags, no communication plan
    assert "- Migration tool: None" in document
    assert "- **Informed by:** None" in document
    assert "- Key business metric baseline: None" in document
    for line in document.splitlines():
        assert not line.rstrip().endswith((":", ":**")), f"blank label: {line!r}"


def test_stage_headings_follow_the_plans_stages() -> None:
    document = render_document(minimal_plan())
    headings = [line for line in document.splitlines() if line.startswith("### ")]
    assert headings == ["### Stage 1: Canary", "### Stage 2: Everyone"]


def test_the_last_stage_shows_a_rollback_trigger_only_when_it_has_its_own() -> None:
    def last_stage(plan: Plan) -> str:
        return render_document(plan).split("### Stage 2: Everyone")[1].split("\n## ")[0]

    assert "Rollback Trigger" not in last_stage(minimal_plan())
    everyone = {"name": "Everyone", "audience": 100, "duration": "1h"}
    stages = [
        {"name": "Canary", "audience": 10, "duration": "10m"},
        {**everyone, "rollback_trigger": ["error_rate > 3%"]},
    ]
    assert "- **Rollback Trigger:** `error_rate > 3%`" in last_stage(minimal_plan(stages=stages))


# --------------------------------------------------------------------------- content


def test_sections_are_filled_from_the_plan_in_words() -> None:
    document = render_document(fixture_plan())
    expected = [
        "Move checkout to the new payment service.",
        "a canary release through `development` → `staging` → `production`",
        "- [ ] All tests passing — gate: `make test`",
        "- [ ] Security audit clean — sign-off by security (carol or dave)",
        "- [ ] Documentation updated — sign-off by release-manager",
        "- Strategy: canary via flag `new-checkout`",
        "- Rollback trigger: `error_rate > 5%`, judged in every stage",
        "- Rollback procedure: automatic — the [Rollback Plan](#rollback-plan) (5 steps)",
        "| development | Developers try it out | No |",
        "| staging | Release candidate \\| QA | Yes — any approver |",
        "Yes — 2 of alice, bob; rejected after 4 hours without a decision |",
        "| `express-pay` | One-click payment button | `false` | 25% (serves `true`) |",
        "- Backwards compatible: Yes — the current version keeps working on the new schema",
        "- Rollback migration: downgrade to the revision recorded at start",
        "- **Audience:** segment `internal-staff`",
        "- **Audience:** 5% of users",
        "- **Duration:** 15 minutes",
        "- **Duration:** 2 hours",
        "- **Duration:** 1 hour 30 minutes",
        "- **Success Criteria:** `error_rate < 1%` and `latency_p99 < 300ms`",
        "with at least 1,000 canary requests",
        "- **Rollback Trigger:** `error_rate > 2%`, or the plan-wide triggers",
        "- Error rate baseline: 0.4%, from Rollout's built-in telemetry",
        "- Latency baseline: 250 ms",
        "- Key business metric baseline: `checkout_conversion`: 3.2, from Prometheus",
        "1. Set the new version's traffic to 0%",
        "2. Switch flag `new-checkout` off and set it to 0%",
        "3. Run `./scripts/rollback.sh`",
        "4. Run the rollback migration (downgrade to the revision recorded at start)",
        "5. Notify on-call: Rolled back {version}: {reason}",
        "| rollout started, succeeded | engineering |",
        "- [ ] Smoke tests passing — `health` (GET `https://checkout.example.com/health`",
        "- [ ] No error rate spike — `error_rate` within +50% of its baseline over the 10 minutes",
        "- [ ] Key user flows verified — `buy-a-book` (`./flows/buy.sh`)",
        "- [ ] Performance within baseline — `latency_p99` within +20% of its baseline",
        "- **Informed by:** [TESTING_PLAN.md](TESTING_PLAN.md), "
        "[SECURITY_CHECKLIST.md](SECURITY_CHECKLIST.md), [OBSERVABILITY.md](OBSERVABILITY.md)",
        "- **Informs:** [Runbook](docs/runbook.md)",
    ]
    missing = [text for text in expected if text not in document]
    assert not missing, "\n".join(missing)


@pytest.mark.parametrize(
    ("audience", "words"),
    [
        ({"percent": 5}, "5% of users"),
        ({"segment": "internal-staff"}, "segment `internal-staff`"),
        ({"segment": "beta", "percent": 0.5}, "0.5% of segment `beta`"),
    ],
)
def test_stage_audience_in_words(audience: dict[str, Any], words: str) -> None:
    stages = [{"name": "Only", "audience": audience, "duration": "1d"}]
    document = render_document(minimal_plan(stages=stages))
    assert f"- **Audience:** {words}\n" in document
    assert "- **Duration:** 1 day\n" in document


@pytest.mark.parametrize(
    ("approval", "words"),
    [
        (False, "No"),
        (True, "Yes — any approver"),
        ({"required": True, "approvers": ["alice", "bob"], "min_approvals": 2},
         "Yes — 2 of alice, bob"),
        ({"required": True, "approvers": ["alice"]}, "Yes — alice"),
        ({"required": True, "min_approvals": 3}, "Yes — any 3 approvers"),
    ],
)  # fmt: skip
def test_approval_in_words(approval: Any, words: str) -> None:
    environments = [{"name": "production", "approval": approval}]
    document = render_document(minimal_plan(environments=environments))
    assert f"| production | — | {words} |" in document


def test_manual_rollback_and_stage_without_triggers() -> None:
    plan = minimal_plan(strategy={"type": "canary", "rollback": "manual"})
    document = render_document(plan)
    assert "- Rollback trigger: None" in document
    assert "- Rollback procedure: manual — the rollout pauses and notifies" in document
    assert "- **Rollback Trigger:** None" in document
    assert "- **Success Criteria:** None — the stage passes when its duration ends" in document


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(900, "15 minutes"), (7200, "2 hours"), (5400, "1 hour 30 minutes"), (1, "1 second"),
     (90061, "1 day 1 hour 1 minute 1 second"), (1209600, "2 weeks"), (0.25, "0.25 seconds")],
)  # fmt: skip
def test_durations_in_words(seconds: float, words: str) -> None:
    assert duration(seconds) == words


def test_the_document_depends_only_on_the_plan() -> None:
    plan = fixture_plan()
    again = Plan.model_validate(plan.model_dump())
    assert render_document(plan) == render_document(again)


# --------------------------------------------------------------------------- progress


def checkbox_lines(document: str) -> list[str]:
    return [line for line in document.splitlines() if line.startswith("- [")]


def test_nothing_is_ticked_and_no_outcome_without_progress() -> None:
    document = render_document(fixture_plan())
    assert all(line.startswith("- [ ] ") for line in checkbox_lines(document))
    assert "**Outcome:**" not in document
    assert "**Status:**" not in document


def test_progress_ticks_exactly_the_passed_items() -> None:
    plan = fixture_plan()
    progress = RolloutProgress(
        checklist_passed=frozenset({0, 2}),
        validation_passed=frozenset({ValidationItem.SMOKE, ValidationItem.PERFORMANCE}),
    )
    ticked = [line for line in checkbox_lines(render_document(plan, progress)) if "[x]" in line]
    assert [line.split(" — ")[0] for line in ticked] == [
        "- [x] All tests passing",
        "- [x] Performance benchmarks met",
        "- [x] Smoke tests passing",
        "- [x] Performance within baseline",
    ]


def test_stage_outcomes_and_environment_statuses() -> None:
    plan = fixture_plan()
    at = datetime(2025, 3, 4, 10, 30, tzinfo=UTC)
    progress = RolloutProgress(
        stages=(
            StageOutcome(StageStatus.PASSED, "error_rate 0.2% < 1% over 4,210 requests"),
            StageOutcome(StageStatus.ROLLED_BACK, "latency_p99 1.4 s > 1 s", at=at),
        ),
        environments=(
            EnvironmentStatus("development", "deployed"),
            EnvironmentStatus("production", "rolled back"),
        ),
        state="rolled back",
        as_of=at,
    )
    document = render_document(plan, progress)
    outcomes = [line for line in document.splitlines() if line.startswith("- **Outcome:**")]
    assert outcomes == [
        "- **Outcome:** passed — error_rate 0.2% < 1% over 4,210 requests",
        "- **Outcome:** rolled back — latency_p99 1.4 s > 1 s (as of 2025-03-04 10:30:00+00:00)",
        "- **Outcome:** not started",
    ]
    assert "| development (deployed) |" in document
    assert "| staging (not started) |" in document
    assert "| production (rolled back) |" in document
    assert "**Status:** rolled back (as of 2025-03-04 10:30:00+00:00)." in document
    assert_shape(document, plan)
    assert_tables_filled(document)


@pytest.mark.parametrize(
    "progress",
    [
        RolloutProgress(checklist_passed=frozenset({7})),
        RolloutProgress(stages=(StageOutcome(StageStatus.PASSED),) * 4),
        RolloutProgress(environments=(EnvironmentStatus("qa", "deployed"),)),
    ],
)
def test_progress_that_does_not_fit_the_plan_is_refused(progress: RolloutProgress) -> None:
    with pytest.raises(ValueError):
        render_document(fixture_plan(), progress)


# --------------------------------------------------------------------------- secrets


def test_no_secret_of_the_plan_reaches_the_document() -> None:
    document = render_document(fixture_plan())
    for secret in ("abcdefghijklmnopqrstuvwx", "T1ABC2DEF", "hunter2", "s3cr3tT0ken"):
        assert secret not in document
    assert "`slack://****/****/****/#deploys`" in document
    assert "`pagerduty://${PAGERDUTY_KEY}`" in document  # written as a variable: shown as is
    assert "https://metrics:****@prom.example.com:9090" in document
    assert "report?token=****" in document


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("slack://${SLACK_TOKEN}/#deploys", "slack://${SLACK_TOKEN}/#deploys"),
        ("mailto://alice:${MAIL_PASSWORD}@example.com", "mailto://alice:${MAIL_PASSWORD}@example.com"),
        ("mailtos://bob:pw@smtp.example.com?to=ops@example.com", "mailtos://bob:****@smtp.example.com?to=ops@example.com"),
        ("discord://123456789012345678/aBcDeFgHiJkLmNoPqRsTuV", "discord://****/****"),
        ("tgram://123456:ABCdefGHIjkl/-100123", "tgram://123456:****/-100123"),
        ("https://hooks.slack.com/services/T00000000/B00000000/XXXXXXXXXXXXXXXXXXXXXXXX",
         "https://hooks.slack.com/services/****/****/****"),
        ("json://hooks.example.com/deploy?apikey=short&team=ops", "json://hooks.example.com/deploy?apikey=****&team=ops"),
        ("ntfy://ntfy.sh/deploys", "ntfy://ntfy.sh/deploys"),
        ("mailto://${USER}:${PASS}@example.com?to=ops-team@example.com&token=abc",
         "mailto://${USER}:${PASS}@example.com?to=ops-team@example.com&token=****"),
    ],
)  # fmt: skip
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


secret_text = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.~", min_size=8
)


@given(user=st.from_regex(r"[a-z]{1,8}", fullmatch=True), password=secret_text)
def test_a_password_in_a_url_is_never_shown(user: str, password: str) -> None:
    for scheme in ("mailto", "https", "rocket"):
        shown = mask_url(f"{scheme}://{user}:{password}@chat.example.com/#general")
        assert password not in shown.split("@", 1)[0]
        assert shown.endswith("@chat.example.com/#general")


# --------------------------------------------------------------------------- escaping


def test_pipes_and_newlines_stay_inside_their_cell() -> None:
    flags = [{"key": "pay", "description": "A | B\nsecond line"}]
    communication = [
        {
            "when": "started",
            "audience": "ops | sre",
            "channel": "json://h.example.com",
            "message": "x|y",
        }
    ]
    document = render_document(minimal_plan(flags=flags, communication=communication))
    flag_table, communication_table = tables(document)[1:]
    assert flag_table[1][1] == "A | B<br>second line"
    assert communication_table[1][1] == "ops | sre"
    assert communication_table[1][3] == "x|y"


cell_text = st.text(
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), min_size=1
)


@settings(max_examples=60, deadline=None)
@given(purpose=cell_text, description=cell_text, message=cell_text)
def test_any_text_keeps_the_tables_and_headings_intact(
    purpose: str, description: str, message: str
) -> None:
    plan = minimal_plan(
        environments=[{"name": "production", "purpose": purpose}],
        flags=[{"key": "pay", "description": description}],
        communication=[
            {
                "when": "any",
                "audience": "ops",
                "channel": "json://h.example.com",
                "message": message,
            }
        ],
    )
    document = render_document(plan)
    assert_tables_filled(document)
    headings = [line for line in document.splitlines() if line.startswith("#")]
    assert headings == [e.text for e in expected_skeleton(plan) if e.text.startswith("#")]


@given(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1))
def test_a_code_span_shows_its_text_literally(text: str) -> None:
    shown = " ".join(text.split())
    if not shown:
        return
    tokens = MarkdownIt("commonmark").parseInline(code(text))[0].children or []
    assert [token.type for token in tokens] == ["code_inline"]
    assert tokens[0].content == shown


# --------------------------------------------------------------------------- docs and examples


@pytest.mark.parametrize("module", [render_module, markdown_helpers], ids=lambda m: m.__name__)
def test_docstring_examples_hold(module: Any) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


EXAMPLES = sorted((REPO / "examples").glob("*.yaml"))
STARTERS = sorted((REPO / "src" / "rollout" / "plan" / "starters").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES + STARTERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_shipped_plan_renders_in_the_templates_shape(path: Path) -> None:
    loader = pytest.importorskip("rollout.plan.loader")
    plan = loader.load_plan(path)
    document = render_document(plan)
    assert_shape(document, plan)
    assert_tables_filled(document)
