"""The native /keys endpoints: create (secret once), list, rotate with overlap, expire, revoke.

Time moves honestly: a second app over the same database runs the core with a FakeClock, so
rotation overlaps and expiries are crossed without sleeping. Both engines.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from brokerplane.api.app import create_app
from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime, build
from brokerplane.core.access.commands import CreateApiKey, CreateManager, UpdateManager
from brokerplane.core.config import CoreConfig
from brokerplane.storage import tables
from tests.dialects.native.conftest import Api
from tests.unit.fakes import FakeClock

OTHER = 3000  # a second manager
REPLAY = "Idempotent-Replay"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _other_manager(api: Api, *rights: str) -> None:
    cmd = CreateManager(OTHER, "Other", "0ther!Passw0rd", rights=frozenset(rights))
    api.runtime.services.create_manager(cmd, api.admin)


def _other_key(api: Api, *scopes: str) -> str:
    issued = api.runtime.services.create_api_key(CreateApiKey(OTHER, frozenset(scopes)), api.admin)
    return issued.secret


def _create(api: Api, key: str | None = None, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/keys", {"scopes": ["users:read"], **body}, key=key)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _items(api: Api, key: str | None = None, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v1/keys", key=key, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _rows(api: Api, table: Any) -> list[dict[str, Any]]:
    with api.runtime.storage.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def _keys_at_rest(api: Api) -> list[dict[str, Any]]:
    """The stored keys, last use aside (the request itself touches the calling key)."""
    return [
        {k: v for k, v in r.items() if k != "last_used_at"} for r in _rows(api, tables.api_keys)
    ]


def _problem(response: Any, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["title"] == title
    return body


@dataclass
class Timed:
    """The same database behind a second app whose core reads a clock the test moves."""

    api: Api
    client: TestClient
    clock: FakeClock

    def get(self, path: str, key: str | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers=_auth(key or self.api.admin_key), **kw)

    def post(self, path: str, json: Any = None, key: str | None = None) -> Any:
        return self.client.post(path, json=json, headers=_auth(key or self.api.admin_key))

    def delete(self, path: str, key: str | None = None) -> Any:
        return self.client.delete(path, headers=_auth(key or self.api.admin_key))

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.post("/v1/keys", {"scopes": ["users:read"], **body})
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def works(self, key: str) -> int:
        """The status a plain read answers the key: 200, or 401 once it stops working."""
        return int(self.get("/v1/groups", key=key).status_code)

    def items(self, **params: Any) -> dict[str, dict[str, Any]]:
        response = self.get("/v1/keys", params=params)
        assert response.status_code == 200, response.text
        return {k["id"]: k for k in response.json()["items"]}


@contextmanager
def _timed_app(api: Api, config: CoreConfig) -> Iterator[Timed]:
    clock = FakeClock(datetime.now(UTC))
    rt = api.runtime
    moved = Runtime(rt.settings, rt.storage, Application(rt.storage.uow, config, clock))
    with TestClient(create_app(moved)) as client:
        yield Timed(api, client, clock)


@pytest.fixture
def timed(api: Api) -> Iterator[Timed]:
    with _timed_app(api, api.runtime.services.config) as moved:
        yield moved


# ---- create -----------------------------------------------------------------------------------


def test_a_new_key_shows_its_secret_once_and_is_named_later_by_its_prefix(api: Api) -> None:
    created = _create(api, scopes=["reports:read", "users:read"], name="dashboard")
    secret = created["key"]
    assert set(created) == {
        "id", "key", "prefix", "manager_login", "scopes", "name", "expires_at", "previous",
    }  # fmt: skip
    assert secret.startswith(f"bpk_{created['prefix']}_") and len(secret) > 40
    assert (created["manager_login"], created["scopes"], created["name"]) == (
        1000, ["reports:read", "users:read"], "dashboard",
    )  # fmt: skip
    assert created["expires_at"] is None and created["previous"] is None
    assert api.get("/v1/users", key=secret).status_code == 200
    listed = api.get("/v1/keys")
    assert secret not in listed.text and secret.split("_", 2)[2] not in listed.text
    (item,) = [k for k in listed.json()["items"] if k["id"] == created["id"]]
    assert "key" not in item and "secret_hash" not in item
    assert (item["prefix"], item["state"], item["scopes"]) == (
        created["prefix"], "active", ["reports:read", "users:read"],
    )  # fmt: skip
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
    refused = api.post("/v1/keys", {"scopes": ["users:read"], "manager_login": OTHER},
                       key=api.key("users:read"))  # fmt: skip
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


# ---- rotation and expiry -------------------------------------------------------------------


def test_a_rotated_keys_new_secret_works_at_once_and_the_old_one_until_the_overlap_ends(
    timed: Timed,
) -> None:
    old = timed.create(scopes=["reports:read", "users:read"], name="worker")
    rotated_at = timed.clock()
    response = timed.post(f"/v1/keys/{old['id']}/rotate", key=old["key"])
    assert response.status_code == 201, response.text
    new = response.json()
    assert new["key"] != old["key"] and new["id"] != old["id"] and new["prefix"] != old["prefix"]
    assert (new["scopes"], new["name"], new["expires_at"]) == (
        ["reports:read", "users:read"], "worker", None,
    )  # fmt: skip
    assert new["previous"] == {
        "id": old["id"],
        "expires_at": _iso(rotated_at + timedelta(hours=24)),
    }
    assert timed.works(new["key"]) == 200 and timed.works(old["key"]) == 200
    timed.clock.advance(hours=23, minutes=59, seconds=59)
    assert timed.works(old["key"]) == 200
    timed.clock.advance(seconds=1)
    refused = timed.get("/v1/groups", key=old["key"])
    assert "expired" in _problem(refused, 401, "Unauthorized")["detail"]
    assert timed.works(new["key"]) == 200
    items = timed.items()
    assert (items[old["id"]]["state"], items[new["id"]]["state"]) == ("expired", "active")
    actions = [
        r["action"]
        for r in timed.get("/v1/audit", params={"entity_type": "api_key"}).json()["items"]
        if r["entity_id"] in (old["id"], new["id"])
    ]
    assert actions == ["api_key.created", "api_key.rotated", "api_key.created"]


def test_the_rotation_overlap_follows_the_setting(api: Api) -> None:
    settings = api.runtime.settings.model_copy(update={"key_rotation_overlap_hours": 2})
    configured = build(settings)  # the setting's path into the core's config
    try:
        config = configured.services.config
    finally:
        configured.close()
    assert config.key_rotation_overlap == timedelta(hours=2)
    with _timed_app(api, config) as timed:
        old = timed.create()
        response = timed.post(f"/v1/keys/{old['id']}/rotate")
        assert response.status_code == 201, response.text
        timed.clock.advance(hours=1, minutes=59)
        assert timed.works(old["key"]) == 200
        timed.clock.advance(minutes=1)
        assert timed.works(old["key"]) == 401


def test_with_no_overlap_a_rotated_secret_stops_at_once(api: Api) -> None:
    config = replace(api.runtime.services.config, key_rotation_overlap=timedelta(0))
    with _timed_app(api, config) as timed:
        old = timed.create()
        new = timed.post(f"/v1/keys/{old['id']}/rotate").json()
        assert timed.works(old["key"]) == 401 and timed.works(new["key"]) == 200


def test_rotation_keeps_an_expiry_sooner_than_the_overlap(timed: Timed) -> None:
    soon = _iso(timed.clock() + timedelta(hours=2))
    old = timed.create(expires_at=soon)
    new = timed.post(f"/v1/keys/{old['id']}/rotate").json()
    assert new["expires_at"] == soon and new["previous"]["expires_at"] == soon
    timed.clock.advance(hours=2)
    assert timed.works(old["key"]) == 401 and timed.works(new["key"]) == 401


def test_a_key_stops_working_at_its_expiry(timed: Timed) -> None:
    key = timed.create(expires_at=_iso(timed.clock() + timedelta(hours=1)))
    timed.clock.advance(minutes=59, seconds=59)
    assert timed.works(key["key"]) == 200
    timed.clock.advance(seconds=1)
    refused = timed.get("/v1/groups", key=key["key"])
    assert "expired" in _problem(refused, 401, "Unauthorized")["detail"]
    assert timed.items()[key["id"]]["state"] == "expired"


def test_a_revoked_or_expired_key_cannot_be_rotated(timed: Timed) -> None:
    revoked = timed.create()
    assert timed.delete(f"/v1/keys/{revoked['id']}").status_code == 200
    expiring = timed.create(expires_at=_iso(timed.clock() + timedelta(hours=1)))
    retired = timed.create()
    assert timed.post(f"/v1/keys/{retired['id']}/rotate").status_code == 201
    timed.clock.advance(hours=25)
    before = timed.items()
    for key in (revoked, expiring, retired):
        refused = timed.post(f"/v1/keys/{key['id']}/rotate")
        problem = _problem(refused, 400, "ValidationError")
        assert [e["field"] for e in problem["errors"]] == ["key_id"]
    assert timed.items() == before


# ---- revoke --------------------------------------------------------------------------------


def test_revoking_a_key_refuses_it_at_once(api: Api) -> None:
    created = _create(api)
    assert api.get("/v1/groups", key=created["key"]).status_code == 200
    response = api.client.delete(f"/v1/keys/{created['id']}", headers=api.headers())
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "revoked" and response.json()["revoked_at"]
    refused = api.get("/v1/groups", key=created["key"])
    assert "revoked" in _problem(refused, 401, "Unauthorized")["detail"]
    again = api.client.delete(f"/v1/keys/{created['id']}", headers=api.headers())
    assert again.status_code == 200 and again.json()["state"] == "revoked"


def test_a_key_may_revoke_itself(api: Api) -> None:
    created = _create(api)
    own = api.client.delete(f"/v1/keys/{created['id']}", headers=api.headers(created["key"]))
    assert own.status_code == 200
    assert api.get("/v1/keys", key=created["key"]).status_code == 401


def test_another_managers_keys_are_not_found(api: Api) -> None:
    _other_manager(api, *("users:read", "users:write", "admin"))
    theirs = _other_key(api, "users:read", "users:write")  # the manager is admin, its key not
    mine = _create(api)
    for method, path in (("POST", f"/v1/keys/{mine['id']}/rotate"),
                         ("DELETE", f"/v1/keys/{mine['id']}"),
                         ("POST", "/v1/keys/0123456789abcdef/rotate"),
                         ("DELETE", "/v1/keys/0123456789abcdef")):  # fmt: skip
        refused = api.client.request(method, path, headers=api.headers(theirs))
        assert _problem(refused, 404, "NotFound")["code"] == "api_key.not_found", path
    assert api.get("/v1/groups", key=mine["key"]).status_code == 200
    assert [k["state"] for k in _items(api) if k["id"] == mine["id"]] == ["active"]


# ---- the manager behind the keys -----------------------------------------------------------


def test_a_disabled_managers_keys_stop_at_once(api: Api) -> None:
    _other_manager(api, "users:read", "reports:read")
    first, second = _other_key(api, "users:read"), _other_key(api, "reports:read")
    assert api.get("/v1/groups", key=first).status_code == 200
    assert api.get("/v1/reports/users", key=second).status_code == 200
    api.runtime.services.update_manager(UpdateManager(OTHER, enabled=False), api.admin)
    for key in (first, second):
        refused = api.get("/v1/keys", key=key)
        assert "disabled" in _problem(refused, 401, "Unauthorized")["detail"]
    assert api.get("/v1/groups", key=api.key("users:read")).status_code == 200  # others go on


def test_a_new_manager_password_leaves_its_keys_working(api: Api) -> None:
    # Keys are credentials of their own, revoked one by one; the password is for the
    # dialects' manager logins (MT5, cTrader, TE), whose sessions it ends.
    _other_manager(api, "users:read")
    key = _other_key(api, "users:read")
    api.runtime.services.update_manager(UpdateManager(OTHER, password="N3w#Passw0rd"), api.admin)
    assert api.get("/v1/groups", key=key).status_code == 200


def test_a_right_revoked_from_the_manager_closes_its_keys_scope_at_once(api: Api) -> None:
    _other_manager(api, "users:read", "reports:read")
    key = _other_key(api, "users:read", "reports:read")
    assert api.get("/v1/groups", key=key).status_code == 200
    revoke = UpdateManager(OTHER, revoke=frozenset({"users:read"}))
    api.runtime.services.update_manager(revoke, api.admin)
    _problem(api.get("/v1/groups", key=key), 403, "PermissionDenied")
    assert api.get("/v1/reports/users", key=key).status_code == 200


# ---- idempotent replays --------------------------------------------------------------------


def _stored_anywhere(api: Api, secret: str) -> list[dict[str, Any]]:
    tail = secret.split("_", 2)[2]
    return [r for r in _rows(api, tables.idempotency_records) if tail in str(r)]


def test_a_replayed_key_creation_answers_without_the_secret_and_stores_none(api: Api) -> None:
    headers = {"Idempotency-Key": "make-key-1"}
    body = {"scopes": ["users:read"], "name": "once"}
    first = api.post("/v1/keys", body, headers=headers)
    assert first.status_code == 201 and REPLAY not in first.headers
    secret = first.json()["key"]
    assert secret
    again = api.post("/v1/keys", body, headers=headers)
    assert again.status_code == 201 and again.headers[REPLAY] == "true"
    assert again.json() == {**first.json(), "key": None}
    assert [k["name"] for k in _items(api)].count("once") == 1
    records = _rows(api, tables.idempotency_records)
    assert len(records) == 1 and records[0]["body"]
    assert _stored_anywhere(api, secret) == []


def test_a_replayed_rotation_answers_without_the_secret_and_stores_none(api: Api) -> None:
    old = _create(api)
    headers = {"Idempotency-Key": "rotate-1"}
    first = api.post(f"/v1/keys/{old['id']}/rotate", headers=headers)
    assert first.status_code == 201, first.text
    again = api.post(f"/v1/keys/{old['id']}/rotate", headers=headers)
    assert again.status_code == 201 and again.headers[REPLAY] == "true"
    assert again.json() == {**first.json(), "key": None}
    assert len(_items(api)) == 3  # the admin key, the old one and one new one
    assert _stored_anywhere(api, first.json()["key"]) == []


# ---- no escalation through the key endpoints -----------------------------------------------


def test_a_key_cannot_rotate_a_key_holding_scopes_it_lacks(api: Api) -> None:
    reader = api.key("users:read")
    finance = _create(api, scopes=["balances:write", "users:read"], name="finance")
    refused = api.post(f"/v1/keys/{finance['id']}/rotate", key=reader)
    assert "balances:write" in _problem(refused, 403, "PermissionDenied")["detail"]
    assert [k["state"] for k in _items(api) if k["id"] == finance["id"]] == ["active"]
    assert len([k for k in _items(api) if k["name"] == "finance"]) == 1  # no new secret made
    narrow = _create(api, key=reader, name="narrow")
    assert api.post(f"/v1/keys/{narrow['id']}/rotate", key=reader).status_code == 201


def test_an_admin_of_limited_reach_cannot_manage_another_managers_keys(api: Api) -> None:
    services = api.runtime.services
    limited = CreateManager(OTHER, "Demo desk", rights=frozenset({"admin"}), group_mask="demo*")
    services.create_manager(limited, api.admin)
    desk = _other_key(api, "admin")
    theirs = _create(api)  # manager 1000's
    refused = api.post("/v1/keys", {"scopes": ["users:read"], "manager_login": 1000}, key=desk)
    _problem(refused, 403, "PermissionDenied")
    _problem(api.get("/v1/keys", key=desk, params={"manager": 1000}), 403, "PermissionDenied")
    for method, path in (("POST", f"/v1/keys/{theirs['id']}/rotate"),
                         ("DELETE", f"/v1/keys/{theirs['id']}")):  # fmt: skip
        _problem(api.client.request(method, path, headers=api.headers(desk)), 404, "NotFound")
    assert {k["manager_login"] for k in _items(api, key=desk)} == {OTHER}
    assert _create(api, key=desk)["manager_login"] == OTHER  # its own keys it still manages


# ---- times in the answer -------------------------------------------------------------------


def test_an_expiry_without_an_offset_is_refused_or_read_as_utc(api: Api) -> None:
    client = TestClient(api.client.app, raise_server_exceptions=False)
    body = {"scopes": ["users:read"], "expires_at": "2030-01-01T00:00:00"}
    response = client.post("/v1/keys", json=body, headers=api.headers())
    assert response.status_code in (201, 400), response.text
    if response.status_code == 201:
        assert response.json()["expires_at"] == "2030-01-01T00:00:00Z"
    else:
        assert response.json()["errors"][0]["field"] == "expires_at"


def test_an_expiry_with_an_offset_is_answered_in_utc(api: Api) -> None:
    created = _create(api, expires_at="2030-01-01T00:00:00+02:00")
    (listed,) = [k for k in _items(api) if k["id"] == created["id"]]
    assert listed["expires_at"] == "2029-12-31T22:00:00Z"
    assert created["expires_at"] == listed["expires_at"]


def test_a_key_cannot_revoke_a_key_holding_scopes_it_lacks(api: Api) -> None:
    # a stolen read-only key must not be able to switch off the manager's finance key
    finance = api.post("/v1/keys", {"scopes": ["balances:write"], "name": "finance"}).json()
    reader = api.key("users:read")

    refused = api.client.delete(f"/v1/keys/{finance['id']}", headers=api.headers(reader))

    assert refused.status_code == 403
    assert "balances:write" in refused.json()["detail"]
    still = api.get("/v1/users", key=finance["key"])
    assert still.status_code != 401


def test_a_manager_filter_out_of_range_is_a_validation_error(api: Api) -> None:
    for manager in ("99999999999999999999", "0", "-5"):
        response = api.get("/v1/keys", params={"manager": manager})
        assert response.status_code == 400, response.text
        assert response.json()["errors"][0]["field"] == "manager"


# ---- keys minted by keys ----------------------------------------------------------------------


def _mint(timed: Timed, parent: str, **body: Any) -> Any:
    return timed.post("/v1/keys", {"scopes": ["users:read"], **body}, key=parent)


def test_a_key_cannot_mint_a_key_that_outlives_it(timed: Timed) -> None:
    ends = timed.clock() + timedelta(hours=1)
    parent = timed.create(expires_at=_iso(ends))["key"]

    forever = _mint(timed, parent)
    later = _mint(timed, parent, expires_at=_iso(ends + timedelta(seconds=1)))
    within = _mint(timed, parent, expires_at=_iso(ends))

    for refused in (forever, later):
        body = _problem(refused, 400, "ValidationError")
        assert body["errors"][0]["field"] == "expires_at", body
        assert _iso(ends)[:19] in body["errors"][0]["message"]
    assert within.status_code == 201, within.text
    assert within.json()["expires_at"] == _iso(ends)


def test_a_key_cannot_mint_a_key_with_scopes_it_lacks(timed: Timed) -> None:
    parent = timed.create(scopes=["users:read"])["key"]

    wider = _mint(timed, parent, scopes=["users:read", "balances:write"])

    assert "balances:write" in _problem(wider, 403, "PermissionDenied")["detail"]
    assert [k["scopes"] for k in timed.items().values()].count(["users:read"]) == 1


def test_revoking_a_key_revokes_what_it_minted_and_what_those_minted(timed: Timed) -> None:
    parent = timed.create(name="parent")
    child = _mint(timed, parent["key"], name="child").json()
    grandchild = _mint(timed, child["key"], name="grandchild").json()
    bystander = timed.create(name="bystander")
    assert [timed.works(k["key"]) for k in (child, grandchild)] == [200, 200]

    revoked = timed.delete(f"/v1/keys/{parent['id']}")

    assert revoked.status_code == 200, revoked.text
    for key in (parent, child, grandchild):
        refused = timed.get("/v1/groups", key=key["key"])
        assert "revoked" in _problem(refused, 401, "Unauthorized")["detail"]
    assert timed.works(bystander["key"]) == 200
    states = {k["name"]: k["state"] for k in timed.items().values()}
    assert {n: states[n] for n in ("parent", "child", "grandchild", "bystander")} == {
        "parent": "revoked", "child": "revoked", "grandchild": "revoked", "bystander": "active",
    }  # fmt: skip


def test_the_old_secret_of_a_rotated_key_cannot_mint_or_rotate(timed: Timed) -> None:
    old = timed.create(name="worker")
    other = timed.create(name="other")
    new = timed.post(f"/v1/keys/{old['id']}/rotate", key=old["key"]).json()

    minted = _mint(timed, old["key"])
    rotated = timed.post(f"/v1/keys/{other['id']}/rotate", key=old["key"])

    for refused in (minted, rotated):
        assert "rotated" in _problem(refused, 403, "PermissionDenied")["detail"]
    assert timed.works(old["key"]) == 200  # it still reads until the overlap ends
    assert _mint(timed, new["key"]).status_code == 201
    again = timed.post(f"/v1/keys/{old['id']}/rotate")
    assert _problem(again, 400, "ValidationError")["errors"][0]["field"] == "key_id"


def test_rotating_a_key_revokes_what_it_minted_when_the_overlap_ends(timed: Timed) -> None:
    parent = timed.create(name="parent")
    child = _mint(timed, parent["key"], name="child").json()
    timed.post(f"/v1/keys/{parent['id']}/rotate", key=parent["key"])

    timed.clock.advance(hours=23, minutes=59)
    assert timed.works(child["key"]) == 200
    timed.clock.advance(minutes=1)

    assert "revoked" in _problem(timed.get("/v1/groups", key=child["key"]), 401,
                                 "Unauthorized")["detail"]  # fmt: skip


def test_a_key_cannot_rotate_a_key_that_outlives_it(timed: Timed) -> None:
    short = timed.create(expires_at=_iso(timed.clock() + timedelta(hours=1)))["key"]
    forever = timed.create(name="forever")

    refused = timed.post(f"/v1/keys/{forever['id']}/rotate", key=short)

    assert _problem(refused, 400, "ValidationError")["errors"][0]["field"] == "expires_at"
    assert timed.items()[forever["id"]]["state"] == "active"


def test_a_key_whose_revocation_is_scheduled_mints_nothing_and_nothing_outlives_it(
    api: Api,
) -> None:
    config = replace(api.runtime.services.config, key_rotation_overlap=timedelta(minutes=5))
    with _timed_app(api, config) as timed:
        parent = timed.create(name="parent")
        child = _mint(timed, parent["key"], name="child").json()
        timed.post(f"/v1/keys/{parent['id']}/rotate", key=parent["key"])

        grandchild = _mint(timed, child["key"], name="grandchild")
        rotated = timed.post(f"/v1/keys/{child['id']}/rotate", key=child["key"])

        for refused in (grandchild, rotated):
            assert "scheduled" in _problem(refused, 403, "PermissionDenied")["detail"]
        timed.clock.advance(minutes=5)
        assert timed.works(child["key"]) == 401
        assert [k["name"] for k in timed.items().values()].count("grandchild") == 0


def test_a_key_rotated_by_another_key_is_revoked_with_the_rotating_key(timed: Timed) -> None:
    _other_manager(timed.api, "balances:approve", "users:read")
    approver = _other_key(timed.api, "balances:approve", "users:read")
    approver_id = next(k["id"] for k in timed.items(manager=OTHER).values())
    grandparent = timed.create(name="P2", scopes=["admin"])
    rotator = _mint(timed, grandparent["key"], name="C2", scopes=["admin"]).json()

    rotated = timed.post(f"/v1/keys/{approver_id}/rotate", key=rotator["key"])
    assert rotated.status_code == 201, rotated.text
    successor = rotated.json()["key"]
    assert timed.works(successor) == 200

    assert timed.delete(f"/v1/keys/{grandparent['id']}").status_code == 200

    for key in (rotator["key"], successor):
        refused = timed.get("/v1/groups", key=key)
        assert "revoked" in _problem(refused, 401, "Unauthorized")["detail"]
    assert timed.works(approver) == 200  # the old secret lives out its overlap only


def test_a_key_rotating_itself_keeps_its_place_under_its_parent(timed: Timed) -> None:
    parent = timed.create(name="parent")
    child = _mint(timed, parent["key"], name="child").json()
    successor = timed.post(f"/v1/keys/{child['id']}/rotate", key=child["key"]).json()

    assert timed.delete(f"/v1/keys/{parent['id']}").status_code == 200

    assert timed.works(successor["key"]) == 401
