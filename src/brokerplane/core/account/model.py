"""The Account: one trading account as every dialect sees it (MT5 user, cTrader trader, ...)."""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from brokerplane.core.money import Currency, from_minor

# Contact and identity fields a manager without `personal_data` reads as empty (the rule is
# core.access.reach; replayed answers, core.idempotency.seen_by; webhooks, core.events).
PERSONAL_FIELDS: tuple[str, ...] = (
    "email",
    "phone",
    "address",
    "city",
    "state",
    "zip_code",
    "id_document",
    "bank_account",
    "mqid",
)


def blank_personal(data: dict[str, Any]) -> dict[str, Any]:
    """`data` with its personal fields that hold something read as empty."""
    return {k: ("" if k in PERSONAL_FIELDS and v else v) for k, v in data.items()}


# IMTUser::EnUsersRights flags (seed 002).
RIGHT_ENABLED = 0x1
RIGHT_PASSWORD = 0x2
RIGHT_TRADE_DISABLED = 0x4
RIGHT_TRAILING = 0x20
RIGHT_EXPERT = 0x40
RIGHT_REPORTS = 0x100
RIGHTS_MAX = 0x3FFFF
DEFAULT_RIGHTS = RIGHT_ENABLED | RIGHT_PASSWORD | RIGHT_TRAILING | RIGHT_EXPERT | RIGHT_REPORTS

# The passwords an account may hold, by the kind a caller names; stored as verifiers only.
PASSWORD_KINDS: dict[str, str] = {
    "main": "main_password",
    "investor": "investor_password",
    "api": "api_password",
    "phone": "phone_password",
}
PASSWORD_FIELDS: tuple[str, ...] = tuple(PASSWORD_KINDS.values())

ACCESS_RIGHTS = ("FULL_ACCESS", "CLOSE_ONLY", "NO_TRADING", "NO_LOGIN")
LIMITED_RISK_STRATEGIES = (
    "ACCORDING_TO_LEVERAGE",
    "ACCORDING_TO_GSL",
    "ACCORDING_TO_GSL_AND_LEVERAGE",
)

# Longest value each text field holds (MT5 limits less the terminator). The native API refuses
# longer values; the MT5 dialect truncates them first, as MT5 does.
TEXT_LIMITS: dict[str, int] = {
    "name": 127,
    "first_name": 127,
    "last_name": 127,
    "middle_name": 127,
    "company": 63,
    "address": 127,
    "comment": 63,
    "email": 63,
    "phone": 31,
    "country": 31,
    "city": 31,
    "state": 31,
    "zip_code": 15,
    "id_document": 31,
    "status": 15,
    "lead_source": 31,
    "lead_campaign": 31,
    "bank_account": 31,
    "mqid": 15,
    "description": 255,
    "broker": 63,
    "introducing_broker1": 63,
    "introducing_broker2": 63,
    "trade_accounts": 127,
}


@dataclass
class Account:
    login: int
    group_id: int
    group: str
    currency: str
    currency_digits: int
    leverage: int
    name: str = ""
    rights: int = DEFAULT_RIGHTS
    access_rights: str = "FULL_ACCESS"
    account_type: str = "HEDGED"
    margin_mode: str | None = None
    user_id: int | None = None
    first_name: str = ""
    last_name: str = ""
    middle_name: str = ""
    company: str = ""
    email: str = ""
    phone: str = ""
    country: str = ""
    country_id: int | None = None
    city: str = ""
    state: str = ""
    zip_code: str = ""
    address: str = ""
    id_document: str = ""
    status: str = ""
    comment: str = ""
    color: int = 0xFF000000
    language: int = 0
    lead_source: str = ""
    lead_campaign: str = ""
    agent: int = 0
    bank_account: str = ""
    mqid: str = ""
    client_id: int = 0
    broker: str = ""
    description: str = ""
    introducing_broker1: str = ""
    introducing_broker2: str = ""
    limited_risk: bool = False
    limited_risk_strategy: str = "ACCORDING_TO_LEVERAGE"
    max_leverage: int | None = None
    send_own_statement: bool = False
    send_statement_to_broker: bool = False
    swap_free: bool = False
    limit_orders: int = 0
    limit_positions: int = 0
    trade_accounts: str = ""
    api_data: list[dict[str, Any]] = field(default_factory=list)
    attributes: dict[str, str] = field(default_factory=dict)
    main_password: str | None = None
    investor_password: str | None = None
    phone_password: str | None = None
    api_password: str | None = None
    balance: int = 0
    credit: int = 0
    bonus: int = 0
    disabled_reason: str = ""
    disabled_at: datetime | None = None
    registered_at: datetime | None = None
    updated_at: datetime | None = None
    last_access: datetime | None = None
    last_ip: str = ""
    last_pass_change: datetime | None = None
    # Set when the account is deleted: the row stays (its ledger and audit refer to it), it
    # reads as not found everywhere, and its login is never handed out again.
    deleted_at: datetime | None = None
    # Contact fields a client set to "" on purpose, comma-separated (cTrader reads them back
    # as sent; an unset field is left out of its contactDetails).
    blank_fields: str = ""

    @property
    def enabled(self) -> bool:
        return bool(self.rights & RIGHT_ENABLED)

    # Every field's name in declaration order (set below, once the class exists).
    field_names: ClassVar[tuple[str, ...]] = ()

    def snapshot(self) -> dict[str, Any]:
        """The audit view: every field, passwords reduced to whether they are set, times in
        ISO form. What `dataclasses.asdict` would give, but only containers are copied: the
        other values are immutable, and deep-copying them dominated bulk opening."""
        data: dict[str, Any] = {}
        for name in self.field_names:
            value = getattr(self, name)
            if value is None or type(value) in _ATOMS:
                data[name] = value
            elif isinstance(value, datetime):
                data[name] = value.isoformat()
            else:
                data[name] = _plain_copy(value)
        for key in PASSWORD_FIELDS:
            data[key] = "set" if data[key] else None
        return data


