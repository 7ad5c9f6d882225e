"""The shop's conversion ledger: what the demo plan's conversion metric reads."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from rollout.demo.ledger import ConversionLedger
from rollout.providers.metrics._base import Steps
from rollout.providers.metrics.command import parse_output


def test_an_order_counts_under_the_exposure_it_completes() -> None:
    ledger = ConversionLedger()
    ledger.expose("ann", "on", at=100.5)
    ledger.expose("bob", "off", at=101.5)
    assert ledger.convert("ann")  # ordered later, booked at 100.5 under "on"
    assert not ledger.convert("ann")  # one order per exposure
    assert not ledger.convert("carl")  # never saw a checkout page
    found = ledger.intervals(100.0, 102.0, 1.0, canary="on", control="off", now=110.0)
    assert found == [
        {
            "start": 100.0,
            "end": 101.0,
            "canary": {"requests": 1, "conversions": 1},
            "control": {"requests": 0, "conversions": 0},
        },
        {
            "start": 101.0,
            "end": 102.0,
            "canary": {"requests": 0, "conversions": 0},
            "control": {"requests": 1, "conversions": 0},
        },
    ]


def test_steps_still_filling_up_are_left_for_later() -> None:
    ledger = ConversionLedger()
    ledger.expose("ann", "on", at=100.2)
    ledger.expose("bob", "on", at=103.2)
    found = ledger.intervals(100.0, 104.0, 2.0, canary="on", control="off", now=104.0, settle=1.5)
    assert [(i["start"], i["end"]) for i in found] == [(100.0, 102.0)]


def test_empty_steps_are_left_out() -> None:
    ledger = ConversionLedger()
    ledger.expose("ann", "off", at=104.5)
    found = ledger.intervals(100.0, 106.0, 2.0, canary="on", control="off", now=200.0)
    assert [i["start"] for i in found] == [104.0]


@settings(max_examples=60, deadline=None)
@given(
    visits=st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2", "u3", "u4"]),
            st.sampled_from(["on", "off"]),
            st.floats(min_value=0.0, max_value=29.9),
            st.booleans(),
        ),
        max_size=40,
    ),
    step=st.sampled_from([0.5, 1.0, 2.0, 3.0]),
)
def test_the_command_source_accepts_every_answer(
    visits: list[tuple[str, str, float, bool]], step: float
) -> None:
    ledger = ConversionLedger()
    for user, variant, at, orders in sorted(visits, key=lambda v: v[2]):
        ledger.expose(user, variant, at=1000.0 + at)
        if orders:
            ledger.convert(user)
    found = ledger.intervals(1000.0, 1030.0, step, canary="on", control="off", now=2000.0)
    # The metric source parses and checks it: intervals inside the window, conversions never
    # above exposures, in each arm and step.
    intervals = parse_output(json.dumps({"intervals": found}), Steps(1000.0, 1030.0, step), "conv")
    assert sum(i.canary.requests + i.control.requests for i in intervals) == len(visits)
