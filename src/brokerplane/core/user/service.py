"""Users: the people (cTID users, TraderEvolution users) who own trading accounts.

One email is one user: creating a user for an email already in use either answers the existing
user (cTrader's classic `ctid/create`) or fails with EmailAlreadyExists (its SSO create). A user
is within a manager's reach when its white label is among the manager's white labels (a user
without one is outside the reach of a manager limited to some) and its user group (if any)
within the manager's group mask; out of reach it is UserNotFound, as an account out of reach is
AccountNotFound. Finding a user by its email needs `personal_data`, and an email held by a user
out of reach (or, without `personal_data`, by any user) is answered only as "already in use":
never with the user's id, nor differently for another white label. Linking an account proves
the account's password (as its MD5) and makes the user the account's owner in every dialect.
"""

from __future__ import annotations

import re
from dataclasses import replace

from brokerplane.core import masks, passwords
from brokerplane.core.access import reach
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice.model import PRINCIPAL_USER
from brokerplane.core.clock import Clock
from brokerplane.core.errors import (
    AccountAlreadyLinked,
    AccountNotFound,
    EmailAlreadyExists,
    UserHasAccounts,
    UserNotFound,
    ValidationError,
    WrongPassword,
)
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.user.commands import (
    AssignAccount,
    ChangeEmail,
    CreatedUser,
    CreateUser,
    DeleteUser,
    LinkAccount,
    Linked,
    ReadUser,
    UpdateProfile,
)
from brokerplane.core.user.model import DELETED, User, UserLink, UserQuery
from brokerplane.core.validate import MAX_LOGIN, Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "BROKER_MAX",
    "DEFAULT_NICKNAME_PREFIX",
    "EMAIL_MAX",
    "ENVIRONMENT_MAX",
    "MAX_HISTORY",
    "NAME_MAX",
    "NICKNAME_MAX",
    "NICKNAME_MIN",
    "REFUSED_EMAIL_DOMAINS",
    "AssignAccount",
    "ChangeEmail",
    "CreateUser",
    "CreatedUser",
    "DeleteUser",
    "LinkAccount",
    "Linked",
    "UpdateProfile",
    "accept_agreement",
    "assign_account",
    "change_email",
    "check_email",
    "create_user",
    "delete_user",
    "find_user_by_email",
    "get_user",
    "in_reach",
    "link_account",
    "list_users",
    "log_out",
    "release_account",
    "update_profile",
    "user_history",
]

EMAIL_MAX = 127
NAME_MAX = 127
BROKER_MAX = 63
ENVIRONMENT_MAX = 63
NICKNAME_MIN = 3
NICKNAME_MAX = 32
# Apple's relay addresses cannot receive the mail a cTID needs (spec §4.2).
REFUSED_EMAIL_DOMAINS = ("privaterelay.appleid.com",)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_NICKNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_LANGUAGE = re.compile(r"^[A-Za-z]{2}$")
DEFAULT_NICKNAME_PREFIX = "ctid"
# The shape of derived nicknames (ctid<id>): never given from a request or an email, so the
# nickname a later user derives from its id is never taken already.
_RESERVED_NICKNAME = re.compile(rf"^{DEFAULT_NICKNAME_PREFIX}[0-9]+$", re.IGNORECASE)


