"""What the native API answers, as typed objects.

Each model mirrors one schema of the OpenAPI document the server serves at `/openapi.json`
(tests/client/test_openapi_drift.py compares names, types and required fields, so they cannot
drift apart). Money is a `Decimal` (the wire carries decimal strings), times are aware
`datetime`s. Fields a newer server adds are kept (`model_extra`) rather than refused.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from typing_extensions import TypedDict  # pydantic reads it on Python 3.11 too

# A decimal string on the wire; NaN and infinities are not money.
Money = Annotated[Decimal, Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)


class Problem(_Model):
    """An RFC 9457 problem document (`application/problem+json`), as every error is sent.

    brokerplane adds `code` (stable, dotted), `errors` (one `{field, message}` per bad field)
    and `request_id`; some answers add extension members (`operation_id`, `approval_id`,
    `state`, `available`, `figure`, `original_status`), kept in `extensions`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, str]] = Field(default_factory=list)
    request_id: str | None = None

    @property
    def extensions(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class Account(_Model):
    """A trading account (`AccountOut`)."""

    login: int
    group: str
    name: str
    enabled: bool
    leverage: int
    currency: str
    balance: Money
    credit: Money
    bonus: Money
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


class Operation(_Model):
    """The answer to a money operation (`BalanceOut`): applied, or held for approval."""

    operation_id: int | None
    approval_id: int | None = None
    login: int
    kind: str
    amount: Money
    balance: Money
    credit: Money
    bonus: Money
    currency: str
    status: str
    comment: str
    reference: str

    @property
    def applied(self) -> bool:
        return self.status == "applied"

    @property
    def pending(self) -> bool:
        """Held above the approval threshold: nothing moved until another manager approves."""
        return self.status == "pending_approval"


class Transfer(_Model):
    """The answer to a transfer (`TransferOut`): both legs, applied in one transaction."""

    amount: Money
    currency: str
    status: str
    source: Operation = Field(alias="from")
    target: Operation = Field(alias="to")


class LedgerEntry(_Model):
    """One ledger entry (`LedgerEntryOut`); balance, credit and bonus are after the entry."""

    operation_id: int
    login: int
    kind: str
    amount: Money
    balance: Money
    credit: Money
    bonus: Money
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


class Approval(_Model):
    """A held operation and its decision (`ApprovalOut`)."""

    id: int
    state: str
    login: int
    kind: str
    amount: Money
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
    operation_id: int | None
    operation: Operation | None = None


class Threshold(_Model):
    """Operations above `amount` in `currency` (for `group` only, when set) need approval."""

    currency: str
    group: str | None
    amount: Money


class ApiKey(_Model):
    """An API key as listed (`KeyOut`): never its secret."""

    id: str
    prefix: str
    manager_login: int
    scopes: list[str]
    name: str
    state: str
    created_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None


class IssuedKey(_Model):
    """A new key with its secret (`IssuedKeyOut`); `previous` is set on rotation."""

    id: str
    key: str | None
    prefix: str
    manager_login: int
    scopes: list[str]
    name: str
    expires_at: datetime | None
    previous: dict[str, Any] | None = None


class AuditRecord(_Model):
    """One record of the hash-chained audit trail (`AuditOut`)."""

    id: int
    at: datetime
    action: str
    entity_type: str
    entity_id: str
    manager_login: int | None
    key_id: str | None
    operator_id: str | None
    request_id: str | None
    dialect: str
    ip: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    hash: str


class Event(_Model):
    """One event of the feed (`EventOut`): what changed, in commit order. `id` is the cursor:
    pass the last one you handled as `after` (or as Last-Event-ID) to resume after it. `data`
    is the native API's shape of what changed (an account as `accounts.get` answers it, a
    ledger entry as `money.history` lists it, an approval)."""

    id: int
    type: str
    time: datetime
    login: int | None
    group: str | None
    white_label: str | None
    actor: dict[str, Any]
    dialect: str
    request_id: str | None
    data: dict[str, Any]


class EventPage(_Model):
    """A page of the feed (`EventPageOut`): `next` is the `after` of the next page; `more`
    says whether events past it exist now."""

    items: list[Event]
    next: int
    head: int
    more: bool


class Webhook(_Model):
    """A webhook subscription (`WebhookOut`). `secret` is only in the answer that created it
    (the client fills in the one it sent); `state` is active, paused or failed (parked)."""

    id: int
    url: str
    types: list[str]
    group_mask: str
    personal_data: bool
    description: str
    state: str
    cursor: int
    attempts: int
    next_attempt_at: datetime | None
    failing_since: datetime | None
    last_error: str
    created_at: datetime
    updated_at: datetime
    created_by: int | None
    secret: str | None


class WebhookDelivery(_Model):
    """One delivery attempt in a subscription's log (`DeliveryOut`); a test-send has
    `events` 0 and `attempt` 0."""

    id: int
    at: datetime
    first_event: int | None
    last_event: int | None
    events: int
    attempt: int
    ok: bool
    status: int | None
    error: str
    duration_ms: int


class WebhookTest(_Model):
    """What a test-send got from the receiver (`WebhookTestOut`)."""

    ok: bool
    status: int | None
    error: str
    duration_ms: int


T = TypeVar("T", bound=BaseModel)


class Page(_Model, Generic[T]):
    """One page of a listing; `next_cursor` is None on the last one."""

    items: list[T]
    next_cursor: str | None = None


class Profile(TypedDict, total=False):
    """Account fields a manager may set when opening or updating an account (`AccountCreate`
    and `AccountPatch` besides login, name, group, leverage and passwords)."""

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
    rights: int
    status: str
    id_document: str
    language: int
    color: int
    mqid: str
    bank_account: str
    broker: str
    description: str
    access_rights: str
    account_type: str
    attributes: dict[str, str]
