"""Opening accounts, one or a batch: the group and its login range, the checks, the passwords."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from brokerplane.core import passwords
from brokerplane.core.access import reach
from brokerplane.core.account.checks import (
    PROFILE_FIELDS,
    check_group_currency,
    check_login,
    check_phone_password,
    load_group,
    refuse_unknown_fields,
    validate_account,
)
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.attribute import service as attributes
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    LoginAlreadyExists,
    LoginRangeExhausted,
    PasswordPolicyViolation,
    ValidationError,
)
from brokerplane.core.group.model import Group
from brokerplane.core.money import currency
from brokerplane.core.ports import UnitOfWork


def _allocate(uow: UnitOfWork, group: Group, config: CoreConfig) -> int:
    if group.login_range_from is not None and group.login_range_to is not None:
        low, high = group.login_range_from, group.login_range_to
    else:
        low, high = config.login_range_from, config.login_range_to
    login = uow.accounts.allocate_login(low, high)
    if login is None:
        raise LoginRangeExhausted(low, high)
    return login


def open_account(
    uow: UnitOfWork, cmd: OpenAccount, actor: Actor, clock: Clock, config: CoreConfig
) -> Account:
    actor.require_for(cmd)
    refuse_unknown_fields(set(cmd.profile), PROFILE_FIELDS)
    group = reach.check_group(actor, load_group(uow, cmd.group))
    acc = _checked_opening(cmd, actor, group)
    if cmd.login not in (None, 0):
        login = check_login(cmd.login)
        if uow.accounts.exists(login):
            raise LoginAlreadyExists(login)
    else:
        login = _allocate(uow, group, config)
    now = clock()
    _set_login_and_passwords(acc, cmd, login, now)
    uow.accounts.add(replace(acc, attributes={}))
    attributes.store_mapping(uow, "account", login, {}, acc.attributes, now)
    record(uow, actor, now, "account.opened", "account", login, None, acc.snapshot())
    return reach.redact(actor, acc)


def open_accounts(
    uow: UnitOfWork, cmds: Sequence[OpenAccount], actor: Actor, clock: Clock, config: CoreConfig
) -> list[Account]:
    """Open many accounts in one transaction: each command is checked, allocated a login and
    audited as `open_account` does, and the rows are written together. Any refusal refuses
    the whole batch. Logins are the ones opening the accounts one by one would allocate."""
    actor.require_for(OpenAccount)
    groups: dict[str, Group] = {}
    runs: dict[tuple[int, int], int] = {}  # a login range -> its next free login, in a run
    taken: set[int] = set()
    pending: list[tuple[Account, datetime]] = []

    def flush() -> None:
        # The attributes live in their own store (below); most accounts open without any.
        uow.accounts.add_many(
            [replace(a, attributes={}) if a.attributes else a for a, _ in pending]
        )
        for acc, at in pending:
            attributes.store_mapping(uow, "account", acc.login, {}, acc.attributes, at)
        pending.clear()

    opened: list[Account] = []
    for cmd in cmds:
        refuse_unknown_fields(set(cmd.profile), PROFILE_FIELDS)
        group = groups.get(cmd.group) if isinstance(cmd.group, str) else None
        if group is None:
            group = reach.check_group(actor, load_group(uow, cmd.group))
            groups[cmd.group] = group
        acc = _checked_opening(cmd, actor, group)
        if cmd.login not in (None, 0):
            login = check_login(cmd.login)
            if login in taken or uow.accounts.exists(login):
                raise LoginAlreadyExists(login)
        else:
            login = _next_in_run(uow, group, config, runs, taken, flush)
        taken.add(login)
        now = clock()
        _set_login_and_passwords(acc, cmd, login, now)
        pending.append((acc, now))
        record(uow, actor, now, "account.opened", "account", login, None, acc.snapshot())
        opened.append(reach.redact(actor, acc))
    flush()
    return opened


def _next_in_run(
    uow: UnitOfWork,
    group: Group,
    config: CoreConfig,
    runs: dict[tuple[int, int], int],
    taken: set[int],
    flush: Callable[[], None],
) -> int:
    """The login `_allocate` would give once the batch so far is stored. While the top of the
    range is free, every login above the highest used is free too, so they are handed out in
    a run with one read; otherwise (or when the run reaches the top) one allocation each."""
    if group.login_range_from is not None and group.login_range_to is not None:
        span = (group.login_range_from, group.login_range_to)
    else:
        span = (config.login_range_from, config.login_range_to)
    candidate = runs.pop(span, None)
    if candidate is None:
        flush()  # the allocation reads the stored logins
        candidate = _allocate(uow, group, config)
        if uow.accounts.exists(span[1]):
            return candidate  # gaps only: the next one is allocated after this is stored
    while candidate in taken:
        candidate += 1
    if candidate > span[1]:
        flush()
        return _allocate(uow, group, config)
    runs[span] = candidate + 1
    return candidate


def _checked_opening(cmd: OpenAccount, actor: Actor, group: Group) -> Account:
    """The account `cmd` would open in `group` (login not yet set), every rule checked."""
    leverage = group.default_leverage if cmd.leverage is None else cmd.leverage
    cur = (
        currency(cmd.currency) if cmd.currency else currency(group.currency, group.currency_digits)
    )
    check_group_currency(group, cur.code, cmd.login, currency_free_groups=cmd.currency_free_groups)
    profile = dict(cmd.profile)
    if cmd.name and profile.get("name", cmd.name) != cmd.name:
        raise ValidationError.field("name", "is given twice with different values")
    profile.setdefault("name", cmd.name)  # `name` is a profile field too; either place will do
    profile.setdefault("rights", group.default_rights)
    profile.setdefault("account_type", group.default_account_type)
    profile.setdefault("broker", group.broker)
    acc = Account(
        login=0,
        group_id=group.id,
        group=group.name,
        currency=cur.code,
        currency_digits=cur.digits,
        leverage=leverage,
        user_id=cmd.owner_id,
        **profile,
    )
    validate_account(acc, group)
    reach.check_broker(actor, group, acc.broker)
    for pw_field in ("main_password", "investor_password"):
        value = getattr(cmd, pw_field)
        if value is not None:
            passwords.check_policy(value, pw_field, group.password_min_length)
        elif cmd.require_passwords and not (pw_field == "main_password" and cmd.main_password_md5):
            raise PasswordPolicyViolation.field(pw_field, "is required")
    if cmd.phone_password is not None:
        check_phone_password(cmd.phone_password)
    if cmd.main_password_md5 is not None:
        passwords.check_md5_form(cmd.main_password_md5, "main_password")
    return acc


def _set_login_and_passwords(acc: Account, cmd: OpenAccount, login: int, now: datetime) -> None:
    acc.login = login
    acc.registered_at = acc.updated_at = now
    if cmd.main_password is not None:
        acc.main_password = passwords.make_verifier(cmd.main_password)
        acc.last_pass_change = now
    elif cmd.main_password_md5 is not None:
        acc.main_password = passwords.verifier_from_md5(cmd.main_password_md5)
        acc.last_pass_change = now
    if cmd.investor_password is not None:
        acc.investor_password = passwords.make_verifier(cmd.investor_password)
    if cmd.phone_password:
        acc.phone_password = passwords.make_verifier(cmd.phone_password)
