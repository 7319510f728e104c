"""Managers' second factors: TOTP secrets, recovery codes, pending sign-ins."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Integer,
    String,
    Table,
)

from brokerplane.storage.schema.base import metadata
from brokerplane.storage.types import UTCDateTime

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
