"""The account ports: trading accounts, and the export's plain rows."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any, Protocol

from brokerplane.core.account.model import Account, AccountQuery, CsvPage


class AccountRepository(Protocol):
    def get(self, login: int, *, for_update: bool = False) -> Account | None: ...
    def exists(self, login: int) -> bool: ...
    def add(self, account: Account) -> None: ...
    def add_many(self, accounts: Sequence[Account]) -> None: ...
    def update(self, account: Account) -> None: ...
    def allocate_login(self, low: int, high: int) -> int | None: ...
    def list(self, query: AccountQuery) -> list[Account]: ...
    def set_figures(
        self, login: int, balance: int, credit: int, bonus: int, at: datetime
    ) -> None: ...


class ExportRepository(Protocol):
    """Plain rows for bulk exports, read without building model objects."""

    def account_rows(
        self, query: AccountQuery, columns: Sequence[str], blank: Collection[str] = ()
    ) -> list[Sequence[Any]]:
        """One page of `query`'s accounts in login order, each a tuple of `columns` (Account
        field names; `group` is the group's name): text and integers as stored, money in minor
        units, times as ISO 8601 text in UTC ending in Z (microseconds only when not zero), the
        `blank` columns as empty text."""
        ...

    def account_csv(
        self, query: AccountQuery, columns: Sequence[str], blank: Collection[str] = ()
    ) -> CsvPage | None:
        """The same page as the users CSV's lines of `columns` (its column names), written by
        the database, or None where it does not write them (the caller then formats
        `account_rows`)."""
        ...
