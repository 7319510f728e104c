"""The back-office repository on SQLite and PostgreSQL, and its in-memory fake answering the
same: names ignoring ASCII case, unique constraints, the user search with filters, reach and
offset, tokens by hash and session, webhook keys and the accounts of a user."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import DeleteAccount, OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.backoffice.commands import CreatePlan, CreatePreset, CreateWhiteLabel
from brokerplane.core.backoffice.model import (
    AccountPreset,
    BackofficeToken,
    Plan,
    UserSearch,
    WebhookKey,
    WhiteLabel,
)
from brokerplane.core.errors import Conflict
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ports import UnitOfWork, UnitOfWorkFactory
from brokerplane.core.user.model import User
from tests.unit.fakes import FakeClock, FakeUowFactory


def _token(
    clock: FakeClock, token_hash: str, session: str, principal_id: int, minutes: int
) -> BackofficeToken:
    now = clock()
    return BackofficeToken(
        token_hash,
        "access",
        session,
        "user",
        principal_id,
        "f" * 64,
        now,
        now + timedelta(minutes=minutes),
    )


def _behaves(
    services: Application, uows: UnitOfWorkFactory, admin: Actor, clock: FakeClock
) -> None:
    """The scenario both the SQL repository and the fake must pass."""
    services.create_white_label(CreateWhiteLabel("Brand-A"), admin)
    services.create_plan(CreatePlan("Plan X", "swap"), admin)
    services.create_account_preset(CreatePreset("Pro"), admin)
    retail = services.create_group(CreateGroup("retail", "USD", {"broker": "Brand-A"}), admin)
    vip = services.create_group(CreateGroup("vip", "USD"), admin)
    now = clock()

    with uows() as uow:
        bo = uow.backoffice
        assert (
            bo.white_label_by_name("BRAND-a") is not None
            and bo.white_label_by_name("Brand") is None
        )
        assert bo.plan_by_name("plan x") is not None and bo.preset_by_name("PRO") is not None
        assert [b.id for b in bo.list_white_labels()] == [1]
        users = [
            uow.users.add(
                User(
                    id=0,
                    email="a@example.com",
                    login="Alice",
                    group_id=retail.id,
                    broker="Brand-A",
                    created_at=now,
                    updated_at=now,
                )
            ),
            uow.users.add(
                User(
                    id=0,
                    email="b@example.com",
                    login="bob",
                    group_id=vip.id,
                    created_at=now,
                    updated_at=now,
                )
            ),
            uow.users.add(User(id=0, email="c@example.com", created_at=now, updated_at=now)),
        ]
        a, b, c = (u.id for u in users)
        uow.commit()

    def ids(uow: UnitOfWork, **kw: object) -> list[int]:
        return [u.id for u in uow.backoffice.search_users(UserSearch(**kw))]  # type: ignore[arg-type]

    with uows(write=False) as uow:
        assert ids(uow) == [a, b, c]
        assert ids(uow, logins=("ALICE", "Bob")) == [a, b]
        assert ids(uow, logins=("",)) == [] and ids(uow, logins=()) == []
        assert ids(uow, email="b@example.com") == [b]
        assert ids(uow, group_ids=(vip.id,)) == [b] and ids(uow, group_ids=()) == []
        assert ids(uow, broker="brand-a") == [a]
        assert ids(uow, reach_group_ids=(vip.id,)) == [b, c]
        assert ids(uow, broker_mask="Brand-*") == [a, b, c]  # users without a brand stay
        assert ids(uow, broker_mask="Other") == [b, c]
        assert ids(uow, offset=1, limit=1) == [b] and ids(uow, offset=5) == []
        assert uow.backoffice.user_by_login("alice").id == a  # type: ignore[union-attr]
        assert uow.backoffice.user_by_login("") is None
        assert uow.backoffice.user_by_login("carol") is None

    first = services.open_account(OpenAccount(group="retail", owner_id=a), admin)
    second = services.open_account(OpenAccount(group="vip", owner_id=a), admin)
    services.open_account(OpenAccount(group="vip", owner_id=b), admin)
    services.delete_account(DeleteAccount(first.login), admin)

    with uows() as uow:
        bo = uow.backoffice
        assert [(x.login, x.group) for x in bo.accounts_of_user(a)] == [(second.login, "vip")]
        key = bo.add_webhook_key(WebhookKey(0, a, "k1", "whk_1", "d" * 64, now))
        bo.add_webhook_key(WebhookKey(0, b, "k2", "whk_2", "d" * 64, now))
        assert key.id == 1 and bo.count_webhook_keys(a) == 1
        assert bo.webhook_key_by_api_key("whk_2").user_id == b  # type: ignore[union-attr]
        assert [k.id for k in bo.list_webhook_keys([b])] == [2]
        assert [k.id for k in bo.list_webhook_keys(None)] == [1, 2] and not bo.list_webhook_keys([])
        bo.touch_webhook_key(1, now)
        assert bo.get_webhook_key(1).last_used_at == now  # type: ignore[union-attr]
        bo.delete_webhook_key(1)
        assert bo.get_webhook_key(1) is None
        bo.add_token(_token(clock, "h1", "s1", a, 5))
        bo.add_token(_token(clock, "h2", "s1", a, 60))
        bo.add_token(_token(clock, "h3", "s2", b, 60))
        assert bo.get_token("h1") == _token(clock, "h1", "s1", a, 5)
        uow.commit()

    clock.advance(minutes=10)
    with uows() as uow:
        assert uow.backoffice.purge_tokens(clock()) == 1
        uow.backoffice.delete_session("s2")
        assert uow.backoffice.get_token("h3") is None and uow.backoffice.get_token("h2")
        uow.backoffice.delete_tokens_of("user", a)
        assert uow.backoffice.get_token("h2") is None
        uow.commit()


def _conflicts(uows: UnitOfWorkFactory, attempt: Callable[[UnitOfWork], object]) -> None:
    with pytest.raises(Conflict), uows() as uow:
        attempt(uow)
        uow.commit()


def _refuses_duplicates(uows: UnitOfWorkFactory, clock: FakeClock) -> None:
    now = clock()
    with uows() as uow:
        uow.backoffice.add_white_label(WhiteLabel(0, "B", created_at=now))
        uow.backoffice.add_plan(Plan(0, "P", created_at=now))
        uow.backoffice.add_preset(AccountPreset(0, "R", created_at=now))
        user = uow.users.add(
            User(id=0, email="u@example.com", login="u", created_at=now, updated_at=now)
        )
        uow.backoffice.add_webhook_key(WebhookKey(0, user.id, "k", "whk_1", "d" * 64, now))
        uow.backoffice.add_token(_token(clock, "h", "s", user.id, 5))
        uow.commit()
    _conflicts(uows, lambda u: u.backoffice.add_white_label(WhiteLabel(0, "B", created_at=now)))
    _conflicts(uows, lambda u: u.backoffice.add_plan(Plan(0, "P", created_at=now)))
    preset = AccountPreset(0, "R", created_at=now)
    _conflicts(uows, lambda u: u.backoffice.add_preset(preset))
    _conflicts(
        uows,
        lambda u: u.backoffice.add_webhook_key(WebhookKey(0, user.id, "k", "whk_1", "d" * 64, now)),
    )
    _conflicts(
        uows,
        lambda u: u.backoffice.add_webhook_key(WebhookKey(0, 999, "k", "whk_9", "d" * 64, now)),
    )
    _conflicts(uows, lambda u: u.backoffice.add_token(_token(clock, "h", "x", 1, 5)))


def test_the_sql_repository_behaves(
    services: Application, runtime: Runtime, admin: Actor, clock: FakeClock
) -> None:
    _behaves(services, runtime.storage.uow, admin, clock)


def test_the_fake_behaves_the_same(admin: Actor, clock: FakeClock) -> None:
    uows = FakeUowFactory()
    _behaves(Application(uows, clock=clock), uows, admin, clock)


def test_the_sql_repository_refuses_duplicates(runtime: Runtime, clock: FakeClock) -> None:
    _refuses_duplicates(runtime.storage.uow, clock)


def test_the_fake_refuses_duplicates_the_same(clock: FakeClock) -> None:
    _refuses_duplicates(FakeUowFactory(), clock)


def test_one_te_login_is_one_user_in_the_database(runtime: Runtime, clock: FakeClock) -> None:
    now = clock()
    uows = runtime.storage.uow
    with uows() as uow:
        uow.users.add(
            User(id=0, email="a@example.com", login="same", created_at=now, updated_at=now)
        )
        uow.users.add(User(id=0, email="b@example.com", created_at=now, updated_at=now))
        uow.users.add(User(id=0, email="c@example.com", created_at=now, updated_at=now))
        uow.commit()
    with pytest.raises(Conflict), uows() as uow:
        uow.users.add(
            User(id=0, email="d@example.com", login="same", created_at=now, updated_at=now)
        )
        uow.commit()
