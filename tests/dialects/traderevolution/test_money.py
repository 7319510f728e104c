"""Account operations through the core ledger: deposits, withdrawals and adjustments, listed
with filters and paging; and one account seen by three dialects: created by TraderEvolution,
deposited through MT5, read through the native API with the same balance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fastapi.testclient import TestClient

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.ledger.model import LedgerQuery
from tests.dialects.mt5.conftest import handshake
from tests.dialects.traderevolution.conftest import MANAGER, PASSWORD, TE, sign_in


def _account(te: TE, login: str = "jsmith") -> int:
    return int(te.create_user(login)["accounts"][0]["id"])


def _post(te: TE, account: int, amount: Any, type_id: Any, **extra: Any) -> Any:
    body = {"accountId": account, "amount": amount, "operationTypeId": type_id, **extra}
    return te.post("/accountOperations", body)


def test_a_deposit_withdrawal_and_adjustment_move_the_balance(te: TE) -> None:
    acc = _account(te)

    deposit = te.ok(_post(te, acc, 1000.5, 2, frontendComment="wire in"))
    withdrawal = te.ok(_post(te, acc, "-200.25", 3))
    adjustment = te.ok(_post(te, acc, -0.25, "12"))

    assert deposit["operationTypeId"] == 2 and deposit["operationType"] == "Deposit"
    assert (deposit["amount"], deposit["balance"], deposit["comment"]) == (
        1000.5,
        1000.5,
        "wire in",
    )
    assert (withdrawal["amount"], withdrawal["balance"]) == (-200.25, 800.25)
    assert (adjustment["operationType"], adjustment["amount"], adjustment["balance"]) == (
        "Adjustment",
        -0.25,
        800.0,
    )
    assert te.ok(te.get(f"/accounts/{acc}"))["balance"] == 800
    assert deposit["managerLogin"] == MANAGER and deposit["currency"] == "USD"
    # amounts come back as exact JSON numbers with the currency's two decimals
    raw = _post(te, acc, "0.10", 2).text
    assert '"amount":0.10' in raw and '"balance":800.10' in raw


def test_a_positive_withdrawal_amount_is_the_sum_to_take(te: TE) -> None:
    acc = _account(te)
    te.ok(_post(te, acc, 100, 2))

    taken = te.ok(_post(te, acc, 40, 3))

    assert (taken["amount"], taken["balance"]) == (-40, 60)


def test_bad_operations_are_refused_and_move_nothing(te: TE) -> None:
    acc = _account(te)
    te.ok(_post(te, acc, 100, 2))
    bodies: list[dict[str, Any]] = [
        {"amount": 1, "operationTypeId": 2},
        {"accountId": acc, "operationTypeId": 2},
        {"accountId": acc, "amount": 1},
        {"accountId": acc, "amount": -5, "operationTypeId": 2},
        {"accountId": acc, "amount": 0, "operationTypeId": 12},
        {"accountId": acc, "amount": 0, "operationTypeId": 3},
        {"accountId": acc, "amount": 5, "operationTypeId": 13},
        {"accountId": acc, "amount": 5, "operationTypeId": 17},
        {"accountId": acc, "amount": 5, "operationTypeId": 1},
        {"accountId": acc, "amount": 5, "operationTypeId": 99},
        {"accountId": acc, "amount": "1e999999", "operationTypeId": 2},
        {"accountId": acc, "amount": "NaN", "operationTypeId": 2},
        {"accountId": acc, "amount": True, "operationTypeId": 2},
        {"accountId": "abc", "amount": 5, "operationTypeId": 2},
        {"accountId": acc, "amount": 5, "operationTypeId": 2, "frontendComment": "x" * 256},
    ]
    for body in bodies:
        code = te.error(te.post("/accountOperations", body), 400)
        assert code.startswith("1.0."), (body, code)
    assert te.error(_post(te, acc, "0.001", 2), 400) == "1.0.3.1"
    assert te.error(_post(te, acc, 100.01, 3), 400) == "2.3.0.1"
    assert te.error(_post(te, acc, "1000000000", 2), 400) == "1.0.3.2"
    assert te.error(_post(te, 424242, 5, 2), 404) == "1.4.0.2"
    assert te.ok(te.get(f"/accounts/{acc}"))["balance"] == 100


def test_above_the_approval_threshold_te_refuses_and_holds_for_any_back_office_user(
    te: TE,
) -> None:
    """Retries and the second manager's approval: test_money_retries_and_four_eyes.py."""
    acc = _account(te)
    te.services.set_approval_threshold(SetApprovalThreshold("USD", Decimal(1000)), te.admin)
    rights = frozenset({"users:read", "users:write", "balances:write", "personal_data"})
    te.services.create_manager(CreateManager(1016, "cashier", "Cashier#1016", rights), te.admin)
    cashier = te.ok(sign_in(te.client, 1016, "Cashier#1016"))["accessToken"]

    body = {"accountId": acc, "amount": 5000, "operationTypeId": 2}
    refused = te.post("/accountOperations", body, token=cashier)

    assert te.error(refused, 403) == "2.3.0.2"
    assert te.error(_post(te, acc, 5000, 2), 403) == "2.3.0.2"  # 1010 may approve: not its own
    assert te.services.get_account(acc, te.admin).balance == 0


