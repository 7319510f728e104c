"""A command that also runs another needs that one's scopes too, checked up front and before
a stored answer is replayed: an opening with a starting balance posts a deposit."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.application.idempotency import IdempotentRequest, Replay
from brokerplane.core.account.commands import OpenAccount, OpenFundedAccount
from brokerplane.core.actor import Actor, parts_of
from brokerplane.core.errors import MissingScope
from brokerplane.core.group.model import Group
from tests.unit.fakes import FakeUowFactory

OPENER = frozenset({"users:write", "users:read"})
FUNDER = OPENER | {"balances:write"}


def _funded(balance_minor: int = 10_000) -> OpenFundedAccount:
    return OpenFundedAccount(OpenAccount(group="real\\standard"), balance_minor, "welcome")


def test_an_opening_with_a_balance_needs_the_deposit_scope_too(
    services: Application, usd_group: Group, uows: FakeUowFactory
) -> None:
    opener = Actor(manager_login=1001, scopes=OPENER)
    assert not opener.may(_funded())
    with pytest.raises(MissingScope):
        services.run(_funded(), opener)
    assert uows.state.accounts == {}  # refused before anything was opened
    assert opener.may(_funded(0))  # without a balance it is an opening alone
    opened = services.run(_funded(0), opener)
    assert not isinstance(opened, Replay) and opened.balance == 0  # minor units


def test_a_replay_is_refused_once_the_deposit_scope_is_gone(
    services: Application, usd_group: Group
) -> None:
    request = IdempotentRequest("manager:1001", "open-1", "fp")
    first = services.run(_funded(), Actor(manager_login=1001, scopes=FUNDER), request)
    assert not isinstance(first, Replay)
    again = services.run(_funded(), Actor(manager_login=1001, scopes=FUNDER), request)
    assert isinstance(again, Replay)
    with pytest.raises(MissingScope):
        services.run(_funded(), Actor(manager_login=1001, scopes=OPENER), request)


def test_a_class_alone_names_no_parts() -> None:
    assert parts_of(OpenFundedAccount) == ()
    assert [c.__name__ for c in parts_of(_funded())] == ["PostLedgerEntry"]
