"""MT5 trade/balance retried safely and held for a second manager, over HTTP on both engines:
an idempotency key (Idempotency-Key or x-request-id) applies the operation once and replays its
answer; above the approval threshold even a manager with every right gets 10006 and a pending
approval, which only a different manager approves."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
import pytest

from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from tests.dialects.four_eyes import SECOND, approve, native_key, second_manager
from tests.dialects.mt5.conftest import MANAGER, Mt5

DONE = "0 Done"
DUPLICATE = "17 Duplicate data"
REJECTED = "10006 Request rejected"


def _balance(
    mt5: Mt5, login: int, amount: str, headers: dict[str, str] | None = None, **extra: Any
) -> httpx.Response:
    params = {"login": login, "type": 2, "balance": amount, **extra}
    result: httpx.Response = mt5.client.get(
        "/api/trade/balance", params=params, headers=headers or {}
    )
    return result


def _entries(mt5: Mt5, login: int) -> list[LedgerEntry]:
    return mt5.services.list_ledger(LedgerQuery(login=login), mt5.admin)


def _balance_of(mt5: Mt5, login: int) -> Decimal:
    return Decimal(mt5.services.get_account(login, mt5.admin).balance) / 100


@pytest.fixture
def account(mt5: Mt5) -> int:
    acc = mt5.services.open_account(OpenAccount(group="demoforex", name="John Smith"), mt5.admin)
    return int(acc.login)


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Idempotency-Key", "x-request-id"])
def test_a_retried_balance_with_the_same_key_posts_once_and_replays_the_answer(
    mt5: Mt5, account: int, header: str
) -> None:
    first = _balance(mt5, account, "100", {header: "crm-deposit-1"})
    again = _balance(mt5, account, "100.00", {header: "crm-deposit-1"})
    assert first.status_code == again.status_code == 200
    assert first.json()["retcode"] == DONE and again.json() == first.json()
    assert again.headers["Idempotent-Replay"] == "true"
    assert "Idempotent-Replay" not in first.headers
    assert [e.id for e in _entries(mt5, account)] == [int(first.json()["answer"]["Ticket"])]
    assert _balance_of(mt5, account) == Decimal("100")


def test_the_same_key_with_another_amount_is_duplicate_data_and_applies_nothing(
    mt5: Mt5, account: int
) -> None:
    assert _balance(mt5, account, "100", {"Idempotency-Key": "k-1"}).json()["retcode"] == DONE
    other = _balance(mt5, account, "250", {"Idempotency-Key": "k-1"})
    assert other.status_code == 200 and other.json() == {"retcode": DUPLICATE}
    assert len(_entries(mt5, account)) == 1 and _balance_of(mt5, account) == Decimal("100")


def test_without_a_key_every_balance_request_posts(mt5: Mt5, account: int) -> None:
    assert _balance(mt5, account, "100").json()["retcode"] == DONE
    assert _balance(mt5, account, "100").json()["retcode"] == DONE
    assert len(_entries(mt5, account)) == 2 and _balance_of(mt5, account) == Decimal("200")


def test_a_refused_balance_leaves_its_key_free_for_the_corrected_request(
    mt5: Mt5, account: int
) -> None:
    refused = _balance(mt5, account, "-50", {"Idempotency-Key": "w-1"})
    assert refused.json()["retcode"] == "10019 Not enough money"
    _balance(mt5, account, "100")
    assert _balance(mt5, account, "-50", {"Idempotency-Key": "w-1"}).json()["retcode"] == DONE
    assert _balance_of(mt5, account) == Decimal("50")


# --- four eyes -------------------------------------------------------------------------------


@pytest.fixture
def threshold(mt5: Mt5) -> None:
    """USD operations above 1500.00 need a second manager."""
    mt5.services.set_approval_threshold(SetApprovalThreshold("USD", "1500"), mt5.admin)


def test_above_the_threshold_a_manager_with_every_right_is_rejected_and_held_for_another(
    mt5: Mt5, account: int, threshold: None
) -> None:
    response = _balance(mt5, account, "50000")  # manager 1005 holds every right
    body = response.json()
    assert body["retcode"] == REJECTED and "answer" not in body
    approval_id = int(body["approval_id"])
    assert f"pending approval {approval_id}" in body["reason"]
    assert _balance_of(mt5, account) == 0 and _entries(mt5, account) == []
    [held] = mt5.services.list_approvals(ApprovalQuery(), mt5.admin)
    assert (held.id, held.state, held.requested_by, held.dialect) == (
        approval_id,
        "pending",
        MANAGER,
        "mt5",
    )
    own = approve(mt5.client, approval_id, native_key(mt5.services, mt5.admin, MANAGER))
    assert own.status_code == 403 and own.json()["title"] == "PermissionDenied"
    assert _balance_of(mt5, account) == 0
    second = second_manager(mt5.services, mt5.admin)
    assert approve(mt5.client, approval_id, second).status_code == 200
    assert approve(mt5.client, approval_id, second).status_code == 409  # decided: not again
    [entry] = _entries(mt5, account)
    assert (entry.amount, entry.approval_id, entry.approved_by, entry.manager_login) == (
        5_000_000,
        approval_id,
        SECOND,
        MANAGER,
    )
    assert _balance_of(mt5, account) == Decimal("50000")


def test_a_held_balance_retried_with_its_key_replays_the_rejection_and_holds_once(
    mt5: Mt5, account: int, threshold: None
) -> None:
    first = _balance(mt5, account, "50000", {"Idempotency-Key": "big-1"})
    again = _balance(mt5, account, "50000", {"Idempotency-Key": "big-1"})
    assert first.json()["retcode"] == REJECTED and again.json() == first.json()
    assert again.headers["Idempotent-Replay"] == "true"
    assert len(mt5.services.list_approvals(ApprovalQuery(), mt5.admin)) == 1
