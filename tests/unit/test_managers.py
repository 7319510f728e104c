"""Managers and their keys over the fakes: updates, masks, password verifiers, rotation and
expiry on an injected clock, key listings and scope escalation."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from datetime import timedelta

import pytest

from brokerplane.api.native.errors import status_and_title
from brokerplane.application.app import Application
from brokerplane.core import passwords
from brokerplane.core.access.commands import CreateApiKey, CreateManager, IssuedKey, UpdateManager
from brokerplane.core.access.model import Manager
from brokerplane.core.access.rights import MASK_MAX
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    ApiKeyNotFound,
    ManagerNotFound,
    MissingScope,
    PermissionDenied,
    Unauthorized,
    ValidationError,
)
from tests.unit.fakes import FakeClock, FakeUowFactory

OPS = frozenset({"users:read", "users:write", "reports:read"})
PASSWORD = "Manag3r!pw"


@pytest.fixture
def manager(services: Application, admin: Actor) -> Manager:
    return services.create_manager(CreateManager(1001, "ops", PASSWORD, rights=OPS), admin)


def _key(
    services: Application, admin: Actor, *scopes: str, login: int = 1001, **kw: object
) -> IssuedKey:
    return services.create_api_key(CreateApiKey(login, frozenset(scopes), **kw), admin)  # type: ignore[arg-type]


def _update(services: Application, admin: Actor, **changes: object) -> Manager:
    return services.update_manager(UpdateManager(1001, **changes), admin)  # type: ignore[arg-type]


def _audit_text(uows: FakeUowFactory) -> str:
    return "\n".join(repr(r) for r in uows.state.audit)


def _stored(uows: FakeUowFactory) -> tuple[dict[int, Manager], int]:
    return dict(uows.state.managers), len(uows.state.audit)


# --- updating a manager ----------------------------------------------------------------------


def test_renaming_a_manager_is_audited_with_before_and_after(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory, clock: FakeClock
) -> None:
    clock.advance(minutes=5)

    renamed = _update(services, admin, name="operations")

    assert renamed.name == "operations" and renamed.updated_at == clock.now
    assert services.get_manager(1001) == renamed
    last = uows.state.audit[-1]
    assert (last.action, last.entity_type, last.entity_id) == ("manager.updated", "manager", "1001")
    assert last.before is not None and last.after is not None
    assert (last.before["name"], last.after["name"]) == ("ops", "operations")


def test_an_update_that_changes_nothing_writes_no_record(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    before = _stored(uows)

    same = _update(services, admin, name="ops", enabled=True, grant=frozenset({"users:read"}),
                   group_mask="*")  # fmt: skip

    assert same == manager
    assert _stored(uows) == before


def test_disabling_a_manager_stops_its_keys_at_once_and_enabling_restores_them(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    issued = _key(services, admin, "users:read")
    services.authenticate_key(issued.secret)

    assert _update(services, admin, enabled=False).enabled is False
    with pytest.raises(Unauthorized, match="disabled"):
        services.authenticate_key(issued.secret)

    assert _update(services, admin, enabled=True).enabled is True
    assert services.authenticate_key(issued.secret).manager.login == 1001
    changes = [(r.before["enabled"], r.after["enabled"]) for r in uows.state.audit  # type: ignore[index]
               if r.action == "manager.updated"]  # fmt: skip
    assert changes == [(True, False), (False, True)]


def test_granting_and_revoking_rights_changes_what_its_keys_may_do_at_once(
    services: Application, admin: Actor, manager: Manager
) -> None:
    issued = _key(services, admin, "users:read", "users:write")

    revoked = _update(services, admin, revoke=frozenset({"users:write"}))
    assert revoked.rights == frozenset({"users:read", "reports:read"})
    assert services.authenticate_key(issued.secret).scopes == frozenset({"users:read"})

    granted = _update(services, admin, grant=frozenset({"users:write", "balances:write"}))
    assert granted.rights == OPS | {"balances:write"}
    assert services.authenticate_key(issued.secret).scopes == frozenset(
        {"users:read", "users:write"}
    )


@pytest.mark.parametrize("field", ["grant", "revoke"])
def test_granting_or_revoking_an_unknown_right_is_refused_and_changes_nothing(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory, field: str
) -> None:
    before = _stored(uows)

    with pytest.raises(ValidationError) as caught:
        _update(services, admin, **{field: frozenset({"users:read", "users:everything"})})

    assert [f.field for f in caught.value.fields] == [field]
    assert "users:everything" in caught.value.fields[0].message
    assert _stored(uows) == before


def test_changing_reach_takes_effect_on_the_next_authentication(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    issued = _key(services, admin, "users:read")

    changed = _update(services, admin, group_mask=" demo\\*,!demo\\vip ", white_labels="BEST*")

    assert (changed.group_mask, changed.white_labels) == ("demo\\*,!demo\\vip", "BEST*")
    identity = services.authenticate_key(issued.secret)
    assert (identity.manager.group_mask, identity.manager.white_labels) == (
        "demo\\*,!demo\\vip", "BEST*",
    )  # fmt: skip
    last = uows.state.audit[-1]
    assert last.before is not None and last.after is not None
    assert (last.before["group_mask"], last.after["group_mask"]) == ("*", "demo\\*,!demo\\vip")
    assert (last.before["white_labels"], last.after["white_labels"]) == ("*", "BEST*")


def test_changing_the_password_replaces_both_verifiers_and_the_audit_only_says_changed(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    old = dict(uows.state.managers[1001].verifiers)
    new_password = "N3w!secret-pw"

    updated = _update(services, admin, password=new_password)

    new = uows.state.managers[1001].verifiers
    assert updated.verifiers == new and set(new) == {"password", "mt5"}
    assert new["password"] != old["password"] and new["mt5"] != old["mt5"]
    assert new["mt5"] == passwords.mt5_webapi_hash(new_password)
    assert passwords.verify(new["password"], new_password)
    assert not passwords.verify(new["password"], PASSWORD)
    last = uows.state.audit[-1]
    assert last.action == "manager.updated"
    assert last.before is not None and last.after is not None
    assert (last.before["password"], last.after["password"]) == ("set", "changed")
    audit = _audit_text(uows)
    for secret in (PASSWORD, new_password, *old.values(), *new.values()):
        assert secret not in audit


def test_setting_the_same_password_again_still_replaces_the_verifiers(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    old = dict(uows.state.managers[1001].verifiers)

    _update(services, admin, password=PASSWORD)

    assert uows.state.managers[1001].verifiers["password"] != old["password"]  # a new salt
    assert uows.state.audit[-1].after["password"] == "changed"  # type: ignore[index]


@pytest.mark.parametrize("password", ["short7!", "x" * 65, ""])
def test_a_password_of_the_wrong_length_is_refused_and_changes_nothing(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory, password: str
) -> None:
    before = _stored(uows)

    with pytest.raises(ValidationError) as caught:
        _update(services, admin, password=password)

    assert [f.field for f in caught.value.fields] == ["password"]
    assert _stored(uows) == before


def test_updating_an_unknown_manager_is_not_found(services: Application, admin: Actor) -> None:
    with pytest.raises(ManagerNotFound):
        services.update_manager(UpdateManager(4242, name="x"), admin)


def test_updating_a_manager_needs_admin(
    services: Application, manager: Manager, uows: FakeUowFactory
) -> None:
    before = _stored(uows)
    ops = Actor(1001, OPS)

    with pytest.raises(MissingScope, match="admin"):
        services.update_manager(UpdateManager(1001, grant=frozenset({"admin"})), ops)
    with pytest.raises(MissingScope, match="admin"):
        services.list_managers(ops)

    assert _stored(uows) == before


# --- masks -----------------------------------------------------------------------------------

MALFORMED = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param(",", id="comma"),
    pytest.param("!", id="bang"),
    pytest.param("a!b", id="bang-inside"),
    pytest.param("!!demo", id="double-bang"),
    pytest.param("demo\\*,", id="trailing-comma"),
    pytest.param("demo\\*,,real\\*", id="empty-part"),
    pytest.param("demo\\*,!", id="bare-exclusion"),
    pytest.param("demo\x00", id="nul"),
    pytest.param("demo\tvip", id="tab"),
    pytest.param("demo\n", id="newline"),
    pytest.param("demo\x7f", id="delete"),
    pytest.param("a" * (MASK_MAX + 1), id="too-long"),
    pytest.param("demo\\" + "*a" * 17, id="too-many-stars"),
    pytest.param(",".join(f"g{n}" for n in range(129)), id="too-many-parts"),
]
REACH_FIELDS = [("group_mask", "groups"), ("white_labels", "brokers")]


@pytest.mark.parametrize(("attribute", "field"), REACH_FIELDS)
@pytest.mark.parametrize("mask", MALFORMED)
def test_a_manager_with_a_malformed_mask_is_not_created(
    services: Application, admin: Actor, uows: FakeUowFactory, attribute: str, field: str, mask: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        services.create_manager(CreateManager(1001, **{attribute: mask}), admin)  # type: ignore[arg-type]

    assert [f.field for f in caught.value.fields] == [field]
    assert status_and_title(caught.value) == (400, "ValidationError")
    assert uows.state.managers == {} and uows.state.audit == []


@pytest.mark.parametrize(("attribute", "field"), REACH_FIELDS)
@pytest.mark.parametrize("mask", MALFORMED)
def test_a_malformed_mask_is_refused_on_update_and_changes_nothing(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory, attribute: str,
    field: str, mask: str,
) -> None:  # fmt: skip
    before = _stored(uows)

    with pytest.raises(ValidationError) as caught:
        _update(services, admin, **{attribute: mask})

    assert [f.field for f in caught.value.fields] == [field]
    assert _stored(uows) == before


@pytest.mark.parametrize(
    "mask",
    ["*", "demo\\*,!demo\\vip", "!demo\\*", "real\\*\\vip", "BEST BROKER, Other*",
     "50%,real_x", "a" * MASK_MAX, "*a" * 16, ",".join(f"g{n}" for n in range(128))],
)  # fmt: skip
def test_well_formed_masks_are_accepted(services: Application, admin: Actor, mask: str) -> None:
    created = services.create_manager(CreateManager(1001, group_mask=mask, white_labels=mask),
                                      admin)  # fmt: skip

    assert (created.group_mask, created.white_labels) == (mask, mask)


# --- password verifiers ----------------------------------------------------------------------

# mt5-webapi.md 2.2, the official vectors of the webapi_rest_authentication page
MT5_PASSWORD = "Password1"
MT5_B1 = bytes([236, 46, 146, 255, 112, 191, 70, 145, 174, 12, 104, 224, 47, 220, 108, 34])
MT5_HASH = "904ba8ecb16273d2f0ae9c3b8a023752"
SRV_RAND, SRV_RAND_ANSWER = "73007dc7184747ce0f7c98516ef1c851", "77fe51827f7fa69dd80fbec9aa33f1bb"
CLI_RAND, CLI_RAND_ANSWER = "4db98fec17aab4dc5a240bdc659e8395", "1732021b1b332f51660b2b315eed3a35"


def _answer(stored_hash: str, rand: str) -> str:
    """What the server computes from the stored hash alone: hex(MD5(b2 || rand))."""
    return hashlib.md5(bytes.fromhex(stored_hash) + bytes.fromhex(rand)).hexdigest()


def test_the_mt5_verifier_matches_the_official_vector_and_answers_its_challenges(
    services: Application, admin: Actor
) -> None:
    assert hashlib.md5(MT5_PASSWORD.encode("utf-16-le")).digest() == MT5_B1

    created = services.create_manager(CreateManager(1005, password=MT5_PASSWORD), admin)

    assert created.verifiers["mt5"] == MT5_HASH
    assert _answer(created.verifiers["mt5"], SRV_RAND) == SRV_RAND_ANSWER
    assert _answer(created.verifiers["mt5"], CLI_RAND) == CLI_RAND_ANSWER


def test_the_mt5_verifier_hashes_utf16_little_endian_without_a_bom(
    services: Application, admin: Actor
) -> None:
    password = "Pässwörd1€"
    b1 = hashlib.md5(password.encode("utf-16-le")).digest()

    created = services.create_manager(CreateManager(1005, password=password), admin)

    assert created.verifiers["mt5"] == hashlib.md5(b1 + b"WebAPI").hexdigest()
    with_bom = hashlib.md5(hashlib.md5(password.encode("utf-16")).digest() + b"WebAPI")
    assert created.verifiers["mt5"] != with_bom.hexdigest()


def test_the_password_verifier_checks_the_password_and_the_ctrader_md5_of_it(
    services: Application, admin: Actor
) -> None:
    created = services.create_manager(CreateManager(1005, password=MT5_PASSWORD), admin)
    verifier = created.verifiers["password"]
    md5 = hashlib.md5(MT5_PASSWORD.encode()).hexdigest()

    assert passwords.verify(verifier, MT5_PASSWORD)
    assert passwords.verify_md5(verifier, md5)
    assert passwords.verify_md5(verifier, md5.upper())
    assert not passwords.verify(verifier, "password1")
    assert not passwords.verify_md5(verifier, hashlib.md5(b"Password2").hexdigest())


def test_the_plain_password_is_kept_nowhere(
    services: Application, admin: Actor, uows: FakeUowFactory
) -> None:
    created = services.create_manager(CreateManager(1005, password=MT5_PASSWORD), admin)
    md5 = hashlib.md5(MT5_PASSWORD.encode()).hexdigest()

    stored = uows.state.managers[1005]
    assert MT5_PASSWORD not in repr(stored) and md5 not in repr(stored)
    assert created.snapshot()["password"] == "set"
    audit = _audit_text(uows)
    for secret in (MT5_PASSWORD, md5, *stored.verifiers.values()):
        assert secret not in audit


def test_verifiers_are_salted_but_the_mt5_hash_is_what_the_protocol_fixes(
    services: Application, admin: Actor
) -> None:
    one = services.create_manager(CreateManager(1005, password=MT5_PASSWORD), admin)
    two = services.create_manager(CreateManager(1006, password=MT5_PASSWORD), admin)

    assert one.verifiers["password"] != two.verifiers["password"]
    assert one.verifiers["mt5"] == two.verifiers["mt5"] == MT5_HASH


def test_a_manager_created_without_a_password_has_no_verifier(
    services: Application, admin: Actor
) -> None:
    created = services.create_manager(CreateManager(1005), admin)

    assert created.verifiers == {} and created.snapshot()["password"] is None


# --- rotation, expiry and revocation on a clock the test moves -------------------------------


def test_a_rotated_key_keeps_working_until_the_overlap_ends(
    services: Application, admin: Actor, manager: Manager, clock: FakeClock
) -> None:
    old = _key(services, admin, "users:read", "reports:read", name="dashboard")
    rotated_at = clock.advance(hours=3)

    new, retired = services.rotate_api_key(old.key.id, admin)

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

    _, retired = services.rotate_api_key(old.key.id, admin)

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

    new, retired = services.rotate_api_key(old.key.id, admin)

    assert retired.expires_at == soon and new.key.expires_at == soon
    clock.advance(hours=2)
    for secret in (old.secret, new.secret):
        with pytest.raises(Unauthorized, match="expired"):
            services.authenticate_key(secret)


def test_rotation_is_audited_without_any_secret(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    old = _key(services, admin, "users:read")

    new, _ = services.rotate_api_key(old.key.id, admin)

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
    new, _ = services.rotate_api_key(old.key.id, admin)
    clock.advance(minutes=1)

    services.revoke_api_key(old.key.id, admin)

    with pytest.raises(Unauthorized, match="revoked"):
        services.authenticate_key(old.secret)
    assert services.authenticate_key(new.secret).key.id == new.key.id


def test_revoking_twice_changes_nothing_the_second_time(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory, clock: FakeClock
) -> None:
    issued = _key(services, admin, "users:read")
    first = services.revoke_api_key(issued.key.id, admin)
    records = len(uows.state.audit)
    clock.advance(hours=1)

    again = services.revoke_api_key(issued.key.id, admin)

    assert again.revoked_at == first.revoked_at
    assert len(uows.state.audit) == records


@pytest.mark.parametrize("state", ["revoked", "expired"])
def test_a_revoked_or_expired_key_cannot_be_rotated(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory, clock: FakeClock,
    state: str,
) -> None:  # fmt: skip
    issued = _key(services, admin, "users:read", expires_at=clock.now + timedelta(hours=1))
    if state == "revoked":
        services.revoke_api_key(issued.key.id, admin)
    else:
        clock.advance(hours=1)
    keys, records = dict(uows.state.api_keys), len(uows.state.audit)

    with pytest.raises(ValidationError, match=state) as caught:
        services.rotate_api_key(issued.key.id, admin)

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
        services.rotate_api_key(theirs.key.id, me)
    with pytest.raises(ApiKeyNotFound):
        services.revoke_api_key(theirs.key.id, me)
    services.authenticate_key(theirs.secret)

    new, _ = services.rotate_api_key(mine.key.id, me)
    assert new.key.manager_login == 1001


def test_a_key_cannot_rotate_a_key_with_scopes_it_lacks_itself(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    dashboard = _key(services, admin, "users:read")
    provisioning = _key(services, admin, "users:read", "users:write")
    reader = Actor(1001, frozenset({"users:read"}), key_id=dashboard.key.id)
    keys = dict(uows.state.api_keys)

    with pytest.raises(PermissionDenied, match="users:write"):
        services.rotate_api_key(provisioning.key.id, reader)

    assert uows.state.api_keys == keys


def test_a_key_is_refused_from_the_instant_it_is_revoked(
    services: Application, admin: Actor, manager: Manager
) -> None:
    issued = _key(services, admin, "users:read")

    services.revoke_api_key(issued.key.id, admin)

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
        services.create_api_key(CreateApiKey(1001, frozenset({"users:read", "users:write"})),
                                reader)  # fmt: skip
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
