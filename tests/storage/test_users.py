"""Users in SQL on SQLite and PostgreSQL: one user per email (case folded, enforced by the
database too), nicknames, reach in listings, links to accounts, the agreement and logout times,
concurrent creates of one email, and the same answers as the in-memory fakes give."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import AccountAlreadyLinked, Conflict, EmailAlreadyExists
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.passwords import md5_hex
from brokerplane.core.user.commands import ChangeEmail, CreateUser, LinkAccount
from brokerplane.core.user.model import User, UserLink, UserQuery
from tests.unit.fakes import FakeClock, FakeUowFactory
from tests.unit.test_users import BRAND

PASSWORD = "Secret#123"
BEST, OTHER = 200_001, 200_003


def build(services: Application, admin: Actor) -> None:
    for name, broker in (("demo\\usd", "BESTBROKER"), ("real\\other", "OTHERBROKER")):
        services.create_group(CreateGroup(name, "USD", {"broker": broker}), admin)
    for login, group in ((BEST, "demo\\usd"), (OTHER, "real\\other")):
        services.open_account(OpenAccount(group=group, login=login, main_password=PASSWORD), admin)


def scenario(services: Application, admin: Actor, clock: FakeClock) -> list[object]:
    """A run of user commands whose every answer is kept, to compare SQL with the fakes."""
    build(services, admin)
    out: list[object] = []
    for email, nickname, broker in (
        ("President@BestBroker.com", None, "BESTBROKER"),
        ("president@other.com", None, "OTHERBROKER"),
        ("ann@example.com", "Letstrade", ""),
        ("bob@example.com", "letstrade", "BESTBROKER"),
        ("ctid9@example.com", "ctid9", ""),
    ):
        cmd = CreateUser(email, broker=broker, nickname=nickname, nickname_source="email")
        out.append(services.create_user(cmd, admin))
        clock.advance(seconds=1)
    out.append(services.create_user(CreateUser("ANN@example.com", if_exists="existing"), admin))
    out.append(services.change_user_email(ChangeEmail(3, "ann2@example.com"), admin))
    out.append(services.link_account(LinkAccount(1, BEST, md5_hex(PASSWORD), "live"), admin))
    out.append(services.link_account(LinkAccount(1, BEST, md5_hex(PASSWORD)), admin))
    out.append(services.accept_user_agreement(2, admin))
    out.append(services.log_out_user(2, admin))
    out.append(services.list_users(UserQuery(), admin))
    out.append(services.list_users(UserQuery(), BRAND))
    out.append(services.list_users(UserQuery(after_id=1, limit=2), admin))
    out.append(services.list_users(UserQuery(ids=(2, 4, 99)), admin))
    out.append(services.list_users(UserQuery(ids=()), admin))
    out.append(services.list_users(UserQuery(nickname="LETSTRADE"), admin))
    out.append(services.list_users(UserQuery(email="Bob@Example.com"), admin))
    out.append(services.find_user_by_email("PRESIDENT@other.com", BRAND))
    out.append(services.get_account(BEST, admin).user_id)
    return out


def test_sql_answers_as_the_fakes_do(services: Application, admin: Actor, clock: FakeClock) -> None:
    fake_clock = FakeClock(clock.now)
    fakes = Application(FakeUowFactory(), services.config, fake_clock)
    assert scenario(services, admin, clock) == scenario(fakes, admin, fake_clock)


def test_users_round_trip_with_their_times(
    services: Application, admin: Actor, clock: FakeClock
) -> None:
    created = services.create_user(
        CreateUser(
            "Ann@Example.com",
            broker="BESTBROKER",
            first_name="Ann",
            last_name="Lee",
            language="fr",
            nickname="annie",
        ),
        admin,
    ).user
    accepted = clock.advance(seconds=3)
    services.accept_user_agreement(created.id, admin)
    out = clock.advance(seconds=3)
    services.log_out_user(created.id, admin)

    stored = services.get_user(created.id, admin)
    assert stored == User(
        id=created.id,
        email="ann@example.com",
        first_name="Ann",
        last_name="Lee",
        nickname="annie",
        language="fr",
        broker="BESTBROKER",
        created_at=created.created_at,
        updated_at=out,
        agreement_accepted_at=accepted,
        logged_out_at=out,
    )
    assert stored.created_at is not None and stored.created_at.tzinfo is not None
    assert stored.created_at == datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def test_the_database_keeps_one_user_per_email(runtime: Runtime) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with runtime.storage.uow() as uow:
        first = uow.users.add(User(id=0, email="Dup@Example.com", created_at=now, updated_at=now))
        assert first.email == "dup@example.com"
        with pytest.raises(EmailAlreadyExists):
            uow.users.add(User(id=0, email="dup@example.com", created_at=now, updated_at=now))
        # The failed insert left the transaction usable.
        other = uow.users.add(User(id=0, email="other@example.com", created_at=now, updated_at=now))
        # Users without an email (TraderEvolution logins) do not collide.
        blank = [
            uow.users.add(User(id=0, email="", login=f"te{i}", created_at=now, updated_at=now))
            for i in range(2)
        ]
        uow.commit()
    with runtime.storage.uow(write=False) as uow:
        found = uow.users.find_by_email("DUP@example.com")
        assert found is not None and found.id == first.id
        assert uow.users.get(other.id) is not None
        assert len({u.id for u in blank}) == 2


def test_nicknames_are_taken_ignoring_case(runtime: Runtime) -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with runtime.storage.uow() as uow:
        uow.users.add(
            User(id=0, email="n@example.com", nickname="LetsTrade", created_at=now, updated_at=now)
        )
        assert uow.users.nickname_taken("letstrade") and uow.users.nickname_taken("LETSTRADE")
        assert not uow.users.nickname_taken("letstrade2")


def test_links_are_stored_once_per_account(
    services: Application, admin: Actor, runtime: Runtime
) -> None:
    build(services, admin)
    owner = services.create_user(CreateUser("owner@example.com"), admin).user
    other = services.create_user(CreateUser("other@example.com"), admin).user
    linked = services.link_account(LinkAccount(owner.id, BEST, md5_hex(PASSWORD), "demo"), admin)
    assert linked.created and linked.link.id > 0
    with pytest.raises(AccountAlreadyLinked):
        services.link_account(LinkAccount(other.id, BEST, md5_hex(PASSWORD)), admin)
    second = services.link_account(LinkAccount(owner.id, OTHER, md5_hex(PASSWORD)), admin)
    assert second.link.id == linked.link.id + 1
    with runtime.storage.uow(write=False) as uow:
        stored = uow.users.link_of(BEST)
        assert stored is not None
        assert stored == UserLink(linked.link.id, owner.id, BEST, "demo", stored.created_at)
        assert uow.users.link_of(999) is None
    # The database refuses a second link of the account, whatever the core checked before.
    with pytest.raises(Conflict), runtime.storage.uow() as uow:
        uow.users.link(UserLink(0, other.id, BEST, created_at=datetime.now(UTC)))
    assert services.get_account(BEST, admin).user_id == owner.id
    assert services.get_account(OTHER, admin).user_id == owner.id


THREADS = 6


def test_concurrent_creates_of_one_email_make_one_user(services: Application, admin: Actor) -> None:
    start = threading.Barrier(THREADS)

    def classic(i: int) -> tuple[int, bool]:
        start.wait(timeout=30)
        cmd = CreateUser(f"Same{i}@Example.com".replace(str(i), ""), if_exists="existing")
        created = services.create_user(cmd, admin)
        return created.user.id, created.created

    with ThreadPoolExecutor(THREADS) as pool:
        results = list(pool.map(classic, range(THREADS)))

    assert len({user_id for user_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert len(services.list_users(UserQuery(), admin)) == 1


def test_concurrent_sso_creates_of_one_email_leave_the_others_an_email_error(
    services: Application, admin: Actor
) -> None:
    start = threading.Barrier(THREADS)

    def sso(i: int) -> str:
        start.wait(timeout=30)
        try:
            services.create_user(CreateUser("race@example.com", nickname_source="email"), admin)
        except EmailAlreadyExists:
            return "exists"
        return "created"

    with ThreadPoolExecutor(THREADS) as pool:
        results = sorted(pool.map(sso, range(THREADS)))

    assert results == ["created"] + ["exists"] * (THREADS - 1)
