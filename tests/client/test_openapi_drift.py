"""The client's models and calls against the OpenAPI document the live server serves: the same
fields with the same types and the same required ones, the request bodies and query parameters
the client sends, and the same calls on Client and AsyncClient. A field added to, renamed in or
retyped in the API fails here until the client follows."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import BaseModel, TypeAdapter

from brokerplane.client import (
    Account,
    ApiKey,
    Approval,
    AsyncClient,
    AuditRecord,
    Client,
    Event,
    EventPage,
    IssuedKey,
    LedgerEntry,
    Operation,
    Problem,
    Profile,
    Threshold,
    Transfer,
    Webhook,
    WebhookDelivery,
    WebhookTest,
)
from brokerplane.client import _calls as calls
from tests.client.conftest import Live

# The client's model for each schema of the document.
MODELS: dict[type[BaseModel], str] = {
    Account: "AccountOut",
    Operation: "BalanceOut",
    LedgerEntry: "LedgerEntryOut",
    Approval: "ApprovalOut",
    Threshold: "ThresholdOut",
    ApiKey: "KeyOut",
    IssuedKey: "IssuedKeyOut",
    AuditRecord: "AuditOut",
    Transfer: "TransferOut",
    Problem: "Problem",
    Event: "EventOut",
    EventPage: "EventPageOut",
    Webhook: "WebhookOut",
    WebhookDelivery: "DeliveryOut",
    WebhookTest: "WebhookTestOut",
}
SERVER_NAME = {m.__name__: name for m, name in MODELS.items()}


@pytest.fixture(scope="module")
def document(live: Live) -> dict[str, Any]:
    answer = httpx.get(live.base + "/openapi.json", timeout=30)
    assert answer.status_code == 200
    doc: dict[str, Any] = answer.json()
    return doc


def shape(schema: dict[str, Any], *, nullable: bool = True) -> Any:
    """A schema's type, without titles, descriptions, examples or defaults; client model names
    read as the server's."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return ("ref", SERVER_NAME.get(name, name))
    if "anyOf" in schema:
        members = [shape(s) for s in schema["anyOf"]]
        if not nullable:
            members = [m for m in members if m != ("null",)]
        return members[0] if len(members) == 1 else ("anyOf", tuple(sorted(members, key=repr)))
    kind = schema.get("type")
    if kind == "array":
        return ("array", shape(schema.get("items", {})))
    if kind == "object":
        extra = schema.get("additionalProperties", True)
        return ("object", shape(extra) if isinstance(extra, dict) else extra)
    if kind == "string":
        return ("string", schema.get("format"))
    return (kind,)


def fields(schema: dict[str, Any]) -> dict[str, Any]:
    return {name: shape(prop) for name, prop in schema.get("properties", {}).items()}


def client_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model.model_json_schema(
        mode="serialization", ref_template="#/components/schemas/{model}"
    )


@pytest.mark.parametrize("model", list(MODELS), ids=lambda m: m.__name__)
def test_each_model_has_the_fields_types_and_required_fields_of_its_schema(
    model: type[BaseModel], document: dict[str, Any]
) -> None:
    server = document["components"]["schemas"][MODELS[model]]
    mine = client_schema(model)
    assert fields(mine) == fields(server)
    assert set(mine.get("required", [])) == set(server.get("required", []))


def test_a_schema_the_comparison_cannot_miss(document: dict[str, Any]) -> None:
    """The comparison itself sees a renamed field, a retyped one and a lost null."""
    server = fields(document["components"]["schemas"]["BalanceOut"])
    mine = fields(client_schema(Operation))
    assert mine == server
    assert {**mine, "amount": ("number",)} != server
    assert {k: v for k, v in mine.items() if k != "reference"} | {"ref": ("string", None)} != server
    assert {**mine, "operation_id": ("integer",)} != server


