"""Users over the fakes: creating (email rules, idempotency by email, the nickname rules),
reading by id and email, changing the email, linking accounts by their password MD5, the
agreement and logout marks, reach by white label, and what each change leaves in the audit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import DeleteAccount, OpenAccount, UpdateAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.audit.model import AuditQuery, AuditRecord
from brokerplane.core.errors import (
    AccountAlreadyLinked,
    AccountNotFound,
    EmailAlreadyExists,
    MissingScope,
    PermissionDenied,
    UserNotFound,
    ValidationError,
    WrongPassword,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.kinds import Dialect
from brokerplane.core.passwords import md5_hex
from brokerplane.core.user.commands import ChangeEmail, CreateUser, LinkAccount
from brokerplane.core.user.model import User, UserQuery
from tests.unit.fakes import FakeClock, FakeUowFactory

WORKER = frozenset(SCOPES) - {"admin"}
BRAND = Actor(3001, WORKER, white_labels="BESTBROKER", dialect=Dialect.CTRADER)
# Sees users but not their contact details.
NO_PERSONAL = Actor(3002, WORKER - {"personal_data"}, dialect=Dialect.CTRADER)
READER = Actor(3003, frozenset({"users:read"}), dialect=Dialect.CTRADER)
MANAGER = Actor(3004, WORKER, dialect=Dialect.CTRADER, request_id="req-1")

BEST, OTHER = 200_001, 200_003  # a BESTBROKER account and an OTHERBROKER account
PASSWORD = "Secret#123"


@dataclass
class World:
    services: Application
    uows: FakeUowFactory
    admin: Actor
    clock: FakeClock

    def create(self, email: str, actor: Actor | None = None, **fields: object) -> User:
        cmd = CreateUser(email=email, **fields)  # type: ignore[arg-type]
        return self.services.create_user(cmd, actor or self.admin).user

    def sso(self, email: str, nickname: str | None = None) -> User:
        return self.create(email, nickname=nickname, nickname_source="email")

    def link(self, user_id: int, login: int, actor: Actor | None = None, **fields: object) -> int:
        cmd = LinkAccount(user_id=user_id, login=login, password_md5=md5_hex(PASSWORD), **fields)  # type: ignore[arg-type]
        return self.services.link_account(cmd, actor or self.admin).link.id

    def audit(self, entity_type: str, entity_id: int) -> list[AuditRecord]:
        query = AuditQuery(entity_type=entity_type, entity_id=str(entity_id))
        return self.services.query_audit(query, self.admin)


@pytest.fixture
def world(services: Application, uows: FakeUowFactory, admin: Actor, clock: FakeClock) -> World:
    for name, broker in (("demo\\usd", "BESTBROKER"), ("real\\other", "OTHERBROKER")):
        services.create_group(CreateGroup(name, "USD", {"broker": broker}), admin)
    for login, group in ((BEST, "demo\\usd"), (OTHER, "real\\other")):
        services.open_account(OpenAccount(group=group, login=login, main_password=PASSWORD), admin)
    return World(services, uows, admin, clock)


# ---- create ---------------------------------------------------------------------------------


def test_a_new_user_gets_an_id_a_ctid_nickname_and_its_folded_email(world: World) -> None:
    created = world.services.create_user(
        CreateUser(" Ann@Example.COM ", broker="BESTBROKER", language="en", first_name="Ann"),
        world.admin,
    )
    assert created.created
    user = created.user
    assert (user.email, user.nickname, user.language, user.broker, user.first_name) == (
        "ann@example.com",
        f"ctid{user.id}",
        "en",
        "BESTBROKER",
        "Ann",
    )
    assert user.created_at == user.updated_at == world.clock.now
    assert world.services.get_user(user.id, world.admin) == user
    assert world.services.find_user_by_email("ANN@example.com", world.admin) == user


def test_an_email_in_use_answers_the_existing_user_or_fails_as_asked(world: World) -> None:
    first = world.create("ann@example.com")
    again = world.services.create_user(
        CreateUser("ANN@example.com", language="de", if_exists="existing"), world.admin
    )
    assert not again.created and again.user == first  # nothing changed, language included
    with pytest.raises(EmailAlreadyExists) as caught:
        world.create("Ann@Example.com")
    assert "ann@example.com" in caught.value.detail
    assert len(world.services.list_users(UserQuery(), world.admin)) == 1
    assert [r.action for r in world.audit("user", first.id)] == ["user.created"]


@pytest.mark.parametrize(
    "email",
    [
        "",
        "   ",
        "ann",
        "ann@",
        "@example.com",
        "ann@example",
        "a b@example.com",
        "ann@@example.com",
        "ånn@example.com",
        "a\x00b@example.com",
        "a\tb@example.com",
        "x" * 120 + "@example.com",
        "ann@privaterelay.appleid.com",
        "Ann@PrivateRelay.AppleID.com",
    ],
)
def test_what_is_not_a_usable_email_is_refused_naming_the_field(world: World, email: str) -> None:
    with pytest.raises(ValidationError) as caught:
        world.create(email)
    assert [f.field for f in caught.value.fields] == ["email"]
    assert world.services.list_users(UserQuery(), world.admin) == []


def test_private_relay_addresses_say_why(world: World) -> None:
    with pytest.raises(ValidationError, match="private relay"):
        world.create("abc@privaterelay.appleid.com")


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"language": "english"}, "language"),
        ({"language": "e1"}, "language"),
        ({"broker": "B" * 64}, "broker"),
        ({"first_name": "x" * 128}, "first_name"),
        ({"last_name": "a\x00"}, "last_name"),
    ],
)
def test_bad_fields_are_refused_by_name(world: World, fields: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        world.create("ann@example.com", **fields)
    assert field in {f.field for f in caught.value.fields}


# ---- nickname rules (seed 001) --------------------------------------------------------------


def test_a_nickname_asked_for_is_used_when_valid_and_free(world: World) -> None:
    assert world.sso("a@example.com", "letstrade").nickname == "letstrade"
    assert world.sso("b@example.com", "x.Y_z-9" + "q" * 25).nickname == "x.Y_z-9" + "q" * 25


@pytest.mark.parametrize(
    "asked",
    [
        "letstrade",
        "LETSTRADE",
        "ab",
        "q" * 33,
        "with space",
        "émile",
        "-lead",
        ".lead",
        "semi;colon",
        "ctid5",
        "CTID123",
    ],
)
def test_a_nickname_taken_or_invalid_is_derived_from_the_user_id(world: World, asked: str) -> None:
    world.sso("first@example.com", "letstrade")
    user = world.sso("second@example.com", asked)
    assert user.nickname == f"ctid{user.id}"


def test_without_a_nickname_the_email_gives_one_unless_taken_or_unusable(world: World) -> None:
    assert world.sso("president@bestbroker.com").nickname == "president"
    taken = world.sso("President@other.com")
    assert taken.nickname == f"ctid{taken.id}"
    assert world.sso("mary+fx@example.com").nickname == "maryfx"
    assert world.sso("__x.y@example.com").nickname == "x.y"
    for unusable in ("ab@example.com", "ctid42@example.com", "++@example.com"):
        user = world.sso(unusable)
        assert user.nickname == f"ctid{user.id}", unusable
    long = world.sso("l" * 40 + "@example.com")
    assert long.nickname == "l" * 32


def test_the_classic_create_ignores_the_email_for_the_nickname(world: World) -> None:
    user = world.create("president@bestbroker.com")  # nickname_source="user_id"
    assert user.nickname == f"ctid{user.id}"
    # ...but a nickname asked for is still honoured.
    assert world.create("n@example.com", nickname="nicky").nickname == "nicky"


def test_derived_nicknames_are_never_taken_already(world: World) -> None:
    users = [world.sso(f"u{i}@example.com", f"ctid{i + 1}") for i in range(3)]
    assert [u.nickname for u in users] == [f"ctid{u.id}" for u in users]
    assert len({u.nickname for u in users}) == 3


# ---- change email ---------------------------------------------------------------------------


def test_changing_the_email_frees_the_old_one_and_is_audited(world: World) -> None:
    user = world.create("old@example.com")
    world.clock.advance(seconds=5)
    changed = world.services.change_user_email(ChangeEmail(user.id, "New@Example.com"), MANAGER)
    assert changed.email == "new@example.com" and changed.updated_at == world.clock.now
    assert world.services.find_user_by_email("old@example.com", world.admin) is None
    assert world.create("old@example.com").id != user.id
    *_, rec = world.audit("user", user.id)
    assert rec.action == "user.email_changed" and rec.manager_login == MANAGER.manager_login
    assert rec.before is not None and rec.after is not None
    assert (rec.before["email"], rec.after["email"]) == ("old@example.com", "new@example.com")
    assert rec.request_id == "req-1" and rec.dialect == "ctrader"


def test_changing_to_the_same_email_changes_nothing(world: World) -> None:
    user = world.create("same@example.com")
    world.services.change_user_email(ChangeEmail(user.id, "SAME@example.com"), world.admin)
    assert [r.action for r in world.audit("user", user.id)] == ["user.created"]


def test_an_email_another_user_has_or_an_unknown_user_is_refused(world: World) -> None:
    first = world.create("first@example.com")
    world.create("second@example.com")
    with pytest.raises(EmailAlreadyExists):
        world.services.change_user_email(ChangeEmail(first.id, "second@example.com"), world.admin)
    with pytest.raises(ValidationError):
        world.services.change_user_email(
            ChangeEmail(first.id, "x@privaterelay.appleid.com"), world.admin
        )
    for missing in (0, -1, 999, 2**63, 10**30):
        with pytest.raises(UserNotFound):
            world.services.change_user_email(ChangeEmail(missing, "n@example.com"), world.admin)
    assert world.services.get_user(first.id, world.admin).email == "first@example.com"


# ---- link -----------------------------------------------------------------------------------


def test_linking_proves_the_password_and_makes_the_user_the_owner(world: World) -> None:
    user = world.create("owner@example.com")
    link_id = world.link(user.id, BEST, MANAGER, environment=" demo ", broker="bestbroker")
    assert world.services.get_account(BEST, world.admin).user_id == user.id
    # Again for the same user: the same link, nothing new recorded.
    again = world.services.link_account(
        LinkAccount(user.id, BEST, md5_hex(PASSWORD).upper()), world.admin
    )
    assert not again.created and again.link.id == link_id and again.link.environment == "demo"
    linked = [r for r in world.audit("user", user.id) if r.action == "user.account_linked"]
    assert len(linked) == 1
    assert linked[0].after == {"login": BEST, "link_id": link_id, "environment": "demo"}
    (owned,) = [r for r in world.audit("account", BEST) if r.action == "account.updated"]
    assert owned.before is not None and owned.after is not None
    assert (owned.before["user_id"], owned.after["user_id"]) == (None, user.id)


def test_link_refusals(world: World) -> None:
    owner = world.create("owner@example.com")
    other = world.create("other@example.com")
    with pytest.raises(WrongPassword):
        world.services.link_account(LinkAccount(owner.id, BEST, md5_hex("guess")), world.admin)
    with pytest.raises(WrongPassword):
        world.services.link_account(LinkAccount(owner.id, BEST, "not-a-hash"), world.admin)
    for login in (424_242, 0, -5, 2**63, 10**30):
        with pytest.raises(AccountNotFound):
            world.link(owner.id, login)
    for user_id in (999, 0, 2**63):
        with pytest.raises(UserNotFound):
            world.link(user_id, BEST)
    with pytest.raises(ValidationError, match="white label"):
        world.link(owner.id, BEST, broker="OTHERBROKER")
    with pytest.raises(ValidationError):
        world.link(owner.id, BEST, environment="e" * 64)
    assert world.services.get_account(BEST, world.admin).user_id is None

    world.link(owner.id, BEST)
    with pytest.raises(AccountAlreadyLinked):
        world.link(other.id, BEST)
    assert world.services.get_account(BEST, world.admin).user_id == owner.id


def test_an_account_owned_by_another_user_without_a_link_is_not_taken_over(world: World) -> None:
    owner = world.create("owner@example.com")
    other = world.create("other@example.com")
    owned = OpenAccount(group="real\\other", main_password=PASSWORD, owner_id=owner.id)
    login = world.services.open_account(owned, world.admin).login
    with pytest.raises(AccountAlreadyLinked):
        world.link(other.id, login)
    # Its owner links it (the link is recorded; ownership was already right).
    world.link(owner.id, login)
    assert world.services.get_account(login, world.admin).user_id == owner.id


def test_an_accounts_owner_is_not_a_field_a_manager_sets(world: World) -> None:
    owner = world.create("owner@example.com")
    for cmd in (UpdateAccount(OTHER, {"user_id": owner.id}), UpdateAccount(OTHER, {"user_id": 9})):
        with pytest.raises(ValidationError) as refused:
            world.services.update_account(cmd, world.admin)
        assert refused.value.fields[0].field == "user_id"
        assert "/cid/ctid/link" in refused.value.fields[0].message
    opening = OpenAccount(group="real\\other", profile={"user_id": owner.id})
    with pytest.raises(ValidationError):
        world.services.open_account(opening, world.admin)
    assert world.services.get_account(OTHER, world.admin).user_id is None


def test_a_deleted_account_cannot_be_linked(world: World) -> None:
    owner = world.create("owner@example.com")
    opening = OpenAccount(group="real\\other", main_password=PASSWORD)
    login = world.services.open_account(opening, world.admin).login
    world.services.delete_account(DeleteAccount(login), world.admin)
    with pytest.raises(AccountNotFound):
        world.link(owner.id, login)
    assert not [r for r in world.audit("user", owner.id) if r.action == "user.account_linked"]


# ---- agreement and logout -------------------------------------------------------------------


def test_agreement_and_logout_are_marked_with_the_time_and_audited(world: World) -> None:
    user = world.create("u@example.com")
    agreed_at = world.clock.advance(minutes=1)
    world.services.accept_user_agreement(user.id, MANAGER)
    out_at = world.clock.advance(minutes=1)
    world.services.log_out_user(user.id, MANAGER)
    stored = world.services.get_user(user.id, world.admin)
    assert (stored.agreement_accepted_at, stored.logged_out_at) == (agreed_at, out_at)
    actions = [(r.action, r.at, r.manager_login) for r in world.audit("user", user.id)]
    assert actions[1:] == [
        ("user.agreement_accepted", agreed_at, MANAGER.manager_login),
        ("user.logged_out", out_at, MANAGER.manager_login),
    ]
    for call in (world.services.accept_user_agreement, world.services.log_out_user):
        with pytest.raises(UserNotFound):
            call(999, world.admin)


# ---- rights, reach and personal data --------------------------------------------------------


def test_writing_users_needs_the_write_right(world: World) -> None:
    user = world.create("u@example.com")
    with pytest.raises(MissingScope):
        world.create("v@example.com", READER)
    for call in (
        lambda: world.services.change_user_email(ChangeEmail(user.id, "w@example.com"), READER),
        lambda: world.link(user.id, BEST, READER),
        lambda: world.services.accept_user_agreement(user.id, READER),
        lambda: world.services.log_out_user(user.id, READER),
    ):
        with pytest.raises(MissingScope):
            call()
    assert world.services.get_user(user.id, READER).id == user.id


def test_a_manager_limited_to_a_white_label_reaches_only_its_users(world: World) -> None:
    foreign = world.create("foreign@example.com", broker="OTHERBROKER")
    own = world.create("own@example.com", BRAND, broker="BESTBROKER")
    brokerless = world.create("none@example.com")

    with pytest.raises(PermissionDenied):
        world.create("new@example.com", BRAND, broker="OTHERBROKER")
    with pytest.raises(PermissionDenied):
        world.create("foreign@example.com", BRAND, broker="OTHERBROKER", if_exists="existing")
    # An email of a user out of reach is in use, but that user is not handed over.
    with pytest.raises(EmailAlreadyExists):
        world.create("foreign@example.com", BRAND, if_exists="existing")

    # A user without a white label is outside a white-label-limited manager's reach too.
    listed = world.services.list_users(UserQuery(), BRAND)
    assert [u.id for u in listed] == [own.id]
    for out in (foreign, brokerless):
        assert world.services.find_user_by_email(out.email, BRAND) is None
        for call in (
            lambda uid=out.id: world.services.get_user(uid, BRAND),
            lambda uid=out.id: world.services.change_user_email(
                ChangeEmail(uid, "x@example.com"), BRAND
            ),
            lambda uid=out.id: world.link(uid, BEST, BRAND),
            lambda uid=out.id: world.services.accept_user_agreement(uid, BRAND),
            lambda uid=out.id: world.services.log_out_user(uid, BRAND),
        ):
            with pytest.raises(UserNotFound):
                call()
    assert world.services.get_user(brokerless.id, world.admin).email == "none@example.com"
    # Creating a user it could not reach afterwards (no white label) is refused.
    with pytest.raises(ValidationError):
        world.create("unlabelled@example.com", BRAND)
    # Its own user, and an account of another white label stays out of reach.
    with pytest.raises(AccountNotFound):
        world.link(own.id, OTHER, BRAND)
    world.link(own.id, BEST, BRAND)
    assert world.services.get_account(BEST, world.admin).user_id == own.id


def test_without_personal_data_emails_read_blank(world: World) -> None:
    user = world.create("private@example.com")
    assert world.services.get_user(user.id, NO_PERSONAL).email == ""
    # Finding a person by email is reading personal data; the classic create's answer to a
    # known email (its user) is likewise only for managers who may.
    with pytest.raises(MissingScope):
        world.services.find_user_by_email("private@example.com", NO_PERSONAL)
    with pytest.raises(EmailAlreadyExists):
        world.create("private@example.com", NO_PERSONAL, if_exists="existing")
    created = world.services.create_user(CreateUser("fresh@example.com"), NO_PERSONAL)
    assert created.user.email == "" and created.user.id > user.id
    rec = world.services.query_audit(
        AuditQuery(entity_type="user", entity_id=str(user.id)), NO_PERSONAL
    )[0]
    assert rec.after is not None and rec.after["email"] == ""


def test_the_audit_never_holds_a_password(world: World) -> None:
    user = world.create("u@example.com")
    (rec,) = world.audit("user", user.id)
    assert rec.after is not None and rec.after["password"] == ""
    assert rec.after["email"] == "u@example.com" and rec.after["nickname"] == f"ctid{user.id}"
