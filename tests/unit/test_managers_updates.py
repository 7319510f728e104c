"""Updating managers over the fakes: names, enabling, rights, reach and passwords, what the
audit records, what is refused; and the group and white-label masks they carry."""

from __future__ import annotations

import pytest

from brokerplane.api.native.errors import status_and_title
from brokerplane.application.app import Application
from brokerplane.core import passwords
from brokerplane.core.access.commands import CreateManager, UpdateManager
from brokerplane.core.access.model import Manager
from brokerplane.core.access.rights import MASK_MAX
from brokerplane.core.actor import Actor
from brokerplane.core.errors import ManagerNotFound, MissingScope, Unauthorized, ValidationError
from tests.unit import managers_support
from tests.unit.fakes import FakeClock, FakeUowFactory
from tests.unit.managers_support import OPS, PASSWORD, _audit_text, _key, _stored, _update

# The manager tests' fixtures (tests/unit/managers_support.py).
manager = managers_support.manager


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

    same = _update(
        services, admin, name="ops", enabled=True, grant=frozenset({"users:read"}), group_mask="*"
    )

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
    changes = [
        (r.before["enabled"], r.after["enabled"])  # type: ignore[index]
        for r in uows.state.audit
        if r.action == "manager.updated"
    ]
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
        "demo\\*,!demo\\vip",
        "BEST*",
    )
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
    services: Application,
    admin: Actor,
    manager: Manager,
    uows: FakeUowFactory,
    attribute: str,
    field: str,
    mask: str,
) -> None:
    before = _stored(uows)

    with pytest.raises(ValidationError) as caught:
        _update(services, admin, **{attribute: mask})

    assert [f.field for f in caught.value.fields] == [field]
    assert _stored(uows) == before


@pytest.mark.parametrize(
    "mask",
    [
        "*",
        "demo\\*,!demo\\vip",
        "!demo\\*",
        "real\\*\\vip",
        "BEST BROKER, Other*",
        "50%,real_x",
        "a" * MASK_MAX,
        "*a" * 16,
        ",".join(f"g{n}" for n in range(128)),
    ],
)
def test_well_formed_masks_are_accepted(services: Application, admin: Actor, mask: str) -> None:
    created = services.create_manager(
        CreateManager(1001, group_mask=mask, white_labels=mask), admin
    )

    assert (created.group_mask, created.white_labels) == (mask, mask)
