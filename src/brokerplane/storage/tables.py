"""The schema: SQLAlchemy Core tables; Alembic revisions under migrations/ must match them.

Each noun's tables are in storage/schema/<noun>.py (as its repository is in
storage/repositories/<noun>.py); this module gathers them, and is what the code imports."""

from __future__ import annotations

from brokerplane.storage.schema.access import (
    api_keys,
    auth_failures,
    auth_reservations,
    credential_changes,
    manager_tokens,
    managers,
)
from brokerplane.storage.schema.accounts import accounts
from brokerplane.storage.schema.approvals import approval_thresholds, approvals
from brokerplane.storage.schema.attributes import (
    account_attributes,
    group_attributes,
    manager_attributes,
)
from brokerplane.storage.schema.audit import audit_head, audit_records
from brokerplane.storage.schema.backoffice import (
    account_presets,
    backoffice_tokens,
    plans,
    webhook_keys,
)
from brokerplane.storage.schema.base import metadata
from brokerplane.storage.schema.events import events, webhook_deliveries, webhook_subscriptions
from brokerplane.storage.schema.groups import brokers, currencies, groups
from brokerplane.storage.schema.idempotency import idempotency_records
from brokerplane.storage.schema.ledger import ledger_entries
from brokerplane.storage.schema.ratelimits import rate_limits
from brokerplane.storage.schema.second_factor import (
    manager_recovery_codes,
    manager_second_factors,
    second_factor_challenges,
)
from brokerplane.storage.schema.symbols import symbols
from brokerplane.storage.schema.trading import deals, margin_states, positions, quotes
from brokerplane.storage.schema.users import postgresql_options, user_links, users

__all__ = [
    "account_attributes",
    "account_presets",
    "accounts",
    "api_keys",
    "approval_thresholds",
    "approvals",
    "audit_head",
    "audit_records",
    "auth_failures",
    "auth_reservations",
    "backoffice_tokens",
    "brokers",
    "credential_changes",
    "currencies",
    "deals",
    "events",
    "group_attributes",
    "groups",
    "idempotency_records",
    "ledger_entries",
    "manager_attributes",
    "manager_recovery_codes",
    "manager_second_factors",
    "manager_tokens",
    "managers",
    "margin_states",
    "metadata",
    "plans",
    "positions",
    "postgresql_options",
    "quotes",
    "rate_limits",
    "second_factor_challenges",
    "symbols",
    "user_links",
    "users",
    "webhook_deliveries",
    "webhook_keys",
    "webhook_subscriptions",
]
