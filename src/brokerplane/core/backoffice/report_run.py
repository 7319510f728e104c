"""One report run's reads: the window and filters checked and resolved to the accounts and groups
within the reader's reach, then the ledger and the accounts read page by page, within bounds."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime, timedelta

from brokerplane.core.access import reach
from brokerplane.core.account.model import Account, AccountQuery
from brokerplane.core.actor import Actor
from brokerplane.core.backoffice.report_catalogue import MAX_SCANNED, MAX_WINDOW_DAYS, RunReport
from brokerplane.core.errors import AccountNotFound, GroupNotFound, ValidationError
from brokerplane.core.ledger.model import LedgerEntry, LedgerQuery
from brokerplane.core.ports import UnitOfWork

PAGE = 1000


class Run:
    """One run's reads: the window, the filters resolved to accounts and groups, caches."""

    def __init__(
        self, uow: UnitOfWork, cmd: RunReport, actor: Actor, now: datetime, live: bool = False
    ) -> None:
        self.uow, self.cmd, self.actor = uow, cmd, actor
        end = cmd.end or now
        start = cmd.start or end - timedelta(days=30)
        if live:  # a live snapshot ignores the window, as TE's does: any window will do
            start, end = now, now
        if end < start:
            raise ValidationError.field("endDate", "must not be before startDate")
        if end - start > timedelta(days=MAX_WINDOW_DAYS):
            raise ValidationError.field(
                "endDate", f"the window spans more than {MAX_WINDOW_DAYS} days; narrow it"
            )
        self.start, self.end = start, end + timedelta(milliseconds=1)  # to is exclusive
        self.groups = {g.id: g for g in uow.groups.list()}
        self.reach_ids, self.brokers = reach.query_scope(uow, actor)
        self.group_ids = self.reach_ids
        if cmd.user_group_id is not None:
            group = self.groups.get(cmd.user_group_id)
            if group is None or not actor.reaches_group(group.name):
                raise GroupNotFound(cmd.user_group_id)
            self.group_ids = (group.id,)
        self.logins: tuple[int, ...] | None = None
        if cmd.account_id is not None:
            self.logins = (self._account(cmd.account_id).login,)
        if cmd.login:
            user = uow.backoffice.user_by_login(cmd.login.strip().strip("'"))
            owned = uow.backoffice.accounts_of_user(user.id) if user is not None else []
            mine = tuple(a.login for a in owned if actor.reaches(a.group, a.broker))
            self.logins = mine if self.logins is None else tuple(set(self.logins) & set(mine))
        self._accounts: dict[int, Account | None] = {}
        self._user_logins: dict[int, str] = {}

    def _account(self, login: int) -> Account:
        acc = self.uow.accounts.get(login) if 0 < login < 2**63 else None
        if acc is None or not self.actor.reaches(acc.group, acc.broker):
            raise AccountNotFound(login)
        return acc

    def account(self, login: int) -> Account | None:
        if login not in self._accounts:
            self._accounts[login] = self.uow.accounts.get(login)
        return self._accounts[login]

    def user_login(self, acc: Account | None) -> str:
        if acc is None or acc.user_id is None:
            return ""
        if acc.user_id not in self._user_logins:
            user = self.uow.users.get(acc.user_id)
            self._user_logins[acc.user_id] = user.login if user is not None else ""
        return self._user_logins[acc.user_id]

    def in_group(self, acc: Account | None) -> bool:
        return acc is not None and (self.group_ids is None or acc.group_id in self.group_ids)

    @property
    def wanted(self) -> int:
        return self.cmd.offset + self.cmd.limit

    def ledger(self, kinds: tuple[str, ...] | None = None) -> Iterator[LedgerEntry]:
        query = LedgerQuery(
            kinds=kinds,
            time_from=self.start,
            time_to=self.end,
            limit=PAGE,
            group_ids=self.group_ids,
            broker_mask=self.brokers,
            logins=self.logins,
        )
        scanned = 0
        while True:
            page = self.uow.ledger.list(query)
            scanned += len(page)
            if scanned > MAX_SCANNED:
                raise ValidationError(
                    f"more than {MAX_SCANNED} account operations in the "
                    "window; narrow it or name an account"
                )
            yield from page
            if len(page) < PAGE:
                return
            query = replace(query, after_id=page[-1].id)

    def accounts(self) -> Iterator[Account]:
        """Accounts in reach matching the filters, login order, at most offset + limit."""
        if self.logins is not None and not self.logins:
            return
        query = AccountQuery(
            logins=self.logins, limit=PAGE, group_ids=self.group_ids, broker_mask=self.brokers
        )
        count = 0
        while True:
            page = self.uow.accounts.list(query)
            for acc in page:
                yield acc
                count += 1
                if count >= self.wanted:
                    return
            if len(page) < PAGE:
                return
            query = replace(query, after_login=page[-1].login)
