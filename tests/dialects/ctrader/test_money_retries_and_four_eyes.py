"""cTrader changebalance and changebonus retried safely and held for a second manager, on both
engines: an idempotency key in Idempotency-Key or x-request-id (never externalId) applies the
operation once and replays its answer; above the approval threshold even a manager with every
right gets 403 NOT_ENOUGH_RIGHTS and a pending approval, which only a different manager
approves."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from tests.dialects.ctrader.conftest import JSON, MANAGER, MINIMAL, CTrader
from tests.dialects.four_eyes import SECOND, approve, native_key, second_manager


def _change(
    ct: CTrader,
    login: int,
    body: dict[str, Any],
    key: dict[str, str] | None = None,
    family: str = "balance",
    accept: dict[str, str] = JSON,
) -> httpx.Response:
    return ct.post(
        f"/traders/{login}/change{family}",
        {"login": login, **body},
        headers={**accept, **(key or {})},
    )


def _entries(ct: CTrader, login: int) -> list[LedgerEntry]:
    return ct.services.list_ledger(LedgerQuery(login=login), ct.admin)


DEPOSIT = {"preciseAmount": "10", "type": "DEPOSIT", "externalId": "bank-77"}


# --- retries ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header", ["Idempotency-Key", "x-request-id"])
@pytest.mark.parametrize(("family", "figure"), [("balance", "balance"), ("bonus", "bonus")])
def test_a_retried_change_with_the_same_key_posts_once_and_replays_the_answer(
    ct: CTrader, header: str, family: str, figure: str
) -> None:
    login = ct.create()["login"]
    first = _change(ct, login, DEPOSIT, {header: "crm-op-1"}, family)
    again = _change(ct, login, {**DEPOSIT, "preciseAmount": 10.0}, {header: "crm-op-1"}, family)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replay"] == "true"
    assert len(_entries(ct, login)) == 1 and ct.trader(login)[figure] == 1000


def test_a_replay_is_rendered_as_the_retry_asks_json_or_xml(ct: CTrader) -> None:
    login = ct.create()["login"]
    first = _change(ct, login, DEPOSIT, {"Idempotency-Key": "k-x"})
    again = _change(ct, login, DEPOSIT, {"Idempotency-Key": "k-x"}, accept={})
    history_id = first.json()["balanceHistoryId"]
    assert again.headers["content-type"].startswith("application/xml")
    assert f"<balanceHistoryId>{history_id}</balanceHistoryId>" in again.text
    assert len(_entries(ct, login)) == 1


def test_the_same_key_with_another_amount_is_refused_and_applies_nothing(ct: CTrader) -> None:
    login = ct.create()["login"]
    assert _change(ct, login, DEPOSIT, {"Idempotency-Key": "k-1"}).status_code == 200
    other = _change(ct, login, {**DEPOSIT, "preciseAmount": "11"}, {"Idempotency-Key": "k-1"})
    assert ct.error(other, 409) == "INVALID_REQUEST"
    assert len(_entries(ct, login)) == 1 and ct.trader(login)["balance"] == 1000


def test_a_failed_change_leaves_its_key_free(ct: CTrader) -> None:
    login = ct.create()["login"]
    withdraw = {"preciseAmount": "10", "type": "WITHDRAW"}
    key = {"Idempotency-Key": "w-1"}
    assert ct.error(_change(ct, login, withdraw, key), 400) == "NOT_ENOUGH_MONEY"
    _change(ct, login, {"preciseAmount": "10", "type": "DEPOSIT"})
    assert _change(ct, login, withdraw, key).status_code == 200
    assert ct.trader(login)["balance"] == 0


def test_a_retried_trader_creation_with_a_balance_opens_and_funds_one_trader(
    ct: CTrader,
) -> None:
    body = {**MINIMAL, "balance": "900000"}
    key = {**JSON, "Idempotency-Key": "ct-create-1"}
    first = ct.post("/traders", body, headers=key)
    again = ct.post("/traders", body, headers=key)
    other = ct.post("/traders", {**body, "balance": "900001"}, headers=key)

    assert first.status_code == again.status_code == 201, again.text
    assert again.json() == first.json() and again.headers["Idempotent-Replay"] == "true"
    assert ct.error(other, 409) == "INVALID_REQUEST"
    login = first.json()["login"]
    assert ct.trader(login)["balance"] == 900000
    entries = ct.services.list_ledger(LedgerQuery(), ct.admin)
    assert [(e.login, e.amount) for e in entries if e.kind == "deposit"] == [(login, 900000)]
    # without a key, each creation is a new trader
    assert ct.post("/traders", body, headers=JSON).json()["login"] != login


# --- four eyes -------------------------------------------------------------------------------


@pytest.fixture
def threshold(ct: CTrader) -> None:
    ct.services.set_approval_threshold(SetApprovalThreshold("EUR", "1000"), ct.admin)


def _approval_id(response: httpx.Response) -> int:
    found = re.search(r"pending approval (\d+)", response.json()["error"]["description"])
    assert found, response.text
    return int(found.group(1))


def test_above_the_threshold_a_manager_with_every_right_is_refused_and_held_for_another(
    ct: CTrader, threshold: None
) -> None:
    login = ct.create()["login"]
    refused = _change(ct, login, {"preciseAmount": "50000", "type": "DEPOSIT"})  # 1007: all
    assert ct.error(refused, 403) == "NOT_ENOUGH_RIGHTS"
    approval_id = _approval_id(refused)
    assert ct.trader(login)["balance"] == 0 and _entries(ct, login) == []
    [held] = ct.services.list_approvals(ApprovalQuery(), ct.admin)
    assert (held.id, held.state, held.requested_by, held.dialect) == (
        approval_id,
        "pending",
        MANAGER,
        "ctrader",
    )
    own = approve(ct.client, approval_id, native_key(ct.services, ct.admin, MANAGER))
    assert own.status_code == 403 and own.json()["title"] == "PermissionDenied"
    assert ct.trader(login)["balance"] == 0
    second = second_manager(ct.services, ct.admin)
    assert approve(ct.client, approval_id, second).status_code == 200
    assert approve(ct.client, approval_id, second).status_code == 409
    [entry] = _entries(ct, login)
    assert (entry.amount, entry.approval_id, entry.approved_by, entry.manager_login) == (
        5_000_000,
        approval_id,
        SECOND,
        MANAGER,
    )
    assert ct.trader(login)["balance"] == 5_000_000


def test_a_held_bonus_retried_with_its_key_replays_the_refusal_and_holds_once(
    ct: CTrader, threshold: None
) -> None:
    login = ct.create()["login"]
    body = {"preciseAmount": "50000", "type": "DEPOSIT"}
    first = _change(ct, login, body, {"Idempotency-Key": "big-1"}, "bonus")
    again = _change(ct, login, body, {"Idempotency-Key": "big-1"}, "bonus")
    assert ct.error(first, 403) == "NOT_ENOUGH_RIGHTS"
    assert (again.status_code, again.json()) == (403, first.json())
    assert again.headers["Idempotent-Replay"] == "true"
    assert len(ct.services.list_approvals(ApprovalQuery(), ct.admin)) == 1


def test_a_starting_balance_above_the_threshold_is_refused_even_for_every_right(
    ct: CTrader, threshold: None
) -> None:
    refused = ct.post("/traders", {**MINIMAL, "balance": "100001"})
    assert ct.error(refused, 403) == "NOT_ENOUGH_RIGHTS"
    assert ct.services.list_approvals(ApprovalQuery(), ct.admin) == []
