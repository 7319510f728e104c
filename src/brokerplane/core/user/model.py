"""The User: a person or CRM identity that owns accounts (cTID user, TraderEvolution user)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

# TraderEvolution user statuses (seed 004 ruleValue); cTID users start as CTID_NEW.
USER_STATUSES = {
    0: "UNLOCKED",
    1: "LOCKED",
    2: "LOCKED_BRUTE_FORCE",
    3: "NEED_ACTIVATION",
    4: "EXPIRED",
}
# A deleted user (MT5's `client/delete`, TE's `DELETE /users/{id}`): kept as a row so its id
# is never given again and its audit trail stays its own, with its email, login and nickname
# cleared (free for a new user); no read, listing or sign-in finds it. Never one of the
# statuses a caller may set.
DELETED = 9


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
    agreement_accepted_at: datetime | None = None
    logged_out_at: datetime | None = None
    failed_logins: int = 0
    # cID: the in-app controls (ribbons) rules as last set (None: never), and the partner id
    # attributed at the user level ("" : none).
    in_app_controls: dict[str, Any] | None = None
    partner_id: str = ""

    def snapshot(self) -> dict[str, Any]:
        """The user as an audit record shows it: never the password verifier."""
        data = asdict(self)
        data["password"] = "set" if self.password else ""
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return data


@dataclass
class UserLink:
    """An account linked to a user (cTrader's ctidTraderAccountId is its id)."""

    id: int
    user_id: int
    login: int
    environment: str = ""
    created_at: datetime | None = None
    partner_id: str = ""  # the partner id attributed at the trading-account level


@dataclass(frozen=True)
class UserQuery:
    email: str | None = None
    nickname: str | None = None
    ids: tuple[int, ...] | None = None
    # Reach: users in these groups or in no group (None: any), under white labels matching
    # this mask or under none (None: any).
    group_ids: tuple[int, ...] | None = None
    broker_mask: str | None = None
    after_id: int | None = None
    limit: int = 1000
