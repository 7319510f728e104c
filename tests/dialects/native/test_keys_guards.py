"""The native /keys endpoints' guards: the manager behind the keys, idempotent replays that
answer without the secret, no escalation of scopes or reach, and times in the answer.

Time moves honestly where a test needs it: a second app over the same database runs the core
with a FakeClock (the `timed` fixture, keys_support.py). Both engines.
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from brokerplane.core.access.commands import CreateManager, UpdateManager
from brokerplane.storage import tables
from tests.dialects.native.conftest import Api
from tests.dialects.native.keys_support import (
    OTHER,
    REPLAY,
    _create,
    _items,
    _other_key,
    _other_manager,
    _problem,
    _rows,
)

# ---- the manager behind the keys -----------------------------------------------------------


def test_a_disabled_managers_keys_stop_at_once(api: Api) -> None:
    _other_manager(api, "users:read", "reports:read")
    first, second = _other_key(api, "users:read"), _other_key(api, "reports:read")
    assert api.get("/v1/groups", key=first).status_code == 200
    assert api.get("/v1/reports/users", key=second).status_code == 200
    api.runtime.app.update_manager(UpdateManager(OTHER, enabled=False), api.admin)
    for key in (first, second):
        refused = api.get("/v1/keys", key=key)
        assert "disabled" in _problem(refused, 401, "Unauthorized")["detail"]
    assert api.get("/v1/groups", key=api.key("users:read")).status_code == 200  # others go on


def test_a_new_manager_password_leaves_its_keys_working(api: Api) -> None:
    # Keys are credentials of their own, revoked one by one; the password is for the
    # dialects' manager logins (MT5, cTrader, TE), whose sessions it ends.
    _other_manager(api, "users:read")
    key = _other_key(api, "users:read")
    api.runtime.app.update_manager(UpdateManager(OTHER, password="N3w#Passw0rd"), api.admin)
    assert api.get("/v1/groups", key=key).status_code == 200


def test_a_right_revoked_from_the_manager_closes_its_keys_scope_at_once(api: Api) -> None:
    _other_manager(api, "users:read", "reports:read")
    key = _other_key(api, "users:read", "reports:read")
    assert api.get("/v1/groups", key=key).status_code == 200
    revoke = UpdateManager(OTHER, revoke=frozenset({"users:read"}))
    api.runtime.app.update_manager(revoke, api.admin)
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
    services = api.runtime.app
    limited = CreateManager(OTHER, "Demo desk", rights=frozenset({"admin"}), group_mask="demo*")
    services.create_manager(limited, api.admin)
    desk = _other_key(api, "admin")
    theirs = _create(api)  # manager 1000's
    refused = api.post("/v1/keys", {"scopes": ["users:read"], "manager_login": 1000}, key=desk)
    _problem(refused, 403, "PermissionDenied")
    _problem(api.get("/v1/keys", key=desk, params={"manager": 1000}), 403, "PermissionDenied")
    for method, path in (
        ("POST", f"/v1/keys/{theirs['id']}/rotate"),
        ("DELETE", f"/v1/keys/{theirs['id']}"),
    ):
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
