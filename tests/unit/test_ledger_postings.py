"""The ledger's postings over the fakes: what each money operation moves, the figures it
leaves, who it names, and its audit record."""

from __future__ import annotations

from decimal import Decimal

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import InvalidAmount
from brokerplane.core.group.commands import CreateGroup
from tests.unit import ledger_support
from tests.unit.fakes import FakeClock
from tests.unit.ledger_support import _figures, _post

# The ledger tests' fixtures (tests/unit/ledger_support.py).
account = ledger_support.account
funded = ledger_support.funded


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
    services: Application,
    admin: Actor,
    funded: Account,
    operation: str,
    amount: str,
    kind: str,
    change: int,
    figures: tuple[int, int, int],
) -> None:
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
        account.login,
        "USD",
        2,
        clock.now,
    )
    assert (entry.comment, entry.reference) == ("wire", "W-1")
    assert (
        entry.manager_login,
        entry.key_id,
        entry.operator_id,
        entry.request_id,
        entry.dialect,
    ) == (1001, "key-1", "teller@backoffice", "req-1", "native")
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
        "ledger.entry_posted",
        "account",
        str(funded.login),
    )
    assert rec.before == {"balance": 100000, "credit": 10000, "bonus": 5000}
    assert posting.entry is not None
    assert rec.after == {
        "balance": 100000,
        "credit": 10000,
        "bonus": 3000,
        "entry": posting.entry.snapshot(),
    }
    assert rec.after["entry"]["id"] == posting.entry.id
    assert (
        rec.at,
        rec.manager_login,
        rec.key_id,
        rec.operator_id,
        rec.request_id,
        rec.dialect,
        rec.ip,
    ) == (clock.now, 1001, "key-1", "teller@backoffice", "req-1", "native", "198.51.100.7")
    assert services.verify_audit().ok


def test_ledger_records_can_be_found_by_action_in_the_audit_trail(
    services: Application, admin: Actor, funded: Account
) -> None:
    found = services.query_audit(AuditQuery(action="ledger."), admin)

    assert [r.action for r in found] == ["ledger.entry_posted"] * 3
    assert [r.after["entry"]["kind"] for r in found if r.after] == [
        "deposit",
        "credit_in",
        "bonus_in",
    ]
