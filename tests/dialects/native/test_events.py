"""GET /v1/events over HTTP on both engines: pages resume from any cursor, reach and the
personal-data rule apply per key, administrators alone see manager and key events, and hostile
parameters (unknown or too many types, forged cursors, bad masks) are refused cleanly."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from tests.dialects.native.conftest import Api

READER = frozenset({"reports:read"})


def _feed(api: Api, key: str | None = None, **params: Any) -> dict[str, Any]:
    response = api.get("/v1/events", key=key, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _all(api: Api, key: str | None = None, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    after = 0
    while True:
        page = _feed(api, key, after=after, **params)
        items += page["items"]
        if not page["more"]:
            return items
        after = page["next"]


def _limited_key(api: Api, mask: str, *rights: str) -> str:
    services = api.runtime.app
    services.create_manager(
        CreateManager(3000, "Demo desk", "Dem0!desk-pw", rights=frozenset(rights), group_mask=mask),
        api.admin,
    )
    return services.create_api_key(CreateApiKey(3000, frozenset(rights)), api.admin).secret


def test_pages_resume_from_any_cursor_in_commit_order(api: Api) -> None:
    login = api.open(email="ann@example.com")["login"]
    for n in range(5):
        response = api.post("/v1/balances/deposit", {"login": login, "amount": f"{n + 1}.00"})
        assert response.status_code == 200
    whole = _all(api)
    ids = [e["id"] for e in whole]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    deposits = [e for e in whole if e["type"] == "ledger.entry_posted"]
    assert [e["data"]["balance"] for e in deposits] == ["1.00", "3.00", "6.00", "10.00", "15.00"]
    # small pages, from every cursor: the same events after it
    for i, cursor in enumerate([0, *ids]):
        paged: list[int] = []
        after = cursor
        while True:
            page = _feed(api, after=after, limit=2)
            paged += [e["id"] for e in page["items"]]
            if not page["more"]:
                break
            after = page["next"]
        assert paged == ids[i:]
    opened = next(e for e in whole if e["type"] == "account.opened" and e["login"] == login)
    assert opened["data"]["email"] == "ann@example.com"  # the admin key has personal_data
    assert opened["data"]["balance"] == "0.00" and opened["data"]["group"] == "demo-usd"
    assert opened["actor"]["manager_login"] == 1000 and opened["dialect"] == "native"
    assert opened["request_id"]


def test_types_filter_and_prefixes(api: Api) -> None:
    login = api.open()["login"]
    api.post("/v1/balances/deposit", {"login": login, "amount": "1"})
    api.post(f"/v1/users/{login}/disable", {"reason": "kyc"})
    only = _all(api, types="ledger.entry_posted")
    assert [e["type"] for e in only] == ["ledger.entry_posted"]
    accounts = _all(api, types=["account.", "key.created"])
    assert {e["type"] for e in accounts} >= {"account.opened", "account.disabled"}
    assert all(e["type"].startswith(("account.", "key.")) for e in accounts)
    types = api.get("/v1/events/types").json()["items"]
    assert "ledger.entry_posted" in types and "approval.decided" in types


def test_a_manager_limited_to_demo_never_sees_another_groups_event(api: Api) -> None:
    demo = api.open(group="demo-usd", email="d@example.com")["login"]
    real = api.open(group="real\\standard", email="r@example.com")["login"]
    for login in (demo, real):
        assert api.post("/v1/balances/deposit", {"login": login, "amount": "5"}).status_code == 200
    key = _limited_key(api, "demo*", "reports:read")
    seen = _all(api, key)
    assert seen and {e["login"] for e in seen} == {demo}
    assert all(e["group"].startswith("demo") for e in seen)
    # no manager or key events for a non-admin, and asking for them is refused
    assert not any(e["type"].startswith(("manager.", "key.")) for e in seen)
    refused = api.get("/v1/events", key=key, params={"types": "key."})
    assert refused.status_code == 403
    # without personal_data, contact details read back empty
    opened = next(e for e in seen if e["type"] == "account.opened")
    assert opened["data"]["email"] == ""
    # a group filter narrows within reach, never widens it
    assert _all(api, key, group="real*") == []
    assert {e["login"] for e in _all(api, group="real*")} == {real}


def test_a_limited_managers_cursors_say_nothing_of_other_groups_events(api: Api) -> None:
    """`head`, `next` and `more` of a key limited to demo* follow its own events only: other
    groups' deposits move none of them, and a cursor past the newest event names no id."""
    demo = api.open(group="demo-usd")["login"]
    real = api.open(group="real\\standard")["login"]
    key = _limited_key(api, "demo*", "reports:read")
    assert api.post("/v1/balances/deposit", {"login": demo, "amount": "5"}).status_code == 200
    mine = max(e["id"] for e in _all(api, key))
    before = _feed(api, key, after=0)
    assert before["head"] == before["next"] == mine and before["more"] is False
    for _ in range(3):
        assert api.post("/v1/balances/deposit", {"login": real, "amount": "5"}).status_code == 200
    everyone = _feed(api, after=0)["head"]
    assert everyone > mine
    for after in (0, mine, mine - 1):
        page = _feed(api, key, after=after)
        assert page["head"] == page["next"] == mine and page["more"] is False
        assert str(everyone) not in str({k: v for k, v in page.items() if k != "items"})
    # a cursor past every event: an empty page at that cursor, no error naming the newest id
    past = _feed(api, key, after=everyone + 5)
    assert past == {"items": [], "next": everyone + 5, "head": everyone + 5, "more": False}
    # the administrator still sees the whole feed's head, and a bad cursor is still refused
    assert _feed(api, after=0)["head"] == everyone
    assert api.get("/v1/events", params={"after": everyone + 5}).status_code == 400


