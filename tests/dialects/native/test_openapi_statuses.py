"""The OpenAPI document lists the error statuses the API really sends: every operation is
called as a caller gets it wrong (no key, a key without the scope, a missing object, a body
that is no JSON, an empty body, a body over the limit) and each answer's status must be one
the document declares for that operation; FastAPI's 422, which the API never sends (invalid
input is a 400 problem), is declared nowhere."""

from __future__ import annotations

import json
from typing import Any

from tests.dialects.native.conftest import Api

# Endpoints that hold the connection open (Server-Sent Events): called once without a key only.
STREAMS = ("/v1/events/stream",)


def _concrete(path: str, params: list[dict[str, Any]]) -> str:
    for p in params:
        if p.get("in") != "path":
            continue
        kind = p.get("schema", {}).get("type")
        path = path.replace("{" + p["name"] + "}", "999999" if kind == "integer" else "NOPE9")
    return path


def _answers(api: Api, method: str, url: str, has_body: bool) -> list[int]:
    c = api.client
    limited = api.key("metrics:read")
    found = [c.request(method, url).status_code]  # no key
    if url in STREAMS:
        return found
    found.append(c.request(method, url, headers=api.headers(limited)).status_code)
    if has_body:
        as_json = api.headers(**{"Content-Type": "application/json"})
        for body in (b'{"amount": [', b"{}", b" " * ((1 << 20) + 1)):
            found.append(c.request(method, url, content=body, headers=as_json).status_code)
    else:
        found.append(c.request(method, url, headers=api.headers()).status_code)
    return found


def test_every_error_status_an_operation_answers_is_declared(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    undeclared: list[str] = []
    calls = 0
    for path, operations in schema["paths"].items():
        if not path.startswith("/v1/"):
            continue
        for method, operation in operations.items():
            declared = set(operation["responses"])
            assert "422" not in declared, f"{method} {path} declares 422"
            url = _concrete(path, operation.get("parameters", []))
            for status in _answers(api, method.upper(), url, "requestBody" in operation):
                calls += 1
                if status >= 400 and str(status) not in declared:
                    undeclared.append(f"{method.upper()} {path}: {status}")
    assert calls > 150
    assert undeclared == []


def test_the_document_names_no_validation_schema_the_api_never_sends(api: Api) -> None:
    schema = api.client.get("/openapi.json").json()
    text = json.dumps(schema)
    assert "HTTPValidationError" not in text
    assert '"422"' not in text
    deposit = schema["paths"]["/v1/balances/deposit"]["post"]["responses"]
    assert {"400", "401", "403", "404", "408", "409", "413", "429", "503"} <= set(deposit)
    # and a request that fails validation is indeed a 400 problem, not a 422
    answer = api.post("/v1/balances/deposit", {"login": "x", "amount": []})
    assert answer.status_code == 400
    assert answer.headers["content-type"].startswith("application/problem+json")
