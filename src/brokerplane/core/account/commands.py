"""The account commands: what a dialect asks of the account slice (open, update, disable,
enable, delete, passwords, list)."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from brokerplane.core.actor import needs
from brokerplane.core.ledger.commands import PostLedgerEntry


@needs("users:write")
@dataclass(frozen=True)
class OpenAccount:
    """Open a trading account in `group`; login 0 or None allocates one from the range."""

    group: str
    leverage: int | None = None
    name: str = ""
    login: int | None = None
    currency: str | None = None
    main_password: str | None = None
    investor_password: str | None = None
    phone_password: str | None = None
    main_password_md5: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    # MT5 user/add: the main and investor passwords must both be given.
    require_passwords: bool = False
    # The user the account is opened for; set only by the user services, which load the user
    # within reach first (never from a request's fields: `user_id` is read-only there).
    owner_id: int | None = None
    # The dialect's groups carry no currency (cTrader): see check_group_currency.
    currency_free_groups: bool = False


@needs("users:write")
@dataclass(frozen=True)
class UpdateAccount:
    login: int
    changes: dict[str, Any]
    # MT5 user/update: names that are not updatable fields, values that would be invalid, and
    # (without personal_data) the contact fields, are left out silently instead of refusing the
    # whole change. A group that does not exist, is out of reach or in another currency is
    # still refused.
    skip_invalid: bool = False
    # A new phone password ("" removes it); other passwords change through ChangePassword.
    phone_password: str | None = None
    # cTrader's full update carries the main password's MD5: set in the same transaction when
    # it is not the current one.
    main_password_md5: str | None = None
    # The dialect's groups carry no currency (cTrader): see check_group_currency.
    currency_free_groups: bool = False


@needs("users:write")
@dataclass(frozen=True)
class DisableAccount:
    login: int
    reason: str = ""


@needs("users:write")
@dataclass(frozen=True)
class EnableAccount:
    login: int


@needs("users:delete")
@dataclass(frozen=True)
class DeleteAccount:
    """Delete an account: it reads as not found from then on, everywhere; its row, ledger and
    audit records stay, and its login is never handed out again."""

    login: int


@needs("users:read")
@dataclass(frozen=True)
class CheckPassword:
    """Whether `password` is the account's password of `kind` (main, investor or api)."""

    login: int
    kind: str
    password: str
    # cTrader sends the MD5 hex of the password, never the password itself.
    hashed: bool = False


@needs("users:write")
@dataclass(frozen=True)
class ChangePassword:
    """Set the account's password of `kind` (main, investor or api). With `hashed`, the
    password is its MD5 as cTrader sends it: no policy can judge it, only its form."""

    login: int
    kind: str
    password: str
    hashed: bool = False


@needs("users:read")
@dataclass(frozen=True)
class ListAccounts:
    group_mask: str | None = None
    email: str | None = None
    logins: tuple[int, ...] | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    after_login: int | None = None
    limit: int = 100
    # The name holds this text (ASCII letters in either case); the white label matches a mask.
    name: str | None = None
    white_label: str | None = None


@needs("reports:read")
@dataclass(frozen=True)
class ReportAccounts(ListAccounts):
    """The same listing read for a report (the users report and its CSV export): reports:read
    opens it instead of users:read."""

    @classmethod
    def of(cls, query: ListAccounts) -> ReportAccounts:
        return cls(**{f.name: getattr(query, f.name) for f in fields(query)})


@needs("users:read", "reports:read")
@dataclass(frozen=True)
class AccountsOfRows(ListAccounts):
    """The accounts behind a page of trade rows (positions, deals), which either read scope
    may list: a reporting key reads the rows' owners as a user reader does."""


MAX_PAGE = 1000
NAME_FILTER_MAX = 127


@needs("users:delete")
@dataclass(frozen=True)
class RestoreAccount:
    login: int


@needs("users:write")
@dataclass(frozen=True)
class OpenFundedAccount:
    """Open an account with a starting balance (`balance_minor`, minor units of its currency)
    posted as a deposit with `comment` in the same transaction: both or neither."""

    account: OpenAccount
    balance_minor: int = 0
    comment: str = ""

    def parts(self) -> tuple[type, ...]:
        """With a starting balance it also posts a deposit, so it needs that scope too."""
        return (PostLedgerEntry,) if self.balance_minor else ()


@needs("users:read")
@dataclass(frozen=True)
class ReadAccount:
    """One account by login: the account, its history, its figures now."""

    login: int
