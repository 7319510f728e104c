"""MT5 trade/balance over HTTP on both engines, into the core ledger: golden pairs, types and
signs, every refusal (limits, funds, rights, reach), approvals, and the same money natively.
Every answer is checked against the spec's shapes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from brokerplane.core.access.commands import CreateApiKey
from brokerplane.core.actor import SCOPES
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.audit.model import AuditQuery
from tests.dialects.mt5 import trade_support
from tests.dialects.mt5.conftest import Mt5
from tests.dialects.mt5.trade_support import (
    DONE,
    MONEY_LIMIT,
    NO_MONEY,
    NOT_FOUND,
    PARAMS,
    PERMISSIONS,
    _balance,
    _entries,
    _figures,
    _open,
    _ticket,
)

# The MT5 money tests' fixtures (tests/dialects/mt5/trade_support.py).
account = trade_support.account


# --- trade/balance: golden pairs ------------------------------------------------------------


def test_a_deposit_answers_the_ticket_of_its_ledger_entry(mt5: Mt5) -> None:
    login = _open(mt5)
    response = mt5.get("trade/balance", login=login, type=2, balance=1000, comment="onlinedeposit")
    [entry] = _entries(mt5, login)
    assert response.status_code == 200
    assert response.json() == {"retcode": DONE, "answer": {"Ticket": str(entry.id)}}
    assert (entry.kind, entry.amount, entry.comment) == ("deposit", 100_000, "onlinedeposit")
    assert (entry.dialect, entry.manager_login) == ("mt5", 1005)
    assert _figures(mt5, login) == (Decimal("1000"), Decimal(0), Decimal(0))
    query = AuditQuery(entity_type="account", entity_id=str(login), action="ledger.entry_posted")
    [audit] = mt5.services.query_audit(query, mt5.admin)
    assert audit.request_id is not None
    assert (audit.manager_login, audit.dialect, audit.request_id[:4]) == (1005, "mt5", "mt5_")
    assert audit.after is not None and audit.after["entry"]["id"] == entry.id


def test_a_json_body_with_any_casing_and_bare_numbers_posts_the_same_way(mt5: Mt5) -> None:
    login = _open(mt5)
    body = {"Login": login, "Type": 2, "Balance": 250.5, "Comment": "wire", "Check_Margin": 0}
    answer = mt5.ok(mt5.post("trade/balance", json=body))
    [entry] = _entries(mt5, login)
    assert answer == {"Ticket": str(entry.id)}
    assert (entry.amount, entry.comment) == (25_050, "wire")


def test_the_body_overrides_the_query(mt5: Mt5) -> None:
    login = _open(mt5)
    mt5.ok(
        mt5.post("trade/balance", {"login": login, "type": 2, "balance": "1"}, {"balance": "7.25"})
    )
    assert _figures(mt5, login)[0] == Decimal("7.25")


def test_the_legacy_root_path_is_the_same_command(mt5: Mt5) -> None:
    login = _open(mt5)
    response = mt5.client.get("/trade_balance", params={"login": login, "type": 2, "balance": 5})
    assert response.json()["retcode"] == DONE
    assert _figures(mt5, login)[0] == Decimal("5")


# --- signed amounts per type ----------------------------------------------------------------

SIGNED = [
    # type, amount, kind in the ledger, (balance, credit, bonus) change, deal action
    (2, "100", "deposit", ("100", "0", "0"), "2"),
    (2, "-40.5", "withdrawal", ("-40.5", "0", "0"), "2"),
    (3, "50", "credit_in", ("0", "50", "0"), "3"),
    (3, "-20", "credit_out", ("0", "-20", "0"), "3"),
    (4, "-10", "charge", ("-10", "0", "0"), "4"),
    (4, "5", "correction", ("5", "0", "0"), "5"),
    (5, "-7.25", "correction", ("-7.25", "0", "0"), "5"),
    (5, "3", "correction", ("3", "0", "0"), "5"),
    (6, "30", "bonus_in", ("0", "0", "30"), "6"),
    (6, "-10", "bonus_out", ("0", "0", "-10"), "6"),
]


@pytest.mark.parametrize(("type_", "amount", "kind", "change", "action"), SIGNED)
def test_each_type_moves_its_figure_by_the_signed_amount(
    mt5: Mt5, type_: int, amount: str, kind: str, change: tuple[str, str, str], action: str
) -> None:
    login = _open(mt5)
    _ticket(mt5, login, 2, "1000")
    _ticket(mt5, login, 3, "100")
    _ticket(mt5, login, 6, "100")
    before = _figures(mt5, login)
    ticket = _ticket(mt5, login, type_, amount)
    after = _figures(mt5, login)
    assert tuple(a - b for a, b in zip(after, before, strict=True)) == tuple(
        Decimal(c) for c in change
    )
    assert _entries(mt5, login)[-1].kind == kind
    deal = mt5.ok(mt5.get("deal/get", ticket=ticket))
    assert deal["Action"] == action
    assert Decimal(deal["Profit"]) == Decimal(amount)
    assert deal["Profit"] == f"{Decimal(amount):.2f}"


# --- trade/balance: every refusal -----------------------------------------------------------


@pytest.mark.parametrize("type_", ["0", "1", "7", "12", "-2", "abc", ""])
def test_a_type_other_than_2_to_6_is_invalid_parameters(mt5: Mt5, account: int, type_: str) -> None:
    assert mt5.retcode(_balance(mt5, account, type_, "10")) == PARAMS
    assert len(_entries(mt5, account)) == 1


@pytest.mark.parametrize(
    "params",
    [
        {"type": 2, "balance": "10"},  # no login
        {"login": "abc", "type": 2, "balance": "10"},
        {"login": "0", "type": 2, "balance": "10"},
        {"login": "ACCOUNT", "type": 2},  # no balance
        {"login": "ACCOUNT", "balance": "10"},  # no type
    ],
)
def test_missing_or_malformed_parameters_are_invalid_parameters(
    mt5: Mt5, account: int, params: dict[str, Any]
) -> None:
    if params.get("login") == "ACCOUNT":
        params["login"] = account
    assert mt5.retcode(mt5.get("trade/balance", **params)) == PARAMS
    assert _figures(mt5, account)[0] == Decimal("1000")


@pytest.mark.parametrize("amount", ["abc", "0", "-0", "1.234", "NaN", "1e", "", "1e-999999999"])
def test_an_amount_that_is_not_a_valid_money_figure_is_invalid_parameters(
    mt5: Mt5, account: int, amount: str
) -> None:
    assert mt5.retcode(_balance(mt5, account, 2, amount)) == PARAMS
    assert _figures(mt5, account)[0] == Decimal("1000")


@pytest.mark.parametrize(
    "amount", ["1000000001", "-1000000001", "1e12", "1000000000.01", "-1e999999999", "9" * 400]
)
def test_an_amount_beyond_one_billion_is_money_limit_reached(
    mt5: Mt5, account: int, amount: str
) -> None:
    assert mt5.retcode(_balance(mt5, account, 2, amount)) == MONEY_LIMIT
    assert _figures(mt5, account)[0] == Decimal("1000")


def test_an_amount_above_the_servers_own_per_operation_limit_is_money_limit_reached_too(
    mt5: Mt5, account: int
) -> None:
    # the core's default maximum is 100,000,000 per operation, below MT5's 1,000,000,000
    assert mt5.retcode(_balance(mt5, account, 2, "100000000.01")) == MONEY_LIMIT
    assert mt5.retcode(_balance(mt5, account, 2, "1000000000")) == MONEY_LIMIT
    assert mt5.retcode(_balance(mt5, account, 2, "100000000")) == DONE


@pytest.mark.parametrize(
    ("type_", "amount"),
    [(2, "-1000.01"), (4, "-1000.01"), (5, "-1000.01"), (3, "-0.01"), (6, "-0.01")],
)
def test_taking_more_than_the_figure_holds_is_not_enough_money(
    mt5: Mt5, account: int, type_: int, amount: str
) -> None:
    response = _balance(mt5, account, type_, amount)
    assert response.json() == {"retcode": NO_MONEY}
    assert _figures(mt5, account) == (Decimal("1000"), Decimal(0), Decimal(0))


def test_the_whole_balance_may_be_withdrawn(mt5: Mt5, account: int) -> None:
    _ticket(mt5, account, 2, "-1000")
    assert _figures(mt5, account)[0] == 0


def test_credit_does_not_pay_for_a_withdrawal_whatever_check_margin_says(
    mt5: Mt5, account: int
) -> None:
    _ticket(mt5, account, 3, "500")
    for flag in ("0", "1", None):
        assert mt5.retcode(_balance(mt5, account, 2, "-1200", check_margin=flag)) == NO_MONEY
    assert _figures(mt5, account) == (Decimal("1000"), Decimal("500"), Decimal(0))


@pytest.mark.parametrize("flag", ["0", "1"])
def test_check_margin_0_or_1_is_accepted(mt5: Mt5, account: int, flag: str) -> None:
    assert mt5.retcode(_balance(mt5, account, 2, "-10", check_margin=flag)) == DONE


@pytest.mark.parametrize("flag", ["2", "-1", "yes"])
def test_another_check_margin_is_invalid_parameters(mt5: Mt5, account: int, flag: str) -> None:
    assert mt5.retcode(_balance(mt5, account, 2, "-10", check_margin=flag)) == PARAMS


def test_an_unknown_login_is_not_found(mt5: Mt5) -> None:
    assert mt5.get("trade/balance", login=954499, type=2, balance="10").json() == {
        "retcode": NOT_FOUND
    }


def test_an_account_out_of_the_managers_reach_is_not_found(mt5: Mt5) -> None:
    outside = _open(mt5, "real\\standard")
    limited = mt5.as_manager(1006, group_mask="demo*")
    assert limited.retcode(_balance(limited, outside, 2, "10")) == NOT_FOUND
    assert _figures(mt5, outside)[0] == 0


def test_a_manager_without_balances_write_lacks_permissions(mt5: Mt5, account: int) -> None:
    reader = mt5.as_manager(1006, rights=frozenset({"users:read", "balances:approve"}))
    assert reader.get("trade/balance", login=account, type=2, balance="10").json() == {
        "retcode": PERMISSIONS
    }
    assert _figures(mt5, account)[0] == Decimal("1000")


def test_a_comment_longer_than_31_characters_is_cut_to_31(mt5: Mt5) -> None:
    login = _open(mt5)
    ticket = _ticket(mt5, login, 2, "10", comment="x" * 30 + "ABCDEFGHIJ")
    [entry] = _entries(mt5, login)
    assert entry.comment == "x" * 30 + "A"
    assert mt5.ok(mt5.get("deal/get", ticket=ticket))["Comment"] == "x" * 30 + "A"


def test_a_comment_of_31_characters_and_mt5_escapes_are_kept(mt5: Mt5) -> None:
    login = _open(mt5)
    _ticket(mt5, login, 2, "10", comment="a" * 31)
    _ticket(mt5, login, 2, "10", comment="wire\\|ref\\=7")
    assert [e.comment for e in _entries(mt5, login)] == ["a" * 31, "wire|ref=7"]


# --- approvals (held operations: test_money_retries_and_four_eyes.py) ---------------------------


@pytest.fixture
def threshold(mt5: Mt5) -> None:
    """USD operations above 1500.00 need approval."""
    mt5.services.set_approval_threshold(SetApprovalThreshold("USD", "1500"), mt5.admin)


def test_at_the_threshold_any_manager_with_balances_write_posts(
    mt5: Mt5, account: int, threshold: None
) -> None:
    teller = mt5.as_manager(1006, rights=frozenset({"balances:write"}))
    assert teller.retcode(_balance(teller, account, 2, "1500")) == DONE
    assert teller.retcode(_balance(teller, account, 2, "-1500")) == DONE


def test_short_funds_come_before_the_missing_approval(
    mt5: Mt5, account: int, threshold: None
) -> None:
    teller = mt5.as_manager(1006, rights=frozenset({"balances:write"}))
    assert teller.retcode(_balance(teller, account, 2, "-2000")) == NO_MONEY


# --- the same money through the native API ---------------------------------------------------


def test_a_deposit_over_mt5_reads_the_same_through_the_native_api(mt5: Mt5) -> None:
    login = _open(mt5)
    ticket = _ticket(mt5, login, 2, "1234.56", comment="crm deposit")
    _ticket(mt5, login, 3, "100")
    key = mt5.services.create_api_key(CreateApiKey(1005, frozenset(SCOPES)), mt5.admin).secret
    headers = {"Authorization": f"Bearer {key}"}
    user = mt5.client.get(f"/v1/users/{login}", headers=headers).json()
    assert (user["balance"], user["credit"], user["bonus"]) == ("1234.56", "100.00", "0.00")
    history = mt5.client.get("/v1/balances/history", params={"login": login}, headers=headers)
    first = history.json()["items"][0]
    assert first["operation_id"] == ticket
    assert (first["kind"], first["amount"], first["balance"]) == ("deposit", "1234.56", "1234.56")
    assert (first["comment"], first["dialect"], first["manager_login"]) == (
        "crm deposit",
        "mt5",
        1005,
    )
    account = mt5.ok(mt5.get("deal/get", ticket=ticket))
    assert account["Profit"] == first["amount"]
