"""The core's manager tokens over the in-memory fakes: derived, stored hashed, refused once the
password changes; issuing twice stores one row."""

from __future__ import annotations

from datetime import timedelta

import pytest

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateManager, IssueToken, UpdateManager
from brokerplane.core.access.tokens import hash_token
from brokerplane.core.actor import system_actor
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import TokenExpired, Unauthorized
from brokerplane.core.passwords import md5_hex
from tests.unit.fakes import FakeClock, FakeUowFactory


def test_tokens_are_deterministic_hashed_and_die_with_the_password() -> None:
    uow = FakeUowFactory()
    services = Application(uow, clock=FakeClock())
    admin = system_actor()
    services.create_manager(CreateManager(7, "m", "Secret#123", frozenset({"admin"})), admin)
    issue = IssueToken(7, md5_hex("Secret#123").upper(), "ctrader")
    token = services.issue_manager_token(issue, admin)
    assert services.issue_manager_token(issue, admin) == token
    assert list(uow.state.tokens) == [hash_token(token)]
    assert services.authenticate_manager_token(token, "ctrader").login == 7
    with pytest.raises(Unauthorized):
        services.authenticate_manager_token(token, "traderevolution")
    with pytest.raises(Unauthorized):
        services.issue_manager_token(IssueToken(7, md5_hex("wrong"), "ctrader"), admin)
    services.update_manager(UpdateManager(7, password="Secret#456"), admin)
    with pytest.raises(Unauthorized):
        services.authenticate_manager_token(token, "ctrader")
    fresh = services.issue_manager_token(IssueToken(7, md5_hex("Secret#456"), "ctrader"), admin)
    assert fresh != token and list(uow.state.tokens) == [hash_token(fresh)]


def test_a_token_expires_after_its_lifetime_and_a_new_one_is_issued_after_half_of_it() -> None:
    uow = FakeUowFactory()
    clock = FakeClock()
    services = Application(uow, CoreConfig(manager_token_ttl=timedelta(hours=2)), clock=clock)
    admin = system_actor()
    services.create_manager(CreateManager(7, "m", "Secret#123", frozenset({"admin"})), admin)
    issue = IssueToken(7, md5_hex("Secret#123"), "ctrader")
    token = services.issue_manager_token(issue, admin)
    clock.advance(minutes=59)
    assert services.issue_manager_token(issue, admin) == token
    clock.advance(minutes=2)
    newer = services.issue_manager_token(issue, admin)
    assert newer != token and len(uow.state.tokens) == 2
    clock.advance(minutes=60)
    with pytest.raises(TokenExpired):
        services.authenticate_manager_token(token, "ctrader")
    assert services.authenticate_manager_token(newer, "ctrader").login == 7
    services.update_manager(UpdateManager(7, enabled=False), admin)
    assert uow.state.tokens == {}