def _request_fields(document: dict[str, Any], name: str) -> dict[str, Any]:
    schema = document["components"]["schemas"][name]
    return {k: shape(v, nullable=False) for k, v in schema["properties"].items()}


def _params(method: Any, *drop: str) -> set[str]:
    names = set(inspect.signature(method).parameters) - {"self", "profile", *drop}
    return names


def test_the_account_bodies_are_what_the_api_takes(document: dict[str, Any]) -> None:
    profile = TypeAdapter(Profile).json_schema()["properties"]
    profile_fields = {k: shape(v) for k, v in profile.items()}
    create = _request_fields(document, "AccountCreate")
    patch = _request_fields(document, "AccountPatch")
    # Every profile field, with the API's type (null aside: leaving it out is the null).
    assert {k: create[k] for k in profile_fields} == profile_fields
    assert {k: patch[k] for k in profile_fields} == profile_fields
    opened = _params(Client("http://x", "k").accounts.open, "idempotency_key")
    assert set(create) == opened | set(profile_fields)
    updated = _params(Client("http://x", "k").accounts.update, "idempotency_key", "login")
    assert set(patch) == updated | set(profile_fields)


def test_the_money_key_and_approval_bodies_are_what_the_api_takes(
    document: dict[str, Any],
) -> None:
    bp = Client("http://x", "k")
    money = _params(bp.money.deposit, "idempotency_key", "require_applied")
    assert set(_request_fields(document, "BalanceIn")) == money
    assert set(_request_fields(document, "KeyIn")) == _params(bp.keys.create, "idempotency_key")
    decision = _params(bp.approvals.approve, "idempotency_key", "approval_id")
    assert set(_request_fields(document, "DecisionIn")) == decision
    threshold = _params(bp.approvals.set_threshold, "idempotency_key")
    assert set(_request_fields(document, "ThresholdIn")) == threshold
    # and what the client puts in them
    body = calls.balance("deposit", 1, "1.00", "c", "r", None).body
    assert set(body) == set(_request_fields(document, "BalanceIn"))
    moved = calls.transfer(1, 2, "1.00", "c", "r", None).body
    assert set(moved) == set(_request_fields(document, "TransferIn"))


def test_the_webhook_bodies_are_what_the_api_takes(document: dict[str, Any]) -> None:
    bp = Client("http://x", "k")
    accepted = set(_request_fields(document, "WebhookIn"))
    # create takes every field but `state` (updates only), update every field
    assert _params(bp.webhooks.create, "idempotency_key") == accepted - {"state"}
    assert _params(bp.webhooks.update, "idempotency_key", "webhook_id") == accepted
    fields = dict.fromkeys(accepted - {"types", "personal_data"}, "x")
    body = calls.webhook_fields(**fields, types=["ledger."], personal_data=True)
    assert set(body) == accepted
    call, _ = calls.create_webhook(calls.webhook_fields(url="http://x/h"), None)
    assert set(call.body) <= accepted and "secret" in call.body
    assert set(calls.replay_webhook(1, 1, None).body) == set(_request_fields(document, "ReplayIn"))


def _query(document: dict[str, Any], path: str) -> set[str]:
    return {
        p["name"]
        for p in document["paths"]["/v1" + path]["get"]["parameters"]
        if p["in"] == "query"
    }


def test_the_listings_send_the_query_parameters_the_api_reads(document: dict[str, Any]) -> None:
    accounts = set(calls.account_filters(None, None, None, None, None)) | {"cursor", "limit"}
    assert _query(document, "/users") == accounts
    assert _query(document, "/reports/users") == accounts | {"format"}
    ledger = set(calls.history_filters(None, None, None, None, None)) | {"cursor", "limit"}
    assert _query(document, "/balances/history") == ledger | {"format"}
    assert _query(document, "/approvals") == {"state", "login", "cursor", "limit"}
    assert _query(document, "/keys") == {"manager"}
    assert _query(document, "/events") == set(calls.events_page(0, None, None, 1).params or {})
    stream = calls.event_stream(0, None, None).params or {}
    assert set(stream) | {"limit"} == _query(document, "/events")
    deliveries = calls.webhook_deliveries(1, 0, 1).params or {}
    assert _query(document, "/webhooks/{sub_id}/deliveries") == set(deliveries)


