"""The native /keys endpoints, creating and listing: the secret shown once, scopes within the
manager's and the calling key's, keys for other managers, each key's state and last use.

Time moves honestly where a test needs it: a second app over the same database runs the core
with a FakeClock (the `timed` fixture, keys_support.py). Both engines.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from brokerplane.storage import tables
from tests.dialects.native import keys_support
from tests.dialects.native.conftest import Api
from tests.dialects.native.keys_support import (
    OTHER,
    Timed,
    _create,
    _iso,
    _items,
    _keys_at_rest,
    _other_key,
    _other_manager,
    _problem,
    _rows,
    _when,
)

# The key tests' fixtures (tests/dialects/native/keys_support.py).
timed = keys_support.timed


# ---- create -----------------------------------------------------------------------------------


def test_a_new_key_shows_its_secret_once_and_is_named_later_by_its_prefix(api: Api) -> None:
    created = _create(api, scopes=["reports:read", "users:read"], name="dashboard")
    secret = created["key"]
    assert set(created) == {
        "id",
        "key",
        "prefix",
        "manager_login",
        "scopes",
        "name",
        "expires_at",
        "previous",
    }
    assert secret.startswith(f"bpk_{created['prefix']}_") and len(secret) > 40
    assert (created["manager_login"], created["scopes"], created["name"]) == (
        1000,
        ["reports:read", "users:read"],
        "dashboard",
    )
    assert created["expires_at"] is None and created["previous"] is None
    assert api.get("/v1/users", key=secret).status_code == 200
    listed = api.get("/v1/keys")
    assert secret not in listed.text and secret.split("_", 2)[2] not in listed.text
    (item,) = [k for k in listed.json()["items"] if k["id"] == created["id"]]
    assert "key" not in item and "secret_hash" not in item
    assert (item["prefix"], item["state"], item["scopes"]) == (
        created["prefix"],
        "active",
        ["reports:read", "users:read"],
    )
    (row,) = [r for r in _rows(api, tables.api_keys) if r["id"] == created["id"]]
    assert row["prefix"] == created["prefix"] and secret not in str(row)


def test_a_key_works_only_within_its_scopes(api: Api) -> None:
    secret = _create(api, scopes=["users:read"])["key"]
    assert api.get("/v1/users", key=secret).status_code == 200
    refused = api.post("/v1/balances/deposit", {"login": 910024, "amount": "1"}, key=secret)
    assert _problem(refused, 403, "PermissionDenied")["code"] == "auth.missing_scope"


def test_a_key_may_hold_only_scopes_its_manager_holds(api: Api) -> None:
    _other_manager(api, "users:read", "reports:read")
    beyond = api.post("/v1/keys", {"scopes": ["users:read", "users:write"], "manager_login": OTHER})
    assert "users:write" in _problem(beyond, 403, "PermissionDenied")["detail"]
    assert _items(api, manager=OTHER) == []
    within = _create(api, scopes=["reports:read", "users:read"], manager_login=OTHER)
    assert within["manager_login"] == OTHER


def test_a_key_cannot_hand_out_scopes_the_calling_key_lacks(api: Api) -> None:
    caller = api.key("users:read", "users:write")
    before = len(_items(api))
    for scopes in (["users:read", "balances:write"], ["admin"], ["personal_data"]):
        refused = api.post("/v1/keys", {"scopes": scopes}, key=caller)
        assert "lacks" in _problem(refused, 403, "PermissionDenied")["detail"], scopes
    assert len(_items(api)) == before
    narrower = _create(api, key=caller, scopes=["users:read"])
    assert narrower["scopes"] == ["users:read"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scopes": ["users:read", "money:print"]}, "scopes"),
        ({"scopes": []}, "scopes"),
        ({"scopes": ["users:read"], "expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
        ({"scopes": ["users:read"], "expires_at": "next tuesday"}, "expires_at"),
        ({"scopes": ["users:read"], "name": "n" * 128}, "name"),
        ({"scopes": ["users:read"], "manager_login": "1000"}, "manager_login"),
    ],
    ids=["unknown scope", "no scope", "expired already", "not a time", "long name", "login str"],
)
def test_bad_key_requests_are_400_and_create_nothing(
    api: Api, body: dict[str, Any], field: str
) -> None:
    before = _keys_at_rest(api)
    refused = api.post("/v1/keys", body)
    problem = _problem(refused, 400, "ValidationError")
    assert field in [e["field"] for e in problem["errors"]], problem
    assert _keys_at_rest(api) == before


def test_an_admin_creates_a_key_for_another_manager(api: Api) -> None:
    _other_manager(api, "users:read", "reports:read")
    created = _create(api, scopes=["reports:read"], manager_login=OTHER, name="for-ops")
    assert created["manager_login"] == OTHER
    mine = _items(api, key=created["key"])
    assert [k["id"] for k in mine] == [created["id"]]  # the key acts as manager 3000
    audit = api.get("/v1/audit", params={"entity_type": "api_key", "entity_id": created["id"]})
    (record,) = audit.json()["items"]
    assert (record["action"], record["manager_login"]) == ("api_key.created", 1000)


def test_a_non_admin_cannot_create_a_key_for_another_manager(api: Api) -> None:
    _other_manager(api, "users:read")
    refused = api.post(
        "/v1/keys", {"scopes": ["users:read"], "manager_login": OTHER}, key=api.key("users:read")
    )
    _problem(refused, 403, "PermissionDenied")
    assert _items(api, manager=OTHER) == []
    own = _create(api, key=api.key("users:read"), manager_login=1000)
    assert own["manager_login"] == 1000


def test_a_key_for_an_unknown_manager_is_404(api: Api) -> None:
    refused = api.post("/v1/keys", {"scopes": ["users:read"], "manager_login": 424242})
    assert _problem(refused, 404, "NotFound")["code"] == "manager.not_found"


# ---- list ------------------------------------------------------------------------------------


def test_the_key_list_shows_each_keys_state_and_last_use(timed: Timed) -> None:
    unused = timed.create(name="unused")
    used = timed.create(name="used")
    revoked = timed.create(name="revoked")
    expiring = timed.create(name="expiring", expires_at=_iso(timed.clock() + timedelta(hours=1)))
    first_use = timed.clock()
    assert timed.works(used["key"]) == 200
    assert timed.delete(f"/v1/keys/{revoked['id']}").status_code == 200
    timed.clock.advance(hours=2)
    items = timed.items()
    assert items[unused["id"]]["state"] == "active"
    assert items[unused["id"]]["last_used_at"] is None
    assert items[used["id"]]["state"] == "active"
    assert _when(items[used["id"]]["last_used_at"]) == first_use
    assert items[revoked["id"]]["state"] == "revoked" and items[revoked["id"]]["revoked_at"]
    assert items[expiring["id"]]["state"] == "expired"
    assert _when(items[expiring["id"]]["created_at"]) == first_use


def test_last_use_is_recorded_to_within_a_minute(timed: Timed) -> None:
    key = timed.create()
    start = timed.clock()
    assert timed.works(key["key"]) == 200
    timed.clock.advance(seconds=30)
    assert timed.works(key["key"]) == 200
    assert _when(timed.items()[key["id"]]["last_used_at"]) == start
    timed.clock.advance(seconds=31)
    assert timed.works(key["key"]) == 200
    assert _when(timed.items()[key["id"]]["last_used_at"]) == timed.clock()


def test_an_admin_lists_any_managers_keys_and_others_only_their_own(api: Api) -> None:
    _other_manager(api, "users:read")
    theirs = _other_key(api, "users:read")
    mine = api.key("users:read")
    only_theirs = _items(api, manager=OTHER)
    assert len(only_theirs) == 1 and only_theirs[0]["manager_login"] == OTHER
    everyone = {k["manager_login"] for k in _items(api)}
    assert everyone == {1000, OTHER}
    assert {k["manager_login"] for k in _items(api, key=mine)} == {1000}
    assert {k["manager_login"] for k in _items(api, key=theirs)} == {OTHER}
    refused = api.get("/v1/keys", key=mine, params={"manager": OTHER})
    _problem(refused, 403, "PermissionDenied")
