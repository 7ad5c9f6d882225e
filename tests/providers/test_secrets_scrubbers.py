"""The scrubbers built for a whole text (a plan) and applied to whole payloads (JSON)."""

from __future__ import annotations

import doctest

from rollout.providers import secrets
from rollout.providers.secrets import MASK, Scrubber, scrubber_for

PLAN = """\
environments:
  - name: production
    deploy: {run: ./deploy.sh, env: {TOKEN: "${DEPLOY_TOKEN}"}}
communication:
  - {when: [any], channel: "slack://${SLACK_TOKEN}/#deploys"}
monitoring: {source: {type: command, run: "./m.sh ${UNSET_TOKEN} ${PORT}"}}
"""


def test_a_plans_scrubber_masks_every_variable_it_names_that_is_set() -> None:
    environ = {
        "DEPLOY_TOKEN": "deploy-value",
        "SLACK_TOKEN": "slack-value",
        "PORT": "80",  # too short to mask without garbling every number
        "NOT_NAMED": "other-value",
    }

    scrub = scrubber_for(PLAN, environ)

    assert set(scrub.values) == {"deploy-value", "slack-value"}
    said = "deploy-value slack-value other-value port 80"
    assert scrub(said) == f"{MASK} {MASK} other-value port 80"


def test_nested_payloads_have_every_string_masked_and_keep_their_shape() -> None:
    scrub = Scrubber(("s3cret-value",))
    payload = {
        "message": "sent s3cret-value",
        "deliveries": [{"error": "401 for s3cret-value", "attempts": 2, "ok": False}],
        "lines": ("a", "s3cret-value"),
        "values": {"error_rate": 0.01},
        "missing": None,
    }

    assert scrub.data(payload) == {
        "message": f"sent {MASK}",
        "deliveries": [{"error": f"401 for {MASK}", "attempts": 2, "ok": False}],
        "lines": ["a", MASK],
        "values": {"error_rate": 0.01},
        "missing": None,
    }


def test_a_scrubber_without_values_gives_the_payload_back_untouched() -> None:
    payload = {"lines": ("kept", "as a tuple")}

    assert Scrubber().data(payload) is payload


def test_the_examples_in_the_module_hold() -> None:
    failed, tried = doctest.testmod(secrets)
    assert tried > 0 and failed == 0
