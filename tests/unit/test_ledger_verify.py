"""Verifying the ledger over the fakes: cached figures against the entries, and every entry
tied to the audit record that posted it."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.errors import InsufficientFunds, InvalidAmount
from brokerplane.core.group.model import Group
from brokerplane.core.ledger import integrity
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import EntryClaim, EntryFacts, FigureMismatch
from tests.unit import ledger_support
from tests.unit.fakes import FakeUowFactory
from tests.unit.ledger_support import _post

# The ledger tests' fixtures (tests/unit/ledger_support.py).
account = ledger_support.account


# --- verify ----------------------------------------------------------------------------------


def _busy_day(services: Application, admin: Actor) -> list[int]:
    """Many operations over three accounts, some refused half-way."""
    logins = [
        services.open_account(OpenAccount(group="real\\standard"), admin).login for _ in range(3)
    ]
    for i, login in enumerate(logins):
        _post(services, login, "deposit", f"{1000 + i}.{i:02d}")
        _post(services, login, "credit", "250")
        _post(services, login, "bonus", "75.5")
        _post(services, login, "withdrawal", "99.99")
        _post(services, login, "correction", "-0.01")
        _post(services, login, "correction", "3.33")
        _post(services, login, "charge", "1.5")
        _post(services, login, "credit", "-50")
        _post(services, login, "bonus_out", "5.5")
        with pytest.raises(InsufficientFunds):
            _post(services, login, "withdrawal", "1000000")
        with pytest.raises(InvalidAmount):
            _post(services, login, "deposit", "0.001")
    return logins


def test_verify_finds_nothing_after_many_operations(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    _busy_day(services, admin)
    services.open_account(OpenAccount(group="real\\standard"), admin)  # no entries at all

    assert services.verify_ledger() == []


def test_verify_finds_nothing_on_an_empty_server(services: Application) -> None:
    assert services.verify_ledger() == []


def test_verify_finds_a_cached_balance_edited_behind_the_ledgers_back(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    logins = _busy_day(services, admin)
    tampered = uows.state.accounts[logins[1]]
    honest = tampered.balance
    tampered.balance += 1  # simulated tampering with the cached figure

    assert services.verify_ledger() == [
        FigureMismatch(logins[1], "balance", honest + 1, honest, "USD", 2)
    ]


def test_verify_names_each_figure_that_disagrees(
    services: Application, admin: Actor, usd_group: Group, uows: FakeUowFactory
) -> None:
    logins = _busy_day(services, admin)
    uows.state.accounts[logins[0]].bonus = 0
    uows.state.accounts[logins[2]].credit += 100

    found = services.verify_ledger()

    assert [(m.login, m.figure) for m in found] == [(logins[0], "bonus"), (logins[2], "credit")]
    assert found[0].cached == 0 and found[0].ledger == 7000
    assert found[1].cached - found[1].ledger == 100


def test_verify_finds_a_deleted_entry(
    services: Application, admin: Actor, account: Account, uows: FakeUowFactory
) -> None:
    _post(services, account.login, "deposit", "10")
    _post(services, account.login, "deposit", "5")
    del uows.state.ledger[0]  # simulated tampering with the ledger itself

    assert services.verify_ledger() == [
        FigureMismatch(account.login, "balance", 1500, 500, "USD", 2)
    ]


def test_verify_finds_a_balance_on_an_account_with_no_entries(
    services: Application, account: Account, uows: FakeUowFactory
) -> None:
    uows.state.accounts[account.login].balance = 100

    assert services.verify_ledger() == [FigureMismatch(account.login, "balance", 100, 0, "USD", 2)]


def test_every_entry_posted_is_tied_to_the_audit_record_that_posted_it(
    services: Application, admin: Actor, account: Account
) -> None:
    for operation, amount in (("deposit", "100"), ("credit", "5"), ("withdrawal", "30")):
        services.post_ledger_entry(PostLedgerEntry(account.login, operation, amount), admin)  # type: ignore[arg-type]  # text the core reads

    report = services.audit_ledger()

    assert (report.ok, report.entries, report.accounts) == (True, 3, 1)


def _facts(entry_id: int, amount: int = 100) -> EntryFacts:
    return EntryFacts(entry_id, 7, "deposit", amount, 100, 0, 0)


def _claim(record_id: int, entry_id: int | None, amount: int = 100) -> EntryClaim:
    return EntryClaim(record_id, entry_id, "7", "deposit", amount, amount, 0, 0)


def test_entries_and_records_far_out_of_step_still_pair_up() -> None:
    entries = [_facts(i) for i in range(1, 50)]
    claims = [_claim(100 + i, i) for i in reversed(range(1, 50))]

    assert list(integrity.check_entries(entries, claims, chunk=4)) == []


def test_an_entry_without_a_record_a_record_twice_and_a_record_of_nothing_are_all_named() -> None:
    entries = [_facts(1), _facts(2), _facts(3, amount=999)]
    claims = [_claim(10, 1), _claim(11, 1), _claim(12, 3), _claim(13, 4), _claim(14, None)]

    found = list(integrity.check_entries(entries, claims, chunk=2))

    reasons = sorted(p.reason for p in found)
    assert len(found) == 5
    assert any("entry 1 is named by more than one audit record (again by 11)" in r for r in reasons)
    assert any("entry 2 on account 7 (deposit 100) has no audit record" in r for r in reasons)
    assert any(
        "entry 3 on account 7: amount 999, its audit record 12 says 100" in r for r in reasons
    )
    assert any(
        "audit record 13 names entry 4 on account 7, which is not in the ledger" in r
        for r in reasons
    )
    assert any("audit record 14 posts money but names no ledger entry" in r for r in reasons)
