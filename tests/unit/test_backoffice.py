"""The TraderEvolution back office's rules over the in-memory fakes: users opened with their
accounts, filters and reach, group moves, statuses and the brute-force lock, sessions that
expire and refresh, and webhook keys."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from datetime import timedelta

import pytest

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateManager, UpdateManager
from brokerplane.core.account.commands import CheckPassword, UpdateAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.backoffice import webhooks
from brokerplane.core.backoffice.commands import (
    AddAccount,
    ChangeUserPassword,
    CreatePlan,
    CreatePreset,
    CreateUserGroup,
    CreateWhiteLabel,
    GroupFilter,
    NewAccount,
    OpenUser,
    RefreshSession,
    SignIn,
    UpdateUser,
    UserFilter,
)
from brokerplane.core.backoffice.model import LOCKED, UNLOCKED, WebhookKey
from brokerplane.core.errors import (
    Conflict,
    EmailAlreadyExists,
    GroupNotFound,
    MissingScope,
    NotFound,
    PasswordPolicyViolation,
    PermissionDenied,
    Unauthorized,
    UserNotFound,
    ValidationError,
)
from brokerplane.core.group.model import Group
from brokerplane.core.kinds import Dialect
from tests.unit.fakes import FakeClock, FakeUowFactory

PASSWORD = "Trader#2024x"
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)


@pytest.fixture
def groups(services: Application, admin: Actor) -> dict[str, Group]:
    brand = services.create_white_label(CreateWhiteLabel("BRAND"), admin)
    plan = services.create_plan(CreatePlan("Risk A"), admin)
    return {
        "retail": services.create_user_group(
            CreateUserGroup("retail", None, brand.id, plan.id), admin
        ),
        "vip": services.create_user_group(
            CreateUserGroup("vip", "USD", brand.id, None, "", 100, 100), admin
        ),
        "plain": services.create_user_group(CreateUserGroup("plain", "USD"), admin),
    }


def _open(
    services: Application, admin: Actor, group: Group, login: str = "jsmith", *accounts: NewAccount
) -> int:
    made = services.open_user_with_accounts(
        OpenUser(
            login,
            PASSWORD,
            f"{login}@example.com",
            group.id,
            accounts=accounts or (NewAccount("Main"),),
        ),
        admin,
    )
    return made.user.id


def _sign_in(
    services: Application, login: object, password: str = PASSWORD, ip: str = "192.0.2.1"
) -> str:
    actor = Actor(manager_login=None, dialect=Dialect.TRADEREVOLUTION, ip=ip)
    pair = services.sign_in_backoffice(SignIn(login, password, HOUR, DAY), actor)
    return pair.access_token


def test_a_user_opens_with_its_accounts_in_its_group(
    services: Application, admin: Actor, groups: dict[str, Group]
) -> None:
    made = services.open_user_with_accounts(
        OpenUser(
            "jsmith",
            PASSWORD,
            "JSmith@Example.com",
            groups["retail"].id,
            "John",
            "Smith",
            (NewAccount("Main"), NewAccount("Second")),
        ),
        admin,
    )

    user = made.user
    assert (user.login, user.email, user.status) == ("jsmith", "jsmith@example.com", 0)
    assert made.user.broker == "BRAND" and made.user.password is None
    assert [a.name for a in made.accounts] == ["Main", "Second"]
    assert {(a.group, a.currency, a.user_id, a.broker) for a in made.accounts} == {
        ("retail", "USD", made.user.id, "BRAND")
    }
    assert services.check_password(CheckPassword(made.accounts[1].login, "main", PASSWORD), admin)


def test_a_users_rules_refuse_before_anything_is_written(
    services: Application, admin: Actor, groups: dict[str, Group], uows: FakeUowFactory
) -> None:
    _open(services, admin, groups["retail"])
    group = groups["retail"].id
    cases: list[tuple[OpenUser, type[Exception]]] = [
        (
            OpenUser("JSMITH", PASSWORD, "other@example.com", group, accounts=(NewAccount("A"),)),
            Conflict,
        ),
        (
            OpenUser("other", PASSWORD, "jsmith@example.com", group, accounts=(NewAccount("A"),)),
            EmailAlreadyExists,
        ),
        (OpenUser("other", PASSWORD, "o@example.com", group), ValidationError),
        (
            OpenUser("other", "weak", "o@example.com", group, accounts=(NewAccount("A"),)),
            PasswordPolicyViolation,
        ),
        (
            OpenUser("4711", PASSWORD, "o@example.com", group, accounts=(NewAccount("A"),)),
            ValidationError,
        ),
        (
            OpenUser("other", PASSWORD, "o@example.com", 999, accounts=(NewAccount("A"),)),
            GroupNotFound,
        ),
        (
            OpenUser("other", PASSWORD, "o@example.com", group, accounts=(NewAccount("A", 9),)),
            NotFound,
        ),
        (
            OpenUser(
                "other",
                PASSWORD,
                "o@example.com",
                group,
                accounts=tuple(NewAccount(str(n)) for n in range(21)),
            ),
            ValidationError,
        ),
    ]
    before = (dict(uows.state.users), dict(uows.state.accounts))
    for cmd, error in cases:
        with pytest.raises(error):
            services.open_user_with_accounts(cmd, admin)
    assert (dict(uows.state.users), dict(uows.state.accounts)) == before


def test_a_preset_sets_what_it_names_and_the_group_the_rest(
    services: Application, admin: Actor, groups: dict[str, Group]
) -> None:
    preset = services.create_account_preset(CreatePreset("Euro", "eur", 50, "netted", True), admin)
    uid = _open(services, admin, groups["retail"], "jsmith", NewAccount("A", preset.id))

    added = services.open_user_account(AddAccount(uid, NewAccount("B")), admin)

    [first, second] = services.get_user_with_accounts(uid, admin).accounts
    assert (first.currency, first.leverage, first.account_type, first.swap_free) == (
        "EUR",
        50,
        "NETTED",
        True,
    )
    assert (second.login, second.currency, second.leverage) == (added.login, "USD", 100)
    assert services.check_password(CheckPassword(added.login, "main", PASSWORD), admin)


def test_users_are_searched_by_every_filter_within_reach(
    services: Application, admin: Actor, groups: dict[str, Group]
) -> None:
    a = _open(services, admin, groups["retail"], "alice")
    b = _open(services, admin, groups["vip"], "bob")
    c = _open(services, admin, groups["plain"], "carol")
    branding = services.list_white_labels(admin)[0].id
    plan = services.list_plans(admin)[0].id

    def ids(**kw: object) -> list[int]:
        return [u.id for u in services.search_users(UserFilter(**kw), admin)]  # type: ignore[arg-type]

    assert ids() == [a, b, c]
    assert ids(logins=("BOB", "carol", "")) == [b, c]
    assert ids(email="Alice@Example.com") == [a]
    assert ids(branding_id=branding) == [a, b]
    assert ids(plan_id=plan) == [a]
    assert ids(plan_id=plan, group_id=groups["vip"].id) == []
    assert ids(offset=1, limit=1) == [b]
    with pytest.raises(ValidationError):
        ids(limit=0)
    desk = Actor(manager_login=7, scopes=frozenset({"users:read"}), group_mask="vip")
    assert [u.id for u in services.search_users(UserFilter(), desk)] == [b]
    assert services.search_users(UserFilter(), desk)[0].email == ""  # no personal_data
    with pytest.raises(MissingScope):
        services.search_users(UserFilter(email="bob@example.com"), desk)
    with pytest.raises(UserNotFound):
        services.get_user_with_accounts(a, desk)


def test_a_move_takes_the_accounts_along_and_caps_their_leverage(
    services: Application, admin: Actor, groups: dict[str, Group]
) -> None:
    uid = _open(services, admin, groups["retail"], "jsmith", NewAccount("A"), NewAccount("B"))
    login = services.get_user_with_accounts(uid, admin).accounts[0].login
    services.update_account(UpdateAccount(login, {"leverage": 400}), admin)

    moved = services.update_user_settings(UpdateUser(uid, group_id=groups["vip"].id), admin)

    assert moved.group_id == groups["vip"].id
    found = services.get_user_with_accounts(uid, admin).accounts
    assert {(a.group, a.leverage) for a in found} == {("vip", 100)}
    plain = services.update_user_settings(UpdateUser(uid, group_id=groups["plain"].id), admin)
    brokers = {a.broker for a in services.get_user_with_accounts(uid, admin).accounts}
    assert plain.broker == "" and brokers == {""}


def test_a_manager_who_misses_one_of_the_accounts_cannot_move_the_user(
    services: Application, admin: Actor, groups: dict[str, Group]
) -> None:
    uid = _open(services, admin, groups["vip"], "jsmith", NewAccount("A"), NewAccount("B"))
    login = services.get_user_with_accounts(uid, admin).accounts[1].login
    services.update_account(UpdateAccount(login, {"group": "plain"}), admin)
    desk = Actor(manager_login=7, scopes=frozenset(SCOPES) - {"admin"}, group_mask="vip,retail")

    with pytest.raises(PermissionDenied):
        services.update_user_settings(UpdateUser(uid, group_id=groups["retail"].id), desk)
    with pytest.raises(PermissionDenied):
        services.change_user_password(ChangeUserPassword(uid, "NewPass#2025"), desk)
    found = services.get_user_with_accounts(uid, admin).accounts
    assert [a.group for a in found] == ["vip", "plain"]


def test_sessions_expire_refresh_once_and_end_with_a_new_password(
    services: Application, admin: Actor, groups: dict[str, Group], clock: FakeClock
) -> None:
    services.create_manager(CreateManager(1010, "bo", "Backoffice#1", frozenset(SCOPES)), admin)
    actor = Actor(manager_login=None, dialect=Dialect.TRADEREVOLUTION)
    pair = services.sign_in_backoffice(SignIn("1010", "Backoffice#1", HOUR, DAY), actor)

    assert services.authenticate_backoffice_token(pair.access_token).manager.login == 1010  # type: ignore[union-attr]
    clock.advance(hours=1)
    with pytest.raises(Unauthorized):
        services.authenticate_backoffice_token(pair.access_token)
    fresh = services.refresh_backoffice_session(
        RefreshSession(pair.refresh_token, HOUR, DAY), actor
    )
    assert services.authenticate_backoffice_token(fresh.access_token).kind == "manager"
    with pytest.raises(Unauthorized):
        services.refresh_backoffice_session(RefreshSession(pair.refresh_token, HOUR, DAY), actor)
    with pytest.raises(Unauthorized):
        services.refresh_backoffice_session(RefreshSession(fresh.access_token, HOUR, DAY), actor)
    services.update_manager(UpdateManager(1010, password="Backoffice#2"), admin)
    with pytest.raises(Unauthorized):
        services.authenticate_backoffice_token(fresh.access_token)
    clock.advance(days=1)
    with pytest.raises(Unauthorized):
        services.refresh_backoffice_session(RefreshSession(fresh.refresh_token, HOUR, DAY), actor)


def test_expired_tokens_are_purged_at_the_next_sign_in(
    services: Application,
    admin: Actor,
    groups: dict[str, Group],
    clock: FakeClock,
    uows: FakeUowFactory,
) -> None:
    _open(services, admin, groups["retail"])
    _sign_in(services, "jsmith")
    assert len(uows.state.bo_tokens) == 2
    clock.advance(days=2)

    _sign_in(services, "jsmith")

    assert len(uows.state.bo_tokens) == 2


def test_failed_sign_ins_hold_the_login_back_from_that_address_and_never_lock_the_user(
    services: Application,
    admin: Actor,
    groups: dict[str, Group],
    uows: FakeUowFactory,
    clock: FakeClock,
) -> None:
    uid = _open(services, admin, groups["retail"])
    for _ in range(4):
        with pytest.raises(Unauthorized):
            _sign_in(services, "jsmith", "Wrong#00000")
    session = _sign_in(services, "jsmith")  # a success starts the count again
    for _ in range(5):
        with pytest.raises(Unauthorized, match="wrong login or password"):
            _sign_in(services, "jsmith", "Wrong#00000")

    with pytest.raises(Unauthorized, match="try again in 1 s"):
        _sign_in(services, "jsmith")
    assert _sign_in(services, "jsmith", ip="198.51.100.7")  # the real user, elsewhere
    assert uows.state.users[uid].status == UNLOCKED
    assert services.authenticate_backoffice_token(session).id == uid
    clock.advance(seconds=1)
    assert _sign_in(services, "jsmith")
    assert not [r for r in uows.state.audit if r.action == "user.status_changed"]


def test_a_locked_users_accounts_are_not_usable(
    services: Application, admin: Actor, groups: dict[str, Group]
) -> None:
    uid = _open(services, admin, groups["retail"])
    login = services.get_user_with_accounts(uid, admin).accounts[0].login
    assert services.account_usable(login)

    services.update_user_settings(UpdateUser(uid, status=LOCKED), admin)

    assert not services.account_usable(login)
    with pytest.raises(ValidationError):
        services.update_user_settings(UpdateUser(uid, status=7), admin)
    with pytest.raises(ValidationError):
        services.update_user_settings(UpdateUser(uid), admin)


def test_webhook_keys_belong_to_their_user(
    services: Application,
    admin: Actor,
    groups: dict[str, Group],
    clock: FakeClock,
    uows: FakeUowFactory,
) -> None:
    alice = _open(services, admin, groups["retail"], "alice")
    bob = _open(services, admin, groups["retail"], "bob")
    user_actor = Actor(manager_login=None, operator_id=f"user {alice}")
    issued = services.create_webhook_key(
        webhooks.CreateWebhookKey(alice, as_user=alice), user_actor
    )

    assert issued.key.name.startswith("webhook-") and issued.secret not in str(uows.state)
    with pytest.raises(Unauthorized):
        services.create_webhook_key(webhooks.CreateWebhookKey(bob, as_user=alice), user_actor)
    with pytest.raises(NotFound):
        services.delete_webhook_key(
            webhooks.DeleteWebhookKey(issued.key.id, as_user=bob), Actor(manager_login=None)
        )
    expiring = services.create_webhook_key(
        webhooks.CreateWebhookKey(bob, "soon", clock() + HOUR), admin
    )
    assert services.authenticate_webhook_key(expiring.key.api_key).user.id == bob
    clock.advance(hours=2)
    with pytest.raises(Unauthorized, match="expired"):
        services.authenticate_webhook_key(expiring.key.api_key)
    with pytest.raises(ValidationError):
        services.create_webhook_key(webhooks.CreateWebhookKey(bob, "past", clock() - HOUR), admin)
    listed = services.list_webhook_keys(webhooks.ListWebhookKeys(), admin)
    assert [(k.user_id, k.name) for k in listed] == [(alice, issued.key.name), (bob, "soon")]


def test_a_user_holds_at_most_fifty_keys(
    services: Application, admin: Actor, groups: dict[str, Group]
) -> None:
    uid = _open(services, admin, groups["retail"])
    for n in range(webhooks.MAX_KEYS_PER_USER):
        services.create_webhook_key(webhooks.CreateWebhookKey(uid, f"k{n}"), admin)

    with pytest.raises(ValidationError, match="delete one first"):
        services.create_webhook_key(webhooks.CreateWebhookKey(uid, "one more"), admin)


def test_signatures_are_hmac_of_the_body_keyed_with_the_secrets_digest() -> None:
    secret = "s3cr3t"
    key = WebhookKey(1, 1, "k", "whk_x", webhooks.secret_digest(secret))
    expected = hmac.new(hashlib.sha256(b"s3cr3t").digest(), b"body", "sha256").hexdigest()

    assert webhooks.sign(secret, b"body") == expected
    assert webhooks.verify_signature(key, b"body", expected.upper())
    assert not webhooks.verify_signature(key, b"body", "")
    assert not webhooks.verify_secret(key, "")


def test_catalogue_names_are_unique_ignoring_case_and_need_admin(
    services: Application, admin: Actor, groups: dict[str, Group]
) -> None:
    with pytest.raises(Conflict):
        services.create_white_label(CreateWhiteLabel("brand"), admin)
    with pytest.raises(Conflict):
        services.create_plan(CreatePlan("RISK a"), admin)
    desk = Actor(manager_login=7, scopes=frozenset(SCOPES) - {"admin"})
    with pytest.raises(MissingScope):
        services.create_white_label(CreateWhiteLabel("Other"), desk)
    limited = Actor(manager_login=7, scopes=frozenset(SCOPES), white_labels="OTHER")
    with pytest.raises(PermissionDenied):
        services.create_plan(CreatePlan("P2"), limited)
    found = services.list_user_groups(GroupFilter(name="VIP", server_id=1), admin)
    assert [g.name for g in found] == ["vip"]
    assert services.list_user_groups(GroupFilter(server_id=2), admin) == []
    assert services.list_account_presets(admin, currency="CHF") == []


def test_a_changed_password_is_the_users_and_its_accounts(
    services: Application, admin: Actor, groups: dict[str, Group]
) -> None:
    uid = _open(services, admin, groups["retail"])
    login = services.get_user_with_accounts(uid, admin).accounts[0].login
    session = _sign_in(services, "jsmith")

    services.change_user_password(ChangeUserPassword(uid, "NewPass#2025"), admin)

    with pytest.raises(Unauthorized):
        services.authenticate_backoffice_token(session)
    assert _sign_in(services, "jsmith", "NewPass#2025")
    assert services.check_password(CheckPassword(login, "main", "NewPass#2025"), admin)
    with pytest.raises(PasswordPolicyViolation):
        services.change_user_password(ChangeUserPassword(uid, "weak"), admin)
    assert replace(services.get_user_with_accounts(uid, admin).user).password is None
