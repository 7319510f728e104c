"""What the ledger refuses over the fakes, and that nothing changes: bad or over-limit amounts,
insufficient funds, unknown logins, missing scopes, bad text, and amounts beyond what the
decimal context or storage holds."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import DisableAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
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
from tests.unit import ledger_support
from tests.unit.fakes import FakeClock, FakeUowFactory
from tests.unit.ledger_support import TELLER, _figures, _post, _state

# The ledger tests' fixtures (tests/unit/ledger_support.py).
account = ledger_support.account
funded = ledger_support.funded


# --- refused amounts -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("operation", "amount"),
    [
        ("deposit", "0"),
        ("deposit", 0),
        ("deposit", "0.00"),
        ("deposit", "-1"),
        ("deposit", -1),
        ("withdrawal", "-5"),
        ("deposit", "1.001"),
        ("deposit", "0.001"),
        ("deposit", 0.1 + 0.2),
        ("deposit", "ten"),
        ("deposit", ""),
        ("deposit", "1,5"),
        ("deposit", "NaN"),
        ("deposit", "sNaN"),
        ("deposit", float("nan")),
        ("deposit", "Infinity"),
        ("deposit", "-inf"),
        ("deposit", float("inf")),
        ("deposit", Decimal("Infinity")),
        ("deposit", True),
        ("deposit", False),
        ("deposit", None),
        ("deposit", [1]),
        ("deposit", {"amount": 1}),
        ("correction", "0"),
        ("correction", "-0.00"),
        ("credit", "0"),
        ("bonus", 0),
        ("correction", "0.005"),
        ("credit", "-0.001"),
    ],
)
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
    [
        ("deposit", "500.01"),
        ("deposit", 501),
        ("withdrawal", "500.01"),
        ("correction", "-600"),
        ("credit", "-500.01"),
        ("bonus", "1e6"),
        ("charge", "99999999999"),
    ],
)
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
    services: Application,
    funded: Account,
    uows: FakeUowFactory,
    operation: str,
    amount: str,
    figure: str,
    available: str,
) -> None:
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
    entry = _post(
        services, account.login, "deposit", "1", comment="c" * 255, reference="r" * 127
    ).entry

    assert entry is not None and (len(entry.comment), len(entry.reference)) == (255, 127)


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
