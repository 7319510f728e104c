"""The audit trail over the fakes: what each write records; the hash chain catches tampering."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.commands import (
    DisableAccount,
    EnableAccount,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import GENESIS_HASH, AuditRecord
from brokerplane.core.audit.service import verify_chain
from brokerplane.core.errors import ValidationError
from brokerplane.core.group.commands import CreateGroup, UpdateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.symbol.commands import CreateSymbol
from tests.unit.fakes import FakeClock, FakeUowFactory

OPERATOR = Actor(
    manager_login=42,
    scopes=frozenset({"admin"}),
    key_id="key-7",
    operator_id="alice@backoffice",
    request_id="req-0001",
    dialect=Dialect.NATIVE,
    ip="203.0.113.9",
)


def _history(services: Application, login: int) -> list[AuditRecord]:
    return services.account_history(login, OPERATOR)


def _some_writes(services: Application) -> None:
    services.create_group(CreateGroup("real\\a", "USD"), OPERATOR)
    for i in range(3):
        acc = services.open_account(OpenAccount(group="real\\a", name=f"n{i}"), OPERATOR)
        services.update_account(UpdateAccount(acc.login, {"comment": f"c{i}"}), OPERATOR)


def test_opening_records_the_new_account_and_who_opened_it(
    services: Application, usd_group: Group, clock: FakeClock
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard", name="Ann"), OPERATOR)

    [rec] = _history(services, acc.login)
    assert (rec.action, rec.entity_type, rec.entity_id) == (
        "account.opened",
        "account",
        str(acc.login),
    )
    assert rec.before is None
    assert rec.after == acc.snapshot()
    assert rec.at == clock.now
    assert (
        rec.manager_login,
        rec.key_id,
        rec.operator_id,
        rec.request_id,
        rec.dialect,
        rec.ip,
    ) == (42, "key-7", "alice@backoffice", "req-0001", "native", "203.0.113.9")


def test_update_records_the_account_before_and_after(
    services: Application, usd_group: Group
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), OPERATOR)
    actor = replace(OPERATOR, request_id="req-0002", operator_id="bob")

    updated = services.update_account(UpdateAccount(acc.login, {"city": "Riga"}), actor)

    rec = _history(services, acc.login)[-1]
    assert rec.action == "account.updated"
    assert rec.before == acc.snapshot() and rec.before["city"] == ""
    assert rec.after == updated.snapshot() and rec.after["city"] == "Riga"
    assert (rec.operator_id, rec.request_id) == ("bob", "req-0002")


@pytest.mark.parametrize(
    ("write", "action", "entity_type"),
    [
        (
            lambda s, login: s.disable_account(DisableAccount(login), OPERATOR),
            "account.disabled",
            "account",
        ),
        (
            lambda s, login: s.enable_account(EnableAccount(login), OPERATOR),
            "account.enabled",
            "account",
        ),
        (
            lambda s, login: s.create_group(CreateGroup("demo\\x", "EUR"), OPERATOR),
            "group.created",
            "group",
        ),
        (
            lambda s, login: s.update_group(
                UpdateGroup("real\\standard", {"company": "B"}), OPERATOR
            ),
            "group.updated",
            "group",
        ),
        (
            lambda s, login: s.create_symbol(
                CreateSymbol(
                    "EURUSD",
                    {"currency_base": "EUR", "currency_profit": "USD", "currency_margin": "EUR"},
                ),
                OPERATOR,
            ),
            "symbol.created",
            "symbol",
        ),
        (
            lambda s, login: s.create_manager(CreateManager(9001), OPERATOR),
            "manager.created",
            "manager",
        ),
    ],
    ids=["disable", "enable", "create-group", "update-group", "create-symbol", "create-manager"],
)
def test_every_write_appends_one_record_naming_the_actor(
    services: Application,
    usd_group: Group,
    uows: FakeUowFactory,
    write: Callable[[Application, int], object],
    action: str,
    entity_type: str,
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), OPERATOR)
    if action == "account.enabled":
        services.disable_account(DisableAccount(acc.login), OPERATOR)
    before = len(uows.state.audit)

    write(services, acc.login)

    [rec] = uows.state.audit[before:]
    assert (rec.action, rec.entity_type) == (action, entity_type)
    assert rec.after is not None
    assert (rec.before is None) == action.endswith("created")
    assert (rec.manager_login, rec.operator_id, rec.request_id) == (
        42,
        "alice@backoffice",
        "req-0001",
    )


def test_audit_records_never_hold_passwords_or_key_secrets(
    services: Application, usd_group: Group, uows: FakeUowFactory
) -> None:
    services.open_account(
        OpenAccount(
            group="real\\standard",
            main_password="1Ar#pqkj",
            investor_password="2Bs$qrlk",
            phone_password="phone-secret",
        ),
        OPERATOR,
    )
    services.create_manager(CreateManager(9001, password="manager-secret"), OPERATOR)
    issued = services.create_api_key(CreateApiKey(9001, frozenset({"users:read"})), OPERATOR)

    dump = json.dumps([[r.before, r.after] for r in uows.state.audit], default=str)

    for secret in (
        "1Ar#pqkj",
        "2Bs$qrlk",
        "phone-secret",
        "manager-secret",
        issued.secret,
        "pbkdf2_sha256",
        issued.key.secret_hash,
    ):
        assert secret not in dump
    opened = uows.state.audit[1].after
    assert opened is not None
    assert (opened["main_password"], opened["investor_password"], opened["phone_password"]) == (
        "set",
        "set",
        "set",
    )


def test_a_refused_command_appends_no_record(
    services: Application, usd_group: Group, uows: FakeUowFactory
) -> None:
    before = len(uows.state.audit)

    with pytest.raises(ValidationError):
        services.open_account(OpenAccount(group="real\\standard", leverage=10_000), OPERATOR)

    assert len(uows.state.audit) == before


def test_records_are_numbered_and_chained_in_commit_order(
    services: Application, uows: FakeUowFactory
) -> None:
    _some_writes(services)

    records = uows.state.audit
    assert [r.id for r in records] == list(range(1, len(records) + 1))
    assert records[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(records))


def test_untouched_chain_verifies(services: Application, uows: FakeUowFactory) -> None:
    _some_writes(services)

    report = services.verify_audit()

    assert (report.ok, report.records, report.first_bad_id) == (True, 7, None)


def test_empty_chain_verifies(services: Application) -> None:
    report = services.verify_audit()

    assert (report.ok, report.records) == (True, 0)


def test_chain_with_an_edited_record_fails_at_that_record(
    services: Application, uows: FakeUowFactory
) -> None:
    _some_writes(services)
    edited = uows.state.audit[3]
    assert edited.after is not None
    edited.after["comment"] = "forged"

    report = services.verify_audit()

    assert not report.ok
    assert report.first_bad_id == edited.id
    assert "edited" in report.reason


@pytest.mark.parametrize("attribute", ["operator_id", "request_id", "action", "at"])
def test_chain_notices_an_edit_of_any_protected_attribute(
    services: Application, uows: FakeUowFactory, attribute: str
) -> None:
    _some_writes(services)
    rec = uows.state.audit[2]
    forged = {
        "operator_id": "mallory",
        "request_id": "req-x",
        "action": "account.viewed",
        "at": rec.at.replace(year=2020),
    }[attribute]
    setattr(rec, attribute, forged)

    report = verify_chain(uows.state.audit)

    assert (report.ok, report.first_bad_id) == (False, rec.id)


def test_chain_with_a_deleted_record_fails_at_the_next_one(
    services: Application, uows: FakeUowFactory
) -> None:
    _some_writes(services)
    deleted = uows.state.audit.pop(2)

    report = services.verify_audit()

    assert not report.ok
    assert report.first_bad_id == deleted.id + 1
    assert "deleted" in report.reason


def test_chain_with_the_newest_record_deleted_fails_against_the_head(
    services: Application, uows: FakeUowFactory
) -> None:
    _some_writes(services)
    newest = uows.state.audit.pop()

    report = services.verify_audit()

    assert not report.ok
    assert report.first_bad_id == newest.id
    assert "deleted" in report.reason


def test_chain_rehashed_after_an_edit_still_fails_at_the_following_record(
    services: Application, uows: FakeUowFactory
) -> None:
    _some_writes(services)
    rec = uows.state.audit[2]
    rec.operator_id = "mallory"
    rec.seal(rec.prev_hash)  # the forger recomputes this record's hash, not its successors'

    report = services.verify_audit()

    assert (report.ok, report.first_bad_id) == (False, rec.id + 1)


def test_a_record_beyond_the_head_is_reported_as_inserted(
    services: Application, uows: FakeUowFactory
) -> None:
    # verify reads the head and the records in one snapshot, so anything past the head was
    # written without going through the log (which moves the head in the same transaction)
    _some_writes(services)
    records = list(uows.state.audit)
    head = (records[4].id, records[4].hash)

    report = verify_chain(records, head)

    assert (report.ok, report.first_bad_id) == (False, records[5].id)
    assert "inserted" in report.reason


def test_reordered_records_fail_the_chain(services: Application, uows: FakeUowFactory) -> None:
    _some_writes(services)
    records = list(uows.state.audit)
    records[2], records[3] = records[3], records[2]

    report = verify_chain(records)

    assert (report.ok, report.first_bad_id) == (False, records[2].id)


def test_a_record_repeated_out_of_order_fails_the_chain(
    services: Application, uows: FakeUowFactory
) -> None:
    _some_writes(services)
    records = list(uows.state.audit)
    records.insert(3, records[1])

    report = verify_chain(records)

    assert (report.ok, report.first_bad_id) == (False, records[1].id)
    assert "out of order" in report.reason


def test_a_record_sealed_with_a_time_in_another_zone_verifies_once_stored_in_utc() -> None:
    at = datetime(2026, 1, 1, 3, 0, 0, 1, tzinfo=timezone(timedelta(hours=3)))
    rec = AuditRecord("account.opened", "account", "1", None, {"a": 1}, at, id=1)
    rec.seal(GENESIS_HASH)

    stored = replace(rec, at=at.astimezone(UTC))  # what storage hands back

    assert verify_chain([stored]).ok
