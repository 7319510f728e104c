"""Wire shapes of the native API (request bodies, responses, problems) and their rendering."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from annotated_types import Interval
from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr

from brokerplane.core.account.model import Account
from brokerplane.core.approval.model import Approval, ApprovalThreshold
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.group.model import Group
from brokerplane.core.ledger.commands import Posting
from brokerplane.core.ledger.model import LedgerEntry
from brokerplane.core.money import Currency, format_minor
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.validate import MAX_ID

# A login, ticket or id a caller names (path, query or body): 1 to 2^63-1, a signed 64-bit
# number as the database keeps it; anything else is a 400 naming the field.
Id = Annotated[int, Interval(ge=1, le=MAX_ID)]
StrictId = Annotated[StrictInt, Interval(ge=1, le=MAX_ID)]


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

    # Extras reach the service, which names each unknown field; the document says they fail.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

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
    attributes: dict[str, str] | None = Field(
        None,
        description="name (1-64 characters) -> value (1-512): the whole set, replacing the one "
        "before; the same pairs cTrader's trader attribute calls read and write",
    )


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
            "additionalProperties": False,
            "example": {"login": 910024, "name": "Demo User", "group": "demo-usd", "leverage": 100},
        },
    )


class AccountPatch(_Profile):
    name: str | None = None
    group: str | None = Field(None, description="a group in the same currency")
    leverage: int | None = Field(None, description="1 to the group's max_leverage")
    main_password: str | None = Field(
        None, description="new master password, under the group's password policy"
    )
    investor_password: str | None = Field(None, description="new investor password")


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
    attributes: dict[str, str]
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
    entity_type: str = Field(examples=["account"])
    entity_id: str = Field(examples=["910024"])
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
    next_cursor: str | None = Field(None, description="for the next page; null at the end")


class GroupIn(BaseModel):
    # Whole numbers are StrictInt here and in SymbolIn: JSON true is not a setting of 1.
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    name: str = Field(examples=["real\\standard"])
    currency: str = Field(examples=["USD"])
    description: str | None = None
    company: str | None = None
    broker: str | None = None
    default_leverage: StrictInt | None = None
    max_leverage: StrictInt | None = None
    margin_mode: str | None = Field(None, description="MAX, SUM or NET")
    default_account_type: str | None = None
    default_rights: StrictInt | None = None
    password_min_length: StrictInt | None = Field(None, description="8 to 16")
    login_range_from: StrictInt | None = None
    login_range_to: StrictInt | None = None
    margin_call: Decimal | None = Field(None, description="margin level %, decimal")
    stop_out: Decimal | None = None
    permissions: StrictInt | None = None
    plan_id: StrictInt | None = None
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
    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": False})

    name: str = Field(examples=["EURUSD"])
    path: str | None = None
    description: str | None = None
    isin: str | None = None
    digits: StrictInt | None = None
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
    spread: StrictInt | None = Field(
        None, description="fixed spread in points, 0 to 100000; 0: floating (the quotes')"
    )
    stops_level: StrictInt | None = Field(
        None, description="minimum distance of stop loss / take profit, points, 0 to 100000"
    )
    swap_long: Decimal | None = Field(None, description="points per lot per night, signed")
    swap_short: Decimal | None = Field(None, description="points per lot per night, signed")
    sessions: dict[str, list[str]] | None = Field(
        None,
        description='trading sessions: weekday (MON..SUN) -> ["HH:MM-HH:MM", ...], in order; '
        "a weekday left out has no session; null or absent: trading all week",
        examples=[{"MON": ["00:05-23:55"], "FRI": ["00:05-21:00"]}],
    )


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
    spread: int
    stops_level: int
    swap_long: str
    swap_short: str
    sessions: dict[str, list[str]] | None
    created_at: datetime | None
    updated_at: datetime | None


class SymbolList(BaseModel):
    items: list[SymbolOut]


def iso(value: datetime | None) -> str | None:
    """A UTC time as ISO 8601 with Z, as every native answer writes times."""
    return value.isoformat().replace("+00:00", "Z") if value else None


_iso = iso


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
        "entity_type": rec.entity_type,
        "entity_id": rec.entity_id,
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


# ---- money ----------------------------------------------------------------------------------

_AMOUNT_DOC = (
    "a decimal string in the account currency (a JSON number is accepted too); at most the "
    "currency's digits"
)


class BalanceIn(BaseModel):
    """A money operation on one account; `reference` is your own id for reconciliation."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {"login": 910024, "amount": "100.00", "comment": "Deposit via card",
                        "reference": "crm-pay-88213"}
        },
    )  # fmt: skip

    login: int = Field(strict=True, description="the account's login")
    amount: StrictStr | StrictInt | StrictFloat = Field(
        description=_AMOUNT_DOC, examples=["100.00"]
    )
    comment: str = Field("", description="up to 255 characters, kept in the ledger")
    reference: str = Field("", description="your reference id (up to 127), kept in the ledger")


