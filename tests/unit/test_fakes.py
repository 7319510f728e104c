"""The fakes behave like a transaction: the unit tests' conclusions rest on these facts."""

from __future__ import annotations

import pytest

from brokerplane.core.account.service import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.group.model import Group
from brokerplane.core.ports import UnitOfWorkFactory
from brokerplane.core.services import Services
from tests.unit.fakes import FakeUowFactory, ReadOnlyViolation


def test_fake_factory_satisfies_the_port(uows: FakeUowFactory) -> None:
    port: UnitOfWorkFactory = uows
    with port(write=False) as uow:
        assert uow.audit.head() == (0, "0" * 64)


def test_changes_left_without_commit_are_discarded(
    services: Services, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)

    with uows() as uow:
        loaded = uow.accounts.get(acc.login)
        assert loaded is not None
        loaded.comment = "never committed"
        uow.accounts.update(loaded)
        assert uow.accounts.get(acc.login).comment == "never committed"  # type: ignore[union-attr]

    assert services.get_account(acc.login, admin).comment == ""


def test_a_command_whose_commit_fails_leaves_no_account_and_no_record(
    services: Services, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    audit_before = list(uows.state.audit)
    uows.fail_next_commit = OSError("disk full")

    with pytest.raises(OSError):
        services.open_account(OpenAccount(group="real\\standard"), admin)

    assert uows.state.accounts == {}
    assert uows.state.audit == audit_before
    assert services.open_account(OpenAccount(group="real\\standard"), admin).login == 100_000
    assert services.verify_audit().ok


def test_objects_handed_out_are_copies(
    services: Services, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)

    acc.comment = "mutated after the fact"
    acc.attributes["k"] = "v"

    stored = uows.state.accounts[acc.login]
    assert (stored.comment, stored.attributes) == ("", {})


def test_writing_through_a_read_only_unit_of_work_is_caught(
    services: Services, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)

    with uows(write=False) as uow, pytest.raises(ReadOnlyViolation):
        uow.accounts.update(uow.accounts.get(acc.login))  # type: ignore[arg-type]
