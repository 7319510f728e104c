"""The audit trail in the database: failed commands leave nothing, tampering is reported."""

from __future__ import annotations

import pytest
from sqlalchemy import Table, func, select, text

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount, UpdateAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import AccountNotFound
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.storage import tables as t
from brokerplane.storage.uow import SqlUnitOfWork
from tests.unit.fakes import FakeClock


def _count(runtime: Runtime, table: Table) -> int:
    with runtime.storage.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _head(runtime: Runtime) -> tuple[int, str]:
    with runtime.storage.uow(write=False) as uow:
        return uow.audit.head()


def _sql(runtime: Runtime, statement: str) -> None:
    with runtime.storage.engine.begin() as conn:
        conn.execute(text(statement))


def _some_writes(services: Application, admin: Actor) -> list[int]:
    logins = []
    for i in range(3):
        acc = services.open_account(OpenAccount(group="real\\standard", name=f"n{i}"), admin)
        services.update_account(UpdateAccount(acc.login, {"comment": f"c{i}"}), admin)
        logins.append(acc.login)
    return logins


class _LostBeforeCommit:
    """A unit-of-work factory whose writers seal their audit records, then lose the
    connection before COMMIT: everything the command wrote is in the open transaction."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def __call__(self, *, write: bool = True) -> SqlUnitOfWork:
        uow = self.runtime.storage.uow(write=write)

        def commit() -> None:
            uow.audit.flush()
            raise ConnectionResetError("connection lost before COMMIT")

        uow.commit = commit  # type: ignore[method-assign]
        return uow


def test_a_command_that_fails_before_commit_leaves_no_account_and_no_record(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime, clock: FakeClock
) -> None:
    records, head = _count(runtime, t.audit_records), _head(runtime)
    failing = Application(_LostBeforeCommit(runtime), runtime.app.config, clock)

    with pytest.raises(ConnectionResetError):
        failing.open_account(OpenAccount(group="real\\standard"), admin)

    with pytest.raises(AccountNotFound):
        services.get_account(100_000, admin)
    assert _count(runtime, t.accounts) == 0
    assert (_count(runtime, t.audit_records), _head(runtime)) == (records, head)
    assert services.open_account(OpenAccount(group="real\\standard"), admin).login == 100_000
    assert services.verify_audit().ok


def test_an_update_that_fails_before_commit_leaves_the_account_as_it_was(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime, clock: FakeClock
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)
    failing = Application(_LostBeforeCommit(runtime), runtime.app.config, clock)

    with pytest.raises(ConnectionResetError):
        failing.update_account(UpdateAccount(acc.login, {"comment": "lost"}), admin)

    assert services.get_account(acc.login, admin) == acc
    assert [r.action for r in services.account_history(acc.login, admin)] == ["account.opened"]


def test_records_are_stored_chained_in_commit_order(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    _some_writes(services, admin)

    report = services.verify_audit()

    assert (report.ok, report.records) == (True, 7)


def test_audit_record_keeps_before_after_and_actor_through_storage(
    services: Application, usd_group: Group, clock: FakeClock
) -> None:
    actor = Actor(
        manager_login=2**63 - 1,
        scopes=frozenset({"admin"}),
        key_id="k" * 16,
        operator_id="ü-operator",
        request_id="req-ü-1",
        dialect=Dialect.NATIVE,
        ip="2001:db8::1",
    )
    acc = services.open_account(OpenAccount(group="real\\standard"), actor)
    updated = services.update_account(UpdateAccount(acc.login, {"city": "Zürich"}), actor)

    opened, changed = services.account_history(acc.login, actor)

    assert (opened.before, opened.after) == (None, acc.snapshot())
    assert (changed.before, changed.after) == (acc.snapshot(), updated.snapshot())
    assert (
        changed.manager_login,
        changed.key_id,
        changed.operator_id,
        changed.request_id,
        changed.dialect,
        changed.ip,
    ) == (2**63 - 1, "k" * 16, "ü-operator", "req-ü-1", "native", "2001:db8::1")
    assert changed.at == clock.now


def test_a_record_edited_with_sql_is_reported(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    _some_writes(services, admin)

    _sql(runtime, "UPDATE audit_records SET operator_id = 'mallory' WHERE id = 3")

    report = services.verify_audit()
    assert (report.ok, report.first_bad_id) == (False, 3)
    assert "edited" in report.reason


def test_a_snapshot_edited_with_sql_is_reported(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    _some_writes(services, admin)
    with runtime.storage.engine.begin() as conn:
        after = conn.execute(select(t.audit_records.c.after).where(t.audit_records.c.id == 5))
        snapshot = after.scalar_one()
        snapshot["leverage"] = 500
        conn.execute(
            t.audit_records.update().where(t.audit_records.c.id == 5).values(after=snapshot)
        )

    report = services.verify_audit()

    assert (report.ok, report.first_bad_id) == (False, 5)


def test_a_record_deleted_with_sql_is_reported(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    _some_writes(services, admin)

    _sql(runtime, "DELETE FROM audit_records WHERE id = 4")

    report = services.verify_audit()
    assert (report.ok, report.first_bad_id) == (False, 5)
    assert "deleted" in report.reason


def test_the_newest_record_deleted_with_sql_is_reported(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    _some_writes(services, admin)

    _sql(runtime, "DELETE FROM audit_records WHERE id = 7")

    report = services.verify_audit()
    assert (report.ok, report.first_bad_id) == (False, 7)
    assert "deleted" in report.reason


def test_a_record_inserted_with_sql_after_the_newest_is_reported(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    _some_writes(services, admin)
    last_id, last_hash = _head(runtime)
    _sql(
        runtime,
        "INSERT INTO audit_records (id, at, action, entity_type, entity_id, dialect, prev_hash,"
        f" hash) VALUES ({last_id + 1}, '2026-01-01 00:00:00+00:00', 'account.updated',"
        f" 'account', '100000', 'native', '{last_hash}', '{'f' * 64}')",
    )

    report = services.verify_audit()
    assert (report.ok, report.first_bad_id) == (False, last_id + 1)
    assert "inserted" in report.reason
