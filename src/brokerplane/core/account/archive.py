"""The archive: accounts deleted (soft-deleted: `deleted_at` set) read back, and restored.

Archiving an account is deleting it (DeleteAccount: it reads as not found everywhere, its
row, ledger and audit stay, its login is never handed out again). The archive lists those
accounts, with the same reach and personal-data rules as live ones; restoring one clears
`deleted_at`, so it reads and trades again as it was, audited as `account.restored`.
Restoring needs the `users:delete` right (it undoes a delete) and the account in reach.
"""

from __future__ import annotations

from dataclasses import replace

from brokerplane.core.access import reach
from brokerplane.core.account.checks import check_login, with_attributes
from brokerplane.core.account.commands import MAX_PAGE, ListAccounts, RestoreAccount
from brokerplane.core.account.model import Account
from brokerplane.core.account.queries import account_query, check_filters
from brokerplane.core.actor import Actor
from brokerplane.core.audit.service import record
from brokerplane.core.clock import Clock
from brokerplane.core.errors import AccountNotFound, ValidationError
from brokerplane.core.ports import UnitOfWork

# What the application layer reaches through this module: its own rules and, re-exported, the
# slice's commands and the rules of its sibling modules.
__all__ = [
    "RestoreAccount",
    "get_archived",
    "list_archived",
    "restore_account",
]


def list_archived(uow: UnitOfWork, cmd: ListAccounts, actor: Actor) -> list[Account]:
    """One page of archived accounts in login order, after `after_login`."""
    actor.require_for(cmd)
    if not 1 <= cmd.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    check_filters(cmd, actor)
    query = replace(account_query(uow, cmd, actor), archived=True)
    if query.group_ids is not None and not query.group_ids:
        return []
    page = with_attributes(uow, uow.accounts.list(query))
    return [reach.redact(actor, a) for a in page]


def _archived(uow: UnitOfWork, login: int, actor: Actor) -> Account:
    found = list_archived(uow, ListAccounts(logins=(check_login(login),), limit=1), actor)
    if not found:
        raise AccountNotFound(login)
    return found[0]


def get_archived(uow: UnitOfWork, login: int, actor: Actor) -> Account:
    return _archived(uow, login, actor)


def restore_account(uow: UnitOfWork, cmd: RestoreAccount, actor: Actor, clock: Clock) -> Account:
    actor.require_for(cmd)
    _archived(uow, cmd.login, actor)  # exists in the archive and in reach
    # the whole row (the listing may have blanked personal fields)
    query = replace(
        account_query(uow, ListAccounts(logins=(cmd.login,), limit=1), actor), archived=True
    )
    acc = uow.accounts.list(query)[0]
    now = clock()
    restored = replace(acc, deleted_at=None, updated_at=now)
    uow.accounts.update(restored)
    record(
        uow,
        actor,
        now,
        "account.restored",
        "account",
        acc.login,
        acc.snapshot(),
        restored.snapshot(),
    )
    return reach.redact(actor, with_attributes(uow, [restored])[0])
