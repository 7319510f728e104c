"""Statements run on the driver's cursor (storage/driver.py) read and fail as through SQLAlchemy:
the same values back (UTC datetimes, JSON, booleans), the same exceptions, the same listeners."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import event, insert, select
from sqlalchemy import exc as sa_exc

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import Conflict
from brokerplane.core.group.model import Group
from brokerplane.storage import driver
from brokerplane.storage import tables as t
from brokerplane.storage.repositories.accounts import _ACCOUNT_BY_LOGIN


def test_an_account_reads_back_as_sqlalchemy_reads_it(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    opened = services.open_account(OpenAccount(group=usd_group.name, name="Driver Test"), admin)
    with runtime.storage.uow(write=False) as uow:
        through_driver = uow.accounts.get(opened.login)
        row = uow.connection.execute(_ACCOUNT_BY_LOGIN, {"b_login": opened.login}).first()
        assert row is not None
        through_sqlalchemy = uow.accounts._to(row)
    assert through_driver == through_sqlalchemy
    assert through_driver is not None
    registered = through_driver.registered_at
    assert registered is not None and registered.tzinfo is not None
    assert isinstance(through_driver.swap_free, bool)


def test_a_driver_error_is_sqlalchemys_and_is_counted_and_listeners_are_told(
    runtime: Runtime,
) -> None:
    duplicate = driver.Statement(insert(t.currencies), ["code", "digits"])
    told: list[str] = []
    errors: list[Any] = []

    def seen(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        told.append(statement)

    def failed(context: Any) -> None:
        errors.append(context)

    engine = runtime.storage.engine
    event.listen(engine, "before_cursor_execute", seen)
    event.listen(engine, "handle_error", failed)
    try:
        with runtime.storage.uow() as uow:
            duplicate.run(uow.connection, {"code": "ZZZ", "digits": 2})
            with pytest.raises(sa_exc.IntegrityError):
                duplicate.run(uow.connection, {"code": "ZZZ", "digits": 2})
        with pytest.raises(Conflict), runtime.storage.uow() as uow:  # as the unit of work says it
            duplicate.run(uow.connection, {"code": "ZZY", "digits": 2})
            duplicate.run(uow.connection, {"code": "ZZY", "digits": 2})
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        event.remove(engine, "handle_error", failed)
    assert sum("INSERT INTO currencies" in s for s in told) == 4
    assert len(errors) == 2


def test_a_group_reads_back_as_sqlalchemy_reads_it(runtime: Runtime, usd_group: Group) -> None:
    with runtime.storage.uow(write=False) as uow:
        through_driver = uow.groups.get(usd_group.name)
        row = uow.connection.execute(
            select(t.groups).where(t.groups.c.name == usd_group.name)
        ).first()
        assert row is not None
        assert through_driver == Group(**dict(row._mapping))
        assert uow.groups.get("no such group") is None
    assert through_driver is not None and through_driver.created_at is not None
    assert through_driver.created_at.tzinfo is not None


def test_statements_run_again_keep_each_runs_own_values(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    """An account insert has more parameters than psycopg keeps a conversion for; the driver
    keeps it: each opening still stores its own values, in their own columns."""
    opened = [
        services.open_account(
            OpenAccount(
                group=usd_group.name,
                name=f"Holder {n}",
                leverage=100 + n,
                profile={"email": f"h{n}@example.com", "city": f"City {n}", "agent": n},
            ),
            admin,
        )
        for n in range(1, 5)
    ]
    with runtime.storage.uow(write=False) as uow:
        for n, account in enumerate(opened, start=1):
            stored = uow.accounts.get(account.login)
            assert stored is not None
            assert (stored.name, stored.leverage, stored.email, stored.city, stored.agent) == (
                f"Holder {n}",
                100 + n,
                f"h{n}@example.com",
                f"City {n}",
                n,
            )
