"""API keys and scopes over the fakes: issuing, authenticating, revoking, and MissingScope."""

from __future__ import annotations

import secrets
from dataclasses import replace
from datetime import timedelta

import pytest

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateApiKey, CreateManager, IssuedKey, RevokeApiKey
from brokerplane.core.access.keys import TOUCH_INTERVAL
from brokerplane.core.access.model import Manager
from brokerplane.core.account.commands import ListAccounts, OpenAccount, ReportAccounts
from brokerplane.core.actor import Actor
from brokerplane.core.errors import (
    ApiKeyNotFound,
    MissingScope,
    PermissionDenied,
    Unauthorized,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from tests.unit.fakes import FakeClock, FakeUowFactory

OPS_RIGHTS = frozenset({"users:read", "users:write", "reports:read"})


@pytest.fixture
def manager(services: Application, admin: Actor) -> Manager:
    return services.create_manager(CreateManager(1001, name="ops", rights=OPS_RIGHTS), admin)


def _issue(services: Application, admin: Actor, scopes: set[str], **kw: object) -> IssuedKey:
    return services.create_api_key(CreateApiKey(1001, frozenset(scopes), **kw), admin)  # type: ignore[arg-type]


def _set_manager(uows: FakeUowFactory, login: int, **changes: object) -> None:
    """No command edits managers yet; change one through the ManagerRepository port."""
    with uows() as uow:
        current = uow.managers.get(login)
        assert current is not None
        uow.managers.update(replace(current, **changes))  # type: ignore[arg-type]
        uow.commit()


# --- authentication --------------------------------------------------------------------------


def test_valid_key_authenticates_as_its_manager_with_its_scopes(
    services: Application, admin: Actor, manager: Manager
) -> None:
    issued = _issue(services, admin, {"users:read"}, name="crm")

    identity = services.authenticate_key(issued.secret)

    assert identity.manager.login == 1001
    assert identity.key.id == issued.key.id
    assert identity.scopes == frozenset({"users:read"})


def test_key_secret_is_shown_once_and_stored_only_as_a_hash(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    issued = _issue(services, admin, {"users:read"})

    stored = uows.state.api_keys[issued.key.id]
    assert issued.secret.startswith(f"bpk_{stored.prefix}_")
    assert issued.secret not in stored.secret_hash
    assert len(stored.secret_hash) == 64


def test_first_use_of_a_key_stamps_last_used_and_a_second_within_a_minute_does_not(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory, clock: FakeClock
) -> None:
    issued = _issue(services, admin, {"users:read"})
    first_use = clock.advance(seconds=1)

    assert services.authenticate_key(issued.secret).needs_touch
    clock.advance(seconds=TOUCH_INTERVAL.total_seconds() - 1)
    assert not services.authenticate_key(issued.secret).needs_touch
    assert uows.state.api_keys[issued.key.id].last_used_at == first_use

    later = clock.advance(seconds=1)
    assert services.authenticate_key(issued.secret).needs_touch
    assert uows.state.api_keys[issued.key.id].last_used_at == later


def test_key_whose_secret_contains_underscores_authenticates(
    services: Application, admin: Actor, manager: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(secrets, "token_urlsafe", lambda n: "a_b-c_" * 7)
    issued = _issue(services, admin, {"users:read"})
    assert issued.secret.count("_") > 2

    assert services.authenticate_key(issued.secret).key.id == issued.key.id


def test_key_with_a_wrong_secret_is_refused(
    services: Application, admin: Actor, manager: Manager
) -> None:
    issued = _issue(services, admin, {"users:read"})
    forged = issued.secret[:-4] + ("AAAA" if not issued.secret.endswith("AAAA") else "BBBB")

    with pytest.raises(Unauthorized, match="not valid") as caught:
        services.authenticate_key(forged)

    assert caught.value.code == "auth.unauthorized"


def test_key_with_an_unknown_prefix_is_refused(
    services: Application, admin: Actor, manager: Manager
) -> None:
    issued = _issue(services, admin, {"users:read"})
    _, _, tail = issued.secret.split("_", 2)

    with pytest.raises(Unauthorized, match="not valid"):
        services.authenticate_key(f"bpk_000000000000_{tail}")


@pytest.mark.parametrize(
    "presented", ["", "bpk", "bpk_abc", "xyz_abc_def", "Bearer bpk_a_b", "bpk-a-b"]
)
def test_malformed_key_is_refused_as_malformed(
    services: Application, manager: Manager, presented: str
) -> None:
    with pytest.raises(Unauthorized, match="malformed"):
        services.authenticate_key(presented)


def test_key_is_refused_from_the_moment_it_expires(
    services: Application, admin: Actor, manager: Manager, clock: FakeClock
) -> None:
    issued = _issue(services, admin, {"users:read"}, expires_at=clock.now + timedelta(hours=1))
    clock.advance(minutes=59, seconds=59)
    services.authenticate_key(issued.secret)

    clock.advance(seconds=1)

    with pytest.raises(Unauthorized, match="expired"):
        services.authenticate_key(issued.secret)


def test_key_cannot_be_issued_already_expired(
    services: Application, admin: Actor, manager: Manager, clock: FakeClock
) -> None:
    with pytest.raises(ValidationError) as caught:
        _issue(services, admin, {"users:read"}, expires_at=clock.now)

    assert [f.field for f in caught.value.fields] == ["expires_at"]


def test_revoked_key_is_refused_and_the_revocation_is_audited(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory, clock: FakeClock
) -> None:
    issued = _issue(services, admin, {"users:read"})
    services.authenticate_key(issued.secret)
    clock.advance(seconds=5)

    revoked = services.revoke_api_key(RevokeApiKey(issued.key.id), admin)

    assert revoked.revoked_at == clock.now
    with pytest.raises(Unauthorized, match="revoked"):
        services.authenticate_key(issued.secret)
    last = uows.state.audit[-1]
    assert (last.action, last.entity_id) == ("api_key.revoked", issued.key.id)
    assert last.before is not None and last.before["revoked_at"] is None


def test_key_of_a_disabled_manager_is_refused(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    issued = _issue(services, admin, {"users:read"})
    _set_manager(uows, 1001, enabled=False)

    with pytest.raises(Unauthorized, match="disabled"):
        services.authenticate_key(issued.secret)


def test_key_scopes_shrink_to_the_rights_its_manager_still_holds(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    issued = _issue(services, admin, {"users:read", "users:write"})
    _set_manager(uows, 1001, rights=frozenset({"users:read", "reports:read"}))

    identity = services.authenticate_key(issued.secret)

    assert identity.scopes == frozenset({"users:read"})


def test_key_of_an_admin_manager_keeps_every_scope_it_was_given(
    services: Application, admin: Actor
) -> None:
    services.create_manager(CreateManager(1002, rights=frozenset({"admin"})), admin)
    issued = services.create_api_key(
        CreateApiKey(1002, frozenset({"balances:write", "personal_data"})), admin
    )

    identity = services.authenticate_key(issued.secret)

    assert identity.scopes == frozenset({"balances:write", "personal_data"})


# --- issuing ---------------------------------------------------------------------------------


def test_key_cannot_carry_a_scope_its_manager_lacks(
    services: Application, admin: Actor, manager: Manager, uows: FakeUowFactory
) -> None:
    with pytest.raises(PermissionDenied, match="balances:write"):
        _issue(services, admin, {"users:read", "balances:write"})

    assert uows.state.api_keys == {}


def test_key_with_an_unknown_scope_is_refused(
    services: Application, admin: Actor, manager: Manager
) -> None:
    with pytest.raises(ValidationError) as caught:
        _issue(services, admin, {"users:read", "users:everything"})

    assert caught.value.fields[0].field == "scopes"
    assert "users:everything" in caught.value.fields[0].message


def test_key_without_scopes_is_refused(
    services: Application, admin: Actor, manager: Manager
) -> None:
    with pytest.raises(ValidationError, match="at least one scope"):
        _issue(services, admin, set())


def test_manager_may_issue_its_own_key_without_the_admin_scope(
    services: Application, manager: Manager
) -> None:
    self_actor = Actor(manager_login=1001, scopes=frozenset({"users:read", "reports:read"}))

    issued = services.create_api_key(CreateApiKey(1001, frozenset({"reports:read"})), self_actor)

    assert issued.key.manager_login == 1001


def test_a_key_cannot_issue_a_key_with_scopes_it_lacks_itself(
    services: Application, manager: Manager
) -> None:
    # the manager holds reports:read, but this credential of it does not: no escalation
    self_actor = Actor(manager_login=1001, scopes=frozenset({"users:read"}))

    with pytest.raises(PermissionDenied, match="reports:read"):
        services.create_api_key(CreateApiKey(1001, frozenset({"reports:read"})), self_actor)


def test_manager_may_not_issue_a_key_for_another_manager(
    services: Application, admin: Actor, manager: Manager
) -> None:
    services.create_manager(CreateManager(1002), admin)
    other = Actor(manager_login=1001, scopes=OPS_RIGHTS)

    with pytest.raises(MissingScope):
        services.create_api_key(CreateApiKey(1002, frozenset({"users:read"})), other)


def test_manager_cannot_revoke_another_managers_key_and_learns_nothing_of_it(
    services: Application, admin: Actor, manager: Manager
) -> None:
    issued = _issue(services, admin, {"users:read"})
    stranger = Actor(manager_login=2002, scopes=frozenset({"users:write"}))

    with pytest.raises(ApiKeyNotFound):
        services.revoke_api_key(RevokeApiKey(issued.key.id), stranger)

    services.authenticate_key(issued.secret)


# --- scopes ----------------------------------------------------------------------------------


@pytest.fixture
def reader() -> Actor:
    return Actor(manager_login=1001, scopes=frozenset({"users:read"}), dialect=Dialect.NATIVE)


def test_opening_an_account_needs_the_users_write_scope(
    services: Application, usd_group: Group, reader: Actor, uows: FakeUowFactory
) -> None:
    with pytest.raises(MissingScope) as caught:
        services.open_account(OpenAccount(group="real\\standard"), reader)

    assert caught.value.code == "auth.missing_scope"
    assert caught.value.context == {"scope": "users:write"}
    assert uows.state.accounts == {}


def test_reading_an_account_needs_only_users_read(
    services: Application, admin: Actor, usd_group: Group, reader: Actor
) -> None:
    acc = services.open_account(OpenAccount(group="real\\standard"), admin)

    assert services.get_account(acc.login, reader).login == acc.login
    with pytest.raises(MissingScope, match="users:read"):
        services.get_account(acc.login, Actor(manager_login=1001))


def test_creating_a_group_needs_the_admin_scope(services: Application) -> None:
    writer = Actor(manager_login=1001, scopes=frozenset({"users:write", "users:read"}))

    with pytest.raises(MissingScope, match="admin"):
        services.create_group(CreateGroup("real\\x", "USD"), writer)


def test_listing_for_a_report_needs_the_reports_scope(
    services: Application, usd_group: Group, reader: Actor
) -> None:
    with pytest.raises(MissingScope, match="reports:read"):
        list(services.iter_accounts(ReportAccounts(), reader))
    assert services.list_accounts(ListAccounts(), reader) == []  # a user reader's listing


def test_admin_scope_grants_every_scope() -> None:
    actor = Actor(manager_login=None, scopes=frozenset({"admin"}))

    assert all(actor.has(s) for s in ("users:write", "balances:approve", "personal_data"))
    actor.require("balances:write")


def test_an_actor_holds_only_the_scopes_it_was_given() -> None:
    actor = Actor(manager_login=7, scopes=frozenset({"users:read"}))

    assert actor.has("users:read") and not actor.has("users:write")
    with pytest.raises(MissingScope):
        actor.require("users:write")
