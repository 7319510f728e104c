"""The fakes behave like a transaction: the unit tests' conclusions rest on these facts."""

from __future__ import annotations

import inspect
from dataclasses import replace
from typing import get_type_hints

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import ApprovalThreshold
from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.errors import Conflict
from brokerplane.core.group.model import Group
from brokerplane.core.idempotency import IdempotencyStore
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from brokerplane.core.ports import UnitOfWork, UnitOfWorkFactory
from tests.unit.fakes import FakeClock, FakeUowFactory, ReadOnlyViolation


def test_fake_factory_satisfies_the_port(uows: FakeUowFactory) -> None:
    port: UnitOfWorkFactory = uows
    with port(write=False) as uow:
        assert uow.audit.head() == (0, "0" * 64)


def test_changes_left_without_commit_are_discarded(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
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
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
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
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)

    acc.comment = "mutated after the fact"
    acc.attributes["k"] = "v"

    stored = uows.state.accounts[acc.login]
    assert (stored.comment, stored.attributes) == ("", {})


def test_writing_through_a_read_only_unit_of_work_is_caught(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)

    with uows(write=False) as uow, pytest.raises(ReadOnlyViolation):
        uow.accounts.update(uow.accounts.get(acc.login))  # type: ignore[arg-type]


def _port_methods(protocol: type) -> dict[str, inspect.Signature]:
    return {
        name: inspect.signature(member)
        for name, member in vars(protocol).items()
        if callable(member) and not name.startswith("_")
    }


def _repositories() -> list[tuple[str, type]]:
    """Every repository the UnitOfWork port names, with the protocol it must satisfy."""
    found = []
    for name, member in vars(UnitOfWork).items():
        if isinstance(member, property) and member.fget is not None:
            found.append((name, get_type_hints(member.fget)["return"]))
    return found


def test_the_port_names_every_repository_the_money_rules_use() -> None:
    names = {name for name, _ in _repositories()}

    assert {"ledger", "approvals", "thresholds", "idempotency"} <= names
    assert dict(_repositories())["idempotency"] is IdempotencyStore


@pytest.mark.parametrize(
    ("name", "protocol"), _repositories(), ids=lambda v: getattr(v, "__name__", v)
)
def test_each_fake_repository_has_every_port_method_with_the_same_parameters(
    uows: FakeUowFactory, name: str, protocol: type
) -> None:
    with uows(write=False) as uow:
        repo = getattr(uow, name)

    for method, wanted in _port_methods(protocol).items():
        have = inspect.signature(getattr(repo, method))
        expected = [(p.name, p.kind) for p in wanted.parameters.values() if p.name != "self"]
        assert [(p.name, p.kind) for p in have.parameters.values()] == expected, method


def test_figures_set_without_commit_are_discarded(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory, clock: FakeClock
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)

    with uows() as uow:
        uow.accounts.set_figures(acc.login, 100, 20, 3, clock())
        loaded = uow.accounts.get(acc.login)
        assert loaded is not None and (loaded.balance, loaded.credit, loaded.bonus) == (100, 20, 3)

    stored = uows.state.accounts[acc.login]
    assert (stored.balance, stored.credit, stored.bonus) == (0, 0, 0)


def test_ledger_ids_count_up_from_one_and_a_rolled_back_id_is_handed_out_again(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory, clock: FakeClock
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    entry = LedgerEntry(acc.login, "deposit", 100, 100, 0, 0, "USD", 2, clock())

    with uows() as uow:
        assert uow.ledger.add(replace(entry)).id == 1
        uow.commit()
    with uows() as uow:
        assert uow.ledger.add(replace(entry)).id == 2  # never committed
    with uows() as uow:
        assert uow.ledger.add(replace(entry)).id == 2
        assert [e.id for e in uow.ledger.list(LedgerQuery())] == [1, 2]


def test_a_ledger_entry_for_a_missing_account_breaks_the_foreign_key(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    entry = LedgerEntry(123, "deposit", 100, 100, 0, 0, "USD", 2, clock())

    with uows() as uow, pytest.raises(Conflict):
        uow.ledger.add(entry)


def test_thresholds_come_back_with_their_group_name_joined(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory, clock: FakeClock
) -> None:
    with uows() as uow:
        uow.thresholds.put(ApprovalThreshold("USD", 500, group_id=usd_group.id, group="stale"))
        uow.thresholds.put(ApprovalThreshold("USD", 900))
        uow.commit()

    with uows(write=False) as uow:
        listed = uow.thresholds.list()

    assert [(t.group_id, t.group) for t in listed] == [(0, None), (usd_group.id, "real\\standard")]


def test_audit_query_reads_only_committed_records(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory, clock: FakeClock
) -> None:
    record = AuditRecord("x.done", "x", "1", None, None, clock())

    with uows() as uow:
        uow.audit.append(record)
        assert uow.audit.query(AuditQuery(action="x.")) == []
        uow.commit()
        assert [r.action for r in uow.audit.query(AuditQuery(action="x."))] == ["x.done"]


def test_a_write_through_a_read_only_unit_of_work_is_caught_in_the_new_repositories(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    with uows(write=False) as uow:
        for write in (
            lambda: uow.thresholds.delete("USD", 0),
            lambda: uow.idempotency.purge(clock()),
            lambda: uow.accounts.set_figures(1, 0, 0, 0, clock()),
        ):
            with pytest.raises(ReadOnlyViolation):
                write()