def check_email(value: object, field: str = "email") -> str:
    """An email address, folded to lower case: one `@`, a dotted domain, no spaces."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.field(field, "is required")
    email = value.strip().lower()
    if (
        len(email) > EMAIL_MAX
        or not email.isascii()
        or not email.isprintable()
        or not _EMAIL.match(email)
    ):
        raise ValidationError.field(field, "is not an email address")
    if email.rsplit("@", 1)[1] in REFUSED_EMAIL_DOMAINS:
        raise ValidationError.field(field, "private relay addresses are not accepted")
    return email


def _valid_nickname(value: str) -> bool:
    return (
        NICKNAME_MIN <= len(value) <= NICKNAME_MAX
        and bool(_NICKNAME.match(value))
        and not _RESERVED_NICKNAME.match(value)
    )


def _nickname_from_email(email: str) -> str:
    local = re.sub(r"[^A-Za-z0-9_.-]", "", email.split("@", 1)[0]).lstrip("_.-")
    return local[:NICKNAME_MAX]


def _white_label_reached(actor: Actor, broker: str) -> bool:
    return actor.white_labels.strip() == "*" or masks.parse(actor.white_labels, "brokers").admits(
        broker
    )


def in_reach(uow: UnitOfWork, actor: Actor, user: User) -> bool:
    if user.status == DELETED:  # gone for every caller (see `delete_user`)
        return False
    if not _white_label_reached(actor, user.broker):
        return False
    if user.group_id is not None and actor.group_mask.strip() != "*":
        group = uow.groups.get_by_id(user.group_id)
        if group is None or not actor.reaches_group(group.name):
            return False
    return True


def _load(uow: UnitOfWork, user_id: int, actor: Actor, *, for_update: bool = False) -> User:
    if not isinstance(user_id, int) or isinstance(user_id, bool) or not 0 < user_id <= MAX_LOGIN:
        raise UserNotFound(user_id)
    user = uow.users.get(user_id, for_update=for_update)
    if user is None or not in_reach(uow, actor, user):
        raise UserNotFound(user_id)
    return user


def _redact(actor: Actor, user: User) -> User:
    user = replace(user, password=None)
    if actor.has("personal_data"):
        return user
    return replace(user, email="")


def create_user(uow: UnitOfWork, cmd: CreateUser, actor: Actor, clock: Clock) -> CreatedUser:
    actor.require_for(cmd)
    email = check_email(cmd.email)
    p = Problems()
    p.text("broker", cmd.broker, BROKER_MAX)
    p.text("first_name", cmd.first_name, NAME_MAX)
    p.text("last_name", cmd.last_name, NAME_MAX)
    p.raise_if_any()
    language = (cmd.language or "").strip()
    if language and not _LANGUAGE.match(language):
        raise ValidationError.field("language", "must be a two-letter code such as EN")
    broker = (cmd.broker or "").strip()
    if broker and not _white_label_reached(actor, broker):
        raise reach.broker_denied(broker)
    existing = uow.users.find_by_email(email)
    if existing is not None:
        if _answers_existing(uow, cmd, actor, existing):
            return CreatedUser(_redact(actor, existing), created=False)
        raise EmailAlreadyExists(email)
    if not _white_label_reached(actor, broker):  # a user without one: out of its reach at once
        raise ValidationError.field(
            "broker", "is required: this manager is limited to some white labels"
        )
    now = clock()
    try:
        user = uow.users.add(
            User(
                id=0,
                email=email,
                first_name=cmd.first_name or "",
                last_name=cmd.last_name or "",
                language=language,
                broker=broker,
                created_at=now,
                updated_at=now,
            )
        )
    except EmailAlreadyExists:
        # Another request created this email between our look and our insert.
        raced = uow.users.find_by_email(email)
        if raced is not None and _answers_existing(uow, cmd, actor, raced):
            return CreatedUser(_redact(actor, raced), created=False)
        raise
    user.nickname = _nickname(uow, cmd, user)
    uow.users.update(user)
    record(uow, actor, now, "user.created", "user", user.id, None, user.snapshot())
    return CreatedUser(_redact(actor, user), created=True)


def _answers_existing(uow: UnitOfWork, cmd: CreateUser, actor: Actor, existing: User) -> bool:
    """Whether a create naming `existing`'s email answers that user (classic cTID): only one
    the caller reaches and may find by email; any other is "already in use", the same answer
    whoever holds it."""
    return (
        cmd.if_exists == "existing"
        and actor.has("personal_data")
        and in_reach(uow, actor, existing)
    )


def _nickname(uow: UnitOfWork, cmd: CreateUser, user: User) -> str:
    fallback = f"{DEFAULT_NICKNAME_PREFIX}{user.id}"
    asked = (cmd.nickname or "").strip()
    if asked:
        return asked if _valid_nickname(asked) and not uow.users.nickname_taken(asked) else fallback
    if cmd.nickname_source == "email":
        derived = _nickname_from_email(user.email)
        if _valid_nickname(derived) and not uow.users.nickname_taken(derived):
            return derived
    return fallback


def get_user(uow: UnitOfWork, user_id: int, actor: Actor) -> User:
    actor.require_for(ReadUser)
    return _redact(actor, _load(uow, user_id, actor))


def find_user_by_email(uow: UnitOfWork, email: str, actor: Actor) -> User | None:
    """The user with this email within reach, or None (an address that is not one: None).
    Looking a person up by email is reading personal data: it needs `personal_data`."""
    actor.require("users:read")
    actor.require("personal_data")
    try:
        folded = check_email(email)
    except ValidationError:
        return None
    user = uow.users.find_by_email(folded)
    if user is None or not in_reach(uow, actor, user):
        return None
    return _redact(actor, user)


def list_users(uow: UnitOfWork, query: UserQuery, actor: Actor) -> list[User]:
    actor.require("users:read")
    group_ids, brokers = reach.query_scope(uow, actor)
    scoped = replace(
        query,
        group_ids=group_ids if query.group_ids is None else query.group_ids,
        broker_mask=brokers,
    )
    return [_redact(actor, u) for u in uow.users.list(scoped) if in_reach(uow, actor, u)]


def change_email(uow: UnitOfWork, cmd: ChangeEmail, actor: Actor, clock: Clock) -> User:
    actor.require_for(cmd)
    email = check_email(cmd.email)
    user = _load(uow, cmd.user_id, actor, for_update=True)
    if user.email == email:
        return _redact(actor, user)
    other = uow.users.find_by_email(email)
    if other is not None and other.id != user.id:
        raise EmailAlreadyExists(email)
    now = clock()
    updated = replace(user, email=email, updated_at=now)
    uow.users.update(updated)
    record(
        uow, actor, now, "user.email_changed", "user", user.id, user.snapshot(), updated.snapshot()
    )
    return _redact(actor, updated)


def link_account(uow: UnitOfWork, cmd: LinkAccount, actor: Actor, clock: Clock) -> Linked:
    actor.require_for(cmd)
    p = Problems()
    p.text("environment", cmd.environment, ENVIRONMENT_MAX)
    p.raise_if_any()
    user = _load(uow, cmd.user_id, actor, for_update=True)
    acc = _live_account(uow, cmd.login, actor)
    named = (cmd.broker or "").strip()
    if named and named.casefold() != acc.broker.casefold():
        raise ValidationError.field(
            "broker", f"account {acc.login} is not under white label {named}"
        )
    if not isinstance(cmd.password_md5, str) or not passwords.verify_md5(
        acc.main_password, cmd.password_md5
    ):
        raise WrongPassword("the password does not match the account's")
    existing = uow.users.link_of(acc.login)
    if existing is not None:
        if existing.user_id != user.id:
            raise AccountAlreadyLinked(acc.login, existing.user_id)
        return Linked(existing, created=False)
    if acc.user_id is not None and acc.user_id != user.id:
        raise AccountAlreadyLinked(acc.login, acc.user_id)
    now = clock()
    link = uow.users.link(
        UserLink(
            id=0,
            user_id=user.id,
            login=acc.login,
            environment=(cmd.environment or "").strip(),
            created_at=now,
        )
    )
    if acc.user_id != user.id:
        owned = replace(acc, user_id=user.id, updated_at=now)
        uow.accounts.update(owned)
        record(
            uow,
            actor,
            now,
            "account.updated",
            "account",
            acc.login,
            acc.snapshot(),
            owned.snapshot(),
        )
    record(
        uow,
        actor,
        now,
        "user.account_linked",
        "user",
        user.id,
        None,
        {"login": acc.login, "link_id": link.id, "environment": link.environment},
    )
    return Linked(link, created=True)


def _mark(
    uow: UnitOfWork, user_id: int, actor: Actor, clock: Clock, field: str, action: str
) -> User:
    actor.require("users:write")
    user = _load(uow, user_id, actor, for_update=True)
    now = clock()
    updated = replace(user, updated_at=now)
    setattr(updated, field, now)
    uow.users.update(updated)
    record(uow, actor, now, action, "user", user.id, None, {field: now.isoformat()})
    return _redact(actor, updated)


def accept_agreement(uow: UnitOfWork, user_id: int, actor: Actor, clock: Clock) -> User:
    return _mark(uow, user_id, actor, clock, "agreement_accepted_at", "user.agreement_accepted")


def log_out(uow: UnitOfWork, user_id: int, actor: Actor, clock: Clock) -> User:
    """Record that the user's sessions end now; sessions begun before are no longer valid."""
    return _mark(uow, user_id, actor, clock, "logged_out_at", "user.logged_out")