Account.field_names = tuple(f.name for f in fields(Account))

# Values a snapshot shares rather than copies (as `copy.deepcopy` would return them).
_ATOMS = frozenset({str, int, bool, float})


def _plain_copy(value: Any) -> Any:
    """`value` copied as `dataclasses.asdict` copies a field's value."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*[_plain_copy(v) for v in value])
    if isinstance(value, list | tuple):
        return type(value)(_plain_copy(v) for v in value)
    if isinstance(value, dict):
        if type(value) is dict and not value:
            return {}
        return type(value)((_plain_copy(k), _plain_copy(v)) for k, v in value.items())
    return copy.deepcopy(value)


@dataclass(frozen=True)
class TradeState:
    """An account's money as trading platforms show it, in its currency's decimals.

    Equity is balance + credit + bonus + floating profit: a bonus is money the client trades
    with (MT5 books bonus deals into the balance). Profit and margin come from the account's
    open positions (core/trading/risk.py); without positions they are zero, the free margin is
    the equity and the margin level 0.
    """

    login: int
    currency: str
    currency_digits: int
    leverage: int
    balance: Decimal
    credit: Decimal
    bonus: Decimal
    profit: Decimal = Decimal(0)
    storage: Decimal = Decimal(0)
    margin: Decimal = Decimal(0)

    @classmethod
    def of(cls, acc: Account, *, profit: int = 0, margin: int = 0) -> TradeState:
        """The account's figures with floating `profit` and `margin` in minor units."""
        cur = Currency(acc.currency, acc.currency_digits)
        return cls(
            login=acc.login,
            currency=acc.currency,
            currency_digits=acc.currency_digits,
            leverage=acc.leverage,
            balance=from_minor(acc.balance, cur),
            credit=from_minor(acc.credit, cur),
            bonus=from_minor(acc.bonus, cur),
            profit=from_minor(profit, cur),
            storage=from_minor(0, cur),
            margin=from_minor(margin, cur),
        )

    @property
    def balance_with_bonus(self) -> Decimal:
        """The balance of platforms that book bonus deals into it (MT5's `Balance`)."""
        return self.balance + self.bonus

    @property
    def floating(self) -> Decimal:
        return self.profit + self.storage

    @property
    def equity(self) -> Decimal:
        return self.balance + self.credit + self.bonus + self.floating

    @property
    def margin_free(self) -> Decimal:
        return self.equity - self.margin

    @property
    def margin_level(self) -> Decimal:
        """Equity as a percentage of margin, to 2 places; 0 without margin (as MT5 shows)."""
        if not self.margin:
            return Decimal("0.00")
        return (self.equity / self.margin * 100).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class CsvPage:
    """A page of an export already written as CSV lines by the database: `rows` lines, the
    last of them the account `last_login` (None when the page is empty)."""

    data: bytes
    rows: int
    last_login: int | None


@dataclass(frozen=True)
class AccountQuery:
    """Which accounts a listing asks for; `after_login` is the keyset cursor."""

    group_ids: tuple[int, ...] | None = None
    # White labels as a mask over broker names (None: any), for managers of some brands only.
    broker_mask: str | None = None
    email: str | None = None
    logins: tuple[int, ...] | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    after_login: int | None = None
    limit: int = 100
    # Accounts whose name holds this text (ASCII letters in either case), and whose white label
    # (broker) matches this mask, as the caller asked (reach is `broker_mask`'s).
    name_contains: str | None = None
    white_label_mask: str | None = None
    # Archived (soft-deleted) accounts instead of live ones.
    archived: bool = False
