"""Brandings, plans, account presets, webhook keys, back-office session tokens and the user
search of the TraderEvolution back office."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

# How far a signed webhook's own timestamp may be from now (here, not in webhooks.py, so that
# settings can read it without importing the webhook service and all it needs).
REPLAY_WINDOW = timedelta(minutes=5)

# User statuses (seed 004's ruleValue). Only an Unlocked user may sign in, hold a session or
# use a webhook key; every other status makes the user and its accounts unusable.
UNLOCKED = 0
LOCKED = 1
LOCKED_BRUTE_FORCE = 2
NEED_ACTIVATION = 3
EXPIRED = 4
STATUS_NAMES: dict[int, str] = {
    UNLOCKED: "Unlocked",
    LOCKED: "Locked",
    LOCKED_BRUTE_FORCE: "Locked after brute force",
    NEED_ACTIVATION: "Need activation",
    EXPIRED: "Expired",
}

# Kinds of plan a user group may carry ("Any type of plan: Risk plan, Swap plan, etc.").
PLAN_KINDS = ("risk", "swap", "commission", "spread", "rebate", "margin")

# Who a back-office session belongs to: a back-office user (a core Manager) or a TE user.
PRINCIPAL_MANAGER = "manager"
PRINCIPAL_USER = "user"
TOKEN_ACCESS = "access"
TOKEN_REFRESH = "refresh"
# Where a session was signed in: "" the TraderEvolution back office (the password alone), the
# console (the password, and the second factor when the manager has one on). The console takes
# only its own sessions, so a password-only session cannot go around its second factor.
CHANNEL_CONSOLE = "console"


def usable(status: int) -> bool:
    """Whether a user of this status (and so its accounts) may be used."""
    return status == UNLOCKED


@dataclass
class WhiteLabel:
    """A brand (white label): its name is the `broker` of groups, accounts and users, and
    managers' white-label masks match it."""

    id: int
    name: str
    description: str = ""
    created_at: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "description": self.description}


@dataclass
class Plan:
    """A named plan (risk, swap, commission...) a user group refers to by id."""

    id: int
    name: str
    kind: str = "risk"
    description: str = ""
    created_at: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
        }


@dataclass
class AccountPreset:
    """Account settings applied when an account is opened with the preset; a None setting
    leaves the user group's value."""

    id: int
    name: str
    currency: str | None = None
    currency_digits: int | None = None
    leverage: int | None = None
    account_type: str | None = None
    swap_free: bool | None = None
    description: str = ""
    created_at: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("created_at")
        return data


@dataclass
class WebhookKey:
    """A user's key for inbound trading webhooks: `api_key` is public, the secret is shown once
    and only its SHA-256 (`secret_digest`) is kept (see core.backoffice.webhooks)."""

    id: int
    user_id: int
    name: str
    api_key: str
    secret_digest: str
    created_at: datetime | None = None
    expires_at: datetime | None = None
    last_used_at: datetime | None = None

    def snapshot(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "name": self.name,
            "api_key": self.api_key,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


@dataclass(frozen=True)
class BackofficeToken:
    """A stored back-office session token: only its SHA-256, the session (an access token and
    its refresh token share one), whose it is and the password verifier it was issued under."""

    token_hash: str
    kind: str
    session_id: str
    principal: str
    principal_id: int
    verifier_fingerprint: str
    issued_at: datetime
    expires_at: datetime
    channel: str = ""


@dataclass(frozen=True)
class UserSearch:
    """Users by TraderEvolution's filters, in id order, `offset` skipped, at most `limit`.

    `logins` match ignoring case; `group_ids` and `broker` (a branding's name, ignoring case)
    are filters; `reach_group_ids` (users in these groups or in none) and `broker_mask`
    (users under a white label it matches, or under none) are the caller's reach."""

    logins: tuple[str, ...] | None = None
    email: str | None = None
    group_ids: tuple[int, ...] | None = None
    broker: str | None = None
    reach_group_ids: tuple[int, ...] | None = None
    broker_mask: str | None = None
    offset: int = 0
    limit: int = 1000


SERVER_ID = 1


@dataclass(frozen=True)
class Asset:
    id: int
    name: str
    digits: int