def update_profile(uow: UnitOfWork, cmd: UpdateProfile, actor: Actor, clock: Clock) -> User:
    actor.require_for(cmd)
    p = Problems()
    for name in ("first_name", "last_name", "language", "email"):
        if getattr(cmd, name) is not None:
            p.text(name, getattr(cmd, name), NAME_MAX)
    p.raise_if_any()
    language = None if cmd.language is None else cmd.language.strip()
    if language and not _LANGUAGE.match(language):
        raise ValidationError.field("language", "must be a two-letter code such as EN")
    email = check_email(cmd.email) if cmd.email is not None and cmd.email.strip() else None
    user = _load(uow, cmd.user_id, actor, for_update=True)
    if email is not None and email != user.email:
        other = uow.users.find_by_email(email)
        if other is not None and other.id != user.id:
            raise EmailAlreadyExists(email)
    updated = replace(
        user,
        first_name=cmd.first_name.strip() if cmd.first_name is not None else user.first_name,
        last_name=cmd.last_name.strip() if cmd.last_name is not None else user.last_name,
        language=language.upper() if language is not None else user.language,
        email=email if email is not None else user.email,
    )
    if updated == user:
        return _redact(actor, user)  # nothing changes: nothing is written or audited
    now = clock()
    updated = replace(updated, updated_at=now)
    uow.users.update(updated)
    record(uow, actor, now, "user.updated", "user", user.id, user.snapshot(), updated.snapshot())
    return _redact(actor, updated)


