"""TraderEvolution account operations retried safely and held for a second manager, on both
engines: an idempotency key (Idempotency-Key or x-request-id) applies the operation once and
replays its answer; above the approval threshold even a back-office user with every right gets
403 2.3.0.2 and a pending approval, which only a different manager approves."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import httpx
import pytest

from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from tests.dialects.four_eyes import SECOND, approve, native_key, second_manager
from tests.dialects.traderevolution.conftest import MANAGER, TE


@pytest.fixture
def account(te: TE) -> int:
    return int(te.create_user("jsmith")["accounts"][0]["id"])


def _post(
    te: TE, account: int, amount: Any, key: dict[str, str] | None = None, type_id: int = 2
) -> httpx.Response:
    body = {"accountId": account, "amount": amount, "operationTypeId": type_id}
    return te.post("/accountOperations", body, headers=key)


def _entries(te: TE, login: int) -> list[LedgerEntry]:
    return te.services.list_ledger(LedgerQuery(login=login), te.admin)


def _balance(te: TE, login: int) -> Decimal:
    return Decimal(te.services.get_account(login, te.admin).balance) / 100


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Idempotency-Key", "x-request-id"])
def test_a_retried_operation_with_the_same_key_posts_once_and_replays_the_answer(
    te: TE, account: int, header: str
) -> None:
    first = _post(te, account, 100, {header: "crm-op-1"})
    again = _post(te, account, "100.00", {header: "crm-op-1"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replay"] == "true"
    assert [e.id for e in _entries(te, account)] == [first.json()["id"]]
    assert _balance(te, account) == Decimal("100")


def test_the_same_key_with_another_amount_is_refused_in_te_words_and_applies_nothing(
    te: TE, account: int
) -> None:
    assert _post(te, account, 100, {"Idempotency-Key": "k-1"}).status_code == 200
    other = _post(te, account, 250, {"Idempotency-Key": "k-1"})
    assert te.error(other, 400) == "1.9.0.8"
    assert "different request" in other.json()["errorMessage"]
    assert len(_entries(te, account)) == 1 and _balance(te, account) == Decimal("100")


def test_without_a_key_every_operation_posts(te: TE, account: int) -> None:
    assert _post(te, account, 100).status_code == 200
    assert _post(te, account, 100).status_code == 200
    assert len(_entries(te, account)) == 2 and _balance(te, account) == Decimal("200")


def test_a_refused_operation_leaves_its_key_free(te: TE, account: int) -> None:
    key = {"Idempotency-Key": "w-1"}
    assert te.error(_post(te, account, -50, key, type_id=3), 400) == "2.3.0.1"
    assert _post(te, account, 100).status_code == 200
    assert _post(te, account, -50, key, type_id=3).status_code == 200
    assert _balance(te, account) == Decimal("50")


# --- four eyes -------------------------------------------------------------------------------


@pytest.fixture
def threshold(te: TE) -> None:
    te.services.set_approval_threshold(SetApprovalThreshold("USD", Decimal(1000)), te.admin)


def _approval_id(response: httpx.Response) -> int:
    found = re.search(r"pending approval (\d+)", response.json()["errorMessage"])
    assert found, response.text
    return int(found.group(1))


def test_above_the_threshold_a_user_with_every_right_is_refused_and_held_for_another(
    te: TE, account: int, threshold: None
) -> None:
    refused = _post(te, account, 50000)  # back-office user 1010 holds every right
    assert te.error(refused, 403) == "2.3.0.2"
    approval_id = _approval_id(refused)
    assert _balance(te, account) == 0 and _entries(te, account) == []
    [held] = te.services.list_approvals(ApprovalQuery(), te.admin)
    assert (held.id, held.state, held.requested_by, held.dialect) == (
        approval_id,
        "pending",
        MANAGER,
        "traderevolution",
    )
    own = approve(te.client, approval_id, native_key(te.services, te.admin, MANAGER))
    assert own.status_code == 403 and own.json()["title"] == "PermissionDenied"
    assert _balance(te, account) == 0
    second = second_manager(te.services, te.admin)
    assert approve(te.client, approval_id, second).status_code == 200
    assert approve(te.client, approval_id, second).status_code == 409
    [entry] = _entries(te, account)
    assert (entry.amount, entry.approval_id, entry.approved_by, entry.manager_login) == (
        5_000_000,
        approval_id,
        SECOND,
        MANAGER,
    )
    assert _balance(te, account) == Decimal("50000")


def test_a_held_operation_retried_with_its_key_replays_the_refusal_and_holds_once(
    te: TE, account: int, threshold: None
) -> None:
    first = _post(te, account, 50000, {"Idempotency-Key": "big-1"})
    again = _post(te, account, 50000, {"Idempotency-Key": "big-1"})
    assert te.error(first, 403) == "2.3.0.2"
    assert (again.status_code, again.json()) == (403, first.json())
    assert again.headers["Idempotent-Replay"] == "true"
    assert len(te.services.list_approvals(ApprovalQuery(), te.admin)) == 1
