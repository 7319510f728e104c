"""The fakes' common ground: the clock, the committed state, and the repositories' base."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, TypeVar

from brokerplane.core import masks
from brokerplane.core.access.model import (
    ApiKey,
    Challenge,
    Manager,
    ManagerToken,
    SecondFactor,
    Strike,
)
from brokerplane.core.account.model import Account
from brokerplane.core.approval.model import Approval, ApprovalThreshold
from brokerplane.core.attribute.model import Attribute
from brokerplane.core.audit.model import GENESIS_HASH, AuditRecord
from brokerplane.core.backoffice.model import (
    AccountPreset,
    BackofficeToken,
    Plan,
    WebhookKey,
    WhiteLabel,
)
from brokerplane.core.events.model import (
    Delivery,
    Event,
    Subscription,
)
from brokerplane.core.group.model import Group
from brokerplane.core.idempotency import IdempotencyRecord
from brokerplane.core.ledger.model import (
    LedgerEntry,
)
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.trading.model import (
    Deal,
    Position,
    Quote,
)
from brokerplane.core.user.model import User, UserLink

if TYPE_CHECKING:
    from tests.unit.fakes.uow import FakeUnitOfWork

T = TypeVar("T")


def _copy(obj: T) -> T:
    return copy.deepcopy(obj)


class FakeClock:
    """A clock that stands still until told to move; always timezone-aware UTC."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now or datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@dataclass
class FakeState:
    """Everything committed: what the database would hold."""

    groups: dict[int, Group] = field(default_factory=dict)
    accounts: dict[int, Account] = field(default_factory=dict)
    symbols: dict[int, Symbol] = field(default_factory=dict)
    managers: dict[int, Manager] = field(default_factory=dict)
    api_keys: dict[str, ApiKey] = field(default_factory=dict)
    audit: list[AuditRecord] = field(default_factory=list)
    ledger: list[LedgerEntry] = field(default_factory=list)
    approvals: dict[int, Approval] = field(default_factory=dict)
    # (currency, group_id) -> threshold; `group` is not stored, it is joined on the way out
    thresholds: dict[tuple[str, int], ApprovalThreshold] = field(default_factory=dict)
    # (scope, key) -> record
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    # token hash -> stored manager token
    tokens: dict[str, ManagerToken] = field(default_factory=dict)
    # sign-in lockout counters by key
    strikes: dict[str, Strike] = field(default_factory=dict)
    # sign-in lockout slots: (key, token) -> when the slot expires
    reservations: dict[tuple[str, str], datetime] = field(default_factory=dict)
    # (kind, entity id) -> name -> attribute
    attributes: dict[tuple[str, int], dict[str, Attribute]] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    # login -> link
    user_links: dict[int, UserLink] = field(default_factory=dict)
    next_user_id: int = 1
    next_link_id: int = 1
    next_group_id: int = 1
    next_symbol_id: int = 1
    next_ledger_id: int = 1
    next_approval_id: int = 1
    head_id: int = 0
    head_hash: str = GENESIS_HASH
    # the outbox, and webhook subscriptions with their delivery log
    events: list[Event] = field(default_factory=list)
    last_event_id: int = 0
    subscriptions: dict[int, Subscription] = field(default_factory=dict)
    leases: dict[int, tuple[str, datetime]] = field(default_factory=dict)
    deliveries: list[Delivery] = field(default_factory=list)
    next_subscription_id: int = 1
    # the risk pass's margin states (login -> state; none: ok)
    margin_states: dict[int, str] = field(default_factory=dict)
    # the TraderEvolution back office
    brandings: dict[int, WhiteLabel] = field(default_factory=dict)
    plans: dict[int, Plan] = field(default_factory=dict)
    presets: dict[int, AccountPreset] = field(default_factory=dict)
    webhook_keys: dict[int, WebhookKey] = field(default_factory=dict)
    # token hash -> stored back-office token
    bo_tokens: dict[str, BackofficeToken] = field(default_factory=dict)
    next_branding_id: int = 1
    next_plan_id: int = 1
    next_preset_id: int = 1
    next_webhook_key_id: int = 1
    # trading
    quotes: dict[str, Quote] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    deals: dict[int, Deal] = field(default_factory=dict)
    next_position_id: int = 1
    # managers' second factors: login -> factor; (login, code hash) -> used at; challenges
    second_factors: dict[int, SecondFactor] = field(default_factory=dict)
    recovery_codes: dict[tuple[int, str], datetime | None] = field(default_factory=dict)
    challenges: dict[str, Challenge] = field(default_factory=dict)


class ReadOnlyViolation(AssertionError):
    """The core wrote through a unit of work opened for reading."""


class _Repo:
    def __init__(self, uow: FakeUnitOfWork) -> None:
        self._uow = uow

    @property
    def _s(self) -> FakeState:
        return self._uow.work

    def _in_reach(
        self, login: int, group_ids: tuple[int, ...] | None, broker_mask: str | None
    ) -> bool:
        """Whether the account `login` passes a query's reach filters, as `_reach` in SQL:
        its group among `group_ids` (an empty tuple admits nothing) and its white label
        admitted by `broker_mask` (None: no limit)."""
        acc = self._s.accounts.get(login)
        if acc is None:
            return group_ids is None and broker_mask is None
        if group_ids is not None and acc.group_id not in group_ids:
            return False
        return broker_mask is None or masks.matches(broker_mask, acc.broker)

    def _writing(self) -> None:
        if not self._uow.write:
            raise ReadOnlyViolation("write through a read-only unit of work")
