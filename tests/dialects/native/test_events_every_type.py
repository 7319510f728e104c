"""Every event type the issue names, one event per committed change, with every field: the
account's life (opened, updated, disabled, enabled, deleted, restored), each ledger kind
(deposit, withdrawal, credit, bonus, correction, charge: the figures after, the same entry as
the balance history), a partial close (position.updated); refused commands write none; the
request id is the caller's; retention is 30 days unless configured."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.core.account.commands import RestoreAccount
from brokerplane.settings import Settings
from tests.dialects.native.conftest import Api

FIELDS = {
    "id",
    "type",
    "time",
    "login",
    "group",
    "white_label",
    "actor",
    "dialect",
    "request_id",
    "data",
}


def _after(api: Api, after: int, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    while True:
        response = api.get("/v1/events", params={"after": after, **params})
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["items"]
        if not page["more"]:
            return items
        after = page["next"]


def _head(api: Api) -> int:
    head: int = api.get("/v1/events").json()["head"]
    return head


def test_the_account_life_is_one_event_per_change_with_every_field(api: Api) -> None:
    start = _head(api)
    opened = api.post(
        "/v1/users",
        {"name": "Life Cycle", "group": "demo-usd", "leverage": 100},
        headers={"Idempotency-Key": "crm-open-1"},
    )
    assert opened.status_code == 201, opened.text
    login = opened.json()["login"]
    steps = [
        ("PATCH", f"/v1/users/{login}", {"comment": "vip"}, "crm-upd-1"),
        ("PATCH", f"/v1/users/{login}", {"leverage": 100_000}, "crm-refused"),  # refused
        ("POST", f"/v1/users/{login}/disable", {"reason": "kyc"}, "crm-dis-1"),
        ("POST", f"/v1/users/{login}/enable", None, "crm-en-1"),
        ("DELETE", f"/v1/users/{login}", None, "crm-del-1"),
        ("DELETE", f"/v1/users/{login}", None, "crm-del-again"),  # refused: already gone
    ]
    for method, path, body, request_id in steps:
        headers = {**api.headers(), "x-request-id": request_id}
        answer = api.client.request(method, path, json=body, headers=headers)
        assert (answer.status_code < 300) == (
            "refused" not in request_id and "again" not in request_id
        ), answer.text
    api.runtime.app.restore_account(RestoreAccount(login), api.admin)

    evs = [e for e in _after(api, start) if e["login"] == login]
    assert [e["type"] for e in evs] == [
        "account.opened",
        "account.updated",
        "account.disabled",
        "account.enabled",
        "account.deleted",
        "account.restored",
    ]
    assert [e["request_id"] for e in evs[:5]] == [
        "crm-open-1",
        "crm-upd-1",
        "crm-dis-1",
        "crm-en-1",
        "crm-del-1",
    ]
    for e in evs:
        assert set(e) == FIELDS
        assert e["group"] == "demo-usd" and e["white_label"] == "" and e["time"].endswith("Z")
        assert e["data"]["login"] == login
    for e in evs[:5]:
        assert e["dialect"] == "native" and e["actor"]["manager_login"] == 1000
        assert e["actor"]["key_id"]
    assert evs[-1]["dialect"] == "cli"  # the restore ran through the services, as the CLI
    assert evs[1]["data"]["comment"] == "vip"
    assert (evs[2]["data"]["enabled"], evs[3]["data"]["enabled"]) == (False, True)
    # the account as GET /v1/users/{login} answers it, after the change
    now = api.get(f"/v1/users/{login}").json()
    assert {k: evs[-1]["data"][k] for k in ("login", "name", "group", "leverage", "balance")} == {
        k: now[k] for k in ("login", "name", "group", "leverage", "balance")
    }


def test_every_ledger_kind_posts_one_event_with_the_figures_after(api: Api) -> None:
    login = api.open()["login"]
    start = _head(api)
    moves = [
        ("deposit", "500.00"),
        ("withdraw", "100.00"),
        ("credit", "50.00"),
        ("credit", "-20.00"),
        ("bonus", "30.00"),
        ("bonus", "-5.00"),
        ("correction", "-1.50"),
        ("correction", "2.25"),
        ("charge", "3.75"),
    ]
    for path, amount in moves:
        answer = api.post(f"/v1/balances/{path}", {"login": login, "amount": amount})
        assert answer.status_code == 200, (path, answer.text)
    # refused: more than the balance, a credit below zero, an unknown account: no events
    for path, amount in (("withdraw", "9999"), ("charge", "9999"), ("credit", "-999")):
        assert (
            api.post(f"/v1/balances/{path}", {"login": login, "amount": amount}).status_code >= 400
        )
    assert api.post("/v1/balances/deposit", {"login": 999_999, "amount": "1"}).status_code == 404

    evs = _after(api, start)
    assert {e["type"] for e in evs} == {"ledger.entry_posted"} and len(evs) == len(moves)
    history = api.get("/v1/balances/history", params={"login": login, "limit": 100}).json()
    entries = {item["operation_id"]: item for item in history["items"]}
    assert len(entries) == len(moves)
    for ev in evs:
        entry = entries[ev["data"]["operation_id"]]
        for field in ("kind", "amount", "balance", "credit", "bonus", "currency", "login"):
            assert ev["data"][field] == entry[field], (field, ev["data"], entry)
    last = evs[-1]["data"]
    assert (last["balance"], last["credit"], last["bonus"]) == ("397.00", "30.00", "25.00")
    account = api.get(f"/v1/users/{login}").json()
    assert (account["balance"], account["credit"], account["bonus"]) == ("397.00", "30.00", "25.00")
    assert [e["data"]["balance"] for e in evs] == [
        "500.00",
        "400.00",
        "400.00",
        "400.00",
        "400.00",
        "400.00",
        "398.50",
        "400.75",
        "397.00",
    ]


def test_a_partial_close_is_position_updated_with_its_pl(api: Api) -> None:
    login = api.open()["login"]
    assert api.post("/v1/balances/deposit", {"login": login, "amount": "10000"}).status_code == 200
    quotes = {"quotes": [{"symbol": "EURUSD", "bid": "1.10000", "ask": "1.10020"}]}
    assert api.put("/v1/quotes", quotes, key=api.feed_key()).status_code == 200
    opened = api.post(
        "/v1/positions", {"login": login, "symbol": "EURUSD", "side": "buy", "volume": "2"}
    )
    assert opened.status_code == 201, opened.text
    position = opened.json()["position"]["id"]
    start = _head(api)
    quotes = {"quotes": [{"symbol": "EURUSD", "bid": "1.10120", "ask": "1.10140"}]}
    assert api.put("/v1/quotes", quotes, key=api.feed_key()).status_code == 200
    half = api.post(f"/v1/positions/{position}/close", {"volume": "1"})
    assert half.status_code == 200, half.text
    evs = _after(api, start, types="ledger.,position.")
    assert [e["type"] for e in evs] == ["ledger.entry_posted", "position.updated"]
    assert evs[0]["data"]["kind"] == "trade" and evs[0]["data"]["amount"] == "100.00"
    assert evs[0]["data"]["balance"] == "10100.00"
    # in the native API's shapes: the position's fields as GET /v1/positions/{id} writes
    # them, the deal's as GET /v1/deals does (profit in the account currency, not cents)
    now = api.get(f"/v1/positions/{position}").json()
    shown = evs[1]["data"]["position"]
    assert shown == {k: now[k] for k in shown} and shown["volume"] == "1.00"
    deals = api.get("/v1/deals", params={"login": login}).json()["items"]
    deal = next(d for d in deals if d["id"] == evs[1]["data"]["deal"]["id"])
    for data in (evs[0]["data"]["deal"], evs[1]["data"]["deal"]):
        assert data == {k: deal[k] for k in data}, (data, deal)
        assert data["profit"] == "100.00" and data["volume"] == "1.00"
    assert evs[1]["data"]["position_id"] == position


def test_events_are_kept_thirty_days_unless_configured(
    runtime: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BROKERPLANE_EVENTS_RETENTION_DAYS", raising=False)
    assert Settings().events_retention_days == 30
    assert runtime.app.config.events_retention.days == 30
    assert Settings(events_retention_days=7).events_retention_days == 7
