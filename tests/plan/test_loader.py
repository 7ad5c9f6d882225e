"""Loading plans from YAML: every problem at once, each at its line and column, in plain words."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.errors import PlanError, Problem
from rollout.plan import Plan, load_plan, load_plan_text

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

MINIMAL = """\
name: shop
overview:
  summary: New checkout
checklist:
  - item: All tests passing
    run: make test
strategy:
  type: canary
  flag: new-checkout
environments:
  - name: production
flags:
  - key: new-checkout
stages:
  - name: everyone
    audience: 100%
    duration: 10m
rollback:
  - flag: {key: new-checkout, percent: 0}
"""


def problems(text: str) -> list[str]:
    """The problems of ``text`` as ``line:column: path: message`` (without the file name)."""
    with pytest.raises(PlanError) as caught:
        load_plan_text(text, "plan.yaml")
    return [str(problem).removeprefix("plan.yaml:") for problem in caught.value.problems]


def replace(old: str, new: str, text: str = MINIMAL) -> str:
    assert old in text
    return text.replace(old, new, 1)


# --------------------------------------------------------------------------- valid plans


def test_a_valid_plan_loads_into_the_typed_model() -> None:
    plan = load_plan_text(MINIMAL, "plan.yaml")
    assert isinstance(plan, Plan)
    assert plan.name == "shop"
    assert plan.stages[0].duration == 600.0
    assert plan.stages[0].audience.percent == 100.0
    assert plan.rollback[0].action == "flag"


def test_load_plan_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "rollout.yaml"
    path.write_text(MINIMAL, encoding="utf-8")
    assert load_plan(path) == load_plan_text(MINIMAL)
    assert load_plan(str(path)).name == "shop"


def test_secrets_stay_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://admin:hunter2@db/shop")
    text = MINIMAL + "migrations:\n  database_url: ${DATABASE_URL}\n"
    plan = load_plan_text(text)
    assert plan.migrations is not None
    assert plan.migrations.database_url == "${DATABASE_URL}"


def test_timestamps_stay_text_and_keys_are_always_text() -> None:
    text = replace("  summary: New checkout\n", "  summary: New checkout\n  version: 2024-05-01\n")
    text += "monitoring:\n  metrics:\n    404: {kind: count, queries: {event: not-found}}\n"
    plan = load_plan_text(text)
    assert plan.overview.version == "2024-05-01"
    assert list(plan.monitoring.metrics) == ["404"]


def test_anchors_aliases_and_merge_keys_are_honoured() -> None:
    text = replace(
        "stages:\n  - name: everyone\n",
        "stages:\n  - &base\n    name: half\n    audience: 50%\n    duration: 10m\n"
        "  - <<: *base\n    name: everyone\n",
    )
    plan = load_plan_text(text)
    assert [stage.name for stage in plan.stages] == ["half", "everyone"]
    assert plan.stages[1].audience.percent == 100.0  # written next to the merge: it wins
    assert plan.stages[1].duration == 600.0


def test_a_reused_anchor_is_legal_and_prints_nothing() -> None:
    text = MINIMAL + "related:\n  - {title: &t A, path: a.md}\n  - {title: &t B, path: b.md}\n"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plan = load_plan_text(text)
    assert [doc.title for doc in plan.related] == ["A", "B"]


def test_an_unquoted_no_regression_criterion_reads_as_one() -> None:
    text = replace(
        "    duration: 10m\n",
        "    duration: 10m\n    rollback_trigger:\n      - error_rate: no regression\n",
    )
    # At 100% there is no control to compare with: end the rollout at half.
    text = replace("audience: 100%", "audience: 50%", text)
    text = replace("  - key: new-checkout\n", "  - key: new-checkout\n    rollout: 50%\n", text)
    plan = load_plan_text(text)
    assert str(plan.stages[0].rollback_trigger[0]) == "error_rate: no regression"


# --------------------------------------------------------------------------- how problems read


def test_a_problem_reads_file_line_column_path_message() -> None:
    with pytest.raises(PlanError) as caught:
        load_plan_text(replace("duration: 10m", "duration: 10 mins"), "rollout.yaml")
    (problem,) = caught.value.problems
    assert problem == Problem(
        "rollout.yaml",
        17,
        18,
        "stages[0].duration",
        "unknown unit 'mins' (use ms, s, m, h, d or w)",
    )
    assert str(caught.value) == (
        "rollout.yaml:17:18: stages[0].duration: unknown unit 'mins' (use ms, s, m, h, d or w)"
    )


def test_every_problem_is_reported_at_once_in_file_order() -> None:
    text = replace("type: canary", "type: canery")
    text = replace("audience: 100%", "audience: 100%\n    min_requests: many", text)
    text = replace("  - name: production", "  - name: production\n    purpos: live", text)
    assert problems(text) == [
        "8:9: strategy.type: expected one of 'canary', 'blue-green', 'rolling', 'feature-flag', "
        "found 'canery' (did you mean 'canary'?)",
        "12:5: environments[0].purpos: unknown key (did you mean 'purpose'?)",
        "18:19: stages[0].min_requests: expected a whole number, found 'many'",
    ]


def test_paths_count_from_zero() -> None:
    text = replace("rollback:\n", "rollback:\n  - run: ./first.sh\n")
    text = replace(
        "  - flag: {key: new-checkout, percent: 0}",
        "  - flag: {key: new-checkout, percent: 0, on: yes}",
        text,
    )
    assert problems(text) == [
        "20:43: rollback[1].flag.on: unknown key (allowed here: key, percent, enabled)"
    ]


def test_cross_checks_wait_until_every_section_is_valid() -> None:
    # The stage's flag is unknown, but a bad duration comes first: the cross-checks need a plan.
    text = replace("    duration: 10m", "    duration: 10 mins\n    flag: nope")
    assert problems(text) == [
        "17:18: stages[0].duration: unknown unit 'mins' (use ms, s, m, h, d or w)"
    ]
    fixed = text.replace("10 mins", "10m")
    assert problems(fixed) == ["18:11: stages[0].flag: unknown flag 'nope' (known: 'new-checkout')"]


def test_reading_problems_and_model_problems_come_together() -> None:
    text = replace(
        "    duration: 10m", "    duration: 10m\n    duration: 20m\n    min_requests: -1"
    )
    assert problems(text) == [
        "18:5: stages[0].duration: duplicate key 'duration' (first written on line 17)",
        "19:19: stages[0].min_requests: must be at least 0, found -1",
    ]


@pytest.mark.parametrize(
    ("written", "column"),
    [
        ("error_rate = 1%", 20),  # plain: the '=' itself
        ('"error_rate = 1%"', 21),  # double-quoted: one further for the quote
        ("'error_rate = 1%'", 21),  # single-quoted
        ("error_rate: no regresion", 24),  # read as {error_rate: "no regresion"}
        ("error_rate:   no regresion", 26),  # the value's own column, whatever the spacing
        ("error_rat  =  1%", 20),
    ],
)
def test_a_criterion_error_points_at_the_bad_character(written: str, column: int) -> None:
    text = replace("    duration: 10m\n", f"    duration: 10m\n    success:\n      - {written}\n")
    ((line_column, *_),) = [problem.split(": ", 1) for problem in problems(text)]
    assert line_column == f"19:{column}"


@settings(max_examples=60, deadline=None)
@given(
    indent=st.integers(min_value=0, max_value=6),
    quote=st.sampled_from(["", '"', "'"]),
    gap=st.integers(min_value=0, max_value=3),
    bad=st.sampled_from(["=", "!", "?", "=="]),
)
def test_criterion_columns_land_on_the_offending_character(
    indent: int, quote: str, gap: int, bad: str
) -> None:
    criterion = f"latency_p99{' ' * gap}{bad} 300ms"
    success = f"    success:\n{' ' * (4 + indent)}- {quote}{criterion}{quote}\n"
    text = replace("    duration: 10m\n", "    duration: 10m\n" + success)
    with pytest.raises(PlanError) as caught:
        load_plan_text(text)
    (problem,) = caught.value.problems
    line = text.splitlines()[problem.line - 1]
    assert line[problem.column - 1 :].startswith(bad)


@settings(max_examples=40, deadline=None)
@given(number=st.integers(min_value=1, max_value=999), unit=st.sampled_from(["mins", "x", "hrs"]))
def test_duration_columns_land_on_the_bad_unit(number: int, unit: str) -> None:
    text = replace("duration: 10m", f"duration: {number}{unit}")
    with pytest.raises(PlanError) as caught:
        load_plan_text(text)
    (problem,) = caught.value.problems
    line = text.splitlines()[problem.line - 1]
    assert line[problem.column - 1 :] == unit
    assert problem.message == f"unknown unit '{unit}' (use ms, s, m, h, d or w)"


def test_a_block_scalar_error_points_at_the_value() -> None:
    text = replace(
        "    duration: 10m\n",
        "    duration: 10m\n    success:\n      - |-\n        error_rate ! 1%\n",
    )
    assert [p.split(": ", 1)[0] for p in problems(text)] == ["19:9"]


def test_one_typo_is_one_problem() -> None:
    # Not also "missing required key 'duration'".
    assert problems(replace("    duration: 10m", "    durration: 10m")) == [
        "17:5: stages[0].durration: unknown key (did you mean 'duration'?)"
    ]


def test_a_list_entry_that_fails_does_not_also_make_the_list_too_short() -> None:
    assert problems(replace("    run: make test", "    run: make test\n    retries: lots")) == [
        "7:14: checklist[0].retries: expected a whole number, found 'lots'"
    ]


def test_a_value_that_fits_no_branch_of_a_union_is_one_problem() -> None:
    text = replace("  - key: new-checkout\n", "  - key: new-checkout\n    serve: {a: 1}\n")
    assert problems(text) == [
        "14:5: flags[0].serve: expected true or false, a number or text, found a mapping"
    ]


def test_missing_keys_of_one_mapping_are_one_problem() -> None:
    text = replace(
        "  flag: new-checkout\n",
        "  flag: new-checkout\n  rolling: {health_check: {name: h, run: x}}\n",
    )
    text = text.replace("type: canary", "type: rolling")
    assert problems(text) == [
        "10:3: strategy.rolling: missing required keys 'instances' and 'deploy'"
    ]


def test_windows_line_endings_and_a_byte_order_mark_do_not_move_problems() -> None:
    text = replace("duration: 10m", "duration: 10 mins")
    expected = problems(text)
    assert problems(text.replace("\n", "\r\n")) == expected
    assert problems("\ufeff" + text) == expected


# --------------------------------------------------------------------------- unreadable input


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "1:1: the plan is empty (`rollout init` prints a starter plan)"),
        ("# only a comment\n", "1:1: the plan is empty (`rollout init` prints a starter plan)"),
        ("just text\n", "1:1: the plan must be a mapping of sections (name:, overview:, ...), "
         "found the text 'just text'"),
        ("name: [1, 2\n", "2:1: YAML syntax: expected ',' or ']', but got '<stream end>' "
         "while parsing a flow sequence"),
        ("a: *nowhere\n", "1:4: YAML syntax: this alias (*name) refers to no anchor (&name) "
         "defined above it"),
        ("name: x\x07\n", "1:8: the file contains a character YAML does not allow (U+0007)"),
        ("name: " + "[" * 3000 + "]" * 3000, "1:57: the YAML is nested too deeply to be a plan"),
    ],
)  # fmt: skip
def test_text_that_is_not_a_plan_is_one_clear_problem(text: str, expected: str) -> None:
    assert problems(text) == [expected]


def test_a_missing_file_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError) as caught:
        load_plan(tmp_path / "nope.yaml")
    assert str(caught.value) == f"{tmp_path / 'nope.yaml'}: no such file"


def test_a_directory_is_a_plan_error(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match="is a directory, not a plan file"):
        load_plan(tmp_path)


def test_a_file_that_is_not_utf8_is_a_plan_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("name: café\n".encode("latin-1"))
    with pytest.raises(PlanError, match="not UTF-8 text"):
        load_plan(path)


# --------------------------------------------------------------------------- never a traceback


_MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["delete", "insert", "duplicate-line", "drop-line"]),
        st.integers(min_value=0, max_value=10_000),
        st.sampled_from(list(":-[]{}'\"#&*!%| \t\nx5")),
    ),
    min_size=1,
    max_size=4,
)


def _mutate(text: str, mutations: list[tuple[str, int, str]]) -> str:
    for kind, where, char in mutations:
        if not text:
            break
        lines = text.splitlines(keepends=True)
        index = where % len(text)
        line = where % len(lines)
        if kind == "delete":
            text = text[:index] + text[index + 1 :]
        elif kind == "insert":
            text = text[:index] + char + text[index:]
        elif kind == "duplicate-line":
            text = "".join(lines[: line + 1] + lines[line:])
        else:
            text = "".join(lines[:line] + lines[line + 1 :])
    return text


@settings(max_examples=150, deadline=None)
@given(mutations=_MUTATIONS)
def test_a_damaged_plan_gives_problems_never_a_traceback(
    mutations: list[tuple[str, int, str]],
) -> None:
    text = _mutate((EXAMPLES / "demo.yaml").read_text(encoding="utf-8"), mutations)
    try:
        load_plan_text(text, "demo.yaml")
    except PlanError as exc:
        assert exc.problems
        line_count = len(text.splitlines())
        for problem in exc.problems:
            assert 1 <= problem.line <= line_count + 1
            assert problem.column >= 1
            assert problem.message
