"""Which announcements a moment calls for, and how templates render (never raising)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rollout.engine.actions import NotifyContext
from rollout.plan.model import Announcement
from rollout.providers.notify import (
    DEFAULT_MESSAGE,
    compose,
    kind_for,
    render_message,
    select_announcements,
)

CONTEXT = NotifyContext("r-9", "v1.2.0", "staging", "beta", "observing", "bake time left: 5 min")


def row(when: str | list[str], audience: str = "team", channel: str = "json://h/a") -> Announcement:
    return Announcement.model_validate({"when": when, "audience": audience, "channel": channel})


def test_known_fields_render_and_unknown_ones_say_so() -> None:
    text = render_message("{rollout} {version} {environment} {stage} {state} {reason}", CONTEXT)
    typo = render_message("Rollout {rollout} of {verison}", CONTEXT)

    assert text == "r-9 v1.2.0 staging beta observing bake time left: 5 min"
    assert typo == "Rollout r-9 of [unknown: verison]"


def test_unusual_fields_render_as_written() -> None:
    template = "{0} {rollout.__class__} {state[0]} {{literal}} {rollout!r} {stage:>6}"

    assert render_message(template, CONTEXT) == (
        "{0} {rollout.__class__} {state[0]} {literal} 'r-9'   beta"
    )


def test_stray_braces_send_the_text_as_written() -> None:
    assert render_message("deploy {rollout finished }", CONTEXT) == "deploy {rollout finished }"
    assert render_message("half { open", CONTEXT) == "half { open"


@given(st.text(max_size=60))
def test_no_template_makes_rendering_raise(template: str) -> None:
    assert isinstance(render_message(template, CONTEXT), str)


def test_announcements_are_selected_by_moment_any_and_starting_stage() -> None:
    rows = [
        row("rolling_back", "on-call"),
        row(["started", "succeeded"], "team"),
        row("any", "audit"),
        row("stage: Beta", "beta-testers"),
        row("stage:gamma", "gamma-testers"),
    ]

    def audiences(moment: str, stage: str = "") -> list[str]:
        return [a.audience for a in select_announcements(rows, moment, stage)]

    assert audiences("rolling_back") == ["on-call", "audit"]
    assert audiences("SUCCEEDED") == ["team", "audit"]
    assert audiences("stage_started", "beta") == ["audit", "beta-testers"]
    assert audiences("stage_passed", "beta") == ["audit"]


def test_compose_uses_each_templates_and_drops_duplicates() -> None:
    rows = [
        Announcement(when=("any",), audience="a", channel="json://h/1", message="{state}"),
        Announcement(when=("any",), audience="b", channel="json://h/1", message="{state}"),
        Announcement(when=("any",), audience="c", channel="json://h/2", message="{stage}"),
    ]

    messages = compose(rows, CONTEXT)

    assert [(m.channel, m.body, m.audience) for m in messages] == [
        ("json://h/1", "observing", "a"),
        ("json://h/2", "beta", "c"),
    ]


def test_a_step_message_overrides_templates_or_goes_to_its_own_channel() -> None:
    rows = [row("any", "a", "json://h/1")]
    failing = NotifyContext("r-9", "v1.2.0", "staging", "", "rolled_back", "aborted by ann")

    (overridden,) = compose(rows, failing, message="rolled back: {reason}")
    (direct,) = compose(rows, failing, channel="json://h/direct")

    assert overridden.body == "rolled back: aborted by ann"
    assert direct.channel == "json://h/direct"
    assert direct.body == render_message(DEFAULT_MESSAGE, failing)
    assert direct.kind == overridden.kind == "failure"


def test_message_kinds_follow_the_state() -> None:
    assert [kind_for(s) for s in ("succeeded", "paused", "rollback_failed", "ramping")] == [
        "success",
        "warning",
        "failure",
        "info",
    ]
