"""TraderEvolution users: opened with their accounts in a user group, found by the back
office's filters, moved between groups, locked and unlocked, given a new password.

A TE user has a login (never all digits: numeric logins are back-office users'), a password,
an email and a user group; its accounts open in that group, with the user's password as their
main password, and follow the user when it moves to another group. The user's status (seed
004's ruleValue) decides whether the user and its accounts may be used: only an Unlocked user
signs in and holds sessions or working webhook keys (see `usable`).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import replace
from datetime import datetime

from brokerplane.core import passwords
from brokerplane.core.access import reach
from brokerplane.core.account.commands import DeleteAccount, OpenAccount
from brokerplane.core.account.model import TEXT_LIMITS, Account
from brokerplane.core.account.opening import open_account
from brokerplane.core.account.service import delete_account
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice import catalog
from brokerplane.core.backoffice.commands import (
    MAX_PAGE,
    AddAccount,
    ChangeUserPassword,
    DeleteUser,
    NewAccount,
    OpenUser,
    PasswordReset,
    ResetUserPassword,
    UpdateUser,
    UserFilter,
    UserWithAccounts,
)
from brokerplane.core.backoffice.model import (
    PRINCIPAL_USER,
    STATUS_NAMES,
    UNLOCKED,
    AccountPreset,
    UserSearch,
    usable,
)
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    Conflict,
    EmailAlreadyExists,
    FieldError,
    GroupNotFound,
    PermissionDenied,
    UserNotFound,
    ValidationError,
)
from brokerplane.core.group.model import Group
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.user.commands import ReadUser
from brokerplane.core.user.model import DELETED, User, UserQuery
from brokerplane.core.user.service import check_email, in_reach
from brokerplane.core.validate import Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "ACCOUNT_NAME_MAX",
    "LOGIN_MAX",
    "MAX_NEW_ACCOUNTS",
    "NAME_MAX",
    "AddAccount",
    "ChangeUserPassword",
    "DeleteUser",
    "OpenUser",
    "PasswordReset",
    "ResetUserPassword",
    "UpdateUser",
    "UserFilter",
    "UserWithAccounts",
    "account_usable",
    "add_account",
    "change_password",
    "check_user_login",
    "delete_user",
    "derived_login",
    "get_user",
    "load_user",
    "new_password",
    "open_user",
    "redact",
    "reset_password",
    "search_users",
    "te_view",
    "update_user",
    "user_accounts",
]

LOGIN_MAX = 63
NAME_MAX = 127
ACCOUNT_NAME_MAX = TEXT_LIMITS["name"]
MAX_NEW_ACCOUNTS = 20
_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]*$", re.ASCII)


def check_user_login(value: object, field: str = "login") -> str:
    """A TE user login: 1 to 63 of letters, digits and `_ . @ + -`, not all digits."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError.field(field, "is required")
    login = value.strip()
    if len(login) > LOGIN_MAX or not _LOGIN.match(login):
        raise ValidationError.field(
            field,
            f"must be 1 to {LOGIN_MAX} letters, digits and _ . @ + -, starting with "
            "a letter or digit",
        )
    if login.isdigit():
        raise ValidationError.field(
            field, "must not be all digits: numeric logins belong to back-office users"
        )
    return login


def redact(actor: Actor, user: User) -> User:
    user = replace(user, password=None)
    return user if actor.has("personal_data") else replace(user, email="")


def load_user(uow: UnitOfWork, user_id: int, actor: Actor, *, for_update: bool = False) -> User:
    """The user, if it exists and is within reach (else UserNotFound)."""
    if isinstance(user_id, bool) or not isinstance(user_id, int) or user_id <= 0:
        raise UserNotFound(user_id)
    user = uow.users.get(user_id, for_update=for_update)
    if user is None or not in_reach(uow, actor, user):
        raise UserNotFound(user_id)
    return user


def _presets(uow: UnitOfWork, specs: tuple[NewAccount, ...]) -> list[AccountPreset | None]:
    found: list[AccountPreset | None] = []
    for spec in specs:
        found.append(catalog.get_preset(uow, spec.preset_id) if spec.preset_id else None)
    return found


