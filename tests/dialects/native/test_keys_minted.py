"""Keys minted by keys over the native /keys endpoints: a minted key never outlives nor
outranks its parent, and revoking or rotating the parent reaches what it minted.

Time moves honestly where a test needs it: a second app over the same database runs the core
with a FakeClock (the `timed` fixture, keys_support.py). Both engines.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

from tests.dialects.native import keys_support
from tests.dialects.native.conftest import Api
from tests.dialects.native.keys_support import (
    OTHER,
    Timed,
    _iso,
    _other_key,
    _other_manager,
    _problem,
    _timed_app,
)

# The key tests' fixtures (tests/dialects/native/keys_support.py).
timed = keys_support.timed


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
        "parent": "revoked",
        "child": "revoked",
        "grandchild": "revoked",
        "bystander": "active",
    }


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

    assert (
        "revoked"
        in _problem(timed.get("/v1/groups", key=child["key"]), 401, "Unauthorized")["detail"]
    )


def test_a_key_cannot_rotate_a_key_that_outlives_it(timed: Timed) -> None:
    short = timed.create(expires_at=_iso(timed.clock() + timedelta(hours=1)))["key"]
    forever = timed.create(name="forever")

    refused = timed.post(f"/v1/keys/{forever['id']}/rotate", key=short)

    assert _problem(refused, 400, "ValidationError")["errors"][0]["field"] == "expires_at"
    assert timed.items()[forever["id"]]["state"] == "active"


def test_a_key_whose_revocation_is_scheduled_mints_nothing_and_nothing_outlives_it(
    api: Api,
) -> None:
    config = replace(api.runtime.app.config, key_rotation_overlap=timedelta(minutes=5))
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
