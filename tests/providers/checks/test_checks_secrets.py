"""${VAR} references: filled in from the environment, and masked wherever they are echoed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rollout.providers.checks import CheckContext
from rollout.providers.secrets import MASK, MissingVariable, expand, expand_all

secret_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), min_size=4, max_size=40
)


def test_references_are_filled_in_and_other_dollars_left_alone() -> None:
    done = expand("$HOME ${A}-${B} $(date) ${A}", {"A": "one1", "B": "two2"})

    assert done.text == "$HOME one1-two2 $(date) one1"


def test_every_unset_variable_is_named_never_a_value() -> None:
    with pytest.raises(MissingVariable) as caught:
        expand_all({"x": "${SET} ${GONE}", "y": "${ALSO_GONE}"}, {"SET": "visible-value"})

    assert caught.value.names == ("ALSO_GONE", "GONE")
    assert str(caught.value) == "${ALSO_GONE}, ${GONE} are not set in the environment"
    assert "visible-value" not in str(caught.value)


@given(secret=secret_values, before=st.text(max_size=30), after=st.text(max_size=30))
def test_an_expanded_value_never_survives_scrubbing(secret: str, before: str, after: str) -> None:
    done = expand("token=${TOKEN}", {"TOKEN": secret})

    scrubbed = done.scrubber(before + secret + after + secret)

    assert secret not in scrubbed
    assert MASK in scrubbed


def test_a_longer_secret_is_masked_whole_when_it_contains_a_shorter_one() -> None:
    _, scrub = expand_all({"a": "${SHORT}", "b": "${LONG}"}, {"SHORT": "abcd", "LONG": "abcdefgh"})

    assert scrub("got abcdefgh and abcd") == "got **** and ****"


def test_very_short_values_are_not_masked_in_echoed_text() -> None:
    done = expand("port ${PORT}", {"PORT": "80"})

    assert done.scrubber("answered 800 from port 80") == "answered 800 from port 80"


def test_step_and_attempt_are_read_off_the_key() -> None:
    context = CheckContext("r-1", "v1", key="r-1:production/stage-2/traffic:12")
    bare = CheckContext("r-1", "v1")

    assert context.variables()["ROLLOUT_STEP"] == "production/stage-2/traffic"
    assert context.variables()["ROLLOUT_ATTEMPT"] == "12"
    assert bare.variables()["ROLLOUT_STEP"] == bare.variables()["ROLLOUT_ATTEMPT"] == ""
