"""The User: a person or CRM identity that owns accounts (cTID user, TraderEvolution user)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

# TraderEvolution user statuses (seed 004 ruleValue); cTID users start as CTID_NEW.
USER_STATUSES = {0: "UNLOCKED", 1: "LOCKED", 2: "LOCKED_BRUTE_FORCE", 3: "NEED_ACTIVATION",
                 4: "EXPIRED"}  # fmt: skip


@dataclass
class User:
    id: int
    email: str
    login: str = ""
    first_name: str = ""
    last_name: str = ""
    nickname: str = ""
    language: str = ""
    status: int = 0
    group_id: int | None = None
    broker: str = ""
    password: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