def _check_accounts(specs: tuple[NewAccount, ...], field: str = "accounts") -> None:
    if not specs:
        raise ValidationError.field(field, "name at least one account (accountName)")
    if len(specs) > MAX_NEW_ACCOUNTS:
        raise ValidationError.field(field, f"at most {MAX_NEW_ACCOUNTS} accounts at once")
    p = Problems()
    for n, spec in enumerate(specs):
        p.text(f"{field}[{n}].accountName", spec.name, ACCOUNT_NAME_MAX, required=True)
        if spec.preset_id is not None:
            p.integer(f"{field}[{n}].presetId", spec.preset_id, 1, 2**31 - 1)
    p.raise_if_any()


def _open_account(
    uow: UnitOfWork, user: User, group: Group, spec: NewAccount, preset: AccountPreset | None,
    actor: Actor, clock: Clock, config: CoreConfig, password: str | None,
) -> Account:  # fmt: skip
    """Open one account of the user in its group, the preset's settings over the group's."""
    profile: dict[str, object] = {"first_name": user.first_name, "last_name": user.last_name}
    if user.email and len(user.email) <= TEXT_LIMITS["email"]:
        profile["email"] = user.email
    leverage = None
    cur = None
    if preset is not None:
        leverage = preset.leverage
        cur = preset.currency
        if preset.account_type:
            profile["account_type"] = preset.account_type
        if preset.swap_free is not None:
            profile["swap_free"] = preset.swap_free
    opened = open_account(
        uow, OpenAccount(group=group.name, leverage=leverage, name=spec.name.strip(),
                                  currency=cur, main_password=password, profile=profile,
                                  owner_id=user.id,
                                  # a preset's currency may differ from the group's (TE)
                                  currency_free_groups=cur is not None),
        actor, clock, config,
    )  # fmt: skip
    if password is None and user.password:
        # The user's password is its accounts' password: the same verifier answers for both.
        stored = uow.accounts.get(opened.login, for_update=True)
        if stored is not None:  # pragma: no branch - just opened in this transaction
            now = clock()
            updated = replace(stored, main_password=user.password, last_pass_change=now)
            uow.accounts.update(updated)
            after = {**updated.snapshot(), "main_password": "the user's"}
            record(uow, actor, now, "account.password_changed", "account", stored.login,
                   stored.snapshot(), after)  # fmt: skip
    return opened


def open_user(
    uow: UnitOfWork, cmd: OpenUser, actor: Actor, clock: Clock, config: CoreConfig
) -> UserWithAccounts:
    actor.require_for(cmd)
    login = check_user_login(cmd.login)
    email = check_email(cmd.email)
    p = Problems()
    p.text("firstName", cmd.first_name, NAME_MAX)
    p.text("lastName", cmd.last_name, NAME_MAX)
    p.raise_if_any()
    _check_accounts(cmd.accounts)
    group = catalog.group_by_id(uow, cmd.group_id, actor)
    reach.check_broker(actor, group, group.broker)
    passwords.check_policy(cmd.password, "password", group.password_min_length)
    presets = _presets(uow, cmd.accounts)
    nicknamed = [
        u
        for u in uow.users.list(UserQuery(nickname=login, limit=10))
        if not u.login and u.status != DELETED
    ]
    if _DERIVED.match(login) or nicknamed or uow.backoffice.user_by_login(login) is not None:
        raise Conflict(
            f"user login {login} is already in use",
            fields=[FieldError("login", "already in use")],
            login=login,
        )
    if uow.users.find_by_email(email) is not None:
        raise EmailAlreadyExists(email)
    now = clock()
    user = uow.users.add(
        User(id=0, email=email, login=login, first_name=cmd.first_name.strip(),
             last_name=cmd.last_name.strip(), status=UNLOCKED, group_id=group.id,
             broker=group.broker, password=passwords.make_verifier(cmd.password),
             created_at=now, updated_at=now)
    )  # fmt: skip
    record(uow, actor, now, "user.created", "user", user.id, None, user.snapshot())
    opened = [
        _open_account(uow, user, group, spec, preset, actor, clock, config, cmd.password)
        for spec, preset in zip(cmd.accounts, presets, strict=True)
    ]
    return UserWithAccounts(redact(actor, user), opened)


