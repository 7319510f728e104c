"""The core's closed vocabularies as enums: ledger entry kinds, the figures they move, the money
operations a caller may ask for, and the dialects a request comes through.

Each is an `enum.StrEnum`: a member is the very string the wire, the database and the audit
chain have always carried (`EntryKind.DEPOSIT == "deposit"`, JSON-encoded as `"deposit"`), so
naming them changes no stored or sent byte; a plain string read back from storage compares
equal to its member.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Figure(StrEnum):
    """The account figures money moves."""

    BALANCE = "balance"
    CREDIT = "credit"
    BONUS = "bonus"


class EntryKind(StrEnum):
    """What a ledger entry is (core.ledger.model.KINDS says which figure it moves, which way)."""

    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    CREDIT_IN = "credit_in"
    CREDIT_OUT = "credit_out"
    BONUS_IN = "bonus_in"
    BONUS_OUT = "bonus_out"
    CORRECTION = "correction"
    CHARGE = "charge"
    TRADE = "trade"  # a deal's realised profit or loss: only trading posts it


class Operation(StrEnum):
    """A money operation a caller asks for: an entry kind (not `trade`), or `credit`/`bonus`
    whose direction is the amount's sign."""

    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    CREDIT_IN = "credit_in"
    CREDIT_OUT = "credit_out"
    BONUS_IN = "bonus_in"
    BONUS_OUT = "bonus_out"
    CORRECTION = "correction"
    CHARGE = "charge"
    CREDIT = "credit"
    BONUS = "bonus"


# An operation spelled as its text, as callers that build a command from a literal write it.
OperationName = Literal[
    "deposit",
    "withdrawal",
    "credit_in",
    "credit_out",
    "bonus_in",
    "bonus_out",
    "correction",
    "charge",
    "credit",
    "bonus",
]


class Dialect(StrEnum):
    """Where a request came from, as audit records and events name it."""

    NATIVE = "native"
    MT5 = "mt5"
    CTRADER = "ctrader"
    TRADEREVOLUTION = "traderevolution"
    CONSOLE = "console"
    CLI = "cli"
    SYSTEM = "system"


# The dialects that serve an API (the rest name the console, the command line and the server).
API_DIALECTS: tuple[Dialect, ...] = (
    Dialect.NATIVE,
    Dialect.MT5,
    Dialect.CTRADER,
    Dialect.TRADEREVOLUTION,
)
