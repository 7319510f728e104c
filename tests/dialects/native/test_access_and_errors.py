"""Authentication, scopes, request ids, error shapes and the database-offline answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.api.native.errors import ERROR_TABLE
from brokerplane.bootstrap import build
from brokerplane.core.errors import all_error_classes
from brokerplane.settings import Settings
from tests.dialects.native.conftest import Api

# (method, path, body, the scope it needs)
ENDPOINTS = [
    ("POST", "/v1/users", {"name": "A", "group": "demo-usd", "leverage": 100}, "users:write"),
    ("GET", "/v1/users/910024", None, "users:read"),
    ("PATCH", "/v1/users/910024", {"leverage": 50}, "users:write"),
    ("GET", "/v1/users", None, "users:read"),
    ("POST", "/v1/users/910024/disable", {"reason": "x"}, "users:write"),
    ("POST", "/v1/users/910024/enable", None, "users:write"),
    ("GET", "/v1/users/910024/history", None, "users:read"),
    ("GET", "/v1/groups", None, "users:read"),
    ("GET", "/v1/groups/demo-usd", None, "users:read"),
    ("POST", "/v1/groups", {"name": "new", "currency": "USD"}, "admin"),
    ("PATCH", "/v1/groups/demo-usd", {"max_leverage": 400}, "admin"),
    ("GET", "/v1/symbols", None, "users:read"),
    ("GET", "/v1/symbols/EURUSD", None, "users:read"),
    ("POST", "/v1/symbols", {"name": "USDCAD"}, "admin"),
    ("PATCH", "/v1/symbols/EURUSD", {"digits": 4}, "admin"),
    ("GET", "/v1/reports/users", None, "reports:read"),
    ("GET", "/v1/reports/users?format=csv", None, "reports:read"),
]
IDS = [f"{m} {p}" for m, p, _, _ in ENDPOINTS]


@pytest.fixture
def seeded(api: Api) -> Api:
    api.open(login=910024)
    return api


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS, ids=IDS)
def test_every_endpoint_without_a_key_is_401(
    seeded: Api, method: str, path: str, body: object, scope: str
) -> None:
    response = seeded.client.request(method, path, json=body)
    assert response.status_code == 401
    assert response.json()["title"] == "Unauthorized"
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS, ids=IDS)
def test_every_endpoint_with_a_key_lacking_its_scope_is_403(
    seeded: Api, method: str, path: str, body: object, scope: str
) -> None:
    others = {"users:read", "users:write", "reports:read", "balances:write"} - {scope}
    if scope == "users:write":
        others.discard("users:read")  # keep the test about the write scope alone
    key = seeded.key(*sorted(others - {scope}))
    response = seeded.client.request(method, path, json=body, headers=seeded.headers(key))
    assert response.status_code == 403, response.text
    assert response.json()["title"] == "PermissionDenied"
    assert scope in response.json()["detail"]


@pytest.mark.parametrize(("method", "path", "body", "scope"), ENDPOINTS, ids=IDS)
def test_every_endpoint_answers_a_key_holding_its_scope(
    seeded: Api, method: str, path: str, body: object, scope: str
) -> None:
    key = seeded.key(scope)
    response = seeded.client.request(method, path, json=body, headers=seeded.headers(key))
    assert response.status_code in (200, 201), response.text


@pytest.mark.parametrize(
    "header", ["Bearer", "Basic dXNlcjpwYXNz", "Bearer bpk_nothing_here", "Bearer garbage", "x"]
)
def test_bad_authorization_headers_are_401(api: Api, header: str) -> None:
    response = api.client.get("/v1/users", headers={"Authorization": header})
    assert response.status_code == 401


def test_a_revoked_key_stops_working_at_once(api: Api) -> None:
    key = api.key("users:read")
    assert api.get("/v1/users", key=key).status_code == 200
    prefix = key.split("_")[1]
    with api.runtime.storage.uow(write=False) as uow:
        stored = uow.api_keys.get_by_prefix(prefix)
    assert stored is not None
    api.runtime.services.revoke_api_key(stored.id, api.admin)
    assert api.get("/v1/users", key=key).status_code == 401


def test_the_request_id_is_echoed_and_generated_when_absent(api: Api) -> None:
    echoed = api.get("/v1/groups", headers={"x-request-id": "req_balance_0107"})
    assert echoed.headers["x-request-id"] == "req_balance_0107"
    generated = api.get("/v1/groups").headers["x-request-id"]
    assert generated.startswith("req_") and len(generated) > 8
    problem = api.get("/v1/users/999999", headers={"x-request-id": "req_9"}).json()
    assert problem["request_id"] == "req_9"


def test_an_over_long_operator_id_is_refused(api: Api) -> None:
    response = api.get("/v1/groups", headers={"x-operator-id": "o" * 200})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "x-operator-id"


def test_problems_carry_type_title_status_detail_code_and_errors(api: Api) -> None:
    response = api.get("/v1/users/999999")
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert set(body) == {"type", "title", "status", "detail", "code", "errors", "request_id"}
    assert body["status"] == 404 and body["title"] == "NotFound"
    assert body["type"].endswith("account.not_found")


def test_unknown_paths_and_methods_are_problems_too(api: Api) -> None:
    missing = api.get("/v1/nothing-here")
    assert missing.status_code == 404 and missing.json()["code"] == "http.not_found"
    wrong = api.client.delete("/v1/groups", headers=api.headers())
    assert wrong.status_code == 405 and wrong.json()["title"] == "MethodNotAllowed"


def test_every_core_error_class_has_a_row_in_the_native_error_table() -> None:
    missing = [cls.__name__ for cls in all_error_classes() if cls not in ERROR_TABLE]
    assert missing == []


def test_seed_000_error_names_map_to_their_statuses() -> None:
    # the seed's five names plus Conflict, and the rate limit's 429 the seed does not name
    by_title = {title: status for status, title in ERROR_TABLE.values()}
    assert by_title == {
        "ValidationError": 400, "Unauthorized": 401, "PermissionDenied": 403, "NotFound": 404,
        "AlreadyApplied": 409, "Conflict": 409, "ManagerOffline": 503, "TooManyRequests": 429,
    }  # fmt: skip


def test_an_unreachable_database_answers_503_manager_offline(tmp_path: Path) -> None:
    # Port 9 on loopback has no PostgreSQL: connections are refused at once.
    url = "postgresql://postgres@127.0.0.1:9/none"
    runtime = build(Settings(database_url=url, data_dir=tmp_path))
    try:
        with TestClient(create_app(runtime)) as client:
            assert client.get("/health").status_code == 200
            ready = client.get("/ready")
            assert ready.status_code == 503 and ready.json()["title"] == "ManagerOffline"
            for path in ("/v1/users/910024", "/mt4/manager/groups"):
                response = client.get(path, headers={"Authorization": "Bearer bpk_abc_def"})
                assert response.status_code == 503
                assert response.json()["title"] == "ManagerOffline"
                assert response.headers["retry-after"]
    finally:
        runtime.close()


def test_health_and_ready_answer_when_the_database_is_up(api: Api) -> None:
    assert api.client.get("/health").json()["status"] == "ok"
    ready = api.client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["database"] == api.runtime.storage.backend


def test_openapi_3_1_documents_every_native_path_and_the_problem_schema(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert spec["openapi"].startswith("3.1")
    for path in ("/v1/users", "/v1/users/{login}", "/v1/users/{login}/disable",
                 "/v1/users/{login}/enable", "/v1/groups", "/v1/groups/{name}", "/v1/symbols",
                 "/v1/symbols/{name}", "/v1/reports/users"):  # fmt: skip
        assert path in spec["paths"], path
    assert "Problem" in spec["components"]["schemas"]
    create = spec["paths"]["/v1/users"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404", "409", "503"} <= set(create)
    assert api.client.get("/docs").status_code == 200
