"""Authentication, scopes, request ids, error shapes and the database-offline answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.api.native.errors import ERROR_TABLE
from brokerplane.bootstrap import build
from brokerplane.core.access.commands import RevokeApiKey
from brokerplane.core.errors import all_error_classes
from brokerplane.settings import Settings
from tests.dialects.native.conftest import Api

# The scope table (every endpoint without a key is 401, lacking its scope is 403, holding it is
# answered) is the matrix in test_scope_matrix.py, over every route the app serves.


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
    api.runtime.app.revoke_api_key(RevokeApiKey(stored.id), api.admin)
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
        "ValidationError": 400,
        "Unauthorized": 401,
        "PermissionDenied": 403,
        "NotFound": 404,
        "AlreadyApplied": 409,
        "Conflict": 409,
        "ManagerOffline": 503,
        "TooManyRequests": 429,
    }


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
    for path in (
        "/v1/users",
        "/v1/users/{login}",
        "/v1/users/{login}/disable",
        "/v1/users/{login}/enable",
        "/v1/groups",
        "/v1/groups/{name}",
        "/v1/symbols",
        "/v1/symbols/{name}",
        "/v1/reports/users",
    ):
        assert path in spec["paths"], path
    assert "Problem" in spec["components"]["schemas"]
    create = spec["paths"]["/v1/users"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404", "409", "503"} <= set(create)
    assert api.client.get("/docs").status_code == 200