def delete_user(uow: UnitOfWork, cmd: DeleteUser, actor: Actor, clock: Clock) -> None:
    """Delete a user who owns no account (open or archived) and has none linked: the row stays
    as a tombstone (its id is never given again, its audit trail stays its own) with its
    email, TraderEvolution login and nickname cleared, so they are free for a new user; its
    sessions end and no read, listing or sign-in finds it again. Needs `users:delete`, as
    deleting an account does (DeleteUser declares it)."""
    actor.require_for(cmd)
    user = _load(uow, cmd.user_id, actor, for_update=True)
    owned = sorted(
        {a.login for a in uow.backoffice.accounts_of_user(user.id)}
        | {link.login for link in uow.users.links_of(user.id)}
    )
    if owned:
        raise UserHasAccounts(user.id, owned)
    now = clock()
    gone = replace(
        user,
        status=DELETED,
        email="",
        login="",
        nickname="",
        group_id=None,
        password=None,
        updated_at=now,
    )
    uow.users.update(gone)
    uow.backoffice.delete_tokens_of(PRINCIPAL_USER, user.id)
    record(uow, actor, now, "user.deleted", "user", user.id, user.snapshot(), gone.snapshot())


def _live_account(uow: UnitOfWork, login: int, actor: Actor) -> Account:
    valid_login = isinstance(login, int) and not isinstance(login, bool) and 0 < login <= MAX_LOGIN
    acc = uow.accounts.get(login, for_update=True) if valid_login else None
    if acc is None or acc.deleted_at is not None:
        raise AccountNotFound(login)
    return reach.check_account(actor, acc)


def assign_account(uow: UnitOfWork, cmd: AssignAccount, actor: Actor, clock: Clock) -> Linked:
    actor.require_for(cmd)
    user = _load(uow, cmd.user_id, actor, for_update=True)
    acc = _live_account(uow, cmd.login, actor)
    existing = uow.users.link_of(acc.login)
    owner = existing.user_id if existing is not None else acc.user_id
    if owner is not None and owner != user.id:
        raise AccountAlreadyLinked(acc.login, owner)
    if existing is not None and acc.user_id == user.id:
        return Linked(existing, created=False)
    now = clock()
    link = existing or uow.users.link(
        UserLink(id=0, user_id=user.id, login=acc.login, created_at=now)
    )
    if acc.user_id != user.id:
        owned = replace(acc, user_id=user.id, updated_at=now)
        uow.accounts.update(owned)
        record(uow, actor, now, "account.updated", "account", acc.login, acc.snapshot(),
               owned.snapshot())  # fmt: skip
    record(uow, actor, now, "user.account_linked", "user", user.id, None,
           {"login": acc.login, "link_id": link.id, "environment": link.environment})  # fmt: skip
    return Linked(link, created=True)


def release_account(uow: UnitOfWork, cmd: AssignAccount, actor: Actor, clock: Clock) -> bool:
    """The account no longer belongs to the user (MT5's `client/user/delete`): its link goes
    and it has no owner. An account of another user (or of none) is AccountNotFound for this
    user. True when something changed."""
    actor.require_for(cmd)
    user = _load(uow, cmd.user_id, actor, for_update=True)
    acc = _live_account(uow, cmd.login, actor)
    link = uow.users.link_of(acc.login)
    mine_by_link = link is not None and link.user_id == user.id
    if acc.user_id != user.id and not mine_by_link:
        raise AccountNotFound(acc.login)
    now = clock()
    if link is not None and mine_by_link:
        uow.users.unlink(acc.login)
    if acc.user_id == user.id:
        released = replace(acc, user_id=None, updated_at=now)
        uow.accounts.update(released)
        record(uow, actor, now, "account.updated", "account", acc.login, acc.snapshot(),
               released.snapshot())  # fmt: skip
    record(uow, actor, now, "user.account_unlinked", "user", user.id, {"login": acc.login}, None)
    return True


MAX_HISTORY = 1000


def user_history(uow: UnitOfWork, user_id: int, actor: Actor) -> list[AuditRecord]:
    """The user's audit trail, oldest first (the newest MAX_HISTORY records), personal fields
    redacted without `personal_data`."""
    actor.require_for(ReadUser)
    _load(uow, user_id, actor)
    trail = uow.audit.for_entity("user", str(user_id))[-MAX_HISTORY:]
    return [reach.redact_record(actor, r) for r in trail]