def test_operations_are_listed_by_account_type_and_dates_with_paging(te: TE) -> None:
    a = _account(te, "alice")
    b = _account(te, "bob")
    ids = [
        te.ok(_post(te, a, 100, 2))["id"],
        te.ok(_post(te, b, 50, 2))["id"],
        te.ok(_post(te, a, -30, 3))["id"],
        te.ok(_post(te, a, 5, 12))["id"],
    ]

    def listed(**params: Any) -> list[int]:
        return [op["id"] for op in te.ok(te.get("/accountOperations", params=params))]

    assert listed() == ids
    assert listed(accountId=a) == [ids[0], ids[2], ids[3]]
    assert listed(operationTypeId=2) == [ids[0], ids[1]]
    assert listed(accountId=a, operationTypeId=3) == [ids[2]]
    assert listed(operationTypeId=13) == []
    assert listed(offset=1, limit=2) == ids[1:3]
    now = datetime.now(UTC)
    start = int((now - timedelta(minutes=5)).timestamp() * 1000)
    end = int((now + timedelta(minutes=5)).timestamp() * 1000)
    assert listed(startDate=start, endDate=end) == ids
    assert listed(endDate=start) == [] and listed(startDate=end) == []
    first = te.ok(te.get("/accountOperations", params={"limit": 1}))[0]
    assert listed(startDate=first["time"], endDate=first["time"], accountId=a) == [ids[0]]
    for params in (
        {"startDate": "yesterday"},
        {"startDate": end, "endDate": start},
        {"limit": 1001},
        {"accountId": 0},
    ):
        assert te.error(te.get("/accountOperations", params=params), 400) == "1.0.0.1", params
    assert te.error(te.get("/accountOperations", params={"accountId": 424242}), 404) == "1.4.0.2"


def test_an_account_made_here_is_deposited_through_mt5_and_read_natively(te: TE) -> None:
    created = te.create_user()
    login = created["accounts"][0]["id"]
    with TestClient(te.client.app, client=("testclient", 50299)) as mt5:
        assert handshake(mt5, MANAGER, PASSWORD).status_code == 200
        params = {"login": login, "type": 2, "balance": "123.45", "comment": "mt5"}
        deposit = mt5.get("/api/trade/balance", params=params)
        assert deposit.status_code == 200 and deposit.json()["retcode"] == "0 Done", deposit.text
    key = te.services.create_api_key(CreateApiKey(MANAGER, frozenset({"users:read"})), te.admin)

    native = te.client.get(f"/v1/users/{login}", headers={"Authorization": f"Bearer {key.secret}"})

    assert native.status_code == 200, native.text
    assert native.json()["balance"] == "123.45"
    assert te.ok(te.get(f"/accounts/{login}"))["balance"] == 123.45
    [operation] = te.ok(te.get("/accountOperations", params={"accountId": login}))
    assert (operation["operationTypeId"], operation["amount"], operation["comment"]) == (
        2,
        123.45,
        "mt5",
    )
    entries = te.services.list_ledger(LedgerQuery(login=login), te.admin)
    assert [e.dialect for e in entries] == ["mt5"]