def test_admin_sees_manager_and_key_events_without_secrets(api: Api) -> None:
    api.runtime.app.create_manager(CreateManager(3100, "Ops"), api.admin)
    created = api.post("/v1/keys", {"scopes": ["users:read"], "name": "crm"})
    assert created.status_code == 201
    key_id = created.json()["id"]
    assert api.post(f"/v1/keys/{key_id}/rotate").status_code in (200, 201)
    assert api.client.delete(f"/v1/keys/{key_id}", headers=api.headers()).status_code == 200
    from brokerplane.core.access.commands import UpdateManager

    api.runtime.app.update_manager(UpdateManager(3100, name="Ops desk"), api.admin)
    evs = _all(api, types="manager.,key.")
    kinds = [e["type"] for e in evs]
    for kind in ("manager.created", "manager.updated", "key.created", "key.rotated", "key.revoked"):
        assert kind in kinds, kind
    assert [
        e["data"]["id"] for e in evs if e["type"].startswith("key.") and e["type"] != "key.created"
    ] == [key_id, key_id]
    for e in evs:
        assert "verifiers_digest" not in e["data"] and "secret_digest" not in e["data"]
        assert created.json()["key"] not in str(e)


@pytest.mark.parametrize(
    "params",
    [
        {"after": "abc"},
        {"after": "-1"},
        {"after": "1e9"},
        {"after": "²"},  # a digit to str.isdigit, not to int()
        {"after": "1²"},
        {"after": str(2**63)},
        {"after": "99999999"},  # past the newest event: not a cursor this feed returned
        {"types": "account.exploded"},
        {"types": ",".join(["account.opened"] * 40)},
        {"types": "x" * 5000},
        {"group": "a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p*q*r*s*"},
        {"limit": "0"},
        {"limit": "100000"},
    ],
)
def test_hostile_parameters_are_refused_with_a_400(api: Api, params: dict[str, str]) -> None:
    response = api.get("/v1/events", params=params)
    assert response.status_code in (400, 422), response.text
    assert response.headers["content-type"].startswith("application/problem+json")


def test_a_trade_posts_its_pl_and_opens_and_closes_its_position(api: Api) -> None:
    login = api.open()["login"]
    assert api.post("/v1/balances/deposit", {"login": login, "amount": "10000"}).status_code == 200
    quotes = {"quotes": [{"symbol": "EURUSD", "bid": "1.10000", "ask": "1.10020"}]}
    assert api.put("/v1/quotes", quotes, key=api.feed_key()).status_code == 200
    head = _feed(api)["head"]
    opened = api.post(
        "/v1/positions", {"login": login, "symbol": "EURUSD", "side": "buy", "volume": "1"}
    )
    assert opened.status_code == 201, opened.text
    quotes = {"quotes": [{"symbol": "EURUSD", "bid": "1.10120", "ask": "1.10140"}]}
    assert api.put("/v1/quotes", quotes, key=api.feed_key()).status_code == 200
    closed = api.post(f"/v1/positions/{opened.json()['position']['id']}/close")
    assert closed.status_code == 200, closed.text
    evs = _all(api, types="ledger.,position.")
    evs = [e for e in evs if e["id"] > head]
    assert [e["type"] for e in evs] == [
        "ledger.entry_posted",
        "position.opened",
        "ledger.entry_posted",
        "position.closed",
    ]
    pl = evs[2]["data"]
    assert pl["kind"] == "trade" and pl["amount"] == "100.00"  # 1 lot, +10 pips
    assert pl["balance"] == "10100.00" and pl["credit"] == "0.00"
    assert pl["deal"]["entry"] == "out"
    assert evs[3]["data"]["position"] is None
    assert evs[3]["data"]["position_id"] == opened.json()["position"]["id"]


def test_approval_requested_decided_and_expired(api: Api) -> None:
    from datetime import timedelta

    from brokerplane.application.app import Application
    from tests.unit.fakes import FakeClock

    login = api.open()["login"]
    put = api.put("/v1/approval-thresholds", {"currency": "USD", "amount": "1000"})
    assert put.status_code == 200
    held = api.post("/v1/balances/deposit", {"login": login, "amount": "5000"})
    assert held.status_code == 202
    later = FakeClock(api.runtime.app.clock() + timedelta(days=4))
    Application(api.runtime.storage.uow, api.runtime.app.config, later).run_maintenance()
    evs = _all(api, types="approval.")
    assert [e["type"] for e in evs] == ["approval.requested", "approval.expired"]
    assert evs[0]["data"]["amount"] == "5000.00" and evs[0]["login"] == login
    assert evs[1]["data"]["state"] == "expired" and evs[1]["actor"]["operator_id"] == "maintenance"


def test_a_transfer_posts_one_event_per_leg(api: Api) -> None:
    source = api.open()["login"]
    target = api.open()["login"]
    assert api.post("/v1/balances/deposit", {"login": source, "amount": "50.00"}).status_code == 200
    head = max(e["id"] for e in _all(api))
    moved = api.post(
        "/v1/balances/transfer", {"from_login": source, "to_login": target, "amount": "20.00"}
    )
    assert moved.status_code == 200, moved.text
    posted = [e for e in _all(api, types="ledger.entry_posted") if e["id"] > head]
    legs = [e for e in posted if e["data"]["reference"].startswith("transfer:")]
    assert [(e["login"], e["data"]["kind"], e["data"]["balance"]) for e in legs] == [
        (source, "withdrawal", "30.00"),
        (target, "deposit", "20.00"),
    ]
    assert legs[0]["data"]["reference"] == legs[1]["data"]["reference"]
