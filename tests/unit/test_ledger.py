"""The ledger's rules over the fakes: what each money operation moves, what it refuses, verify."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import DisableAccount, OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    AccountNotFound,
    AmountLimitExceeded,
    CoreError,
    FieldError,
    InsufficientFunds,
    InvalidAmount,
    MissingScope,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger import integrity
from brokerplane.core.ledger import service as ledger_service
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import (
    EntryClaim,
    EntryFacts,
    FigureMismatch,
    LedgerEntry,
    LedgerQuery,
)
from tests.unit.fakes import FakeClock, FakeUowFactory

TELLER = Actor(
    manager_login=1001,
    scopes=frozenset({"balances:write"}),
    key_id="key-1",
    operator_id="teller@backoffice",
    request_id="req-1",
    dialect=Dialect.NATIVE,
    ip="198.51.100.7",
)
REPORTER = Actor(manager_login=1003, scopes=frozenset({"reports:read"}))


def _post(
    services: Application, login: int, operation: str, amount: object, actor: Actor = TELLER,
    **kw: Any,
) -> Posting:  # fmt: skip
    return services.post_ledger_entry(PostLedgerEntry(login, operation, amount, **kw), actor)  # type: ignore[arg-type]  # text the core reads


def _figures(services: Application, admin: Actor, login: int) -> tuple[int, int, int]:
    acc = services.get_account(login, admin)
    return acc.balance, acc.credit, acc.bonus


def _state(uows: FakeUowFactory) -> tuple[object, ...]:
    """Everything a failed posting must leave untouched."""
    s = uows.state
    accounts = {k: (a.balance, a.credit, a.bonus, a.updated_at) for k, a in s.accounts.items()}
    return accounts, list(s.ledger), list(s.audit), dict(s.approvals)


@pytest.fixture
def account(services: Application, admin: Actor, usd_group: Group) -> Account:
    return services.open_account(OpenAccount(group="real\\standard"), admin)


@pytest.fixture
def funded(services: Application, account: Account) -> Account:
    """Balance 1000.00, credit 100.00, bonus 50.00."""
    _post(services, account.login, "deposit", "1000")
    _post(services, account.login, "credit_in", "100")
    _post(services, account.login, "bonus_in", "50")
    return account


# --- kinds and signs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "amount", "kind", "change", "figures"),
    [
        ("deposit", "10.25", "deposit", 1025, (101025, 10000, 5000)),
        ("withdrawal", "10.25", "withdrawal", -1025, (98975, 10000, 5000)),
        ("charge", "10.25", "charge", -1025, (98975, 10000, 5000)),
        ("credit_in", "10.25", "credit_in", 1025, (100000, 11025, 5000)),
        ("credit_out", "10.25", "credit_out", -1025, (100000, 8975, 5000)),
        ("bonus_in", "10.25", "bonus_in", 1025, (100000, 10000, 6025)),
        ("bonus_out", "10.25", "bonus_out", -1025, (100000, 10000, 3975)),
        ("correction", "10.25", "correction", 1025, (101025, 10000, 5000)),
        ("correction", "-10.25", "correction", -1025, (98975, 10000, 5000)),
        ("credit", "10.25", "credit_in", 1025, (100000, 11025, 5000)),
        ("credit", "-10.25", "credit_out", -1025, (100000, 8975, 5000)),
        ("bonus", "+10.25", "bonus_in", 1025, (100000, 10000, 6025)),
        ("bonus", "-10.25", "bonus_out", -1025, (100000, 10000, 3975)),
    ],
)
def test_each_operation_moves_only_its_own_figure_by_the_signed_amount(
    services: Application, admin: Actor, funded: Account, operation: str, amount: str, kind: str,
    change: int, figures: tuple[int, int, int],
) -> None:  # fmt: skip
    posting = _post(services, funded.login, operation, amount)

    assert (posting.status, posting.kind, posting.amount) == ("applied", kind, change)
    assert posting.entry is not None
    assert (posting.entry.kind, posting.entry.amount) == (kind, change)
    assert (posting.balance, posting.credit, posting.bonus) == figures
    assert _figures(services, admin, funded.login) == figures


@pytest.mark.parametrize("amount", ["12.5", "12.50", " 12.50 ", 12.5, Decimal("12.500"), "1.25e1"])
def test_an_amount_is_read_exactly_from_a_string_number_or_decimal(
    services: Application, account: Account, amount: object
) -> None:
    assert _post(services, account.login, "deposit", amount).amount == 1250


def test_an_integer_amount_is_whole_units_of_the_currency(
    services: Application, account: Account
) -> None:
    assert _post(services, account.login, "deposit", 7).amount == 700


def test_a_withdrawal_may_take_the_balance_to_exactly_zero(
    services: Application, admin: Actor, funded: Account
) -> None:
    _post(services, funded.login, "withdrawal", "1000.00")

    assert _figures(services, admin, funded.login) == (0, 10000, 5000)


def test_the_posting_carries_the_figures_after_the_entry_and_the_account_holds_them(
    services: Application, admin: Actor, funded: Account, clock: FakeClock
) -> None:
    clock.advance(minutes=5)

    posting = _post(services, funded.login, "withdrawal", "0.01", comment="fee", reference="R-9")

    entry = posting.entry
    assert entry is not None
    assert (entry.balance_after, entry.credit_after, entry.bonus_after) == (99999, 10000, 5000)
    assert (posting.balance, posting.credit, posting.bonus) == (99999, 10000, 5000)
    assert (posting.currency.code, posting.currency.digits) == ("USD", 2)
    assert (posting.comment, posting.reference) == ("fee", "R-9")
    assert posting.operation_id == entry.id
    acc = services.get_account(funded.login, admin)
    assert (acc.balance, acc.credit, acc.bonus, acc.updated_at) == (99999, 10000, 5000, clock.now)


def test_the_entry_names_who_posted_it_through_which_key_request_and_dialect(
    services: Application, account: Account, clock: FakeClock
) -> None:
    entry = _post(services, account.login, "deposit", "5", comment="wire", reference="W-1").entry

    assert entry is not None
    assert (entry.login, entry.currency, entry.currency_digits, entry.at) == (
        account.login, "USD", 2, clock.now,
    )  # fmt: skip
    assert (entry.comment, entry.reference) == ("wire", "W-1")
    assert (entry.manager_login, entry.key_id, entry.operator_id, entry.request_id,
            entry.dialect) == (1001, "key-1", "teller@backoffice", "req-1", "native")  # fmt: skip
    assert (entry.approval_id, entry.approved_by) == (None, None)


def test_entries_get_increasing_ids_in_posting_order(
    services: Application, account: Account
) -> None:
    ids = [_post(services, account.login, "deposit", "1").operation_id or 0 for _ in range(3)]

    assert 0 < ids[0] < ids[1] < ids[2]


def test_an_account_in_a_zero_digit_currency_moves_whole_units(
    services: Application, admin: Actor
) -> None:
    services.create_group(CreateGroup("real\\jpy", "JPY"), admin)
    acc = services.open_account(OpenAccount(group="real\\jpy"), admin)

    posting = _post(services, acc.login, "deposit", "1500")

    assert (posting.amount, posting.balance, posting.currency.digits) == (1500, 1500, 0)
    with pytest.raises(InvalidAmount):
        _post(services, acc.login, "deposit", "0.5")


# --- audit -----------------------------------------------------------------------------------


def test_each_applied_entry_is_audited_with_the_figures_before_and_after(
    services: Application, admin: Actor, funded: Account, clock: FakeClock
) -> None:
    posting = _post(services, funded.login, "bonus_out", "20")

    rec = services.account_history(funded.login, admin)[-1]
    assert (rec.action, rec.entity_type, rec.entity_id) == (
        "ledger.entry_posted", "account", str(funded.login),
    )  # fmt: skip
    assert rec.before == {"balance": 100000, "credit": 10000, "bonus": 5000}
    assert posting.entry is not None
    assert rec.after == {"balance": 100000, "credit": 10000, "bonus": 3000,
                         "entry": posting.entry.snapshot()}  # fmt: skip
    assert rec.after["entry"]["id"] == posting.entry.id
    assert (rec.at, rec.manager_login, rec.key_id, rec.operator_id, rec.request_id, rec.dialect,
            rec.ip) == (clock.now, 1001, "key-1", "teller@backoffice", "req-1", "native",
                        "198.51.100.7")  # fmt: skip
    assert services.verify_audit().ok


def test_ledger_records_can_be_found_by_action_in_the_audit_trail(
    services: Application, admin: Actor, funded: Account
) -> None:
    found = services.query_audit(AuditQuery(action="ledger."), admin)

    assert [r.action for r in found] == ["ledger.entry_posted"] * 3
    assert [r.after["entry"]["kind"] for r in found if r.after] == [
        "deposit", "credit_in", "bonus_in",
    ]  # fmt: skip


# --- refused amounts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "amount"),
    [
        ("deposit", "0"), ("deposit", 0), ("deposit", "0.00"), ("deposit", "-1"),
        ("deposit", -1), ("withdrawal", "-5"), ("deposit", "1.001"), ("deposit", "0.001"),
        ("deposit", 0.1 + 0.2), ("deposit", "ten"), ("deposit", ""), ("deposit", "1,5"),
        ("deposit", "NaN"), ("deposit", "sNaN"), ("deposit", float("nan")),
        ("deposit", "Infinity"), ("deposit", "-inf"), ("deposit", float("inf")),
        ("deposit", Decimal("Infinity")), ("deposit", True), ("deposit", False),
        ("deposit", None), ("deposit", [1]), ("deposit", {"amount": 1}),
        ("correction", "0"), ("correction", "-0.00"), ("credit", "0"), ("bonus", 0),
        ("correction", "0.005"), ("credit", "-0.001"),
    ],
)  # fmt: skip
def test_an_amount_that_is_not_a_valid_positive_decimal_is_refused_and_nothing_changes(
    services: Application, funded: Account, uows: FakeUowFactory, operation: str, amount: object
) -> None:
    before = _state(uows)

    with pytest.raises(InvalidAmount) as caught:
        _post(services, funded.login, operation, amount)

    assert caught.value.code == "validation.amount"
    assert [f.field for f in caught.value.fields] == ["amount"]
    assert _state(uows) == before


def test_an_amount_finer_than_the_currency_says_how_many_digits_it_has(
    services: Application, account: Account
) -> None:
    with pytest.raises(InvalidAmount) as caught:
        _post(services, account.login, "deposit", "10.123")

    assert caught.value.fields == [FieldError("amount", "has more than 2 decimal digits for USD")]


@pytest.fixture
def small_limit(uows: FakeUowFactory, config: CoreConfig, clock: FakeClock) -> Application:
    """Application whose per-operation maximum is 500.00."""
    return Application(uows, replace(config, max_operation_amount=Decimal("500")), clock)


@pytest.mark.parametrize(
    ("operation", "amount"),
    [("deposit", "500.01"), ("deposit", 501), ("withdrawal", "500.01"), ("correction", "-600"),
     ("credit", "-500.01"), ("bonus", "1e6"), ("charge", "99999999999")],
)  # fmt: skip
def test_an_amount_above_the_per_operation_limit_is_refused_and_nothing_changes(
    small_limit: Application, funded: Account, uows: FakeUowFactory, operation: str, amount: str
) -> None:
    before = _state(uows)

    with pytest.raises(AmountLimitExceeded) as caught:
        _post(small_limit, funded.login, operation, amount)

    assert caught.value.code == "ledger.amount_limit"
    assert isinstance(caught.value, ValidationError)
    assert caught.value.fields == [FieldError("amount", "must be at most 500.00 USD per operation")]
    assert _state(uows) == before


def test_an_amount_equal_to_the_per_operation_limit_is_applied(
    small_limit: Application, funded: Account
) -> None:
    assert _post(small_limit, funded.login, "withdrawal", "500.00").amount == -50000
    assert _post(small_limit, funded.login, "correction", "-500").amount == -50000


def test_the_default_limit_is_one_hundred_million_per_operation(
    services: Application, account: Account
) -> None:
    assert _post(services, account.login, "deposit", "100000000").balance == 10_000_000_000
    with pytest.raises(AmountLimitExceeded):
        _post(services, account.login, "deposit", "100000000.01")


# --- insufficient funds ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "amount", "figure", "available"),
    [
        ("withdrawal", "1000.01", "balance", "1000.00"),
        ("charge", "1000.01", "balance", "1000.00"),
        ("correction", "-1000.01", "balance", "1000.00"),
        ("credit_out", "100.01", "credit", "100.00"),
        ("credit", "-100.01", "credit", "100.00"),
        ("bonus_out", "50.01", "bonus", "50.00"),
        ("bonus", "-50.01", "bonus", "50.00"),
    ],
)
def test_an_operation_taking_a_figure_below_zero_is_refused_and_nothing_changes(
    services: Application, funded: Account, uows: FakeUowFactory, operation: str, amount: str,
    figure: str, available: str,
) -> None:  # fmt: skip
    before = _state(uows)

    with pytest.raises(InsufficientFunds) as caught:
        _post(services, funded.login, operation, amount)

    err = caught.value
    assert err.code == "ledger.insufficient_funds"
    assert err.context == {"login": funded.login, "figure": figure, "available": available}
    assert [f.field for f in err.fields] == ["amount"]
    assert _state(uows) == before


def test_credit_and_bonus_cannot_pay_for_a_withdrawal(
    services: Application, admin: Actor, funded: Account
) -> None:
    with pytest.raises(InsufficientFunds):
        _post(services, funded.login, "withdrawal", "1100")

    assert _figures(services, admin, funded.login) == (100000, 10000, 5000)


def test_an_empty_account_refuses_any_withdrawal(services: Application, account: Account) -> None:
    with pytest.raises(InsufficientFunds) as caught:
        _post(services, account.login, "withdrawal", "0.01")

    assert "withdrawal of 0.01 USD exceeds the account's balance of 0.00" in caught.value.detail


# --- who, where ------------------------------------------------------------------------------


def test_money_for_an_unknown_login_is_refused_as_account_not_found(
    services: Application, account: Account, uows: FakeUowFactory
) -> None:
    before = _state(uows)

    with pytest.raises(AccountNotFound) as caught:
        _post(services, account.login + 1, "deposit", "10")

    assert caught.value.context == {"login": account.login + 1}
    assert _state(uows) == before


@pytest.mark.parametrize("login", [0, -1, True, "100000", 2**63])
def test_a_login_that_is_not_a_positive_integer_is_a_validation_error(
    services: Application, login: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        _post(services, login, "deposit", "10")  # type: ignore[arg-type]

    assert [f.field for f in caught.value.fields] == ["login"]


def test_a_disabled_account_still_accepts_money_operations(
    services: Application, admin: Actor, funded: Account
) -> None:
    services.disable_account(DisableAccount(funded.login, "kyc"), admin)

    _post(services, funded.login, "deposit", "1")
    _post(services, funded.login, "withdrawal", "2")

    assert _figures(services, admin, funded.login) == (99900, 10000, 5000)


@pytest.mark.parametrize("scopes", [set(), {"users:write"}, {"balances:approve"}, {"reports:read"}])
def test_posting_without_balances_write_is_refused_and_nothing_changes(
    services: Application, funded: Account, uows: FakeUowFactory, scopes: set[str]
) -> None:
    before = _state(uows)

    with pytest.raises(MissingScope) as caught:
        _post(services, funded.login, "deposit", "1", replace(TELLER, scopes=frozenset(scopes)))

    assert caught.value.context == {"scope": "balances:write"}
    assert _state(uows) == before


def test_the_admin_scope_may_post(services: Application, admin: Actor, account: Account) -> None:
    posting = _post(services, account.login, "deposit", "1", admin)

    assert posting.entry is not None
    assert (posting.entry.manager_login, posting.entry.dialect) == (None, "cli")


@pytest.mark.parametrize("operation", ["Deposit", "transfer", "", "credit_in ", None])
def test_an_unknown_operation_is_refused(
    services: Application, account: Account, operation: object
) -> None:
    with pytest.raises(ValidationError) as caught:
        _post(services, account.login, operation, "1")  # type: ignore[arg-type]

    assert [f.field for f in caught.value.fields] == ["kind"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("comment", "c" * 256), ("reference", "r" * 128), ("comment", 5), ("reference", None)],
)
def test_an_overlong_or_non_text_comment_or_reference_is_refused(
    services: Application, account: Account, uows: FakeUowFactory, field: str, value: object
) -> None:
    before = _state(uows)

    with pytest.raises(ValidationError) as caught:
        _post(services, account.login, "deposit", "1", **{field: value})  # type: ignore[arg-type]

    assert [f.field for f in caught.value.fields] == [field]
    assert _state(uows) == before


def test_the_longest_comment_and_reference_are_kept_whole(
    services: Application, account: Account
) -> None:
    entry = _post(services, account.login, "deposit", "1", comment="c" * 255,
                  reference="r" * 127).entry  # fmt: skip

    assert entry is not None and (len(entry.comment), len(entry.reference)) == (255, 127)


# --- verify ----------------------------------------------------------------------------------


def _busy_day(services: Application, admin: Actor) -> list[int]:
    """Many operations over three accounts, some refused half-way."""
    logins = [services.open_account(OpenAccount(group="real\\standard"), admin).login
              for _ in range(3)]  # fmt: skip
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


# --- history ---------------------------------------------------------------------------------


@pytest.fixture
def history(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> tuple[int, int]:
    """Two accounts; six entries an hour apart, alternating accounts."""
    a = services.open_account(OpenAccount(group="real\\standard"), admin).login
    b = services.open_account(OpenAccount(group="real\\standard"), admin).login
    for login, operation, amount, ref in [
        (a, "deposit", "100", "A-1"), (b, "deposit", "200", "B-1"), (a, "credit", "10", "A-2"),
        (b, "withdrawal", "20", "B-2"), (a, "withdrawal", "30", "X"), (b, "bonus", "5", "X"),
    ]:  # fmt: skip
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

    assert _kinds(entries) == [(a, "deposit"), (b, "deposit"), (a, "credit_in"),
                               (b, "withdrawal"), (a, "withdrawal"), (b, "bonus_in")]  # fmt: skip
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

    entries = services.list_ledger(LedgerQuery(login=a, kinds=("withdrawal",), reference="X"),
                                   TELLER)  # fmt: skip

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
        (a, "deposit"), (a, "credit_in"), (a, "withdrawal"),
    ]  # fmt: skip


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


# --- amounts beyond what the decimal context or storage can hold ---------------------------------


def test_a_positive_amount_too_small_for_the_decimal_context_is_refused(
    services: Application, account: Account, uows: FakeUowFactory
) -> None:
    with pytest.raises(InvalidAmount):
        _post(services, account.login, "deposit", "1e-1000030")

    assert uows.state.ledger == []


def test_an_amount_too_large_for_the_decimal_context_is_a_core_error(
    services: Application, account: Account
) -> None:
    with pytest.raises(CoreError):
        _post(services, account.login, "deposit", "1e1000000")


def test_a_deposit_that_would_overflow_the_stored_balance_is_refused(
    services: Application, account: Account, uows: FakeUowFactory
) -> None:
    # BTC-like digits make the per-operation maximum large in minor units; the figure may not
    # grow past what a 64-bit column holds, however many deposits it takes.
    uows.state.accounts[account.login].balance = 2**63 - 100
    with pytest.raises(AmountLimitExceeded):
        _post(services, account.login, "deposit", "1.00")
    assert uows.state.accounts[account.login].balance == 2**63 - 100


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
    assert any("entry 3 on account 7: amount 999, its audit record 12 says 100" in r
               for r in reasons)  # fmt: skip
    assert any("audit record 13 names entry 4 on account 7, which is not in the ledger" in r
               for r in reasons)  # fmt: skip
    assert any("audit record 14 posts money but names no ledger entry" in r for r in reasons)
