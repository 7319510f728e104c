"""Trading accounts: opening, changing, passwords, listing and export, the archive, attributes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from brokerplane.application.base import LazySlice
from brokerplane.application.lockout import SignInLockout
from brokerplane.application.readahead import read_ahead
from brokerplane.core.account.model import Account, CsvPage
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.errors import CoreError, ValidationError
from brokerplane.core.ports import UnitOfWork

if TYPE_CHECKING:
    from brokerplane.core.access import lockout
    from brokerplane.core.account import archive
    from brokerplane.core.account import service as accounts
    from brokerplane.core.attribute import service as attributes
else:
    attributes = LazySlice("brokerplane.core.attribute.service")
    lockout = LazySlice("brokerplane.core.access.lockout")
    archive = LazySlice("brokerplane.core.account.archive")
    accounts = LazySlice("brokerplane.core.account.service")


class AccountServices(SignInLockout):
    """Accounts, their passwords (under the sign-in lockout), the archive and attributes."""

    def open_account(self, cmd: accounts.OpenAccount, actor: Actor) -> Account:
        """Open an account. It may share its transaction and commit with concurrent commands
        (application.commit): its login allocation reads the logins the batch's earlier
        commands stored, on the same connection, under the same lock (PostgreSQL's advisory
        lock is held to the shared commit)."""
        return self._write(
            lambda u: accounts.open_account(u, cmd, actor, self.clock, self.config),
            actor,
            grouped=True,
        )

    def open_accounts(self, cmds: list[accounts.OpenAccount], actor: Actor) -> list[Account]:
        """Open a batch of accounts in one transaction, each checked and audited as
        `open_account` does; any refusal opens none of them."""
        return self._command_configured(accounts.open_accounts, cmds, actor)

    def update_account(self, cmd: accounts.UpdateAccount, actor: Actor) -> Account:
        return self._command(accounts.update_account, cmd, actor)

    def disable_account(self, cmd: accounts.DisableAccount, actor: Actor) -> Account:
        return self._command(accounts.disable_account, cmd, actor)

    def enable_account(self, cmd: accounts.EnableAccount, actor: Actor) -> Account:
        return self._command(accounts.enable_account, cmd, actor)

    def delete_account(self, cmd: accounts.DeleteAccount, actor: Actor) -> Account:
        return self._command(accounts.delete_account, cmd, actor)

    def check_password(self, cmd: accounts.CheckPassword, actor: Actor) -> bool:
        """Whether the password matches, under the sign-in lockout of the account: while it
        is locked every password is answered as wrong, without being checked."""
        actor.require_for(cmd)
        attempt = lockout.account(cmd.login, actor.ip)
        if self.admit_login(attempt) is not None:
            return False
        try:
            matches = self._query(accounts.check_password, cmd, actor)
        except CoreError:  # no such account in reach, a malformed password: nothing was checked
            self.login_not_checked(attempt)
            raise
        except BaseException:  # the check broke: counted, as a wrong password would be
            self.login_failed(attempt)
            raise
        if matches:
            self.login_succeeded(attempt)
        else:
            self.login_failed(attempt)
        return matches

    def change_password(self, cmd: accounts.ChangePassword, actor: Actor) -> Account:
        return self._command(accounts.change_password, cmd, actor)

    def set_account_passwords(
        self,
        changes: Sequence[accounts.ChangePassword],
        actor: Actor,
        update: accounts.UpdateAccount | None = None,
    ) -> Account:
        """A profile change and new passwords in one transaction: all or none, each password
        under the group's policy and audited as `account.password_changed`."""

        def run(u: UnitOfWork) -> Account:
            acc = accounts.update_account(u, update, actor, self.clock) if update else None
            for cmd in changes:
                acc = accounts.change_password(u, cmd, actor, self.clock)
            if acc is None:
                raise ValidationError("nothing to change: the body names no field")
            return acc

        return self._write(run, actor)

    def get_account(self, login: int, actor: Actor) -> Account:
        return self._query(accounts.get_account, login, actor)

    def account_history(self, login: int, actor: Actor) -> list[AuditRecord]:
        return self._query(accounts.account_history, login, actor)

    def list_accounts(self, cmd: accounts.ListAccounts, actor: Actor) -> list[Account]:
        """A page of accounts; the query's class names the scope (ListAccounts: users:read,
        ReportAccounts: reports:read, AccountsOfRows: either)."""
        return self._lagging_read(lambda u: accounts.list_accounts(u, cmd, actor), actor)

    def iter_accounts(self, cmd: accounts.ListAccounts, actor: Actor) -> Iterator[Account]:
        """Every matching account, page by page: memory stays flat however many there are."""
        after = cmd.after_login
        while True:
            page = self.list_accounts(
                replace(cmd, after_login=after, limit=accounts.MAX_PAGE), actor
            )
            yield from page
            if len(page) < accounts.MAX_PAGE:
                return
            after = page[-1].login

    def export_accounts(
        self,
        cmd: accounts.ListAccounts,
        actor: Actor,
        columns: Sequence[str],
    ) -> Iterator[list[Sequence[Any]]]:
        """What `iter_accounts` lists, as pages of plain rows of `columns` (which must include
        `login`): one short read per page, so memory stays flat and no snapshot is held while
        a slow client reads. Nothing is read before the first `next()`."""
        at = list(columns).index("login")
        after = cmd.after_login
        while True:
            limit = accounts.EXPORT_PAGE
            page = self._lagging_read(
                partial(
                    accounts.export_accounts,
                    cmd=cmd,
                    actor=actor,
                    columns=columns,
                    after_login=after,
                    limit=limit,
                ),
                actor,
            )
            count = len(page)
            if count:
                after = page[-1][at]
                yield page
            del page  # one page in memory at a time: not this one while reading the next
            if count < limit:
                return

    def export_accounts_csv(
        self,
        cmd: accounts.ListAccounts,
        actor: Actor,
        csv_columns: Sequence[str],
        row_columns: Sequence[str],
    ) -> Iterator[CsvPage | list[Sequence[Any]]]:
        """What `export_accounts` reads, page by page, each page the CSV's lines when the
        database writes them, else plain rows of `row_columns` (which must include `login`).
        One short read per page, the next page read while the current one is sent (two pages
        in memory at most: application/readahead.py); nothing is read before the first
        `next()`."""
        return read_ahead(self._export_csv_pages(cmd, actor, csv_columns, row_columns))

    def _export_csv_pages(
        self,
        cmd: accounts.ListAccounts,
        actor: Actor,
        csv_columns: Sequence[str],
        row_columns: Sequence[str],
    ) -> Iterator[CsvPage | list[Sequence[Any]]]:
        at = list(row_columns).index("login")
        after = cmd.after_login
        written = False  # whether the database wrote the last page: then pages are larger
        while True:
            limit = accounts.EXPORT_CSV_PAGE if written else accounts.EXPORT_PAGE
            page = self._lagging_read(
                partial(
                    accounts.export_accounts_csv,
                    cmd=cmd,
                    actor=actor,
                    csv_columns=csv_columns,
                    row_columns=row_columns,
                    after_login=after,
                    limit=limit,
                ),
                actor,
            )
            written = isinstance(page, CsvPage)
            if isinstance(page, CsvPage):
                count, last = page.rows, page.last_login
            else:
                count, last = len(page), page[-1][at] if page else None
            if count:
                after = last
                yield page
            del page  # one page in memory at a time: not this one while reading the next
            if count < limit:
                return

    def list_archived(self, cmd: accounts.ListAccounts, actor: Actor) -> list[Account]:
        return self._listing(archive.list_archived, cmd, actor)

    def iter_archived(self, cmd: accounts.ListAccounts, actor: Actor) -> Iterator[Account]:
        """Every matching archived account, page by page."""
        after = cmd.after_login
        while True:
            page = self.list_archived(
                replace(cmd, after_login=after, limit=accounts.MAX_PAGE), actor
            )
            yield from page
            if len(page) < accounts.MAX_PAGE:
                return
            after = page[-1].login

    def get_archived(self, login: int, actor: Actor) -> Account:
        return self._query(archive.get_archived, login, actor)

    def restore_account(self, cmd: archive.RestoreAccount, actor: Actor) -> Account:
        return self._command(archive.restore_account, cmd, actor)

    def list_attributes(
        self, cmd: attributes.ListAttributes, actor: Actor
    ) -> attributes.AttributePage:
        return self._query(attributes.list_attributes, cmd, actor)

    def set_attributes(self, cmd: attributes.SetAttributes, actor: Actor) -> tuple[int, ...]:
        return self._command(attributes.set_attributes, cmd, actor)

    def delete_attributes(self, cmd: attributes.DeleteAttributes, actor: Actor) -> tuple[int, ...]:
        return self._command(attributes.delete_attributes, cmd, actor)
