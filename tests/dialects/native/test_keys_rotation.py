"""The native /keys endpoints, rotating, expiring and revoking: the old secret works until the
overlap ends, a key stops at its expiry, a revoked key at once.

Time moves honestly where a test needs it: a second app over the same database runs the core
with a FakeClock (the `timed` fixture, keys_support.py). Both engines.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from brokerplane.bootstrap import build
from tests.dialects.native import keys_support
from tests.dialects.native.conftest import Api
from tests.dialects.native.keys_support import (
    Timed,
    _create,
    _iso,
    _items,
    _other_key,
    _other_manager,
    _problem,
    _timed_app,
)

# The key tests' fixtures (tests/dialects/native/keys_support.py).
timed = keys_support.timed


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
        ["reports:read", "users:read"],
        "worker",
        None,
    )
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
        config = configured.app.config
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
    config = replace(api.runtime.app.config, key_rotation_overlap=timedelta(0))
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
    for method, path in (
        ("POST", f"/v1/keys/{mine['id']}/rotate"),
        ("DELETE", f"/v1/keys/{mine['id']}"),
        ("POST", "/v1/keys/0123456789abcdef/rotate"),
        ("DELETE", "/v1/keys/0123456789abcdef"),
    ):
        refused = api.client.request(method, path, headers=api.headers(theirs))
        assert _problem(refused, 404, "NotFound")["code"] == "api_key.not_found", path
    assert api.get("/v1/groups", key=mine["key"]).status_code == 200
    assert [k["state"] for k in _items(api) if k["id"] == mine["id"]] == ["active"]
