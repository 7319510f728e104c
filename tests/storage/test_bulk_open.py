"""Opening accounts in a batch on SQLite and PostgreSQL: rows, logins, audit chain, atomicity."""

from __future__ import annotations

from dataclasses import replace

import pytest

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.cli.demo import load_demo, open_demo_accounts
from brokerplane.core.account.commands import ListAccounts, OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import Conflict, LoginAlreadyExists, ValidationError
from brokerplane.core.group.model import Group

GROUP = "real\\standard"


def _logins(services: Application, admin: Actor) -> list[int]:
    return [a.login for a in services.list_accounts(ListAccounts(limit=1000), admin)]


def test_a_stored_batch_reads_back_like_accounts_opened_one_by_one(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    one = services.open_account(OpenAccount(group=GROUP, name="single"), admin)
    profile = {"email": "ann@example.com", "country": "Cyprus", "attributes": {"kyc": "ok"}}
    cmds = [OpenAccount(group=GROUP, name=f"client {n}", profile=profile) for n in range(5)]

    opened = services.open_accounts(cmds, admin)

    assert [a.login for a in opened] == [one.login + n for n in range(1, 6)]
    stored = services.get_account(opened[3].login, admin)
    assert (stored.name, stored.email, stored.country) == ("client 3", "ann@example.com", "Cyprus")
    assert stored.attributes == {"kyc": "ok"}
    assert stored.registered_at is not None
    history = services.account_history(opened[3].login, admin)
    assert [r.action for r in history] == ["account.opened"]
    assert services.verify_audit().ok


def test_a_refused_batch_leaves_no_row_and_no_audit_record(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    before = services.verify_audit().records
    cmds = [OpenAccount(group=GROUP) for _ in range(3)]
    cmds.append(replace(cmds[0], profile={"email": "no at sign"}))

    with pytest.raises(ValidationError):
        services.open_accounts(cmds, admin)

    assert _logins(services, admin) == []
    report = services.verify_audit()
    assert report.ok and report.records == before


def test_an_explicit_login_taken_in_storage_refuses_the_batch(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    services.open_account(OpenAccount(group=GROUP, login=777), admin)

    with pytest.raises(LoginAlreadyExists):
        services.open_accounts([OpenAccount(group=GROUP), OpenAccount(GROUP, login=777)], admin)

    assert _logins(services, admin) == [777]


def test_add_many_refuses_a_login_already_stored(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    stored = services.open_account(OpenAccount(group=GROUP), admin)
    copy = replace(services.get_account(stored.login, admin), attributes={})

    with pytest.raises(Conflict), runtime.storage.uow(write=True) as uow:
        uow.accounts.add_many([copy])


def test_demo_accounts_open_in_batches_with_consecutive_logins(runtime: Runtime) -> None:
    load_demo(runtime)
    seen: list[int] = []

    logins = open_demo_accounts(runtime, 7, batch=3, on_opened=seen.append)

    assert seen == [3, 6, 7]
    assert logins == list(range(logins[0], logins[0] + 7))
    assert runtime.app.verify_audit().ok
    assert runtime.app.verify_ledger() == []