def add_account(
    uow: UnitOfWork, cmd: AddAccount, actor: Actor, clock: Clock, config: CoreConfig
) -> Account:
    actor.require_for(cmd)
    _check_accounts((cmd.account,), "account")
    user = load_user(uow, cmd.user_id, actor, for_update=True)
    group = uow.groups.get_by_id(user.group_id) if user.group_id is not None else None
    if group is None:
        raise ValidationError.field(
            "userId", f"user {user.id} has no user group; its accounts would have none either"
        )
    reach.check_group(actor, group)
    preset = _presets(uow, (cmd.account,))[0]
    return _open_account(uow, user, group, cmd.account, preset, actor, clock, config, None)


_DERIVED = re.compile(r"^ctid([1-9][0-9]{0,17})$", re.ASCII | re.IGNORECASE)


def derived_login(user: User) -> str:
    """The TE login of a user made elsewhere (a cTID user has an email and a nickname, no
    login): its nickname when that is a valid TE login, else `ctid<id>`."""
    if user.login:
        return user.login
    try:
        return check_user_login(user.nickname) if user.nickname else f"ctid{user.id}"
    except ValidationError:
        return f"ctid{user.id}"


def te_view(uow: UnitOfWork, user: User) -> User:
    """The user as a TE user would read: a user made through cTrader gets a login (see
    `derived_login`; GET /users?login= finds it too) and its first account's group."""
    if user.login and user.group_id is not None:
        return user
    group_id = user.group_id
    if group_id is None:
        owned = uow.backoffice.accounts_of_user(user.id)
        group_id = min(owned, key=lambda a: a.login).group_id if owned else None
    return replace(user, login=derived_login(user), group_id=group_id)


def _derived_matches(uow: UnitOfWork, logins: tuple[str, ...], actor: Actor) -> list[User]:
    """Users without a TE login whose derived login is one of `logins`."""
    found: dict[int, User] = {}
    for name in logins[:MAX_PAGE]:
        m = _DERIVED.match(name)
        candidates = [uow.users.get(int(m.group(1)))] if m else []
        candidates += uow.users.list(UserQuery(nickname=name, limit=10))
        for user in candidates:
            if (
                user is not None
                and not user.login
                and user.status != DELETED
                and derived_login(user).casefold() == name.casefold()
                and in_reach(uow, actor, user)
            ):
                found[user.id] = user
    return list(found.values())


def search_users(uow: UnitOfWork, query: UserFilter, actor: Actor) -> list[User]:
    actor.require_for(query)
    if not 1 <= query.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    if query.offset < 0:
        raise ValidationError.field("offset", "must not be negative")
    email = None
    if query.email is not None:
        actor.require("personal_data")  # searching by email would reveal it
        email = query.email.strip().lower()
    group_ids: tuple[int, ...] | None = None
    if query.group_id is not None:
        group_ids = (query.group_id,) if catalog.valid_id(query.group_id) else ()
    if query.plan_id is not None:
        planned = tuple(g.id for g in uow.groups.list() if g.plan_id == query.plan_id)
        group_ids = planned if group_ids is None else tuple(i for i in group_ids if i in planned)
    broker = None
    if query.branding_id is not None:
        valid = catalog.valid_id(query.branding_id)
        branding = uow.backoffice.get_white_label(query.branding_id) if valid else None
        if branding is None:
            return []
        broker = branding.name
    logins = None
    if query.logins is not None:
        logins = tuple(dict.fromkeys(name.strip() for name in query.logins if name.strip()))
    reach_ids, brokers = reach.query_scope(uow, actor)
    search = UserSearch(logins=logins, email=email, group_ids=group_ids, broker=broker,
                        reach_group_ids=reach_ids, broker_mask=brokers, offset=query.offset,
                        limit=query.limit)  # fmt: skip
    found = [u for u in uow.backoffice.search_users(search) if u.status != DELETED]
    if logins and query.offset == 0 and email is None and broker is None:
        extra = [te_view(uow, u) for u in _derived_matches(uow, logins, actor)]
        extra = [u for u in extra if group_ids is None or u.group_id in group_ids]
        known = {u.id for u in found}
        found = sorted(found + [u for u in extra if u.id not in known], key=lambda u: u.id)
        found = found[: query.limit]
    return [redact(actor, te_view(uow, u)) for u in found]


