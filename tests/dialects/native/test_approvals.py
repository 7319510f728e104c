"""Four-eyes approvals of high-value money operations, through real HTTP on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from tests.dialects.native.conftest import Api
from tests.unit.fakes import FakeClock

LOGIN = 910024
CHECKER = 2000


def _post(api: Api, op: str, amount: str, login: int = LOGIN, **kw: Any) -> Any:
    return api.post(f"/v1/balances/{op}", {"login": login, "amount": amount}, **kw)


def _threshold(api: Api, amount: str | None, currency: str = "USD", **body: Any) -> Any:
    response = api.put("/v1/approval-thresholds", {"currency": currency, "amount": amount, **body})
    assert response.status_code == 200, response.text
    return response.json()


def _held(api: Api, op: str, amount: str, login: int = LOGIN) -> int:
    response = _post(api, op, amount, login)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending_approval"
    return int(response.json()["approval_id"])


def _balance(api: Api, login: int = LOGIN) -> str:
    return str(api.get(f"/v1/users/{login}").json()["balance"])


def _history(api: Api, login: int = LOGIN) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get(f"/v1/balances/history?login={login}").json()["items"]
    return items


def _audit_actions(api: Api, approval_id: int) -> list[str]:
    params = {"entity_type": "approval", "entity_id": str(approval_id)}
    return [r["action"] for r in api.get("/v1/audit", params=params).json()["items"]]


def _manager_key(api: Api, login: int, *scopes: str) -> str:
    services = api.runtime.app
    if services.get_manager(login) is None:
        services.create_manager(CreateManager(login, f"Manager {login}", "Check3r!pw"), api.admin)
    return services.create_api_key(CreateApiKey(login, frozenset(scopes)), api.admin).secret


@pytest.fixture
def checker(api: Api) -> str:
    """The key of a second manager who may decide approvals (and read the ledger)."""
    return _manager_key(api, CHECKER, "balances:approve", "balances:write")


@pytest.fixture
def funded(api: Api) -> Api:
    """Account 910024 (USD) holding 2000.00, then a USD threshold of 1000.00."""
    api.open(login=LOGIN)
    assert _post(api, "deposit", "2000").status_code == 200
    _threshold(api, "1000")
    return api


# ---- holding ----------------------------------------------------------------------------------


def test_setting_a_currency_threshold_answers_it_and_lists_it(api: Api) -> None:
    assert _threshold(api, "1000") == {"currency": "USD", "group": None, "amount": "1000.00"}
    listed = api.get("/v1/approval-thresholds").json()["items"]
    assert listed == [{"currency": "USD", "group": None, "amount": "1000.00"}]


def test_an_operation_above_the_threshold_is_held_and_changes_nothing(funded: Api) -> None:
    response = _post(funded, "deposit", "1000.01")
    assert response.status_code == 202
    body = response.json()
    assert body["status"] == "pending_approval" and isinstance(body["approval_id"], int)
    assert body["operation_id"] is None
    assert (body["kind"], body["amount"], body["balance"]) == ("deposit", "1000.01", "2000.00")
    assert _balance(funded) == "2000.00"
    assert len(_history(funded)) == 1
    held = funded.get(f"/v1/approvals/{body['approval_id']}").json()
    assert (held["state"], held["amount"], held["requested_by"]) == ("pending", "1000.01", 1000)
    assert held["operation_id"] is None and held["decided_by"] is None


def test_an_operation_equal_to_the_threshold_applies_at_once(funded: Api) -> None:
    response = _post(funded, "withdraw", "1000")
    assert response.status_code == 200 and response.json()["status"] == "applied"
    assert _balance(funded) == "1000.00"


def test_a_signed_removal_above_the_threshold_is_held_with_its_sign(funded: Api) -> None:
    _threshold(funded, None)
    assert _post(funded, "credit", "1500").status_code == 200
    _threshold(funded, "1000")
    response = _post(funded, "credit", "-1200")
    assert response.status_code == 202
    assert (response.json()["kind"], response.json()["amount"]) == ("credit_out", "-1200.00")
    assert funded.get(f"/v1/users/{LOGIN}").json()["credit"] == "1500.00"


def test_a_threshold_holds_only_its_own_currency(funded: Api) -> None:
    login = funded.open(login=910030, group="demo-eur")["login"]
    assert _post(funded, "deposit", "5000", login).status_code == 200


def test_a_group_override_beats_the_currency_threshold_both_ways(api: Api) -> None:
    _threshold(api, "1000")
    vip = api.open(login=910031, group="demo\\vip", main_password="Vip!pass1234")["login"]
    usd = api.open(login=910032)["login"]
    override = _threshold(api, "5000", group="demo\\vip")
    assert override == {"currency": "USD", "group": "demo\\vip", "amount": "5000.00"}
    assert _post(api, "deposit", "2000", vip).status_code == 200
    assert _post(api, "deposit", "5000.01", vip).status_code == 202
    _threshold(api, "100", group="demo-usd")
    assert _post(api, "deposit", "100.01", usd).status_code == 202
    assert _post(api, "deposit", "100", usd).status_code == 200


def test_a_group_override_in_another_currency_is_refused(api: Api) -> None:
    response = api.put(
        "/v1/approval-thresholds", {"currency": "EUR", "group": "demo-usd", "amount": "1"}
    )
    assert response.status_code == 400, response.text
    assert api.get("/v1/approval-thresholds").json()["items"] == []


def test_removing_the_threshold_lets_operations_through(funded: Api) -> None:
    assert funded.put("/v1/approval-thresholds", {"currency": "USD", "amount": None}).json() == {
        "removed": True
    }
    assert _post(funded, "deposit", "50000").status_code == 200
    assert funded.get("/v1/approval-thresholds").json()["items"] == []


def test_funds_are_checked_when_the_operation_is_requested(funded: Api) -> None:
    response = _post(funded, "withdraw", "2000.01")
    assert response.status_code == 400
    assert response.json()["code"] == "ledger.insufficient_funds"
    assert funded.get("/v1/approvals").json()["items"] == []


# ---- deciding ---------------------------------------------------------------------------------


def test_a_second_manager_approves_and_the_entry_names_both(funded: Api, checker: str) -> None:
    approval_id = _held(funded, "deposit", "1500")
    response = funded.post(
        f"/v1/approvals/{approval_id}/approve",
        {"comment": "checked"},
        key=checker,
        headers={"x-operator-id": "checker-1"},
    )
    assert response.status_code == 200, response.text
    decided = response.json()
    assert (decided["state"], decided["decided_by"], decided["decision_comment"]) == (
        "approved",
        CHECKER,
        "checked",
    )
    assert decided["decided_operator"] == "checker-1"
    operation = decided["operation"]
    assert (operation["status"], operation["kind"], operation["balance"]) == (
        "applied",
        "deposit",
        "3500.00",
    )
    assert decided["operation_id"] == operation["operation_id"]
    assert _balance(funded) == "3500.00"
    entry = _history(funded)[-1]
    assert (entry["operation_id"], entry["approval_id"], entry["approved_by"]) == (
        operation["operation_id"],
        approval_id,
        CHECKER,
    )
    assert (entry["manager_login"], entry["amount"]) == (1000, "1500.00")
    assert _audit_actions(funded, approval_id) == ["approval.requested", "approval.approved"]


def test_the_requester_cannot_approve_with_a_key_it_minted_for_another_manager(
    funded: Api, checker: str
) -> None:
    approval_id = _held(funded, "deposit", "50000")
    minted = funded.post("/v1/keys", {"manager_login": CHECKER, "scopes": ["balances:approve"]})
    assert minted.status_code == 201, minted.text
    # and a key that key mints for itself still carries the requester's hand
    grandchild = funded.post("/v1/keys", {"scopes": ["balances:approve"]}, key=minted.json()["key"])
    assert grandchild.status_code == 201, grandchild.text

    for key in (minted.json()["key"], grandchild.json()["key"]):
        refused = funded.post(f"/v1/approvals/{approval_id}/approve", key=key)
        assert refused.status_code == 403, refused.text
        assert "minted by the requester" in refused.json()["detail"]

    assert funded.get(f"/v1/approvals/{approval_id}").json()["state"] == "pending"
    assert _balance(funded) == "2000.00"
    approved = funded.post(f"/v1/approvals/{approval_id}/approve", key=checker)
    assert approved.status_code == 200 and approved.json()["decided_by"] == CHECKER


def test_a_manager_cannot_approve_what_it_requested_with_a_key_it_minted_for_another(
    funded: Api, checker: str
) -> None:
    funded.runtime.app.create_manager(CreateManager(2012, "Maker", "Mak3r!pw"), funded.admin)
    minted = funded.post("/v1/keys", {"manager_login": 2012, "scopes": ["balances:write"]})
    assert minted.status_code == 201, minted.text
    held = _post(funded, "deposit", "30000", key=minted.json()["key"])
    assert held.status_code == 202 and held.json()["status"] == "pending_approval", held.text
    approval_id = int(held.json()["approval_id"])
    assert funded.get(f"/v1/approvals/{approval_id}").json()["requested_by"] == 2012

    refused = funded.post(f"/v1/approvals/{approval_id}/approve")  # 1000's own key

    assert refused.status_code == 403, refused.text
    assert funded.get(f"/v1/approvals/{approval_id}").json()["state"] == "pending"
    assert _balance(funded) == "2000.00"
    # a manager behind neither the request nor its key still decides it
    approved = funded.post(f"/v1/approvals/{approval_id}/approve", key=checker)
    assert approved.status_code == 200 and approved.json()["decided_by"] == CHECKER
    assert _balance(funded) == "32000.00"


def test_the_requester_cannot_approve_with_another_managers_key_it_rotated(
    funded: Api, checker: str
) -> None:
    approval_id = _held(funded, "deposit", "50000")
    [own] = funded.get(f"/v1/keys?manager={CHECKER}").json()["items"]
    rotated = funded.post(f"/v1/keys/{own['id']}/rotate")
    assert rotated.status_code == 201, rotated.text

    refused = funded.post(f"/v1/approvals/{approval_id}/approve", key=rotated.json()["key"])

    assert refused.status_code == 403, refused.text
    assert funded.get(f"/v1/approvals/{approval_id}").json()["state"] == "pending"
    assert _balance(funded) == "2000.00"


def test_a_rejected_operation_applies_nothing(funded: Api, checker: str) -> None:
    approval_id = _held(funded, "withdraw", "1500")
    response = funded.post(f"/v1/approvals/{approval_id}/reject", {"comment": "no"}, key=checker)
    assert response.status_code == 200
    assert (response.json()["state"], response.json()["operation"]) == ("rejected", None)
    assert _balance(funded) == "2000.00" and len(_history(funded)) == 1
    assert _audit_actions(funded, approval_id) == ["approval.requested", "approval.rejected"]


@pytest.mark.parametrize("decision", ["approve", "reject"])
def test_the_requesting_manager_cannot_decide_its_own_operation(
    funded: Api, checker: str, decision: str
) -> None:
    approval_id = _held(funded, "deposit", "1500")
    response = funded.post(f"/v1/approvals/{approval_id}/{decision}")  # admin key, manager 1000
    assert response.status_code == 403
    assert response.json()["title"] == "PermissionDenied"
    assert funded.get(f"/v1/approvals/{approval_id}").json()["state"] == "pending"
    assert _balance(funded) == "2000.00"


def test_deciding_needs_balances_approve(funded: Api) -> None:
    approval_id = _held(funded, "deposit", "1500")
    writer = _manager_key(funded, CHECKER, "balances:write", "reports:read")
    response = funded.post(f"/v1/approvals/{approval_id}/approve", key=writer)
    assert response.status_code == 403 and response.json()["code"] == "auth.missing_scope"
    assert funded.get(f"/v1/approvals/{approval_id}").json()["state"] == "pending"


def test_setting_a_threshold_needs_admin(api: Api) -> None:
    key = api.key("balances:write", "balances:approve", "reports:read")
    response = api.put("/v1/approval-thresholds", {"currency": "USD", "amount": "1"}, key=key)
    assert response.status_code == 403
    assert api.get("/v1/approval-thresholds").json()["items"] == []


@pytest.mark.parametrize(
    ("first", "second"),
    [("approve", "approve"), ("approve", "reject"), ("reject", "approve"), ("reject", "reject")],
)
def test_deciding_twice_is_a_409_not_pending(
    funded: Api, checker: str, first: str, second: str
) -> None:
    approval_id = _held(funded, "deposit", "1500")
    assert funded.post(f"/v1/approvals/{approval_id}/{first}", key=checker).status_code == 200
    again = funded.post(f"/v1/approvals/{approval_id}/{second}", key=checker)
    assert again.status_code == 409
    assert (again.json()["code"], again.json()["title"]) == ("approval.not_pending", "Conflict")
    expected = "3500.00" if first == "approve" else "2000.00"
    assert _balance(funded) == expected


def test_the_rules_are_checked_again_when_approving(funded: Api, checker: str) -> None:
    approval_id = _held(funded, "withdraw", "1500")
    assert _post(funded, "withdraw", "1000").status_code == 200  # the balance drops to 1000
    refused = funded.post(f"/v1/approvals/{approval_id}/approve", key=checker)
    assert refused.status_code == 400
    assert refused.json()["code"] == "ledger.insufficient_funds"
    assert funded.get(f"/v1/approvals/{approval_id}").json()["state"] == "pending"
    assert _balance(funded) == "1000.00"
    assert _audit_actions(funded, approval_id) == ["approval.requested"]
    assert _post(funded, "deposit", "500").status_code == 200
    approved = funded.post(f"/v1/approvals/{approval_id}/approve", key=checker)
    assert approved.status_code == 200 and approved.json()["operation"]["balance"] == "0.00"


def test_an_unknown_approval_is_404(funded: Api, checker: str) -> None:
    response = funded.post("/v1/approvals/999999/approve", key=checker)
    assert response.status_code == 404 and response.json()["code"] == "approval.not_found"
    assert funded.get("/v1/approvals/abc").status_code == 400


def test_approvals_are_listed_by_state_and_login(funded: Api, checker: str) -> None:
    first = _held(funded, "deposit", "1500")
    second = _held(funded, "deposit", "1600")
    funded.post(f"/v1/approvals/{first}/reject", key=checker)
    pending = funded.get("/v1/approvals", params={"state": "pending"}).json()["items"]
    assert [a["id"] for a in pending] == [second]
    mine = funded.get("/v1/approvals", params={"login": LOGIN}).json()["items"]
    assert [a["id"] for a in mine] == [first, second]
    assert funded.get("/v1/approvals", params={"state": "maybe"}).status_code == 400


# ---- expiry -----------------------------------------------------------------------------------


def test_maintenance_expires_a_held_operation_once_its_time_is_up(
    funded: Api, checker: str
) -> None:
    approval_id = _held(funded, "deposit", "1500")
    ttl = funded.runtime.app.config.approval_ttl
    clock = FakeClock(datetime.now(UTC) + ttl - timedelta(minutes=5))
    later = Application(funded.runtime.storage.uow, funded.runtime.app.config, clock)
    assert later.run_maintenance()[1] == 0
    assert funded.get(f"/v1/approvals/{approval_id}").json()["state"] == "pending"
    clock.advance(minutes=10)
    assert later.run_maintenance()[1] == 1
    assert funded.get(f"/v1/approvals/{approval_id}").json()["state"] == "expired"
    refused = funded.post(f"/v1/approvals/{approval_id}/approve", key=checker)
    assert refused.status_code == 409 and refused.json()["code"] == "approval.not_pending"
    assert refused.json()["state"] == "expired"
    assert _balance(funded) == "2000.00"
    assert _audit_actions(funded, approval_id) == ["approval.requested", "approval.expired"]


@pytest.fixture
def late(funded: Api) -> Iterator[tuple[TestClient, FakeClock]]:
    """The same server and database, but with a clock the test moves."""
    clock = FakeClock(datetime.now(UTC))
    rt = funded.runtime
    moved = Runtime(rt.settings, rt.storage, Application(rt.storage.uow, rt.app.config, clock))
    with TestClient(create_app(moved)) as client:
        yield client, clock


def test_an_overdue_operation_cannot_be_approved_even_before_the_sweep(
    funded: Api, checker: str, late: tuple[TestClient, FakeClock]
) -> None:
    client, clock = late
    auth = {"Authorization": f"Bearer {funded.admin_key}"}
    held = client.post(
        "/v1/balances/deposit", json={"login": LOGIN, "amount": "1500"}, headers=auth
    )
    assert held.status_code == 202
    approval_id = held.json()["approval_id"]
    clock.advance(hours=72)
    refused = client.post(
        f"/v1/approvals/{approval_id}/approve", headers={"Authorization": f"Bearer {checker}"}
    )
    assert refused.status_code == 409 and refused.json()["code"] == "approval.not_pending"
    assert client.get(f"/v1/approvals/{approval_id}", headers=auth).json()["state"] == "expired"
    assert _balance(funded) == "2000.00"
    assert _audit_actions(funded, approval_id) == ["approval.requested", "approval.expired"]


def test_approvals_filtered_by_an_impossible_login_are_a_400(api: Api) -> None:
    for login in ("0", "-5", "99999999999999999999999", "9223372036854775808"):
        answer = api.get(f"/v1/approvals?login={login}")
        assert answer.status_code == 400, (login, answer.text)
        assert answer.json()["errors"][0]["field"] == "login"
    assert api.get("/v1/approvals?login=9223372036854775807").json()["items"] == []
