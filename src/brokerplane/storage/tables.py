"""The schema: SQLAlchemy Core tables; Alembic revisions under migrations/ must match them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

from brokerplane.storage.types import DecimalText, UTCDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

currencies = Table(
    "currencies",
    metadata,
    Column("code", String(8), primary_key=True),
    Column("digits", Integer, nullable=False),
)

brokers = Table(
    "brokers",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("description", String(255), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

groups = Table(
    "groups",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("currency", String(8), nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("description", String(255), nullable=False, server_default=""),
    Column("company", String(63), nullable=False, server_default=""),
    Column("broker", String(63), nullable=False, server_default=""),
    Column("default_leverage", Integer, nullable=False),
    Column("max_leverage", Integer, nullable=False),
    Column("margin_mode", String(8), nullable=False),
    Column("default_account_type", String(16), nullable=False),
    Column("default_rights", BigInteger, nullable=False),
    Column("password_min_length", Integer, nullable=False),
    Column("login_range_from", BigInteger),
    Column("login_range_to", BigInteger),
    Column("margin_call", DecimalText, nullable=False),
    Column("stop_out", DecimalText, nullable=False),
    Column("permissions", BigInteger, nullable=False, server_default="0"),
    Column("plan_id", Integer),
    Column("attributes", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

symbols = Table(
    "symbols",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(31), nullable=False, unique=True),
    Column("path", String(127), nullable=False),
    Column("description", String(127), nullable=False, server_default=""),
    Column("isin", String(15), nullable=False, server_default=""),
    Column("digits", Integer, nullable=False),
    Column("contract_size", DecimalText, nullable=False),
    Column("currency_base", String(8), nullable=False),
    Column("currency_profit", String(8), nullable=False),
    Column("currency_margin", String(8), nullable=False),
    Column("trade_mode", String(16), nullable=False),
    Column("volume_min", DecimalText, nullable=False),
    Column("volume_max", DecimalText, nullable=False),
    Column("volume_step", DecimalText, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    # Execution parameters (0017): points, points per lot per night, weekday sessions.
    Column("spread", Integer, nullable=False, server_default="0"),
    Column("stops_level", Integer, nullable=False, server_default="0"),
    Column("swap_long", DecimalText, nullable=False, server_default="0"),
    Column("swap_short", DecimalText, nullable=False, server_default="0"),
    Column("sessions", JSON),
)

users = Table(
    "users",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True),
    # Stored in lower case: one email is one user (cTID is idempotent by email).
    Column("email", String(127), nullable=False, index=True),
    Column("login", String(63), nullable=False, server_default=""),
    Column("first_name", String(127), nullable=False, server_default=""),
    Column("last_name", String(127), nullable=False, server_default=""),
    Column("nickname", String(63), nullable=False, server_default=""),
    Column("language", String(8), nullable=False, server_default=""),
    Column("status", Integer, nullable=False, server_default="0"),
    Column("group_id", Integer, ForeignKey("groups.id")),
    Column("broker", String(63), nullable=False, server_default=""),
    Column("password", String(200)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("agreement_accepted_at", UTCDateTime),
    Column("logged_out_at", UTCDateTime),
    Column("failed_logins", Integer, nullable=False, server_default="0"),
    # cID (0017): the in-app controls (ribbons) rules; the partner id at the user level.
    Column("in_app_controls", JSON),
    Column("partner_id", String(255), nullable=False, server_default=""),
)
# Partial: many users have no email. PostgreSQL's `postgresql_where` is added by
# postgresql_options() below, for the schema check: naming it here would load the PostgreSQL
# dialect (and every driver module of it) into each process, SQLite-only CLI commands too.
_EMAIL_SET = Index(
    "uq_users_email_set",
    users.c.email,
    unique=True,
    sqlite_where=users.c.email != "",
)
Index("ix_users_nickname", users.c.nickname)

accounts = Table(
    "accounts",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("group_id", Integer, ForeignKey("groups.id"), nullable=False, index=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), index=True),
    Column("currency", String(8), nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("leverage", Integer, nullable=False),
    Column("rights", BigInteger, nullable=False),
    Column("access_rights", String(16), nullable=False),
    Column("account_type", String(16), nullable=False),
    Column("margin_mode", String(8)),
    Column("name", String(127), nullable=False, server_default=""),
    Column("first_name", String(127), nullable=False, server_default=""),
    Column("last_name", String(127), nullable=False, server_default=""),
    Column("middle_name", String(127), nullable=False, server_default=""),
    Column("company", String(63), nullable=False, server_default=""),
    Column("email", String(63), nullable=False, server_default="", index=True),
    Column("phone", String(31), nullable=False, server_default=""),
    Column("country", String(31), nullable=False, server_default=""),
    Column("country_id", Integer),
    Column("city", String(31), nullable=False, server_default=""),
    Column("state", String(31), nullable=False, server_default=""),
    Column("zip_code", String(15), nullable=False, server_default=""),
    Column("address", String(127), nullable=False, server_default=""),
    Column("id_document", String(31), nullable=False, server_default=""),
    Column("status", String(15), nullable=False, server_default=""),
    Column("comment", String(63), nullable=False, server_default=""),
    Column("color", BigInteger, nullable=False),
    Column("language", Integer, nullable=False, server_default="0"),
    Column("lead_source", String(31), nullable=False, server_default=""),
    Column("lead_campaign", String(31), nullable=False, server_default=""),
    Column("agent", BigInteger, nullable=False, server_default="0"),
    Column("bank_account", String(31), nullable=False, server_default=""),
    Column("mqid", String(15), nullable=False, server_default=""),
    Column("client_id", BigInteger, nullable=False, server_default="0"),
    Column("broker", String(63), nullable=False, server_default=""),
    Column("description", String(255), nullable=False, server_default=""),
    Column("introducing_broker1", String(63), nullable=False, server_default=""),
    Column("introducing_broker2", String(63), nullable=False, server_default=""),
    Column("limited_risk", Boolean, nullable=False),
    Column("limited_risk_strategy", String(32), nullable=False),
    Column("max_leverage", BigInteger),
    Column("send_own_statement", Boolean, nullable=False),
    Column("send_statement_to_broker", Boolean, nullable=False),
    Column("swap_free", Boolean, nullable=False),
    Column("limit_orders", Integer, nullable=False, server_default="0"),
    Column("limit_positions", Integer, nullable=False, server_default="0"),
    Column("trade_accounts", String(127), nullable=False, server_default=""),
    Column("api_data", JSON, nullable=False),
    Column("attributes", JSON, nullable=False),
    Column("main_password", String(200)),
    Column("investor_password", String(200)),
    Column("phone_password", String(200)),
    Column("api_password", String(200)),
    # Money in integer minor units of `currency`; the ledger (money issue) moves these.
    Column("balance", BigInteger, nullable=False, server_default="0"),
    Column("credit", BigInteger, nullable=False, server_default="0"),
    Column("bonus", BigInteger, nullable=False, server_default="0"),
    Column("disabled_reason", String(255), nullable=False, server_default=""),
    Column("disabled_at", UTCDateTime),
    Column("registered_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("last_access", UTCDateTime),
    Column("last_ip", String(45), nullable=False, server_default=""),
    Column("last_pass_change", UTCDateTime),
    # A deleted account keeps its row (ledger and audit refer to it) and reads as not found.
    Column("deleted_at", UTCDateTime),
    # Profile fields a client set to "" on purpose (0017), comma-separated: read back as sent.
    Column("blank_fields", String(255), nullable=False, server_default=""),
)
Index("ix_accounts_registered_at_login", accounts.c.registered_at, accounts.c.login)

managers = Table(
    "managers",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(127), nullable=False, server_default=""),
    Column("enabled", Boolean, nullable=False),
    Column("rights", JSON, nullable=False),
    Column("group_mask", Text, nullable=False),
    Column("white_labels", Text, nullable=False),
    Column("verifiers", JSON, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("session_epoch", Integer, nullable=False, server_default="0"),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("manager_login", BigInteger, ForeignKey("managers.login"), nullable=False, index=True),
    Column("prefix", String(32), nullable=False, unique=True),
    Column("secret_hash", String(64), nullable=False),
    Column("scopes", JSON, nullable=False),
    Column("name", String(127), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
    Column("parent_key_id", String(32), index=True),
    Column("replaced_by", String(32)),
    # The manager whose credential minted (created or rotated) the key; None: an operator.
    Column("created_by", BigInteger),
)

# Changes to api_keys and managers, counted by triggers (SQLite; migration 0022): a process
# keeping verified keys in memory rereads this only when another connection committed.
credential_changes = Table(
    "credential_changes",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("changes", BigInteger, nullable=False),
)

audit_records = Table(
    "audit_records",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    ),
    Column("at", UTCDateTime, nullable=False),
    Column("action", String(63), nullable=False),
    Column("entity_type", String(31), nullable=False),
    Column("entity_id", String(63), nullable=False),
    Column("before", JSON),
    Column("after", JSON),
    Column("manager_login", BigInteger),
    Column("key_id", String(32)),
    Column("operator_id", String(127)),
    Column("request_id", String(127)),
    Column("dialect", String(16), nullable=False),
    Column("ip", String(45)),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
    # The id of the audit key whose HMAC is `hash`; NULL: a legacy record, plain SHA-256.
    Column("seal_key", String(16)),
)
Index("ix_audit_records_entity", audit_records.c.entity_type, audit_records.c.entity_id)
# A manager's newest audit record, on the primary and on a read replica: whether the replica
# already holds that manager's last write, whichever process took it (storage.replica).
Index("ix_audit_records_manager_login_id", audit_records.c.manager_login, audit_records.c.id)

# One row: the id and hash of the newest audit record. Locking it orders concurrent appends.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_id", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
    # The newest event id (core/events): events are numbered under this row's lock too, so
    # their ids follow commit order.
    Column("last_event_id", BigInteger, nullable=False, server_default="0"),
)

_BIG_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite: the rowid, so autoincrement

# Every money movement; the account row's balance, credit and bonus are the sums of these.
ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("balance_after", BigInteger, nullable=False),
    Column("credit_after", BigInteger, nullable=False),
    Column("bonus_after", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("comment", String(255), nullable=False, server_default=""),
    Column("reference", String(127), nullable=False, server_default="", index=True),
    Column("manager_login", BigInteger),
    Column("key_id", String(32)),
    Column("operator_id", String(127)),
    Column("request_id", String(127)),
    Column("dialect", String(16), nullable=False),
    Column("approval_id", BigInteger),
    Column("approved_by", BigInteger),
)
Index("ix_ledger_entries_login_id", ledger_entries.c.login, ledger_entries.c.id)

# Money operations above their threshold, held for a second manager's decision.
approvals = Table(
    "approvals",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False, index=True),
    Column("kind", String(16), nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("comment", String(255), nullable=False, server_default=""),
    Column("reference", String(127), nullable=False, server_default=""),
    Column("state", String(16), nullable=False),
    Column("requested_by", BigInteger),
    # people_behind the requester when held: sorted logins, comma-separated; NULL: requested_by
    Column("requested_people", Text),
    Column("requested_key", String(32)),
    Column("requested_operator", String(127)),
    Column("request_id", String(127)),
    Column("dialect", String(16), nullable=False),
    Column("requested_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("decided_by", BigInteger),
    Column("decided_operator", String(127)),
    Column("decided_at", UTCDateTime),
    Column("decision_comment", String(255), nullable=False, server_default=""),
    Column("entry_id", BigInteger),
)
Index("ix_approvals_state_expires_at", approvals.c.state, approvals.c.expires_at)

# Amounts above which operations need approval: group_id 0 is the currency-wide default.
approval_thresholds = Table(
    "approval_thresholds",
    metadata,
    Column("currency", String(8), primary_key=True),
    Column("group_id", Integer, primary_key=True, autoincrement=False),
    Column("amount", BigInteger, nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Client request ids per manager: the claim, then the stored response of the applied request.
idempotency_records = Table(
    "idempotency_records",
    metadata,
    Column("scope", String(40), primary_key=True),
    Column("key", String(127), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("token", String(32), nullable=False),
    Column("state", String(8), nullable=False),
    Column("status", Integer),
    Column("body", Text),
    Column("operation_id", String(40)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("lease_until", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    Column("completed_at", UTCDateTime),
)

# Dialect session tokens of managers (cTrader's webservToken): only a hash of the token is
# kept, with a fingerprint of the password verifier it was issued under; a new password
# changes the verifier, and every token issued under the old one stops working.
manager_tokens = Table(
    "manager_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("manager_login", BigInteger, ForeignKey("managers.login"), nullable=False, index=True),
    Column("dialect", String(16), nullable=False),
    Column("verifier_fingerprint", String(64), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
)

# Attributes (key/value metadata, cTrader's trader, trader group and manager attributes): one
# row per name. `folded_name` is str.casefold of the name, for the case-insensitive name filter
# on every engine (casefold may lengthen a name, hence the wider column).
account_attributes = Table(
    "account_attributes",
    metadata,
    Column("login", BigInteger, ForeignKey("accounts.login"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("folded_name", String(255), nullable=False),
    Column("value", String(512), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

group_attributes = Table(
    "group_attributes",
    metadata,
    Column("group_id", Integer, ForeignKey("groups.id"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("folded_name", String(255), nullable=False),
    Column("value", String(512), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

manager_attributes = Table(
    "manager_attributes",
    metadata,
    Column("manager_login", BigInteger, ForeignKey("managers.login"), primary_key=True),
    Column("name", String(64), primary_key=True),
    Column("folded_name", String(255), nullable=False),
    Column("value", String(512), nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Accounts linked to users (cTrader's ctidTraderAccountId is the link's id).
user_links = Table(
    "user_links",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True,
           autoincrement=True),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("environment", String(63), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("partner_id", String(255), nullable=False, server_default=""),  # 0017
)  # fmt: skip

# TraderEvolution's back office. Brandings are the `brokers` table above (a branding's name is
# the white label groups, accounts and users carry). Plans are what user groups' `plan_id`
# names; account presets are settings applied to accounts opened with them.
plans = Table(
    "plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),
    Column("description", String(255), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

account_presets = Table(
    "account_presets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(63), nullable=False, unique=True),
    Column("currency", String(8)),
    Column("currency_digits", Integer),
    Column("leverage", Integer),
    Column("account_type", String(16)),
    Column("swap_free", Boolean),
    Column("description", String(255), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
)

# Users' keys for inbound trading webhooks: the secret is never stored, only its SHA-256.
webhook_keys = Table(
    "webhook_keys",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("name", String(32), nullable=False),
    Column("api_key", String(64), nullable=False, unique=True),
    Column("secret_digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime),
    Column("last_used_at", UTCDateTime),
)

# Back-office sessions (TraderEvolution's access and refresh tokens): only hashes of the
# tokens, the session an access token and its refresh token share, whose they are (a manager's
# login or a user's id) and a fingerprint of the password verifier they were issued under.
# The sign-in lockout's counters (core.access.lockout): per login from an address, per login,
# per address; shared by every process over one database.
auth_failures = Table(
    "auth_failures",
    metadata,
    Column("key", String(280), primary_key=True),
    Column("failures", Integer, nullable=False),
    Column("last_failure_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime),
)
# Attempts of the lockout admitted and still being checked: one row per key, until the check
# ends or `expires_at` (a process that died mid-check).
auth_reservations = Table(
    "auth_reservations",
    metadata,
    Column("key", String(280), primary_key=True),
    Column("token", String(32), primary_key=True),
    Column("expires_at", UTCDateTime, nullable=False),
)

backoffice_tokens = Table(
    "backoffice_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("kind", String(8), nullable=False),
    Column("session_id", String(32), nullable=False, index=True),
    Column("principal", String(8), nullable=False),
    Column("principal_id", BigInteger, nullable=False),
    Column("verifier_fingerprint", String(64), nullable=False),
    Column("issued_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
    # where the session was signed in: "" TraderEvolution's back office, "console" (0020)
    Column("channel", String(8), nullable=False, server_default=""),
)
Index(
    "ix_backoffice_tokens_principal",
    backoffice_tokens.c.principal,
    backoffice_tokens.c.principal_id,
)

# A TraderEvolution user login names one user (users without one keep the empty login).
_LOGIN_SET = Index(
    "uq_users_login_set",
    users.c.login,
    unique=True,
    sqlite_where=users.c.login != "",
)

# The latest bid/ask of each symbol (trading executes at it; margin and P/L convert through it).
quotes = Table(
    "quotes",
    metadata,
    Column("symbol", String(31), primary_key=True),
    Column("bid", DecimalText, nullable=False),
    Column("ask", DecimalText, nullable=False),
    Column("at", UTCDateTime, nullable=False),
    # The manager who set the quote; None: the system (the quotes feed, an operator).
    Column("set_by", BigInteger),
    # people_behind the setter: sorted logins, comma-separated; NULL: set_by alone
    Column("set_people", Text),
)

# Open positions. Volumes in 1/10000 lot; `open_value` = sum of volume x open price points.
positions = Table(
    "positions",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False, index=True),
    Column("symbol", String(31), nullable=False, index=True),
    Column("side", String(4), nullable=False),
    Column("volume", BigInteger, nullable=False),
    Column("open_value", BigInteger, nullable=False),
    Column("digits", Integer, nullable=False),
    Column("contract_size", DecimalText, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("comment", String(63), nullable=False, server_default=""),
    # closed positions are deleted: SQLite must not hand their ids out again
    sqlite_autoincrement=True,
)

# Executions: each is also a ledger entry (same id) carrying its realised P/L to the balance.
deals = Table(
    "deals",
    metadata,
    Column("id", BigInteger, ForeignKey("ledger_entries.id"), primary_key=True),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False),
    Column("position_id", BigInteger, nullable=False, index=True),
    Column("symbol", String(31), nullable=False),
    Column("side", String(4), nullable=False),
    Column("entry", String(8), nullable=False),
    Column("volume", BigInteger, nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("price_position", BigInteger, nullable=False),
    Column("digits", Integer, nullable=False),
    Column("contract_size", DecimalText, nullable=False),
    Column("profit", BigInteger, nullable=False),
    Column("currency", String(8), nullable=False),
    Column("currency_digits", Integer, nullable=False),
    Column("rate_profit", DecimalText, nullable=False),
    Column("opened_at", UTCDateTime, nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("comment", String(63), nullable=False, server_default=""),
    Column("manager_login", BigInteger),
)
Index("ix_deals_login_id", deals.c.login, deals.c.id)


# The outbox: the events of every committed change, in commit order (id), kept for the
# configured retention. `group_name` and `broker` are the account's when the event was written.
events = Table(
    "events",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("audit_id", BigInteger, nullable=False),
    Column("type", String(32), nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("login", BigInteger),
    Column("group_name", String(63)),
    Column("broker", String(63)),
    Column("manager_login", BigInteger),
    Column("key_id", String(32)),
    Column("operator_id", String(127)),
    Column("request_id", String(127)),
    Column("dialect", String(16), nullable=False),
    Column("data", JSON, nullable=False),
)

# Webhook subscriptions: each delivers the events it selects, in id order, from `cursor` on.
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("url", String(2048), nullable=False),
    Column("types", Text, nullable=False, server_default=""),
    Column("group_mask", String(255), nullable=False, server_default="*"),
    Column("secret", String(512), nullable=False),  # sealed: core/events/secrets.py (revision 0023)
    Column("personal_data", Boolean, nullable=False, server_default="0"),
    Column("description", String(255), nullable=False, server_default=""),
    # active | failed (parked: retried for the bounded time, then stopped) | paused
    Column("state", String(16), nullable=False, server_default="active"),
    # The newest event id delivered (or skipped by the filters).
    Column("cursor", BigInteger, nullable=False, server_default="0"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("failing_since", UTCDateTime),
    Column("last_error", String(500), nullable=False, server_default=""),
    # A worker's claim: several server processes never deliver one subscription at once.
    Column("lease_owner", String(64)),
    Column("lease_until", UTCDateTime),
    Column("created_by", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# Each delivery attempt of each subscription (a batch of events, or a test).
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", _BIG_ID, primary_key=True, autoincrement=True),
    Column("subscription_id", Integer, nullable=False),
    Column("at", UTCDateTime, nullable=False, index=True),
    Column("first_event", BigInteger),
    Column("last_event", BigInteger),
    Column("events", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status", Integer),
    Column("ok", Boolean, nullable=False),
    Column("error", String(500), nullable=False, server_default=""),
    Column("duration_ms", Integer, nullable=False),
)
Index("ix_webhook_deliveries_sub", webhook_deliveries.c.subscription_id, webhook_deliveries.c.id)

# Managers' TOTP second factors (core.access.second_factor): the secret sealed with a key derived
# from the audit keyring (never in clear), on or waiting for its first code, and the newest
# step a code was accepted for (no code is accepted twice).
manager_second_factors = Table(
    "manager_second_factors",
    metadata,
    Column(
        "manager_login",
        BigInteger,
        ForeignKey("managers.login"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("sealed_secret", String(200), nullable=False),
    Column("enabled", Boolean, nullable=False),
    Column("last_step", BigInteger),
    Column("created_at", UTCDateTime, nullable=False),
    Column("enabled_at", UTCDateTime),
)
# Recovery codes: hashes only, each usable once.
manager_recovery_codes = Table(
    "manager_recovery_codes",
    metadata,
    Column(
        "manager_login",
        BigInteger,
        ForeignKey("managers.login"),
        primary_key=True,
        autoincrement=False,
    ),
    Column("code_hash", String(64), primary_key=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("used_at", UTCDateTime),
)
# Console sign-ins whose password was right, waiting for the second step: the token's hash,
# the password verifier's fingerprint it was earned under, wrong codes so far, expiry.
second_factor_challenges = Table(
    "second_factor_challenges",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("manager_login", BigInteger, nullable=False, index=True),
    Column("verifier_fingerprint", String(64), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False, index=True),
)
# The risk pass's memory (core/trading/watch.py): the margin state of each account below its
# group's margin-call level (an account without a row is above it), so a crossing is an event
# once; the pass changes a row only from the state it read (several processes emit once).
margin_states = Table(
    "margin_states",
    metadata,
    Column("login", BigInteger, primary_key=True, autoincrement=False),
    # margin_call | stop_out
    Column("state", String(16), nullable=False),
    Column("level", DecimalText, nullable=False),
    Column("changed_at", UTCDateTime, nullable=False),
)


def postgresql_options() -> None:
    """Give the partial indexes their PostgreSQL condition (storage.migrate calls this before
    it compares the schema with a database; queries never need it)."""
    for index, column in ((_EMAIL_SET, users.c.email), (_LOGIN_SET, users.c.login)):
        if "postgresql_where" not in index.dialect_kwargs:
            index.dialect_kwargs["postgresql_where"] = column != ""


# Shared rate limits (GCRA): per limited name (a digest), the theoretical arrival time of the
# next request in microseconds since the epoch; a row whose time has passed is a full allowance.
rate_limits = Table(
    "rate_limits",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("tat_us", BigInteger, nullable=False),
)
