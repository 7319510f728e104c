"""Manager rules: create, update, unlock, list; the masks and scopes a manager may hold. API
keys are keys.py, the commands commands.py."""

from __future__ import annotations

from dataclasses import replace

from brokerplane.core import passwords
from brokerplane.core.access import lockout
from brokerplane.core.access.commands import (
    CreateApiKey,
    CreateManager,
    IssuedKey,
    KeyIdentity,
    RevokeApiKey,
    RotateApiKey,
    UpdateManager,
)
from brokerplane.core.access.keys import (
    create_api_key,
    key_prefix,
    list_api_keys,
    revoke_api_key,
    rotate_api_key,
    verify_key,
)
from brokerplane.core.access.model import Manager
from brokerplane.core.access.rights import MASK_MAX, check_mask, check_scopes, require_manager_admin
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice.model import PRINCIPAL_MANAGER
from brokerplane.core.clock import Clock
from brokerplane.core.errors import ManagerAlreadyExists, ManagerNotFound, ValidationError
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import MAX_LOGIN, Problems

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "MASK_MAX",
    "CreateApiKey",
    "CreateManager",
    "IssuedKey",
    "KeyIdentity",
    "RevokeApiKey",
    "RotateApiKey",
    "UpdateManager",
    "check_mask",
    "check_scopes",
    "create_api_key",
    "create_manager",
    "end_sessions",
    "key_prefix",
    "list_api_keys",
    "list_managers",
    "require_manager_admin",
    "revoke_api_key",
    "rotate_api_key",
    "unlock_manager",
    "update_manager",
    "verify_key",
]


def _set_password(manager: Manager, password: str) -> None:
    if not isinstance(password, str) or not 8 <= len(password) <= 64:
        raise ValidationError.field("password", "must be 8 to 64 characters")
    manager.verifiers = {
        "password": passwords.make_verifier(password),
        "mt5": passwords.mt5_webapi_hash(password),
    }


def create_manager(uow: UnitOfWork, cmd: CreateManager, actor: Actor, clock: Clock) -> Manager:
    require_manager_admin(actor)
    p = Problems()
    p.integer("login", cmd.login, 1, MAX_LOGIN)
    p.text("name", cmd.name, 127)
    p.raise_if_any()
    check_scopes("rights", cmd.rights)
    group_mask = check_mask("groups", cmd.group_mask)
    white_labels = check_mask("brokers", cmd.white_labels)
    if uow.managers.get(cmd.login) is not None:
        raise ManagerAlreadyExists(cmd.login)
    now = clock()
    manager = Manager(
        login=cmd.login,
        name=cmd.name,
        rights=cmd.rights,
        group_mask=group_mask,
        white_labels=white_labels,
        created_at=now,
        updated_at=now,
    )
    if cmd.password is not None:
        _set_password(manager, cmd.password)
    uow.managers.add(manager)
    record(uow, actor, now, "manager.created", "manager", manager.login, None, manager.snapshot())
    return manager


def update_manager(uow: UnitOfWork, cmd: UpdateManager, actor: Actor, clock: Clock) -> Manager:
    """Rename, enable or disable, set the password, grant or revoke rights, change reach.

    A disabled manager's keys and sessions stop at once: every request re-reads the manager.
    A new password or disabling also deletes the manager's session tokens (cTrader's tokens,
    back-office access and refresh tokens) in the same transaction, and moves the manager's
    session epoch on, which ends every MT5 session opened before (each command compares it),
    even if the manager is enabled again before that session's next command. API keys are not
    tied to the password: they stop while the manager is disabled and work again once it is
    enabled."""
    require_manager_admin(actor)
    manager = uow.managers.get(cmd.login)
    if manager is None:
        raise ManagerNotFound(cmd.login)
    check_scopes("grant", cmd.grant)
    check_scopes("revoke", cmd.revoke)
    before = manager.snapshot()
    verifiers_before = dict(manager.verifiers)
    updated = replace(
        manager, verifiers=dict(manager.verifiers), rights=(manager.rights | cmd.grant) - cmd.revoke
    )
    if cmd.name is not None:
        p = Problems()
        p.text("name", cmd.name, 127)
        p.raise_if_any()
        updated.name = cmd.name
    if cmd.enabled is not None:
        updated.enabled = bool(cmd.enabled)
    if cmd.group_mask is not None:
        updated.group_mask = check_mask("groups", cmd.group_mask)
    if cmd.white_labels is not None:
        updated.white_labels = check_mask("brokers", cmd.white_labels)
    if cmd.password is not None:
        _set_password(updated, cmd.password)
    after = updated.snapshot()
    if after == before and updated.verifiers == verifiers_before:
        return manager
    now = clock()
    updated.updated_at = now
    ends = updated.verifiers != verifiers_before or (manager.enabled and not updated.enabled)
    if ends:
        updated.session_epoch = manager.session_epoch + 1
    uow.managers.update(updated)
    if ends:
        end_sessions(uow, manager.login)
    if updated.verifiers != verifiers_before:
        after = {**after, "password": "changed"}
        uow.lockouts.clear_subject(lockout.subject_of_manager(manager.login))
    record(uow, actor, now, "manager.updated", "manager", manager.login, before, after)
    return updated


def unlock_manager(uow: UnitOfWork, login: int, actor: Actor, clock: Clock) -> int:
    """Forget a manager's failed sign-ins from every address and end its locks, audited as
    `manager.unlocked` with how many counters were deleted (0: there was nothing)."""
    require_manager_admin(actor)
    if uow.managers.get(login) is None:
        raise ManagerNotFound(login)
    cleared = uow.lockouts.clear_subject(lockout.subject_of_manager(login))
    record(
        uow,
        actor,
        clock(),
        "manager.unlocked",
        "manager",
        login,
        None,
        {"counters_cleared": cleared},
    )
    return cleared


def end_sessions(uow: UnitOfWork, login: int) -> None:
    """Delete every stored session token of a manager, in every dialect."""
    uow.tokens.delete_for_manager(login)
    uow.backoffice.delete_tokens_of(PRINCIPAL_MANAGER, login)


def list_managers(uow: UnitOfWork, actor: Actor) -> list[Manager]:
    require_manager_admin(actor)
    return uow.managers.list()
