"""Native idempotency: a keyed write applies at most once and its repeats replay the answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.idempotency import Claim
from tests.dialects.native.conftest import Api
from tests.unit.fakes import FakeClock

LOGIN = 910024
REPLAY = "Idempotent-Replay"


def _deposit(
    api: Api,
    amount: str,
    key: str | None = None,
    *,
    path: str = "/v1",
    header: str = "Idempotency-Key",
    api_key: str | None = None,
) -> Any:
    headers = {header: key} if key is not None else {}
    return api.post(
        f"{path}/balances/deposit", {"login": LOGIN, "amount": amount}, key=api_key, headers=headers
    )


def _history(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/v1/balances/history").json()["items"]
    return items


def _balance(api: Api) -> str:
    return str(api.get(f"/v1/users/{LOGIN}").json()["balance"])


def _actions(api: Api, login: int, action: str) -> int:
    records = api.get(f"/v1/users/{login}/history").json()["items"]
    return sum(1 for r in records if r["action"] == action)


@pytest.fixture
def account(api: Api) -> int:
    return int(api.open(login=LOGIN)["login"])


# ---- replay -----------------------------------------------------------------------------------


def test_a_repeated_request_id_replays_the_original_answer_and_applies_once(
    api: Api, account: int
) -> None:
    first = _deposit(api, "100", "pay-1", header="x-request-id")
    assert first.status_code == 200 and REPLAY not in first.headers
    again = _deposit(api, "100", "pay-1", header="x-request-id")
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers[REPLAY] == "true"
    assert len(_history(api)) == 1 and _balance(api) == "100.00"


def test_the_idempotency_key_header_works_on_its_own(api: Api, account: int) -> None:
    first = _deposit(api, "100", "idem-1")
    again = _deposit(api, "100", "idem-1")
    assert (again.status_code, again.content, again.headers[REPLAY]) == (200, first.content, "true")
    assert len(_history(api)) == 1
    assert _history(api)[0]["request_id"] == "idem-1"


def test_the_idempotency_key_wins_over_the_request_id(api: Api, account: int) -> None:
    body = {"login": LOGIN, "amount": "100"}
    first = api.post(
        "/v1/balances/deposit", body, headers={"Idempotency-Key": "K", "x-request-id": "A"}
    )
    again = api.post(
        "/v1/balances/deposit", body, headers={"Idempotency-Key": "K", "x-request-id": "B"}
    )
    assert again.headers[REPLAY] == "true" and again.content == first.content
    other = api.post("/v1/balances/deposit", body, headers={"x-request-id": "A"})
    assert other.status_code == 200 and REPLAY not in other.headers  # "A" was never a key
    assert other.json()["operation_id"] != first.json()["operation_id"]
    assert len(_history(api)) == 2


def test_the_same_key_for_a_different_payload_is_409_naming_the_original(
    api: Api, account: int
) -> None:
    first = _deposit(api, "100", "pay-1").json()
    response = _deposit(api, "250", "pay-1")
    assert response.status_code == 409
    problem = response.json()
    assert (problem["title"], problem["code"]) == ("AlreadyApplied", "request.already_applied")
    assert problem["operation_id"] == str(first["operation_id"])
    assert problem["original_status"] == 200
    assert str(first["operation_id"]) in problem["detail"]
    assert _balance(api) == "100.00" and len(_history(api)) == 1


def test_the_same_key_on_another_endpoint_is_409(api: Api, account: int) -> None:
    _deposit(api, "100", "pay-1")
    response = api.post(
        "/v1/balances/withdraw",
        {"login": LOGIN, "amount": "100"},
        headers={"Idempotency-Key": "pay-1"},
    )
    assert response.status_code == 409 and response.json()["title"] == "AlreadyApplied"
    assert _balance(api) == "100.00"


def test_a_held_operation_replays_its_202_with_the_same_approval(api: Api, account: int) -> None:
    assert (
        api.put("/v1/approval-thresholds", {"currency": "USD", "amount": "10"}).status_code == 200
    )
    first = _deposit(api, "50", "big-1")
    assert first.status_code == 202
    again = _deposit(api, "50", "big-1")
    assert (again.status_code, again.content, again.headers[REPLAY]) == (202, first.content, "true")
    assert again.json()["approval_id"] == first.json()["approval_id"]
    approvals = api.get("/v1/approvals", params={"login": LOGIN}).json()["items"]
    assert [a["id"] for a in approvals] == [first.json()["approval_id"]]


def test_keys_are_scoped_per_manager(api: Api, account: int) -> None:
    services = api.runtime.app
    services.create_manager(CreateManager(2000, "Other", "Oth3r!pwd"), api.admin)
    other = services.create_api_key(CreateApiKey(2000, frozenset({"balances:write"})), api.admin)
    mine = _deposit(api, "100", "shared-key")
    theirs = _deposit(api, "100", "shared-key", api_key=other.secret)
    assert theirs.status_code == 200 and REPLAY not in theirs.headers
    assert theirs.json()["operation_id"] != mine.json()["operation_id"]
    assert [e["manager_login"] for e in _history(api)] == [1000, 2000]
    assert _balance(api) == "200.00"


def test_a_failed_request_does_not_use_up_its_key(api: Api, account: int) -> None:
    assert _deposit(api, "-5", "pay-1").status_code == 400
    assert _deposit(api, "-5", "pay-1").status_code == 400  # judged again, not replayed
    fixed = _deposit(api, "5", "pay-1")
    assert fixed.status_code == 200 and REPLAY not in fixed.headers
    assert _balance(api) == "5.00"
    assert _deposit(api, "5", "pay-1").headers[REPLAY] == "true"


def test_a_refused_rule_does_not_use_up_its_key(api: Api, account: int) -> None:
    refused = api.post(
        "/v1/balances/withdraw", {"login": LOGIN, "amount": "5"}, headers={"Idempotency-Key": "w-1"}
    )
    assert refused.status_code == 400
    _deposit(api, "5")
    retried = api.post(
        "/v1/balances/withdraw", {"login": LOGIN, "amount": "5"}, headers={"Idempotency-Key": "w-1"}
    )
    assert retried.status_code == 200 and REPLAY not in retried.headers
    assert _balance(api) == "0.00"


def test_both_mounts_are_the_same_path_for_a_key(api: Api, account: int) -> None:
    first = _deposit(api, "100", "pay-1", path="/v1")
    again = _deposit(api, "100", "pay-1", path="/mt4/manager")
    assert (again.status_code, again.content, again.headers[REPLAY]) == (200, first.content, "true")
    assert len(_history(api)) == 1


def test_a_request_id_too_long_to_be_a_key_is_a_400_on_a_write(api: Api, account: int) -> None:
    response = _deposit(api, "1", "k" * 128, header="x-request-id")
    assert response.status_code == 400
    assert [e["field"] for e in response.json()["errors"]] == ["x-request-id"]
    assert _history(api) == []
    assert _deposit(api, "1", "k" * 127, header="x-request-id").status_code == 200


def test_a_bad_idempotency_key_is_a_400_naming_that_header(api: Api, account: int) -> None:
    for key in ("k" * 128, ""):
        response = _deposit(api, "1", key)
        assert response.status_code == 400
        fields = [e["field"].lower() for e in response.json()["errors"]]
        assert fields == ["idempotency-key"], response.text
    assert _history(api) == []


def test_a_replay_still_needs_the_scope_of_the_request(api: Api, account: int) -> None:
    assert _deposit(api, "5", "pay-1").status_code == 200
    weak = api.key("users:read")
    response = _deposit(api, "5", "pay-1", api_key=weak)
    assert response.status_code == 403, response.text


# ---- account lifecycle writes replay too ------------------------------------------------------


def test_creating_a_user_twice_with_one_key_gives_one_account(api: Api) -> None:
    body = {"name": "Once", "group": "demo-usd", "leverage": 100}
    first = api.post("/v1/users", body, headers={"Idempotency-Key": "open-1"})
    again = api.post("/v1/users", body, headers={"Idempotency-Key": "open-1"})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers[REPLAY] == "true" and again.content == first.content
    assert again.json()["login"] == first.json()["login"]
    assert [u["login"] for u in api.get("/v1/users").json()["items"]] == [first.json()["login"]]


def test_patching_a_user_twice_with_one_key_applies_once(api: Api, account: int) -> None:
    headers = {**api.headers(), "Idempotency-Key": "patch-1"}
    first = api.client.patch(f"/v1/users/{LOGIN}", json={"leverage": 50}, headers=headers)
    again = api.client.patch(f"/v1/users/{LOGIN}", json={"leverage": 50}, headers=headers)
    assert first.status_code == 200
    assert again.headers[REPLAY] == "true" and again.content == first.content
    assert _actions(api, LOGIN, "account.updated") == 1
    other = api.client.patch(f"/v1/users/{LOGIN}", json={"leverage": 20}, headers=headers)
    assert other.status_code == 409
    assert api.get(f"/v1/users/{LOGIN}").json()["leverage"] == 50


def test_disable_and_enable_replay_with_their_keys(api: Api, account: int) -> None:
    path = f"/v1/users/{LOGIN}"
    first = api.post(f"{path}/disable", {"reason": "kyc"}, headers={"Idempotency-Key": "d-1"})
    again = api.post(f"{path}/disable", {"reason": "kyc"}, headers={"Idempotency-Key": "d-1"})
    assert first.status_code == 200 and again.headers[REPLAY] == "true"
    assert again.content == first.content
    on = api.post(f"{path}/enable", headers={"Idempotency-Key": "e-1"})
    on_again = api.post(f"{path}/enable", headers={"Idempotency-Key": "e-1"})
    assert on.status_code == 200 and on_again.headers[REPLAY] == "true"
    assert on_again.json()["enabled"] is True
    assert _actions(api, LOGIN, "account.disabled") == 1
    assert _actions(api, LOGIN, "account.enabled") == 1


# ---- in flight and retention ------------------------------------------------------------------


def test_a_repeat_while_the_first_is_still_running_is_409_in_flight(api: Api, account: int) -> None:
    services = api.runtime.app
    held = services.claim_request("manager:1000", "pay-1", "another process's request")
    assert isinstance(held, Claim)
    response = _deposit(api, "100", "pay-1")
    assert response.status_code == 409
    assert (response.json()["title"], response.json()["code"]) == ("Conflict", "request.in_flight")
    assert 1 <= int(response.headers["Retry-After"]) <= 5
    assert _history(api) == []
    services.release_request(held)  # the first request failed and let go
    assert _deposit(api, "100", "pay-1").status_code == 200
    assert _balance(api) == "100.00"


def test_keys_past_retention_are_purged_by_maintenance_and_usable_again(
    api: Api, account: int
) -> None:
    first = _deposit(api, "100", "pay-1")
    assert _deposit(api, "250", "pay-1").status_code == 409
    config = api.runtime.app.config
    clock = FakeClock(datetime.now(UTC) + config.idempotency_retention - timedelta(hours=1))
    later = Application(api.runtime.storage.uow, config, clock)
    assert later.run_maintenance()[0] == 0
    assert _deposit(api, "250", "pay-1").status_code == 409  # still remembered
    clock.advance(hours=2)
    assert later.run_maintenance()[0] == 1
    reused = _deposit(api, "250", "pay-1")
    assert reused.status_code == 200 and REPLAY not in reused.headers
    assert reused.json()["operation_id"] != first.json()["operation_id"]
    assert _balance(api) == "350.00"
