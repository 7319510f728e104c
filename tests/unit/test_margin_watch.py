"""The risk pass's rules: how a margin level is classed against a group's levels (at the level
counts as crossed, as the margin-call report has it), and which change of class is which
event."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokerplane.core.events.model import TYPES, derive
from brokerplane.core.group.model import Group
from brokerplane.core.trading import watch

GROUP = Group(name="real", currency="USD", margin_call=Decimal("100"), stop_out=Decimal("50"))


@pytest.mark.parametrize(
    ("level", "state"),
    [
        (None, "ok"),  # no margin in use
        (Decimal("1000.00"), "ok"),
        (Decimal("100.01"), "ok"),
        (Decimal("100.00"), "margin_call"),
        (Decimal("50.01"), "margin_call"),
        (Decimal("50.00"), "stop_out"),
        (Decimal("-3.00"), "stop_out"),  # equity below zero
    ],
)
def test_a_level_at_a_groups_level_has_crossed_it(level: Decimal | None, state: str) -> None:
    assert watch.classify(level, GROUP) == state


def test_each_change_of_class_is_its_event_and_none_for_stop_out_to_margin_call() -> None:
    kinds = {}
    for (before, after), action in watch.ACTIONS.items():
        events = derive(
            action, "100000", {"state": before}, {"login": 100000, "state": after, "group": "real"}
        )
        kinds[(before, after)] = [e.type for e in events]
        assert all(e.type in TYPES and e.login == 100000 and e.group == "real" for e in events)
    assert kinds == {
        ("ok", "margin_call"): ["account.margin_call"],
        ("ok", "stop_out"): ["account.stop_out"],
        ("margin_call", "stop_out"): ["account.stop_out"],
        ("margin_call", "ok"): ["account.margin_restored"],
        ("stop_out", "ok"): ["account.margin_restored"],
        ("stop_out", "margin_call"): [],
    }
