"""The operator verbs (``pause``, ``resume``, ``promote``, ``abort``, ``retry``) and the
decisions (``approve``, ``reject``) as commands: each exists under its own name with its help
sentence and options, and each sends its own verb, not a neighbour's."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import run

PLAN = Path(__file__).parents[2] / "examples" / "canary.yaml"

HELP = {
    "pause": "Pause a rollout: the bake clock stops and nothing moves until resume.",
    "resume": "Resume a paused rollout where it was (past fired triggers, if any).",
    "promote": "End the current stage's (or validation's) bake early, unless it fails.",
    "abort": "Roll back now: the plan's rollback steps run in order.",
    "retry": "Run again what failed (a gate, a deploy, a check) and carry on.",
    "approve": "Approve a rollout's entry into an environment, or sign off a manual gate.",
    "reject": "Reject a rollout's entry into an environment (it stops), or refuse a gate.",
}
VERBS = ("pause", "resume", "promote", "abort", "retry")
DECISIONS = ("approve", "reject")
# Every verb and decision: (flags, environment variable) of each option, in the order shown.
COMMON_OPTIONS = [
    (("--comment", "-m"), None),
    (("--actor",), "ROLLOUT_ACTOR"),
    (("--database",), None),
    (("--server",), "ROLLOUT_SERVER"),
    (("--token",), "ROLLOUT_TOKEN"),
]
DECISION_OPTIONS = [(("--env", "-e"), None), (("--gate",), None), (("--role",), "ROLLOUT_ROLES")]


def option_sections(help_text: str, options: list[tuple[tuple[str, ...], str | None]]) -> list[str]:
    """The part of ``help_text`` about each option, in the order given: from the option's first
    flag up to the next option's (all must be present, in that order)."""
    starts = [help_text.index(f"{flags[0]} ") for flags, _ in options]
    assert starts == sorted(starts), "the options are listed in another order"
    return [help_text[a:b] for a, b in zip(starts, [*starts[1:], len(help_text)], strict=True)]


@pytest.mark.parametrize("name", VERBS + DECISIONS)
def test_each_verb_is_a_command_with_its_help_and_options(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # one line per option, whatever the terminal
    code, out, _ = run(capsys, name, "--help")
    assert code == 0
    shown = " ".join(out.split())
    assert f"Usage: rollout {name} [OPTIONS] {{ID}}" in shown
    assert HELP[name] in shown
    options = (DECISION_OPTIONS if name in DECISIONS else []) + COMMON_OPTIONS
    for (flags, envvar), section in zip(options, option_sections(shown, options), strict=True):
        assert all(flag in section.split() for flag in flags), section
        assert (f"[env var: {envvar}]" in section) == (envvar is not None), section


@pytest.fixture
def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'rollout.db'}"


def started(capsys: pytest.CaptureFixture[str], database: str) -> str:
    code, out, err = run(capsys, "start", str(PLAN), "--database", database)
    assert code == 0, err
    return out.split()[2]


@pytest.mark.parametrize("verb", ["pause", "resume", "promote", "retry"])
def test_a_verb_that_does_not_apply_yet_names_itself_and_exits_2(
    capsys: pytest.CaptureFixture[str], database: str, verb: str
) -> None:
    rollout_id = started(capsys, database)
    code, out, err = run(capsys, verb, rollout_id, "--database", database)
    assert (code, out) == (2, "")
    assert err.startswith(f"cannot {verb} rollout {rollout_id}: ")


def test_abort_is_queued_under_the_actors_name_and_audited(
    capsys: pytest.CaptureFixture[str], database: str
) -> None:
    rollout_id = started(capsys, database)
    code, out, _ = run(
        capsys, "abort", rollout_id, "-m", "enough", "--database", database, "--actor", "dana"
    )
    assert code == 0
    assert out == f"Abort of {rollout_id} queued by dana; the controller applies it.\n"
    code, out, _ = run(capsys, "history", rollout_id, "--database", database)
    assert code == 0 and "dana asked to abort the rollout: enough" in out


@pytest.mark.parametrize("name", VERBS + DECISIONS)
def test_a_verb_on_an_unknown_rollout_is_a_plain_message(
    capsys: pytest.CaptureFixture[str], database: str, name: str
) -> None:
    code, out, err = run(capsys, name, "ro_nope", "--database", database)
    assert (code, out, err) == (2, "", "no rollout ro_nope (see `rollout status`)\n")
