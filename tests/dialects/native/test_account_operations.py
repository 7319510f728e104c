"""Native passwords (set and check), the soft delete, transfers and the batch trade state,
through real HTTP."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.trading.commands import QuoteInput
from tests.dialects.native.conftest import Api

A, B, C = 910024, 910025, 910026
STRONG = "Str0ng!pass"


def _problem(response: Any) -> dict[str, Any]:
    assert "problem+json" in response.headers["content-type"], response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def accounts(api: Api) -> tuple[int, int]:
    api.open(login=A)
    api.open(login=B)
    assert api.post("/v1/balances/deposit", {"login": A, "amount": "500"}).status_code == 200
    return A, B


def _check(api: Api, login: int, kind: str, password: str, key: str | None = None) -> Any:
    return api.post(
        f"/v1/users/{login}/password/check", {"type": kind, "password": password}, key=key
    )


# ---- passwords ------------------------------------------------------------------------------


def test_main_and_investor_passwords_are_set_by_patch_and_checked(
    api: Api, accounts: tuple[int, int]
) -> None:
    response = api.patch(
        f"/v1/users/{A}",
        {"main_password": STRONG, "leverage": 50, "investor_password": "Inv3st!pass"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["leverage"] == 50
    assert "main_password" not in response.text and STRONG not in response.text
    assert _check(api, A, "main", STRONG).json() == {"login": A, "type": "main", "valid": True}
    assert _check(api, A, "investor", "Inv3st!pass").json()["valid"] is True
    assert _check(api, A, "investor", STRONG).json()["valid"] is False
    history = api.get(f"/v1/users/{A}/history").json()["items"]
    changed = [r for r in history if r["action"] == "account.password_changed"]
    assert len(changed) == 2
    assert STRONG not in str(history)


def test_put_password_applies_the_groups_policy_and_a_weak_one_changes_nothing(
    api: Api, accounts: tuple[int, int]
) -> None:
    ok = api.put(f"/v1/users/{A}/password", {"type": "main", "password": STRONG})
    assert ok.status_code == 200, ok.text
    weak = api.put(f"/v1/users/{A}/password", {"type": "main", "password": "abc"})
    assert weak.status_code == 400
    assert _problem(weak)["title"] == "ValidationError"
    # a weak one in a PATCH refuses the whole change, the leverage too
    mixed = api.patch(f"/v1/users/{A}", {"leverage": 20, "investor_password": "abc"})
    assert mixed.status_code == 400
    assert api.get(f"/v1/users/{A}").json()["leverage"] == 100
    assert _check(api, A, "main", STRONG).json()["valid"] is True
    unknown = api.put(f"/v1/users/{A}/password", {"type": "phone", "password": STRONG})
    assert unknown.status_code == 400


def test_password_checks_lock_out_after_repeated_failures(
    api: Api, accounts: tuple[int, int]
) -> None:
    assert api.put(f"/v1/users/{A}/password", {"type": "main", "password": STRONG}).is_success
    answers = [_check(api, A, "main", "Wr0ng!pass").json()["valid"] for _ in range(12)]
    assert answers == [False] * 12
    # locked now: even the right password is answered as wrong
    assert _check(api, A, "main", STRONG).json()["valid"] is False


def test_password_calls_are_refused_out_of_reach_and_without_scope(
    api: Api, accounts: tuple[int, int]
) -> None:
    services = api.runtime.app
    services.create_manager(
        CreateManager(3000, "Narrow", "Narr0w!pw", group_mask="demo-eur"), api.admin
    )
    key = services.create_api_key(
        CreateApiKey(3000, frozenset({"users:read", "users:write"})), api.admin
    ).secret
    far = api.put(f"/v1/users/{A}/password", {"type": "main", "password": STRONG}, key=key)
    assert far.status_code == 404
    assert _check(api, A, "main", STRONG, key=key).status_code == 404
    reader = api.key("users:read")
    refused = api.put(f"/v1/users/{A}/password", {"type": "main", "password": STRONG}, key=reader)
    assert refused.status_code == 403


# ---- delete ---------------------------------------------------------------------------------


def test_delete_is_soft_needs_users_delete_and_replays(api: Api, accounts: tuple[int, int]) -> None:
    refused = api.client.delete(f"/v1/users/{A}", headers=api.headers(api.key("users:write")))
    assert refused.status_code == 403
    headers = api.headers(**{"Idempotency-Key": "del-1"})
    gone = api.client.delete(f"/v1/users/{A}", headers=headers)
    assert gone.status_code == 200, gone.text
    assert gone.json()["login"] == A and gone.json()["deleted"] is True
    assert api.get(f"/v1/users/{A}").status_code == 404
    again = api.client.delete(f"/v1/users/{A}", headers=headers)
    assert again.status_code == 200 and again.headers.get("idempotent-replay") == "true"
    assert api.client.delete(f"/v1/users/{A}", headers=api.headers()).status_code == 404
    # its money and history stay: the ledger still balances
    assert api.runtime.app.audit_ledger().ok
    reopened = api.post(
        "/v1/users", {"login": A, "name": "X", "group": "demo-usd", "leverage": 100}
    )
    assert reopened.status_code == 409  # a deleted login is never handed out again


def test_an_account_with_an_operation_awaiting_approval_is_not_deleted(
    api: Api, accounts: tuple[int, int]
) -> None:
    # Deleted, the held deposit could never be decided (the account reads as absent) yet
    # would stay listed as pending: the delete is refused until it is approved or rejected.
    assert api.put("/v1/approval-thresholds", {"currency": "USD", "amount": "100"}).is_success
    held = api.post("/v1/balances/deposit", {"login": A, "amount": "500.00"})
    assert held.status_code == 202, held.text
    refused = api.client.delete(f"/v1/users/{A}", headers=api.headers())
    assert refused.status_code == 409, refused.text
    assert "approval" in _problem(refused)["detail"]
    assert api.get(f"/v1/users/{A}").status_code == 200
    listed = api.get(f"/v1/approvals/{held.json()['approval_id']}")
    assert listed.status_code == 200 and listed.json()["state"] == "pending"


# ---- transfers ------------------------------------------------------------------------------


def _transfer(api: Api, amount: Any, src: int = A, dst: int = B, **kw: Any) -> Any:
    headers, key = kw.pop("headers", {}), kw.pop("key", None)
    return api.post(
        "/v1/balances/transfer",
        {"from_login": src, "to_login": dst, "amount": amount, **kw},
        key=key,
        headers=headers,
    )


def test_a_transfer_moves_both_legs_with_one_audit_record(
    api: Api, accounts: tuple[int, int]
) -> None:
    response = _transfer(api, "120.50", reference="tr-1")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["amount"] == "120.50" and body["currency"] == "USD"
    assert body["from"]["kind"] == "withdrawal" and body["from"]["balance"] == "379.50"
    assert body["to"]["kind"] == "deposit" and body["to"]["balance"] == "120.50"
    assert body["from"]["reference"] == body["to"]["reference"] == "transfer:tr-1"
    assert body["from"]["comment"] == f"transfer to {B}"
    audit = api.get("/v1/audit", params={"action": "ledger.transfer"}).json()["items"]
    assert len(audit) == 1
    assert audit[0]["after"]["from"]["entry"]["id"] == body["from"]["operation_id"]
    assert audit[0]["after"]["to"]["entry"]["id"] == body["to"]["operation_id"]
    posted = api.get("/v1/audit", params={"action": "ledger.entry_posted"}).json()["items"]
    assert {r["after"]["entry"]["id"] for r in posted}.isdisjoint(
        {body["from"]["operation_id"], body["to"]["operation_id"]}
    )
    report = api.runtime.app.audit_ledger()
    assert report.ok, report


def test_a_retried_transfer_moves_money_once(api: Api, accounts: tuple[int, int]) -> None:
    headers = {"Idempotency-Key": "tr-retry-1"}
    first = _transfer(api, "100", headers=headers)
    second = _transfer(api, "100", headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.headers.get("idempotent-replay") == "true"
    assert second.json() == first.json()
    assert api.get(f"/v1/users/{A}").json()["balance"] == "400.00"
    other = _transfer(api, "50", headers=headers)  # the same key for another transfer
    assert other.status_code == 409
    assert api.get(f"/v1/users/{B}").json()["balance"] == "100.00"


def test_transfers_that_cannot_be_made_change_nothing(api: Api, accounts: tuple[int, int]) -> None:
    api.open(login=C, group="demo-eur")
    cases = {
        "too much": (_transfer(api, "500.01"), 400, "ledger.insufficient_funds"),
        "same account": (_transfer(api, "1", dst=A), 400, "validation"),
        "zero": (_transfer(api, "0"), 400, "validation.amount"),
        "negative": (_transfer(api, "-5"), 400, "validation.amount"),
        "sub-cent": (_transfer(api, "0.001"), 400, "validation.amount"),
        "huge": (_transfer(api, "1e30"), 400, None),
        "other currency": (_transfer(api, "1", dst=C), 400, None),
        "unknown target": (_transfer(api, "1", dst=999999), 404, None),
        "unknown source": (_transfer(api, "1", src=999999), 404, None),
    }
    for name, (response, status, title) in cases.items():
        assert response.status_code == status, (name, response.text)
        if title:
            assert _problem(response)["code"].startswith(title), (name, response.text)
    assert "currency" in cases["other currency"][0].text.lower()
    assert api.get(f"/v1/users/{A}").json()["balance"] == "500.00"
    assert api.get(f"/v1/users/{B}").json()["balance"] == "0.00"
    assert api.get("/v1/audit", params={"action": "ledger.transfer"}).json()["items"] == []


def test_a_transfer_needs_reach_on_both_accounts(api: Api, accounts: tuple[int, int]) -> None:
    services = api.runtime.app
    api.open(login=C, group="demo\\vip")
    services.create_manager(
        CreateManager(3000, "Desk", "D3sk!pass", group_mask="demo-usd"), api.admin
    )
    key = services.create_api_key(
        CreateApiKey(3000, frozenset({"balances:write"})), api.admin
    ).secret
    assert api.post("/v1/balances/deposit", {"login": C, "amount": "50"}).status_code == 200
    into_foreign = _transfer(api, "10", dst=C, key=key)
    from_foreign = _transfer(api, "10", src=C, key=key)
    assert into_foreign.status_code == from_foreign.status_code == 404, into_foreign.text
    assert _transfer(api, "10", key=key).status_code == 200
    assert api.get(f"/v1/users/{C}").json()["balance"] == "50.00"


def test_a_transfer_above_the_approval_threshold_is_refused_not_half_done(
    api: Api, accounts: tuple[int, int]
) -> None:
    assert api.put("/v1/approval-thresholds", {"currency": "USD", "amount": "100"}).is_success
    response = _transfer(api, "150")
    assert response.status_code == 403, response.text
    assert _problem(response)["code"] == "ledger.approval_required", response.text
    assert "transfer" in _problem(response)["detail"]
    assert _transfer(api, "100").status_code == 200
    assert api.get(f"/v1/users/{A}").json()["balance"] == "400.00"


def test_money_out_of_a_source_with_open_positions_keeps_its_margin(
    api: Api, accounts: tuple[int, int]
) -> None:
    api.runtime.app.set_quotes([QuoteInput("EURUSD", "1.10000", "1.10020")], api.admin)
    order = {"login": A, "symbol": "EURUSD", "side": "buy", "volume": "0.3"}
    assert api.post("/v1/positions", order).status_code == 201
    state = api.get(f"/v1/users/{A}/trade-state").json()
    free = state["free_margin"]
    response = _transfer(api, state["balance"])
    assert response.status_code == 400, response.text
    assert free in response.text
    assert api.get(f"/v1/users/{A}").json()["balance"] == state["balance"]


# ---- trade state of many accounts -----------------------------------------------------------


def test_trade_states_by_logins_and_group_in_pages_and_csv(
    api: Api, accounts: tuple[int, int]
) -> None:
    api.open(login=C, group="demo-eur")
    both = api.get("/v1/trade-states", params={"logins": f"{B},{A},999999"}).json()
    assert [s["login"] for s in both["items"]] == [A, B]
    assert both["items"][0]["equity"] == "500.00" and both["items"][0]["free_margin"] == "500.00"
    assert both["next_cursor"] is None
    first = api.get("/v1/trade-states", params={"group": "demo-*", "limit": 2}).json()
    assert [s["login"] for s in first["items"]] == [A, B]
    rest = api.get(
        "/v1/trade-states", params={"group": "demo-*", "limit": 2, "cursor": first["next_cursor"]}
    ).json()
    assert [(s["login"], s["currency"]) for s in rest["items"]] == [(C, "EUR")]
    eur = api.get("/v1/trade-states", params={"group": "demo-eur", "format": "csv"})
    assert eur.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(eur.text)))
    assert [(r["login"], r["equity"], r["margin"], r["free_margin"]) for r in rows] == [
        (str(C), "0.00", "0.00", "0.00")
    ]


def test_trade_states_are_bounded_and_within_reach(api: Api, accounts: tuple[int, int]) -> None:
    many = ",".join(str(n) for n in range(1, 1002))
    assert api.get("/v1/trade-states", params={"logins": many}).status_code == 400
    assert api.get("/v1/trade-states", params={"limit": 1001}).status_code == 400
    assert api.get("/v1/trade-states", params={"limit": 0}).status_code == 400
    assert api.get("/v1/trade-states", params={"logins": "1,x"}).status_code == 400
    assert api.get("/v1/trade-states", params={"cursor": "bogus"}).status_code == 400
    services = api.runtime.app
    api.open(login=C, group="demo-eur")
    services.create_manager(
        CreateManager(3000, "Eur", "Eur0!pass", group_mask="demo-eur"), api.admin
    )
    key = services.create_api_key(CreateApiKey(3000, frozenset({"users:read"})), api.admin).secret
    seen = api.get("/v1/trade-states", key=key, params={"logins": f"{A},{B},{C}"}).json()
    assert [s["login"] for s in seen["items"]] == [C]
    everything = api.get("/v1/trade-states", key=key).json()
    assert [s["login"] for s in everything["items"]] == [C]