class BalanceOut(BaseModel):
    operation_id: int | None = Field(
        description="the ledger entry id; null while the operation awaits approval"
    )
    approval_id: int | None = Field(None, description="set when status is pending_approval")
    login: int
    kind: str = Field(
        description="deposit, withdrawal, credit_in, credit_out, bonus_in, bonus_out, "
        "correction or charge"
    )
    amount: str = Field(
        description="signed change to the figure the kind moves", examples=["100.00"]
    )
    balance: str = Field(description="the account's balance after the operation")
    credit: str
    bonus: str
    currency: str
    status: str = Field(description="applied or pending_approval")
    comment: str
    reference: str


class LedgerEntryOut(BaseModel):
    operation_id: int
    login: int
    kind: str
    amount: str = Field(description="signed change to the figure the kind moves")
    balance: str = Field(description="balance after this entry")
    credit: str = Field(description="credit after this entry")
    bonus: str = Field(description="bonus after this entry")
    currency: str
    comment: str
    reference: str
    time: datetime
    manager_login: int | None
    operator_id: str | None
    request_id: str | None
    dialect: str
    approval_id: int | None
    approved_by: int | None


class LedgerPage(BaseModel):
    items: list[LedgerEntryOut]
    next_cursor: str | None = Field(description="pass as ?cursor= for the next page; null at end")


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    comment: str = Field("", description="why (up to 255 characters), kept in the audit trail")


class ApprovalOut(BaseModel):
    id: int
    state: str = Field(description="pending, approved, rejected or expired")
    login: int
    kind: str
    amount: str
    currency: str
    comment: str
    reference: str
    requested_by: int | None
    requested_operator: str | None
    request_id: str | None
    requested_at: datetime
    expires_at: datetime
    decided_by: int | None
    decided_operator: str | None
    decided_at: datetime | None
    decision_comment: str
    operation_id: int | None = Field(description="the ledger entry, once approved")
    operation: BalanceOut | None = Field(
        None, description="on approval: the applied operation, as the deposit answer shows it"
    )


class ApprovalPage(BaseModel):
    items: list[ApprovalOut]
    next_cursor: str | None


class ThresholdIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"currency": "USD", "amount": "10000.00"}},
    )
    currency: str = Field("", description="ISO code; may be omitted when `group` is given")
    group: str | None = Field(None, description="override for one group only")
    amount: StrictStr | StrictInt | StrictFloat | None = Field(
        description="operations moving more than this need approval; null removes the threshold",
    )


class ThresholdOut(BaseModel):
    currency: str
    group: str | None
    amount: str


class ThresholdRemoved(BaseModel):
    """The answer to a PUT with amount null: the threshold is gone."""

    removed: bool


class ThresholdList(BaseModel):
    items: list[ThresholdOut]


def render_posting(p: Posting) -> dict[str, Any]:
    cur = p.currency
    return {
        "operation_id": p.operation_id,
        "approval_id": p.approval.id if p.approval else (p.entry.approval_id if p.entry else None),
        "login": p.login,
        "kind": p.kind,
        "amount": format_minor(p.amount, cur),
        "balance": format_minor(p.balance, cur),
        "credit": format_minor(p.credit, cur),
        "bonus": format_minor(p.bonus, cur),
        "currency": cur.code,
        "status": p.status,
        "comment": p.comment,
        "reference": p.reference,
    }


def render_entry(e: LedgerEntry) -> dict[str, Any]:
    cur = Currency(e.currency, e.currency_digits)
    return {
        "operation_id": e.id,
        "login": e.login,
        "kind": e.kind,
        "amount": format_minor(e.amount, cur),
        "balance": format_minor(e.balance_after, cur),
        "credit": format_minor(e.credit_after, cur),
        "bonus": format_minor(e.bonus_after, cur),
        "currency": e.currency,
        "comment": e.comment,
        "reference": e.reference,
        "time": _iso(e.at),
        "manager_login": e.manager_login,
        "operator_id": e.operator_id,
        "request_id": e.request_id,
        "dialect": e.dialect,
        "approval_id": e.approval_id,
        "approved_by": e.approved_by,
    }


def render_approval(a: Approval, posting: Posting | None = None) -> dict[str, Any]:
    cur = Currency(a.currency, a.currency_digits)
    return {
        "id": a.id,
        "state": a.state,
        "login": a.login,
        "kind": a.kind,
        "amount": format_minor(a.amount, cur),
        "currency": a.currency,
        "comment": a.comment,
        "reference": a.reference,
        "requested_by": a.requested_by,
        "requested_operator": a.requested_operator,
        "request_id": a.request_id,
        "requested_at": _iso(a.requested_at),
        "expires_at": _iso(a.expires_at),
        "decided_by": a.decided_by,
        "decided_operator": a.decided_operator,
        "decided_at": _iso(a.decided_at),
        "decision_comment": a.decision_comment,
        "operation_id": a.entry_id,
        "operation": render_posting(posting) if posting else None,
    }


def render_threshold(t: ApprovalThreshold) -> dict[str, Any]:
    return {
        "currency": t.currency,
        "group": t.group,
        "amount": format_minor(t.amount, Currency(t.currency, t.currency_digits)),
    }