def _accounts_in_reach(uow: UnitOfWork, user: User, actor: Actor) -> list[Account]:
    return [a for a in uow.backoffice.accounts_of_user(user.id) if actor.reaches(a.group, a.broker)]


def get_user(uow: UnitOfWork, user_id: int, actor: Actor) -> UserWithAccounts:
    """The user and its accounts within reach."""
    actor.require_for(ReadUser)
    user = load_user(uow, user_id, actor)
    found = [reach.redact(actor, a) for a in _accounts_in_reach(uow, user, actor)]
    return UserWithAccounts(redact(actor, te_view(uow, user)), found)


def _all_accounts(uow: UnitOfWork, user: User, actor: Actor) -> list[Account]:
    """Every account of the user, which a change to the whole user must be able to reach."""
    found = uow.backoffice.accounts_of_user(user.id)
    if any(not actor.reaches(a.group, a.broker) for a in found):
        raise PermissionDenied(
            f"an account of user {user.id} is outside this manager's reach; a manager who "
            "reaches all of them must make this change"
        )
    return found


def update_user(uow: UnitOfWork, cmd: UpdateUser, actor: Actor, clock: Clock) -> User:
    actor.require_for(cmd)
    if cmd.group_id is None and cmd.status is None:
        raise ValidationError("nothing to change: name userGroup (a group move) or ruleValue")
    if cmd.status is not None and cmd.status not in STATUS_NAMES:
        choices = ", ".join(f"{k} {v}" for k, v in STATUS_NAMES.items())
        raise ValidationError.field("ruleValue", f"must be one of {choices}")
    if cmd.group_id is not None and not catalog.valid_id(cmd.group_id):
        raise GroupNotFound(cmd.group_id)
    user = load_user(uow, cmd.user_id, actor, for_update=True)
    now = clock()
    if cmd.group_id is not None and cmd.group_id != user.group_id:
        user = _move(uow, user, catalog.group_by_id(uow, cmd.group_id, actor), actor, now)
    if cmd.status is not None and cmd.status != user.status:
        before = user.snapshot()
        failed = 0 if cmd.status == UNLOCKED else user.failed_logins
        user = replace(user, status=cmd.status, failed_logins=failed, updated_at=now)
        uow.users.update(user)
        if not usable(cmd.status):
            uow.backoffice.delete_tokens_of(PRINCIPAL_USER, user.id)  # its sessions end now
        record(uow, actor, now, "user.status_changed", "user", user.id, before, user.snapshot())
    return redact(actor, te_view(uow, user))


def _move(uow: UnitOfWork, user: User, target: Group, actor: Actor, now: datetime) -> User:
    """The user and every account of it into `target`: the accounts take the group's branding,
    and a leverage above the group's maximum comes down to it; the currency stays."""
    reach.check_broker(actor, target, target.broker)
    owned = _all_accounts(uow, user, actor)
    before = user.snapshot()
    moved = replace(user, group_id=target.id, broker=target.broker, updated_at=now)
    uow.users.update(moved)
    record(uow, actor, now, "user.group_changed", "user", user.id, before, moved.snapshot())
    for acc in owned:
        leverage = min(acc.leverage, target.max_leverage)
        updated = replace(acc, group_id=target.id, group=target.name, broker=target.broker,
                          leverage=leverage, updated_at=now)  # fmt: skip
        uow.accounts.update(updated)
        record(uow, actor, now, "account.updated", "account", acc.login, acc.snapshot(),
               updated.snapshot())  # fmt: skip
    return moved


