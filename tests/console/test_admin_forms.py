"""Administration over real HTTP in-process (no browser): groups deleted and symbols added and
deleted through the core's commands after review; adding a manager, resetting its password and
creating a key applied once per form submission; the audit chain's verification bounded."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from brokerplane.core.access.commands import CreateApiKey
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.group.commands import CreateGroup
from tests.console.desk import Desk, post, sign_in

pytestmark = pytest.mark.engines("sqlite")

ROOT = Actor(None, frozenset({"admin"}))


def trail(desk: Desk, kind: str, name: str) -> list[tuple[str, str | None]]:
    found = desk.runtime.app.query_audit(
        AuditQuery(entity_type=kind, entity_id=name, limit=10), ROOT
    )
    return [(r.action, r.dialect) for r in found]


def test_a_group_is_deleted_after_review_unless_it_holds_accounts(desk: Desk) -> None:
    s = desk.runtime.app
    s.create_group(CreateGroup("demo-spare", "USD"), ROOT)
    page = desk.admin.get("/console/admin/group", params={"name": "demo-spare"})
    assert "Delete group demo-spare" in page.text
    form = {"action": "delete", "name": "demo-spare"}
    review = post(desk.admin, "/console/admin/group", form)
    assert review.startswith("200") and "Delete group demo-spare?" in review
    assert s.get_group("demo-spare", ROOT)  # nothing before it is confirmed
    done = post(desk.admin, "/console/admin/group", {**form, "step": "apply"})
    assert done.startswith("200") and "Group demo-spare deleted" in done
    assert ("group.deleted", "console") in trail(desk, "group", "demo-spare")
    assert desk.admin.get("/console/admin/group", params={"name": "demo-spare"}).status_code == 404
    # the core's rule: a group with accounts stays
    used = post(
        desk.admin,
        "/console/admin/group",
        {"action": "delete", "name": "demo-usd", "step": "apply"},
    )
    assert used.startswith("409") and "cannot be deleted" in used
    # an admin limited to demo* is refused before anything is read
    limited = post(
        desk.limited,
        "/console/admin/group",
        {"action": "delete", "name": "demo-usd", "step": "apply"},
    )
    assert limited.startswith("403")
    assert s.get_group("demo-usd", ROOT)


def test_a_symbol_is_added_and_deleted_after_review(desk: Desk) -> None:
    s = desk.runtime.app
    page = desk.admin.get("/console/admin/symbol")
    assert page.status_code == 200 and "Add a symbol" in page.text
    new = {
        "action": "create",
        "name": "GBPJPY",
        "currency_base": "",
        "currency_profit": "",
        "currency_margin": "",
        "description": "Pound/Yen",
        "trade_mode": "FULL",
        "digits": "3",
        "contract_size": "100000",
        "volume_min": "0.01",
        "volume_max": "50",
        "volume_step": "0.01",
        "spread": "0",
        "stops_level": "0",
        "swap_long": "0",
        "swap_short": "0",
    }
    review = post(desk.admin, "/console/admin/symbol", new)
    assert review.startswith("200") and "Add symbol GBPJPY?" in review
    assert "A symbol is traded in every group." in review
    done = desk.admin.post(
        "/console/admin/symbol", data={**new, "csrf": csrf_of(desk.admin), "step": "apply"}
    )
    assert done.status_code == 303 and done.headers["location"].endswith("done=added")
    symbol = s.get_symbol("GBPJPY", ROOT)
    assert (symbol.currency_base, symbol.currency_profit, symbol.digits) == ("GBP", "JPY", 3)
    again = post(desk.admin, "/console/admin/symbol", {**new, "step": "apply"})
    assert again.startswith("409")  # it exists: the core says so
    delete = {"action": "delete", "name": "GBPJPY"}
    assert "Delete symbol GBPJPY?" in post(desk.admin, "/console/admin/symbol", delete)
    done_text = post(desk.admin, "/console/admin/symbol", {**delete, "step": "apply"})
    assert "Symbol GBPJPY deleted" in done_text
    assert [a for a, _ in trail(desk, "symbol", "GBPJPY")] == ["symbol.created", "symbol.deleted"]
    assert {d for _, d in trail(desk, "symbol", "GBPJPY")} == {"console"}
    assert desk.admin.get("/console/admin/symbol", params={"name": "GBPJPY"}).status_code == 404
    # refused to anyone but an admin of unlimited reach, before anything is read
    for who in (desk.limited, desk.clerk):
        refused = post(who, "/console/admin/symbol", {**new, "step": "apply"})
        assert refused.startswith("403"), refused[:200]
        assert who.get("/console/admin/symbol").status_code == 403


def csrf_of(client: TestClient) -> str:
    token: str = client.get("/console/").text.split('name="csrf" value="')[1].split('"')[0]
    return token


def form_key(page: str) -> str:
    return page.split('name="key" value="')[1].split('"')[0]


def test_adding_a_manager_is_applied_once_per_form(desk: Desk) -> None:
    key = form_key(desk.admin.get("/console/admin/manager").text)
    form = [
        ("action", "create"),
        ("login", "1077"),
        ("name", "Twice"),
        ("with_password", "1"),
        ("right", "users:read"),
        ("group_mask", "*"),
        ("white_labels", "*"),
        ("key", key),
        ("step", "apply"),
    ]
    first = post(desk.admin, "/console/admin/manager", form)
    assert "Manager 1077 added" in first
    password = first.split('<code id="password">')[1].split("<")[0]
    second = post(desk.admin, "/console/admin/manager", form)  # a forced second post
    assert second.startswith("200") and "already been sent" in second
    assert '<code id="password">' not in second and password not in second
    assert [a for a, _ in trail(desk, "manager", "1077")] == ["manager.created"]
    # the same key for another manager is refused: nothing applied
    other = [(k, "1078" if k == "login" else v) for k, v in form]
    assert post(desk.admin, "/console/admin/manager", other).startswith("409")
    assert desk.runtime.app.get_manager(1078) is None
    with TestClient(desk.admin.app, follow_redirects=False) as it:
        sign_in(it, 1077, password)


def test_a_password_reset_is_applied_once_per_form(desk: Desk) -> None:
    page = desk.admin.get("/console/admin/manager", params={"login": "1003"}).text
    form = [("action", "password"), ("login", "1003"), ("key", form_key(page)), ("step", "apply")]
    first = post(desk.admin, "/console/admin/manager", form)
    password = first.split('<code id="password">')[1].split("<")[0]
    second = post(desk.admin, "/console/admin/manager", form)
    assert "already been sent" in second and '<code id="password">' not in second
    with TestClient(desk.admin.app, follow_redirects=False) as it:
        sign_in(it, 1003, password)  # the first reset's password still holds: reset once


def test_creating_a_key_is_applied_once_per_form(desk: Desk) -> None:
    s = desk.runtime.app
    before = len(s.list_api_keys(ROOT, 1003))
    key = form_key(desk.admin.get("/console/admin").text)
    form = [
        ("action", "create"),
        ("manager", "1003"),
        ("name", "crm"),
        ("scope", "users:read"),
        ("key", key),
    ]
    first = post(desk.admin, "/console/admin/keys", form)
    assert '<code id="secret">' in first
    secret = first.split('<code id="secret">')[1].split("<")[0]
    second = post(desk.admin, "/console/admin/keys", form)
    assert "already been sent" in second and '<code id="secret">' not in second
    assert secret not in second
    assert len(s.list_api_keys(ROOT, 1003)) == before + 1
    # a form without its key is refused, nothing made
    bare = post(desk.admin, "/console/admin/keys", [p for p in form if p[0] != "key"])
    assert bare.startswith("400") and "submission key" in bare
    assert len(s.list_api_keys(ROOT, 1003)) == before + 1


def console_of(client: TestClient) -> Any:
    for route in client.app.routes:  # type: ignore[attr-defined]
        if isinstance(route, Mount) and route.path == "/console":
            return route.app.state.console  # type: ignore[attr-defined]
    raise AssertionError("no console mounted")


def test_verifying_the_chain_is_bounded_per_interval(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = desk.runtime.app
    calls: list[int] = []
    real = s.verify_audit

    def counted(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(s, "verify_audit", counted)
    first = desk.admin.get("/console/audit", params={"verify": "1"}).text
    assert "The audit chain is intact" in first and 'id="chain-cached"' not in first
    for _ in range(5):  # a reload held down
        again = desk.admin.get("/console/audit", params={"verify": "1"}).text
        assert "The audit chain is intact" in again and 'id="chain-cached"' in again
    assert len(calls) == 1
    console_of(desk.admin).chain_check.every = 0  # the interval passed
    desk.admin.get("/console/audit", params={"verify": "1"})
    assert len(calls) == 2
    # a manager who may not read the whole trail is refused before any re-hash
    assert desk.limited.get("/console/audit", params={"verify": "1"}).status_code == 403
    assert len(calls) == 2
    s.open_account(OpenAccount(group="demo-usd", name="After"), ROOT)  # the chain grows


def test_keys_are_rotated_and_revoked_and_thresholds_set_and_removed(desk: Desk) -> None:
    s = desk.runtime.app
    issued = s.create_api_key(CreateApiKey(1003, frozenset({"users:read"}), "crm"), ROOT)
    rotated = post(desk.admin, "/console/admin/keys", {"action": "rotate", "key_id": issued.key.id})
    assert f"Key {issued.key.id} rotated" in rotated and '<code id="secret">' in rotated
    again = post(desk.admin, "/console/admin/keys", {"action": "rotate", "key_id": issued.key.id})
    assert again.startswith("400") and "rotated already" in again  # the core refuses a second
    new_id = rotated.split("New secret of key ")[1].split("<")[0]
    revoked = post(desk.admin, "/console/admin/keys", {"action": "revoke", "key_id": new_id})
    assert f"Key {new_id} revoked" in revoked and '<code id="secret">' not in revoked
    set_ = post(desk.admin, "/console/admin/thresholds", {"currency": "usd", "amount": "2500"})
    assert "USD threshold: above 2500" in set_
    assert [(t.currency, t.amount) for t in s.list_approval_thresholds(ROOT)] == [("USD", 250000)]
    removed = post(desk.admin, "/console/admin/thresholds", {"currency": "USD", "amount": ""})
    assert "USD threshold: removed" in removed and s.list_approval_thresholds(ROOT) == []
    # a limited admin may not remove a currency's threshold (it weakens four eyes everywhere)
    post(desk.admin, "/console/admin/thresholds", {"currency": "USD", "amount": "2500"})
    limited = post(desk.limited, "/console/admin/thresholds", {"currency": "USD", "amount": ""})
    assert limited.startswith("403") and len(s.list_approval_thresholds(ROOT)) == 1
