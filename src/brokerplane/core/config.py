"""CoreConfig: the few settings business rules depend on, handed in by bootstrap."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from brokerplane.core.access.model import LockoutPolicy
from brokerplane.core.audit.model import AuditKeys


@dataclass(frozen=True)
class CoreConfig:
    login_range_from: int = 100_000
    login_range_to: int = 99_999_999
    server_currency: str = "USD"
    # The largest amount one money operation may move, in the account's currency.
    max_operation_amount: Decimal = Decimal("100000000")
    # How long a held (pending) high-value operation waits for a decision.
    approval_ttl: timedelta = timedelta(hours=72)
    # How long a request id is remembered, and how long a claim may run before it is stale.
    idempotency_retention: timedelta = timedelta(days=30)
    idempotency_lease: timedelta = timedelta(seconds=60)
    # How long the old secret of a rotated API key keeps working.
    key_rotation_overlap: timedelta = timedelta(hours=24)
    # Money commands arriving together share one transaction and one commit, each in its
    # own savepoint (application.commit); at most this many per transaction. 1 turns it off.
    group_commit_max: int = 64
    # The sign-in lockout every dialect shares (core.access.lockout).
    lockout: LockoutPolicy = field(default_factory=LockoutPolicy)
    # The audit keyring (sealing and verifying the chain); None: records are sealed unkeyed.
    audit_keys: AuditKeys | None = None
    # How long a dialect's manager token (cTrader's webservToken) works after it is issued;
    # None: until the manager's password changes or it is disabled.
    manager_token_ttl: timedelta | None = timedelta(hours=24)
    # How long events are kept in the outbox (purged by maintenance).
    events_retention: timedelta = timedelta(days=30)
    # Webhook delivery: how long a failing subscription is retried before it is parked, and
    # a mask of the hosts subscriptions may name ("*": any; see notes/events.md on SSRF).
    webhook_retry_for: timedelta = timedelta(hours=24)
    webhook_hosts: str = "*"
    webhook_backoff_first: timedelta = timedelta(seconds=1)
    webhook_max_subscriptions: int = 100