def change_password(uow: UnitOfWork, cmd: ChangeUserPassword, actor: Actor, clock: Clock) -> User:
    """The user's new password, which is its accounts' main password too; its sessions end."""
    actor.require_for(cmd)
    user = load_user(uow, cmd.user_id, actor, for_update=True)
    group = uow.groups.get_by_id(user.group_id) if user.group_id is not None else None
    minimum = group.password_min_length if group is not None else passwords.MIN_LENGTH
    passwords.check_policy(cmd.password, "password", minimum)
    owned = _all_accounts(uow, user, actor)
    now = clock()
    verifier = passwords.make_verifier(cmd.password)
    before = user.snapshot()
    updated = replace(user, password=verifier, updated_at=now)
    uow.users.update(updated)
    uow.backoffice.delete_tokens_of(PRINCIPAL_USER, user.id)
    record(uow, actor, now, "user.password_changed", "user", user.id, before,
           {**updated.snapshot(), "password": "changed"})  # fmt: skip
    for acc in owned:
        changed = replace(acc, main_password=verifier, last_pass_change=now, updated_at=now)
        uow.accounts.update(changed)
        record(uow, actor, now, "account.password_changed", "account", acc.login,
               acc.snapshot(), {**changed.snapshot(), "main_password": "changed"})  # fmt: skip
    return redact(actor, te_view(uow, updated))


def user_accounts(uow: UnitOfWork, user_id: int, actor: Actor) -> list[Account]:
    return get_user(uow, user_id, actor).accounts


def account_usable(uow: UnitOfWork, acc: Account) -> bool:
    """Whether the account may be used: it has no owner, or its owner's status allows it.
    Account password checks of every dialect are meant to ask this."""
    if acc.user_id is None:
        return True
    owner = uow.users.get(acc.user_id)
    return owner is None or usable(owner.status)


_RESET_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_password(length: int = 14) -> str:
    """A random password that meets the policy (lower, upper, digit, special)."""
    body = "".join(secrets.choice(_RESET_ALPHABET) for _ in range(max(8, length) - 4))
    return (
        body
        + secrets.choice("abcdefghjk")
        + secrets.choice("ABCDEFGHJK")
        + secrets.choice("23456789")
        + secrets.choice("#@!%")
    )


def reset_password(
    uow: UnitOfWork, cmd: ResetUserPassword, actor: Actor, clock: Clock
) -> PasswordReset:
    """As change_password, with a password made here (audited as a change, never shown in
    the audit trail)."""
    user = load_user(uow, cmd.user_id, actor)
    group = uow.groups.get_by_id(user.group_id) if user.group_id is not None else None
    minimum = group.password_min_length if group is not None else passwords.MIN_LENGTH
    password = new_password(max(14, minimum))
    changed = change_password(uow, ChangeUserPassword(cmd.user_id, password), actor, clock)
    return PasswordReset(changed, password)


def delete_user(uow: UnitOfWork, cmd: DeleteUser, actor: Actor, clock: Clock) -> User:
    """Delete a user and every account of it. Accounts holding money or open positions are
    refused (empty them first); the user then reads as absent everywhere, its login and email
    are free again, its sessions and webhook keys end. Rows and audit records stay."""
    actor.require_for(cmd)
    user = load_user(uow, cmd.user_id, actor, for_update=True)
    owned = _all_accounts(uow, user, actor)
    for acc in owned:
        if acc.balance or acc.credit or acc.bonus or uow.trading.positions_of(acc.login):
            raise Conflict(
                f"account {acc.login} of user {user.id} still holds money or open positions; "
                "withdraw it and close them first",
                fields=[FieldError("accounts", f"account {acc.login} is not empty")],
            )
    now = clock()
    for acc in owned:
        delete_account(uow, DeleteAccount(acc.login), actor, clock)
    for key in uow.backoffice.list_webhook_keys((user.id,)):
        uow.backoffice.delete_webhook_key(key.id)
    uow.backoffice.delete_tokens_of(PRINCIPAL_USER, user.id)
    before = user.snapshot()
    gone = replace(
        user, status=DELETED, login="", email="", nickname="", password=None, updated_at=now
    )
    uow.users.update(gone)
    record(uow, actor, now, "user.deleted", "user", user.id, before, gone.snapshot())
    return redact(actor, replace(user, updated_at=now))
