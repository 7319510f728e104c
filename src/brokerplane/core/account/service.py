"""Account changes (update, disable, enable, delete, passwords), with their rules; opening is in
opening.py, reads in queries.py, the commands in commands.py."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from brokerplane.core import passwords
from brokerplane.core.access import reach
from brokerplane.core.account.checks import (
    CHECKABLE_PASSWORDS,
    UPDATABLE_FIELDS,
    check_group_currency,
    check_phone_password,
    load_account,
    load_group,
    refuse_unknown_fields,
    save_account,
    validate_account,
)
from brokerplane.core.account.commands import (
    MAX_PAGE,
    AccountsOfRows,
    ChangePassword,
    CheckPassword,
    DeleteAccount,
    DisableAccount,
    EnableAccount,
    ListAccounts,
    OpenAccount,
    ReportAccounts,
    UpdateAccount,
)
from brokerplane.core.account.model import PASSWORD_KINDS, PERSONAL_FIELDS, RIGHT_ENABLED, Account
from brokerplane.core.account.opening import open_account, open_accounts
from brokerplane.core.account.queries import (
    EXPORT_CSV_PAGE,
    EXPORT_PAGE,
    account_history,
    export_accounts,
    export_accounts_csv,
    get_account,
    list_accounts,
)
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.attribute import service as attributes
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice.model import usable
from brokerplane.core.clock import Clock
from brokerplane.core.errors import Conflict, FieldError, GroupNotFound, ValidationError
from brokerplane.core.group.model import Group
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "EXPORT_CSV_PAGE",
    "EXPORT_PAGE",
    "MAX_PAGE",
    "AccountsOfRows",
    "ChangePassword",
    "CheckPassword",
    "DeleteAccount",
    "DisableAccount",
    "EnableAccount",
    "ListAccounts",
    "OpenAccount",
    "ReportAccounts",
    "UpdateAccount",
    "account_history",
    "change_password",
    "check_password",
    "delete_account",
    "disable_account",
    "enable_account",
    "export_accounts",
    "export_accounts_csv",
    "get_account",
    "list_accounts",
    "open_account",
    "open_accounts",
    "update_account",
]


def _valid_changes(base: Account, changes: dict[str, Any], group: Group) -> dict[str, Any]:
    """The changes that keep the account valid, each tried on top of those kept before it
    (leverage first, so a new leverage that fits is not judged by the old one)."""
    kept: dict[str, Any] = {}
    for name in sorted(changes, key=lambda n: n != "leverage"):
        value = changes[name]
        try:
            validate_account(replace(base, **kept, **{name: value}), group)
        except ValidationError:
            continue
        kept[name] = value
    return kept


def _unseen_kept(actor: Actor, changes: dict[str, Any]) -> dict[str, Any]:
    """Without `personal_data` the contact fields read blank, so a blank one in an update (a
    cTrader full update resets what it omits; a read-modify-write sends back what it read) is
    what the caller saw, not a change: the field keeps its value. A value is still stored
    (such a writer may record contacts it then reads back blank)."""
    if actor.has("personal_data"):
        return changes
    return {
        name: value
        for name, value in changes.items()
        if name not in PERSONAL_FIELDS or value not in ("", None)
    }


def update_account(uow: UnitOfWork, cmd: UpdateAccount, actor: Actor, clock: Clock) -> Account:
    actor.require_for(cmd)
    changes = dict(cmd.changes)
    phone_password = cmd.phone_password
    if cmd.skip_invalid:
        # Without personal_data the contact fields read blank: what such a manager sends back
        # in a read-modify-write is not data, so it does not overwrite them.
        hidden = () if actor.has("personal_data") else PERSONAL_FIELDS
        changes = {k: v for k, v in changes.items() if k in UPDATABLE_FIELDS and k not in hidden}
        if phone_password is not None:
            try:
                check_phone_password(phone_password)
            except ValidationError:
                phone_password = None
    else:
        if not changes and phone_password is None and cmd.main_password_md5 is None:
            raise ValidationError("nothing to change: the body names no field")
        refuse_unknown_fields(set(changes), UPDATABLE_FIELDS)
        if phone_password is not None:
            check_phone_password(phone_password)
        changes = _unseen_kept(actor, changes)
    acc = load_account(uow, cmd.login, actor, for_update=True)
    group = uow.groups.get_by_id(acc.group_id)
    if group is None:  # pragma: no cover - foreign key keeps it
        raise GroupNotFound(acc.group)
    moved: dict[str, Any] = {}
    if "group" in changes:
        target = reach.check_group(actor, load_group(uow, changes.pop("group")))
        if target.id != group.id:
            check_group_currency(
                target, acc.currency, acc.login, currency_free_groups=cmd.currency_free_groups
            )
            moved = {"group_id": target.id, "group": target.name}
            group = target
    if cmd.skip_invalid:
        changes = _valid_changes(replace(acc, **moved), changes, group)
    before = acc.snapshot()
    updated = replace(acc, **moved, **changes)
    validate_account(updated, group)
    reach.check_broker(actor, group, updated.broker)
    new_main = cmd.main_password_md5
    if new_main is not None:
        passwords.check_md5_form(new_main, "main_password")
        if passwords.verify_md5(acc.main_password, new_main):
            new_main = None  # the password it already has
        else:
            updated.main_password = passwords.verifier_from_md5(new_main)
    if phone_password is not None:
        updated.phone_password = passwords.make_verifier(phone_password) if phone_password else None
    elif new_main is None and updated.snapshot() == before:
        return reach.redact(actor, acc)
    updated.updated_at = clock()
    if new_main is not None:
        updated.last_pass_change = updated.updated_at
    save_account(uow, updated)
    attributes.store_mapping(
        uow, "account", acc.login, acc.attributes, updated.attributes, updated.updated_at
    )
    after = updated.snapshot()
    if phone_password is not None:
        after["phone_password"] = "changed" if phone_password else None
    if new_main is not None:
        after["main_password"] = "changed"
    record(uow, actor, updated.updated_at, "account.updated", "account", acc.login, before, after)
    return reach.redact(actor, updated)


def disable_account(uow: UnitOfWork, cmd: DisableAccount, actor: Actor, clock: Clock) -> Account:
    actor.require_for(cmd)
    p = Problems()
    p.text("reason", cmd.reason, 255)
    p.raise_if_any()
    acc = load_account(uow, cmd.login, actor, for_update=True)
    if not acc.enabled:
        return reach.redact(actor, acc)
    before = acc.snapshot()
    now = clock()
    updated = replace(
        acc,
        rights=acc.rights & ~RIGHT_ENABLED,
        disabled_reason=cmd.reason,
        disabled_at=now,
        updated_at=now,
    )
    save_account(uow, updated)
    record(uow, actor, now, "account.disabled", "account", acc.login, before, updated.snapshot())
    return reach.redact(actor, updated)


def enable_account(uow: UnitOfWork, cmd: EnableAccount, actor: Actor, clock: Clock) -> Account:
    actor.require_for(cmd)
    acc = load_account(uow, cmd.login, actor, for_update=True)
    if acc.enabled:
        return reach.redact(actor, acc)
    before = acc.snapshot()
    now = clock()
    updated = replace(
        acc, rights=acc.rights | RIGHT_ENABLED, disabled_reason="", disabled_at=None, updated_at=now
    )
    save_account(uow, updated)
    record(uow, actor, now, "account.enabled", "account", acc.login, before, updated.snapshot())
    return reach.redact(actor, updated)


def delete_account(uow: UnitOfWork, cmd: DeleteAccount, actor: Actor, clock: Clock) -> Account:
    """Mark the account deleted (see DeleteAccount); money it holds stays in its ledger."""
    actor.require_for(cmd)
    acc = load_account(uow, cmd.login, actor, for_update=True)
    # A held operation on a deleted account could never be decided (the account reads as
    # absent to the approver) yet would stay listed as pending: decide it first.
    held = uow.approvals.list(ApprovalQuery(state="pending", login=acc.login, limit=1))
    if held:
        raise Conflict(
            f"account {acc.login} has an operation waiting for approval (approval "
            f"{held[0].id}); approve or reject it before deleting the account",
            fields=[FieldError("login", "has an operation waiting for approval")],
        )
    before = acc.snapshot()
    now = clock()
    deleted = replace(acc, deleted_at=now, updated_at=now)
    save_account(uow, deleted)
    record(uow, actor, now, "account.deleted", "account", acc.login, before, deleted.snapshot())
    return reach.redact(actor, deleted)


def _password_field(kind: Any, allowed: tuple[str, ...] = CHECKABLE_PASSWORDS) -> str:
    name = kind.strip().lower() if isinstance(kind, str) else ""
    if name not in allowed:
        raise ValidationError.field("type", "must be one of " + ", ".join(allowed))
    return PASSWORD_KINDS[name]


def check_password(uow: UnitOfWork, cmd: CheckPassword, actor: Actor) -> bool:
    """Whether the password matches; an account without a password of that kind never does."""
    actor.require_for(cmd)
    field_name = _password_field(cmd.kind)
    acc = load_account(uow, cmd.login, actor)
    if not isinstance(cmd.password, str) or not cmd.password:
        return False
    if acc.user_id is not None:  # a locked (or expired...) owner's accounts cannot be used
        owner = uow.users.get(acc.user_id)
        if owner is not None and not usable(owner.status):
            return False
    if cmd.hashed:
        return passwords.verify_md5(getattr(acc, field_name), cmd.password)
    return passwords.verify(getattr(acc, field_name), cmd.password)


def change_password(uow: UnitOfWork, cmd: ChangePassword, actor: Actor, clock: Clock) -> Account:
    """Set a password under the change policy of the account's group; audited as
    `account.password_changed` naming which password, never its value."""
    actor.require_for(cmd)
    field_name = _password_field(cmd.kind)
    acc = load_account(uow, cmd.login, actor, for_update=True)
    group = uow.groups.get_by_id(acc.group_id)
    if group is None:  # pragma: no cover - foreign key keeps it
        raise GroupNotFound(acc.group)
    if cmd.hashed:
        passwords.check_md5_form(cmd.password, field_name)
        verifier = passwords.verifier_from_md5(cmd.password)
    else:
        passwords.check_change_policy(cmd.password, field_name, group.password_min_length)
        verifier = passwords.make_verifier(cmd.password)
    now = clock()
    changes: dict[str, Any] = {field_name: verifier}
    updated = replace(acc, updated_at=now, **changes)
    if field_name == "main_password":
        updated.last_pass_change = now
    save_account(uow, updated)
    after = {**updated.snapshot(), field_name: "changed"}
    record(uow, actor, now, "account.password_changed", "account", acc.login, acc.snapshot(), after)
    return reach.redact(actor, updated)