def test_every_path_the_client_calls_is_in_the_document(document: dict[str, Any]) -> None:
    sent = {
        ("POST", "/users"),
        ("GET", "/users/{login}"),
        ("PATCH", "/users/{login}"),
        ("POST", "/users/{login}/disable"),
        ("POST", "/users/{login}/enable"),
        ("GET", "/users/{login}/history"),
        ("GET", "/users"),
        ("GET", "/reports/users"),
        *(("POST", p) for p in calls.OPERATIONS.values()),
        ("GET", "/balances/history"),
        ("POST", calls.TRANSFER),
        ("GET", "/approvals"),
        ("GET", "/approvals/{approval_id}"),
        ("POST", "/approvals/{approval_id}/approve"),
        ("POST", "/approvals/{approval_id}/reject"),
        ("GET", "/approval-thresholds"),
        ("PUT", "/approval-thresholds"),
        ("GET", "/keys"),
        ("POST", "/keys"),
        ("POST", "/keys/{key_id}/rotate"),
        ("DELETE", "/keys/{key_id}"),
        ("GET", "/events"),
        ("GET", "/events/types"),
        ("GET", "/webhooks"),
        ("POST", "/webhooks"),
        ("GET", "/webhooks/{sub_id}"),
        ("PATCH", "/webhooks/{sub_id}"),
        ("DELETE", "/webhooks/{sub_id}"),
        ("POST", "/webhooks/{sub_id}/replay"),
        ("POST", "/webhooks/{sub_id}/test"),
        ("GET", "/webhooks/{sub_id}/deliveries"),
    }
    served = {(m.upper(), p.removeprefix("/v1")) for p, ms in document["paths"].items() for m in ms}
    assert sent <= served
    # and the money calls the document has are all in the client
    money = {p for m, p in served if p.startswith("/balances/") and m == "POST"}
    assert money == {*calls.OPERATIONS.values(), calls.TRANSFER}
    # and every events and webhooks call the document has
    events = {(m, p) for m, p in served if p.startswith(("/events", "/webhooks"))}
    assert events <= sent
    # the paths the client builds are those templates
    built = {
        (c.method, c.path)
        for c in (
            calls.get_webhook(7),
            calls.update_webhook(7, {"state": "paused"}, None),
            calls.delete_webhook(7, None),
            calls.replay_webhook(7, 1, None),
            calls.send_webhook_test(7),
            calls.webhook_deliveries(7, 0, 1),
            calls.events_page(0, None, None, 1),
            calls.event_types(),
            calls.list_webhooks(),
        )
    }
    assert {
        (m, p.replace("{sub_id}", "7")) for m, p in sent if p.startswith(("/events", "/web"))
    } - {("POST", "/webhooks")} == built


def _resources(client: Any) -> Iterator[tuple[str, str, inspect.Signature]]:
    for resource in ("accounts", "money", "approvals", "reports", "keys", "events", "webhooks"):
        obj = getattr(client, resource)
        for name, member in inspect.getmembers(obj, inspect.ismethod):
            if not name.startswith("_"):
                yield resource, name, inspect.signature(member)


def test_the_async_client_has_the_calls_of_the_sync_one() -> None:
    sync = {(r, n): s for r, n, s in _resources(Client("http://x", "k"))}
    asynchronous = {(r, n): s for r, n, s in _resources(AsyncClient("http://x", "k"))}
    assert set(sync) == set(asynchronous)
    for call, signature in sync.items():
        assert list(signature.parameters) == list(asynchronous[call].parameters), call
