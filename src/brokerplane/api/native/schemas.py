"""Wire shapes of the native API (request bodies, responses, problems) and their rendering."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from brokerplane.core.account.model import Account
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.group.model import Group
from brokerplane.core.money import Currency, format_minor
from brokerplane.core.symbol.model import Symbol


class Problem(BaseModel):
    """RFC 9457 problem details, as every native error is sent (application/problem+json)."""

    type: str = Field(examples=["https://brokerplane.dev/problems/account.not_found"])
    title: str = Field(
        description="ValidationError, Unauthorized, PermissionDenied, NotFound, Conflict, "
        "AlreadyApplied or ManagerOffline",
        examples=["NotFound"],
    )
    status: int = Field(examples=[404])
    detail: str = Field(examples=["account 910024 does not exist"])
    code: str = Field(description="stable dotted error code", examples=["account.not_found"])
    errors: list[dict[str, str]] = Field(
        default_factory=list, description="field errors: [{field, message}]"
    )
    request_id: str | None = None


class _Profile(BaseModel):
    """Account fields a manager may set; unknown names are refused with a field error."""

    model_config = ConfigDict(extra="allow")

    first_name: str | None = None
    last_name: str | None = None
    middle_name: str | None = None
    email: str | None = None
    phone: str | None = None
    country: str | None = None
    city: str | None = None
    state: str | None = None
    zip_code: str | None = None
    address: str | None = None
    company: str | None = None
    comment: str | None = None
    lead_source: str | None = None
    lead_campaign: str | None = None
    agent: int | None = Field(None, description="agent account login")
    rights: int | None = Field(None, description="MT5 EnUsersRights flags (sum of values)")
    status: str | None = None
    id_document: str | None = None
    language: int | None = None
    color: int | None = None
    mqid: str | None = None
    bank_account: str | None = None
    broker: str | None = Field(None, description="white label (cTrader brokerName)")
    description: str | None = None
    access_rights: str | None = Field(
        None, description="FULL_ACCESS, CLOSE_ONLY, NO_TRADING or NO_LOGIN"
    )
    account_type: str | None = Field(None, description="HEDGED, NETTED or SPREAD_BETTING")


class AccountCreate(_Profile):
    login: int | None = Field(None, description="0 or absent: allocated from the group's range")
    name: str
    group: str = Field(examples=["demo-usd"])
    leverage: int = Field(examples=[100])
    main_password: str | None = Field(
        None, description="8-16 characters with lower, upper, digit and special character"
    )
    investor_password: str | None = None
    phone_password: str | None = None

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {"login": 910024, "name": "Demo User", "group": "demo-usd", "leverage": 100}
        },
    )


class AccountPatch(_Profile):
    name: str | None = None
    group: str | None = Field(None, description="a group in the same currency")
    leverage: int | None = Field(None, description="1 to the group's max_leverage")


class DisableBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=255)


class AccountOut(BaseModel):
    login: int
    group: str
    name: str
    enabled: bool
    leverage: int
    currency: str
    balance: str = Field(description="decimal string in the account currency", examples=["0.00"])
    credit: str
    bonus: str
    rights: int
    access_rights: str
    account_type: str
    first_name: str
    last_name: str
    middle_name: str
    email: str
    phone: str
    country: str
    city: str
    state: str
    zip_code: str
    address: str
    company: str
    comment: str
    lead_source: str
    lead_campaign: str
    agent: int
    status: str
    id_document: str
    language: int
    color: int
    mqid: str
    bank_account: str
    broker: str
    description: str
    user_id: int | None
    disabled_reason: str
    disabled_at: datetime | None
    registered_at: datetime
    updated_at: datetime
    last_access: datetime | None
    last_pass_change: datetime | None


class AccountPage(BaseModel):
    items: list[AccountOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class AuditOut(BaseModel):
    id: int
    at: datetime
    action: str
    manager_login: int | None
    key_id: str | None
    operator_id: str | None
    request_id: str | None
    dialect: str
    ip: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str


class AuditPage(BaseModel):
    items: list[AuditOut]


class GroupIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(examples=["real\\standard"])
    currency: str = Field(examples=["USD"])
    description: str | None = None
    company: str | None = None
    broker: str | None = None
    default_leverage: int | None = None
    max_leverage: int | None = None
    margin_mode: str | None = Field(None, description="MAX, SUM or NET")
    default_account_type: str | None = None
    default_rights: int | None = None
    password_min_length: int | None = Field(None, description="8 to 16")
    login_range_from: int | None = None
    login_range_to: int | None = None
    margin_call: Decimal | None = Field(None, description="margin level %, decimal")
    stop_out: Decimal | None = None
    permissions: int | None = None
    plan_id: int | None = None
    attributes: dict[str, str] | None = None


class GroupPatch(GroupIn):
    name: str | None = None  # type: ignore[assignment]
    currency: str | None = None  # type: ignore[assignment]


class GroupOut(BaseModel):
    id: int
    name: str
    currency: str
    currency_digits: int
    description: str
    company: str
    broker: str
    default_leverage: int
    max_leverage: int
    margin_mode: str
    default_account_type: str
    default_rights: int
    password_min_length: int
    login_range_from: int | None
    login_range_to: int | None
    margin_call: str
    stop_out: str
    permissions: int
    plan_id: int | None
    attributes: dict[str, str]
    created_at: datetime | None
    updated_at: datetime | None


class GroupList(BaseModel):
    items: list[GroupOut]


class SymbolIn(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str = Field(examples=["EURUSD"])
    path: str | None = None
    description: str | None = None
    isin: str | None = None
    digits: int | None = None
    contract_size: Decimal | None = None
    currency_base: str | None = None
    currency_profit: str | None = None
    currency_margin: str | None = None
    trade_mode: str | None = Field(
        None, description="DISABLED, LONGONLY, SHORTONLY, CLOSEONLY or FULL"
    )
    volume_min: Decimal | None = None
    volume_max: Decimal | None = None
    volume_step: Decimal | None = None


class SymbolPatch(SymbolIn):
    name: str | None = None  # type: ignore[assignment]


class SymbolOut(BaseModel):
    id: int
    name: str
    path: str
    description: str
    isin: str
    digits: int
    contract_size: str
    currency_base: str
    currency_profit: str
    currency_margin: str
    trade_mode: str
    volume_min: str
    volume_max: str
    volume_step: str
    created_at: datetime | None
    updated_at: datetime | None


class SymbolList(BaseModel):
    items: list[SymbolOut]


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


ACCOUNT_OUT_FIELDS = tuple(AccountOut.model_fields)
_MONEY = ("balance", "credit", "bonus")
_TIMES = ("disabled_at", "registered_at", "updated_at", "last_access", "last_pass_change")


def render_account(acc: Account) -> dict[str, Any]:
    cur = Currency(acc.currency, acc.currency_digits)
    out: dict[str, Any] = {}
    for name in ACCOUNT_OUT_FIELDS:
        if name in _MONEY:
            out[name] = format_minor(getattr(acc, name), cur)
        elif name in _TIMES:
            out[name] = _iso(getattr(acc, name))
        else:
            out[name] = getattr(acc, name)
    return out


def render_group(group: Group) -> dict[str, Any]:
    data = group.snapshot()
    data["created_at"], data["updated_at"] = _iso(group.created_at), _iso(group.updated_at)
    return data


def render_symbol(symbol: Symbol) -> dict[str, Any]:
    data = symbol.snapshot()
    data["created_at"], data["updated_at"] = _iso(symbol.created_at), _iso(symbol.updated_at)
    return data


def render_audit(rec: AuditRecord) -> dict[str, Any]:
    return {
        "id": rec.id,
        "at": _iso(rec.at),
        "action": rec.action,
        "manager_login": rec.manager_login,
        "key_id": rec.key_id,
        "operator_id": rec.operator_id,
        "request_id": rec.request_id,
        "dialect": rec.dialect,
        "ip": rec.ip,
        "before": rec.before,
        "after": rec.after,
        "hash": rec.hash,
    }
