"""The Swagger 2.0 document of the TraderEvolution mount: served without a token at the
paths TE tools try, generated from the routes (every route is in it, with a described
operation), with definitions every $ref resolves to and bodies as `in: body` parameters; and
swagger-ui.html, a page that works offline."""

from __future__ import annotations

import copy
import re
from typing import Any

import jsonschema_rs
import pytest
from fastapi.routing import APIRoute
from schemathesis.specs.openapi.definitions import SWAGGER_20
from starlette.applications import Starlette
from starlette.routing import Mount

from brokerplane.api.traderevolution.apidoc import DOC_PATHS, public_path
from brokerplane.api.traderevolution.apidoc_operations import OPERATIONS
from tests.dialects.traderevolution.conftest import BASE, TE


def routes(te: TE) -> list[APIRoute]:
    app = te.client.app
    assert isinstance(app, Starlette)
    mount = next(r for r in app.routes if getattr(r, "path", "") == BASE)
    assert isinstance(mount, Mount)
    te_app = mount.app
    assert isinstance(te_app, Starlette)
    return [r for rt in te_app.state.te_routers for r in rt.routes if isinstance(r, APIRoute)]


def refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if "$ref" in node else []
        return found + [r for v in node.values() for r in refs(v)]
    if isinstance(node, list):
        return [r for v in node for r in refs(v)]
    return []


@pytest.mark.parametrize("path", DOC_PATHS)
def test_the_document_is_served_without_a_token(te: TE, path: str) -> None:
    answer = te.client.get(BASE + path)
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert doc["swagger"] == "2.0"
    assert doc["basePath"] == BASE and doc["host"] == "testserver"
    assert doc["paths"] and doc["definitions"]


def test_every_route_is_in_the_document_with_a_described_operation(te: TE) -> None:
    doc = te.client.get(BASE + "/v2/api-docs").json()
    served = routes(te)
    assert len(served) > 40
    for route in served:
        assert route.endpoint.__name__ in OPERATIONS, f"{route.path} has no row in OPERATIONS"
        item = doc["paths"][public_path(route.path)]
        assert route.methods is not None
        for method in route.methods:
            op = item[method.lower()]
            assert op["summary"] and op["operationId"] and op["tags"]
            assert "200" in op["responses"] or "204" in op["responses"]
    # and nothing in the document that is not served
    documented = {(p, m.upper()) for p, item in doc["paths"].items() for m in item}
    assert documented == {(public_path(r.path), m) for r in served for m in r.methods or ()}
    ids = [op["operationId"] for item in doc["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_bodies_are_body_parameters_and_every_ref_resolves(te: TE) -> None:
    doc = te.client.get(BASE + "/swagger.json").json()
    for ref in refs(doc):
        assert ref.startswith("#/definitions/")
        assert ref.rsplit("/", 1)[-1] in doc["definitions"], ref
    create = doc["paths"]["/users"]["post"]
    (body,) = [p for p in create["parameters"] if p["in"] == "body"]
    assert body["schema"] == {"$ref": "#/definitions/NewUser"}
    assert {"login", "password", "email", "userGroup"} <= set(
        doc["definitions"]["NewUser"]["required"]
    )
    run = doc["paths"]["/reports/{reportId}"]["get"]
    params = {p["name"]: p for p in run["parameters"]}
    assert params["reportId"]["in"] == "path" and params["reportId"]["required"]
    assert params["startDate"] == {
        "name": "startDate",
        "in": "query",
        "required": False,
        "type": "integer",
        "format": "int64",
        "description": "from, epoch milliseconds",
    }
    assert "406" in run["responses"]
    assert doc["paths"]["/auth/token"]["post"].get("security") is None
    assert doc["paths"]["/users"]["get"]["security"] == [{"Bearer": []}]
    assert doc["definitions"]["AccountOperationType"]["enum"] == [1, 2, 3, 12, 13, 17]


@pytest.mark.parametrize("path", ["/swagger-ui.html", "/swagger-ui/index.html", "/swagger-ui"])
def test_swagger_ui_is_a_page_that_works_offline(te: TE, path: str) -> None:
    page = te.client.get(BASE + path, headers={"Accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert "/proftrading/rest/reports/{reportId}" in page.text
    assert not re.search(r"<script|<link|https?://", page.text)  # nothing fetched from anywhere


def test_a_hostile_host_header_does_not_reach_the_document(te: TE) -> None:
    doc = te.client.get(BASE + "/v2/api-docs", headers={"Host": 'evil"<script>'}).json()
    assert doc["host"] == "localhost"
    page = te.client.get(BASE + "/swagger-ui.html", headers={"Host": "<b>x</b>"})
    assert "<b>x</b>" not in page.text


def test_the_document_is_valid_swagger_2_0(te: TE) -> None:
    doc = te.client.get(BASE + "/v2/api-docs").json()
    validator = jsonschema_rs.Draft4Validator(SWAGGER_20)  # Swagger 2.0's own JSON Schema
    assert [str(e) for e in validator.iter_errors(doc)] == []
    # the check has teeth: a parameter in no valid place is caught
    broken = copy.deepcopy(doc)
    broken["paths"]["/users"]["get"]["parameters"][0]["in"] = "nowhere"
    assert list(validator.iter_errors(broken))
