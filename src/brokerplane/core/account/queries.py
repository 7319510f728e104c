"""Account reads: one account, its history, a filtered page, an export page."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from brokerplane.core import masks
from brokerplane.core.access import reach
from brokerplane.core.account.checks import check_login, load_account, with_attributes
from brokerplane.core.account.commands import (
    MAX_PAGE,
    NAME_FILTER_MAX,
    ListAccounts,
    ReadAccount,
    ReportAccounts,
)
from brokerplane.core.account.model import PERSONAL_FIELDS, Account, AccountQuery, CsvPage
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.errors import ValidationError
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import Problems


def get_account(uow: UnitOfWork, login: int, actor: Actor) -> Account:
    actor.require_for(ReadAccount)
    return reach.redact(actor, load_account(uow, login, actor))


def account_history(uow: UnitOfWork, login: int, actor: Actor) -> list[AuditRecord]:
    actor.require_for(ReadAccount)
    load_account(uow, login, actor)
    return [reach.redact_record(actor, r) for r in uow.audit.for_entity("account", str(login))]


def list_accounts(uow: UnitOfWork, cmd: ListAccounts, actor: Actor) -> list[Account]:
    """One page of accounts in login order, after `after_login`: users:read for a ListAccounts,
    reports:read for a ReportAccounts (its class declares which)."""
    actor.require_for(cmd)
    if not 1 <= cmd.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    check_filters(cmd, actor)
    page = with_attributes(uow, uow.accounts.list(account_query(uow, cmd, actor)))
    return [reach.redact(actor, a) for a in page]


def check_filters(cmd: ListAccounts, actor: Actor) -> None:
    for login in cmd.logins or ():
        check_login(login, "logins")
    if cmd.email:
        actor.require("personal_data")  # searching by email would reveal it
        p = Problems()
        p.text("email", cmd.email, 255)
        p.raise_if_any()
    if cmd.name:
        p = Problems()
        p.text("name", cmd.name, NAME_FILTER_MAX)
        p.raise_if_any()
    if cmd.white_label:
        masks.parse(cmd.white_label, "white_label")  # bounded: InvalidMask past the limits


# Accounts per read of an export: each page is one short read transaction and the only rows
# held in memory (about 8 MB); each read costs about 1 ms besides its rows.
EXPORT_PAGE = 5000
# Accounts per read when the database writes the CSV (a page is bytes then, about 5 MB).
EXPORT_CSV_PAGE = 20000


def export_accounts(
    uow: UnitOfWork,
    cmd: ListAccounts,
    actor: Actor,
    columns: Sequence[str],
    *,
    after_login: int | None,
    limit: int,
) -> list[Sequence[Any]]:
    """Up to `limit` of the accounts `list_accounts` would list, after `after_login`, as plain
    rows of `columns` for bulk output (see ExportRepository.account_rows): the same checks,
    filters, reach and login order, contact fields empty without `personal_data`. The page is
    `after_login` and `limit`, not the command's own. A report: its scope is ReportAccounts'."""
    actor.require_for(ReportAccounts)
    check_filters(cmd, actor)
    query = account_query(uow, replace(cmd, after_login=after_login, limit=limit), actor)
    hidden = () if actor.has("personal_data") else PERSONAL_FIELDS
    return uow.exports.account_rows(query, columns, [c for c in columns if c in hidden])


def export_accounts_csv(
    uow: UnitOfWork,
    cmd: ListAccounts,
    actor: Actor,
    csv_columns: Sequence[str],
    row_columns: Sequence[str],
    *,
    after_login: int | None,
    limit: int,
) -> CsvPage | list[Sequence[Any]]:
    """The page `export_accounts` reads, with the same checks, filters, reach and hidden
    contact fields, as the users CSV's lines of `csv_columns` when the database writes them
    (ExportRepository.account_csv), else as the plain rows of `row_columns`."""
    actor.require_for(ReportAccounts)
    check_filters(cmd, actor)
    query = account_query(uow, replace(cmd, after_login=after_login, limit=limit), actor)
    hidden = () if actor.has("personal_data") else PERSONAL_FIELDS
    page = uow.exports.account_csv(query, csv_columns, [c for c in csv_columns if c in hidden])
    if page is not None:
        return page
    return uow.exports.account_rows(query, row_columns, [c for c in row_columns if c in hidden])


def account_query(uow: UnitOfWork, cmd: ListAccounts, actor: Actor) -> AccountQuery:
    group_ids = None
    wanted = masks.parse(cmd.group_mask, "group") if cmd.group_mask else None
    if wanted is not None or not actor.unlimited_reach:
        group_ids = tuple(
            g.id
            for g in uow.groups.list()
            if (wanted is None or wanted.admits(g.name)) and actor.reaches_group(g.name)
        )
    brokers = None if actor.white_labels.strip() == "*" else actor.white_labels
    return AccountQuery(
        group_ids=group_ids,
        broker_mask=brokers,
        email=cmd.email,
        logins=cmd.logins,
        registered_from=cmd.registered_from,
        registered_to=cmd.registered_to,
        after_login=cmd.after_login,
        limit=cmd.limit,
        name_contains=cmd.name or None,
        white_label_mask=cmd.white_label or None,
    )
