"""Users (cTrader's cTID, TraderEvolution's users) and the accounts linked to them."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from brokerplane.storage.schema.base import metadata
from brokerplane.storage.types import UTCDateTime

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

# Accounts linked to users (cTrader's ctidTraderAccountId is the link's id).
user_links = Table(
    "user_links",
    metadata,
    Column(
        "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    ),
    Column("login", BigInteger, ForeignKey("accounts.login"), nullable=False, unique=True),
    Column("user_id", BigInteger, ForeignKey("users.id"), nullable=False, index=True),
    Column("environment", String(63), nullable=False, server_default=""),
    Column("created_at", UTCDateTime, nullable=False),
    Column("partner_id", String(255), nullable=False, server_default=""),  # 0017
)

# A TraderEvolution user login names one user (users without one keep the empty login).
_LOGIN_SET = Index(
    "uq_users_login_set",
    users.c.login,
    unique=True,
    sqlite_where=users.c.login != "",
)


def postgresql_options() -> None:
    """Give the partial indexes their PostgreSQL condition (storage.migrate calls this before
    it compares the schema with a database; queries never need it)."""
    for index, column in ((_EMAIL_SET, users.c.email), (_LOGIN_SET, users.c.login)):
        if "postgresql_where" not in index.dialect_kwargs:
            index.dialect_kwargs["postgresql_where"] = column != ""
