"""changebalance and changebonus: seed 003's flows, the four balance types, preciseAmount as a
number or a string or `amount` in minor units, externalId kept as a reference, and the error
codes."""

from __future__ import annotations

from typing import Any

import httpx

from brokerplane.core.account.commands import ListAccounts
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.ledger.model import LedgerQuery
from tests.dialects.ctrader.conftest import MINIMAL, CTrader, as_manager


def _balance(ct: CTrader, login: int, body: dict[str, Any]) -> httpx.Response:
    return ct.post(f"/traders/{login}/changebalance", {"login": login, **body})


def _bonus(ct: CTrader, login: int, body: dict[str, Any]) -> httpx.Response:
    return ct.post(f"/traders/{login}/changebonus", {"login": login, **body})


def test_seed_003_deposit_then_withdrawal(ct: CTrader) -> None:
    login = ct.create()["login"]
    deposit = _balance(ct, login, {"preciseAmount": 123.45, "type": "DEPOSIT"})
    assert deposit.status_code == 200
    assert set(deposit.json()) == {"balanceHistoryId"}
    assert isinstance(deposit.json()["balanceHistoryId"], int)
    assert ct.trader(login)["balance"] == 12345
    withdrawal = _balance(ct, login, {"preciseAmount": 111.11, "type": "WITHDRAWAL"})
    assert withdrawal.status_code == 200
    assert withdrawal.json()["balanceHistoryId"] > deposit.json()["balanceHistoryId"]
    trader = ct.trader(login)
    assert trader["balance"] == 1234 and trader["equity"] == 1234


def test_seed_003_bonus_in_and_out(ct: CTrader) -> None:
    login = ct.create()["login"]
    given = _bonus(ct, login, {"preciseAmount": 123.45, "type": "DEPOSIT"})
    assert given.status_code == 200 and set(given.json()) == {"bonusHistoryId"}
    assert ct.trader(login)["bonus"] == 12345
    taken = _bonus(ct, login, {"preciseAmount": "111.11", "type": "WITHDRAW"})
    assert taken.status_code == 200
    assert ct.trader(login)["bonus"] == 1234


def test_non_withdrawable_bonus_moves_the_credit(ct: CTrader) -> None:
    login = ct.create()["login"]
    ok = _balance(ct, login, {"preciseAmount": "50", "type": "DEPOSIT_NONWITHDRAWABLE_BONUS"})
    assert ok.status_code == 200
    _balance(ct, login, {"preciseAmount": "20.5", "type": "WITHDRAW_NONWITHDRAWABLE_BONUS"})
    trader = ct.trader(login)
    assert trader["nonWithdrawableBonus"] == 2950 and trader["balance"] == 0
    assert trader["equity"] == 2950


def test_amount_in_minor_units_when_precise_amount_is_absent(ct: CTrader) -> None:
    login = ct.create()["login"]
    assert _balance(ct, login, {"amount": "10050", "type": "deposit"}).status_code == 200
    assert ct.trader(login)["balance"] == 10050


def test_a_repeated_external_id_without_a_key_posts_each_time(ct: CTrader) -> None:
    """externalId is the client's reference, reused as a label: never an idempotency key (the
    key travels in Idempotency-Key / x-request-id: test_money_retries_and_four_eyes.py)."""
    login = ct.create()["login"]
    body = {"preciseAmount": "10", "type": "DEPOSIT", "externalId": "bank-77"}
    first = _balance(ct, login, body)
    again = _balance(ct, login, body)
    assert first.status_code == again.status_code == 200
    assert again.json()["balanceHistoryId"] > first.json()["balanceHistoryId"]
    assert ct.trader(login)["balance"] == 2000
    entries = ct.services.list_ledger(LedgerQuery(login=login), ct.admin)
    assert [(e.reference, e.amount) for e in entries] == [("bank-77", 1000), ("bank-77", 1000)]


def test_bad_amounts_have_their_own_codes(ct: CTrader) -> None:
    login = ct.create()["login"]
    for amount in (0, "-5", "0.001"):
        body = {"preciseAmount": amount, "type": "DEPOSIT"}
        assert ct.error(_balance(ct, login, body), 400) == "CHANGE_BALANCE_BAD_AMOUNT"
        assert ct.error(_bonus(ct, login, body), 400) == "CHANGE_BONUS_BAD_AMOUNT"


def test_money_errors(ct: CTrader) -> None:
    login = ct.create()["login"]
    assert ct.error(_balance(ct, login, {"preciseAmount": 1, "type": "WITHDRAW"}), 400) == (
        "NOT_ENOUGH_MONEY"
    )
    assert ct.error(_bonus(ct, login, {"preciseAmount": 1, "type": "WITHDRAW"}), 400) == (
        "NOT_ENOUGH_MONEY"
    )
    assert ct.error(_balance(ct, login, {"preciseAmount": 1, "type": "GIFT"}), 400) == (
        "INVALID_REQUEST"
    )
    assert ct.error(_balance(ct, login, {"type": "DEPOSIT"}), 400) == "INVALID_REQUEST"
    other = ct.post(
        f"/traders/{login}/changebalance",
        {"login": login + 1, "preciseAmount": 1, "type": "DEPOSIT"},
    )
    assert ct.error(other, 400) == "INVALID_REQUEST"
    assert ct.error(_balance(ct, 424242, {"preciseAmount": 1, "type": "DEPOSIT"}), 404) == (
        "TRADER_NOT_FOUND"
    )


def test_amounts_written_with_underscores_or_other_scripts_digits_are_refused(ct: CTrader) -> None:
    login = ct.create()["login"]
    for body in ({"preciseAmount": "1_000"}, {"preciseAmount": "١٠٠"}, {"amount": "1_000"}):
        answer = _balance(ct, login, {**body, "type": "DEPOSIT"})
        assert answer.status_code == 400, answer.text
        assert "errorCode" in answer.json()["error"]
    assert ct.trader(login)["balance"] == 0


def test_a_starting_balance_is_posted_with_the_opening_or_nothing_opens(ct: CTrader) -> None:
    """The initial balance of a create is a deposit in the same transaction: refused (above
    the approval threshold, for a manager who may not approve), no trader is left behind."""
    ct.services.set_approval_threshold(SetApprovalThreshold("EUR", "100"), ct.admin)
    teller = as_manager(ct, 1031, rights=frozenset({"users:read", "users:write", "balances:write"}))
    before = [a.login for a in ct.services.list_accounts(ListAccounts(), ct.admin)]
    refused = teller.post("/traders", {**MINIMAL, "balance": "10001"})
    assert ct.error(refused, 403) == "NOT_ENOUGH_RIGHTS"
    assert [a.login for a in ct.services.list_accounts(ListAccounts(), ct.admin)] == before
    opened = teller.create(balance="10000")  # 100.00: at the threshold, not above it
    assert opened["balance"] == 10000
    entries = ct.services.list_ledger(LedgerQuery(login=opened["login"]), ct.admin)
    assert [(e.kind, e.amount, e.comment) for e in entries] == [
        ("deposit", 10000, "initial balance")
    ]
