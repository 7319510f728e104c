"""Managers' keys over the fakes: rotation, expiry and revocation on an injected clock, key
listings, and scopes that cannot be escalated."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateApiKey, CreateManager, RevokeApiKey, RotateApiKey
from brokerplane.core.access.model import Manager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    ApiKeyNotFound,
    MissingScope,
    PermissionDenied,
    Unauthorized,
    ValidationError,
)
from tests.unit import managers_support
from tests.unit.fakes import FakeClock, FakeUowFactory
from tests.unit.managers_support import OPS, _audit_text, _key

# The manager tests' fixtures (tests/unit/managers_support.py).
manager = managers_support.manager


# --- rotation, expiry and revocation on a clock the test moves -------------------------------


def test_a_rotated_key_keeps_working_until_the_overlap_ends(
    services: Application, admin: Actor, manager: Manager, clock: FakeClock
) -> None:
    old = _key(services, admin, "users:read", "reports:read", name="dashboard")
    rotated_at = clock.advance(hours=3)

    new, retired = services.rotate_api_key(RotateApiKey(old.key.id), admin)

    assert retired.expires_at == rotated_at + timedelta(hours=24)
    assert (new.key.scopes, new.key.name, new.key.expires_at) == (old.key.scopes, "dashboard", None)
    assert new.key.id != old.key.id and new.secret != old.secret
    assert services.authenticate_key(new.secret).key.id == new.key.id
    clock.advance(hours=24, microseconds=-1)
    assert services.authenticate_key(old.secret).key.id == old.key.id
    clock.advance(microseconds=1)
    with pytest.raises(Unauthorized, match="expired"):
        services.authenticate_key(old.secret)
    assert services.authenticate_key(new.secret).scopes == frozenset({"users:read", "reports:read"})


def test_the_rotation_overlap_follows_the_configuration(
    uows: FakeUowFactory, config: CoreConfig, clock: FakeClock, admin: Actor
) -> None:
    services = Application(uows, replace(config, key_rotation_overlap=timedelta(hours=1)), clock)
    services.create_manager(CreateManager(1001, rights=OPS), admin)
    old = _key(services, admin, "users:read")

    _, retired = services.rotate_api_key(RotateApiKey(old.key.id), admin)

    assert retired.expires_at == clock.now + timedelta(hours=1)
    clock.advance(minutes=59, seconds=59)
    services.authenticate_key(old.secret)
    clock.advance(seconds=1)
    with pytest.raises(Unauthorized, match="expired"):
        services.authenticate_key(old.secret)


def test_rotation_neither_extends_a_key_due_to_expire_nor_the_new_keys_life(
    services: Application, admin: Actor, manager: Manager, clock: FakeClock
) -> None:
    soon = clock.now + timedelta(hours=2)
    old = _key(services, admin, "users:read", expires_at=soon)

    new, retired = services.rotate_api_key(RotateApiKey(old.key.id), admin)

    assert retired.expires_at == soon and new.key.expires_at == soon
    clock.advance(hours=2)
    for secret in (old.secret, new.secret):
        with pytest.raises(Unauthorized, match="expired"):
            services.authenticate_key(secret)


def test_rotation_is_audited_without_any_secret(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    old = _key(services, admin, "users:read")

    new, _ = services.rotate_api_key(RotateApiKey(old.key.id), admin)

    rotated, created = uows.state.audit[-2:]
    assert (rotated.action, rotated.entity_id) == ("api_key.rotated", old.key.id)
    assert rotated.after is not None and rotated.after["replaced_by"] == new.key.id
    assert (created.action, created.entity_id) == ("api_key.created", new.key.id)
    assert created.after is not None and created.after["replaces"] == old.key.id
    audit = _audit_text(uows)
    for secret in (old.secret, new.secret):
        assert secret not in audit
        assert secret.split("_", 2)[2] not in audit
    assert services.verify_audit().ok


def test_revoking_the_old_key_during_the_overlap_stops_it_at_once(
    services: Application, admin: Actor, manager: Manager, clock: FakeClock
) -> None:
    old = _key(services, admin, "users:read")
    new, _ = services.rotate_api_key(RotateApiKey(old.key.id), admin)
    clock.advance(minutes=1)

    services.revoke_api_key(RevokeApiKey(old.key.id), admin)

    with pytest.raises(Unauthorized, match="revoked"):
        services.authenticate_key(old.secret)
    assert services.authenticate_key(new.secret).key.id == new.key.id


def test_revoking_twice_changes_nothing_the_second_time(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory, clock: FakeClock
) -> None:
    issued = _key(services, admin, "users:read")
    first = services.revoke_api_key(RevokeApiKey(issued.key.id), admin)
    records = len(uows.state.audit)
    clock.advance(hours=1)

    again = services.revoke_api_key(RevokeApiKey(issued.key.id), admin)

    assert again.revoked_at == first.revoked_at
    assert len(uows.state.audit) == records


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_revoked_or_expired_key_cannot_be_rotated(
    services: Application,
    admin: Actor,
    manager: Manager,
    uows: FakeUowFactory,
    clock: FakeClock,
    state: str,
) -> None:
    issued = _key(services, admin, "users:read", expires_at=clock.now + timedelta(hours=1))
    if state == "revoked":
        services.revoke_api_key(RevokeApiKey(issued.key.id), admin)
    else:
        clock.advance(hours=1)
    keys, records = dict(uows.state.api_keys), len(uows.state.audit)

    with pytest.raises(ValidationError, match=state) as caught:
        services.rotate_api_key(RotateApiKey(issued.key.id), admin)

    assert [f.field for f in caught.value.fields] == ["key_id"]
    assert (uows.state.api_keys, len(uows.state.audit)) == (keys, records)


def test_a_manager_rotates_its_own_key_but_not_another_managers(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    services.create_manager(CreateManager(1002, rights=OPS), admin)
    mine = _key(services, admin, "users:read")
    theirs = _key(services, admin, "users:read", login=1002)
    me = Actor(1001, frozenset({"users:read"}), key_id=mine.key.id)

    with pytest.raises(ApiKeyNotFound):
        services.rotate_api_key(RotateApiKey(theirs.key.id), me)
    with pytest.raises(ApiKeyNotFound):
        services.revoke_api_key(RevokeApiKey(theirs.key.id), me)
    services.authenticate_key(theirs.secret)

    new, _ = services.rotate_api_key(RotateApiKey(mine.key.id), me)
    assert new.key.manager_login == 1001


def test_a_key_cannot_rotate_a_key_with_scopes_it_lacks_itself(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    dashboard = _key(services, admin, "users:read")
    provisioning = _key(services, admin, "users:read", "users:write")
    reader = Actor(1001, frozenset({"users:read"}), key_id=dashboard.key.id)
    keys = dict(uows.state.api_keys)

    with pytest.raises(PermissionDenied, match="users:write"):
        services.rotate_api_key(RotateApiKey(provisioning.key.id), reader)

    assert uows.state.api_keys == keys


def test_a_key_is_refused_from_the_instant_it_is_revoked(
    services: Application, admin: Actor, manager: Manager
) -> None:
    issued = _key(services, admin, "users:read")

    services.revoke_api_key(RevokeApiKey(issued.key.id), admin)

    with pytest.raises(Unauthorized, match="revoked"):
        services.authenticate_key(issued.secret)


def test_a_key_with_an_expiry_works_until_that_instant(
    services: Application, admin: Actor, manager: Manager, clock: FakeClock
) -> None:
    issued = _key(services, admin, "users:read", expires_at=clock.now + timedelta(days=30))

    clock.advance(days=30, microseconds=-1)
    services.authenticate_key(issued.secret)
    clock.advance(microseconds=1)

    with pytest.raises(Unauthorized, match="expired"):
        services.authenticate_key(issued.secret)


# --- listing keys ----------------------------------------------------------------------------


@pytest.fixture
def two_managers_keys(
    services: Application, admin: Actor, manager: Manager, clock: FakeClock
) -> dict[int, list[str]]:
    services.create_manager(CreateManager(1002, rights=OPS), admin)
    ids: dict[int, list[str]] = {1001: [], 1002: []}
    for login in (1001, 1002, 1001):
        clock.advance(seconds=1)
        ids[login].append(_key(services, admin, "users:read", login=login).key.id)
    return ids


def test_a_manager_lists_only_its_own_keys(
    services: Application, two_managers_keys: dict[int, list[str]]
) -> None:
    me = Actor(1001, OPS)

    assert [k.id for k in services.list_api_keys(me)] == two_managers_keys[1001]
    assert [k.id for k in services.list_api_keys(me, 1001)] == two_managers_keys[1001]
    with pytest.raises(PermissionDenied):
        services.list_api_keys(me, 1002)


def test_an_admin_lists_any_managers_keys_or_all_of_them(
    services: Application, admin: Actor, two_managers_keys: dict[int, list[str]]
) -> None:
    assert [k.id for k in services.list_api_keys(admin, 1002)] == two_managers_keys[1002]
    everything = {k.id for k in services.list_api_keys(admin)}
    assert everything == set(two_managers_keys[1001] + two_managers_keys[1002])
    assert services.list_api_keys(admin, 4242) == []


def test_listed_keys_show_no_secret(services: Application, admin: Actor, manager: Manager) -> None:
    issued = _key(services, admin, "users:read")

    (listed,) = services.list_api_keys(admin, 1001)

    assert issued.secret not in repr(listed)
    assert listed.prefix in issued.secret


# --- scopes cannot be escalated --------------------------------------------------------------


def test_a_key_cannot_carry_rights_its_manager_lacks_even_when_an_admin_asks(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    with pytest.raises(PermissionDenied, match="admin"):
        _key(services, admin, "users:read", "admin")
    with pytest.raises(PermissionDenied, match="personal_data"):
        _key(services, admin, "personal_data")

    assert uows.state.api_keys == {}


def test_a_credential_cannot_hand_its_manager_a_key_wider_than_itself(
    services: Application, manager: Manager, uows: FakeUowFactory
) -> None:
    reader = Actor(1001, frozenset({"users:read"}))

    with pytest.raises(PermissionDenied, match="users:write"):
        services.create_api_key(
            CreateApiKey(1001, frozenset({"users:read", "users:write"})), reader
        )
    with pytest.raises(MissingScope, match="admin"):
        services.create_manager(CreateManager(1009, rights=frozenset(SCOPES)), reader)

    assert uows.state.api_keys == {}
    assert services.create_api_key(CreateApiKey(1001, frozenset({"users:read"})), reader)


def test_a_manager_with_the_admin_right_may_issue_any_scope_to_its_keys(
    services: Application, admin: Actor
) -> None:
    services.create_manager(CreateManager(1003, rights=frozenset({"admin"})), admin)
    boss = Actor(1003, frozenset({"admin"}))

    issued = services.create_api_key(CreateApiKey(1003, frozenset(SCOPES)), boss)

    assert services.authenticate_key(issued.secret).scopes == frozenset(SCOPES)
