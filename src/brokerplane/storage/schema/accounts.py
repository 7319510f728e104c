"""Trading accounts: the balance row each ledger entry sums into."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from brokerplane.storage.schema.base import metadata
from brokerplane.storage.types import UTCDateTime

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
# The exposure aggregate reads its positions' accounts from this index alone (0025).
Index("ix_accounts_login_group_id_broker", accounts.c.login, accounts.c.group_id, accounts.c.broker)
