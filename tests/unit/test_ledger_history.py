"""Ledger history over the fakes: filters, time windows, paging, the scopes that may read it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.errors import AccountNotFound, MissingScope, ValidationError
from brokerplane.core.group.model import Group
from brokerplane.core.ledger import service as ledger_service
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from tests.unit import ledger_support
from tests.unit.fakes import FakeClock
from tests.unit.ledger_support import REPORTER, TELLER, _post

# The ledger tests' fixtures (tests/unit/ledger_support.py).
account = ledger_support.account


# --- history ---------------------------------------------------------------------------------


@pytest.fixture
def history(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> tuple[int, int]:
    """Two accounts; six entries an hour apart, alternating accounts."""
    a = services.open_account(OpenAccount(group="real\\standard"), admin).login
    b = services.open_account(OpenAccount(group="real\\standard"), admin).login
    for login, operation, amount, ref in [
        (a, "deposit", "100", "A-1"),
        (b, "deposit", "200", "B-1"),
        (a, "credit", "10", "A-2"),
        (b, "withdrawal", "20", "B-2"),
        (a, "withdrawal", "30", "X"),
        (b, "bonus", "5", "X"),
    ]:
        _post(services, login, operation, amount, reference=ref)
        clock.advance(hours=1)
    return a, b


def _kinds(entries: list[LedgerEntry]) -> list[tuple[int, str]]:
    return [(e.login, e.kind) for e in entries]


def test_history_lists_every_entry_oldest_first(
    services: Application, history: tuple[int, int]
) -> None:
    a, b = history

    entries = services.list_ledger(LedgerQuery(), TELLER)

    assert _kinds(entries) == [
        (a, "deposit"),
        (b, "deposit"),
        (a, "credit_in"),
        (b, "withdrawal"),
        (a, "withdrawal"),
        (b, "bonus_in"),
    ]
    assert [e.id for e in entries] == sorted(e.id for e in entries)


def test_history_filters_by_login(services: Application, history: tuple[int, int]) -> None:
    a, _ = history

    entries = services.list_ledger(LedgerQuery(login=a), TELLER)

    assert _kinds(entries) == [(a, "deposit"), (a, "credit_in"), (a, "withdrawal")]
    assert [e.balance_after for e in entries] == [10000, 10000, 7000]


def test_history_filters_by_kinds(services: Application, history: tuple[int, int]) -> None:
    a, b = history

    entries = services.list_ledger(LedgerQuery(kinds=("withdrawal", "bonus_in")), TELLER)

    assert _kinds(entries) == [(b, "withdrawal"), (a, "withdrawal"), (b, "bonus_in")]


def test_history_filters_by_reference(services: Application, history: tuple[int, int]) -> None:
    a, b = history

    entries = services.list_ledger(LedgerQuery(reference="X"), TELLER)

    assert _kinds(entries) == [(a, "withdrawal"), (b, "bonus_in")]


def test_history_time_window_includes_its_start_and_excludes_its_end(
    services: Application, history: tuple[int, int], clock: FakeClock
) -> None:
    a, b = history
    first = clock.now - timedelta(hours=6)

    entries = services.list_ledger(
        LedgerQuery(time_from=first + timedelta(hours=1), time_to=first + timedelta(hours=3)),
        TELLER,
    )

    assert _kinds(entries) == [(b, "deposit"), (a, "credit_in")]


def test_history_filters_combine(services: Application, history: tuple[int, int]) -> None:
    a, _ = history

    entries = services.list_ledger(
        LedgerQuery(login=a, kinds=("withdrawal",), reference="X"), TELLER
    )

    assert _kinds(entries) == [(a, "withdrawal")]


def test_history_pages_after_the_last_id_seen(
    services: Application, history: tuple[int, int]
) -> None:
    every = services.list_ledger(LedgerQuery(), TELLER)

    first = services.list_ledger(LedgerQuery(limit=4), TELLER)
    rest = services.list_ledger(LedgerQuery(after_id=first[-1].id, limit=4), TELLER)
    beyond = services.list_ledger(LedgerQuery(after_id=rest[-1].id, limit=4), TELLER)

    assert [e.id for e in first + rest] == [e.id for e in every]
    assert (len(first), len(rest), beyond) == (4, 2, [])


def test_iterating_history_walks_every_page(
    services: Application, history: tuple[int, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger_service, "MAX_PAGE", 2)
    a, _ = history

    assert len(list(services.iter_ledger(LedgerQuery(), TELLER))) == 6
    assert _kinds(list(services.iter_ledger(LedgerQuery(login=a), TELLER))) == [
        (a, "deposit"),
        (a, "credit_in"),
        (a, "withdrawal"),
    ]


def test_reporting_keys_may_read_history(services: Application, history: tuple[int, int]) -> None:
    assert len(services.list_ledger(LedgerQuery(), REPORTER)) == 6


def test_reading_history_needs_balances_write_or_reports_read(
    services: Application, history: tuple[int, int]
) -> None:
    reader = Actor(manager_login=1004, scopes=frozenset({"users:read", "balances:approve"}))

    with pytest.raises(MissingScope) as caught:
        services.list_ledger(LedgerQuery(), reader)

    assert caught.value.context == {"scope": "balances:write or reports:read"}


@pytest.mark.parametrize(
    ("query", "field"),
    [
        (LedgerQuery(limit=0), "limit"),
        (LedgerQuery(limit=1001), "limit"),
        (LedgerQuery(kinds=("deposit", "transfer")), "kind"),
        (LedgerQuery(kinds=("credit",)), "kind"),
        (LedgerQuery(reference="r" * 128), "reference"),
        (LedgerQuery(login=0), "login"),
    ],
)
def test_a_history_query_with_a_bad_filter_is_refused(
    services: Application, history: tuple[int, int], query: LedgerQuery, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.list_ledger(query, TELLER)

    assert [f.field for f in caught.value.fields] == [field]


def test_the_largest_history_page_is_allowed(
    services: Application, history: tuple[int, int]
) -> None:
    assert len(services.list_ledger(LedgerQuery(limit=1000), TELLER)) == 6


def test_history_of_an_unknown_login_is_account_not_found(
    services: Application, history: tuple[int, int]
) -> None:
    with pytest.raises(AccountNotFound):
        services.list_ledger(LedgerQuery(login=999_999), TELLER)


def test_history_of_an_account_without_entries_is_empty(
    services: Application, account: Account
) -> None:
    assert services.list_ledger(LedgerQuery(login=account.login), TELLER) == []
