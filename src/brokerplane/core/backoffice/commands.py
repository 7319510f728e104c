"""The back-office commands (TraderEvolution) and what they answer: sessions, brandings, plans,
presets and user groups, users and their accounts, webhook keys and webhook orders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from brokerplane.core.account.model import Account
from brokerplane.core.actor import needs
from brokerplane.core.backoffice.model import WebhookKey
from brokerplane.core.money import Number
from brokerplane.core.trading.commands import Execution
from brokerplane.core.trading.model import Risk
from brokerplane.core.user.model import User

MAX_PAGE = 1000

WRONG_CREDENTIALS = "wrong login or password"


@needs()
@dataclass(frozen=True)
class SignIn:
    """`login` as sent (a number or a string); lifetimes and the lock count come from the
    server's settings."""

    login: object
    password: object
    access_ttl: timedelta
    refresh_ttl: timedelta


@needs()
@dataclass(frozen=True)
class RefreshSession:
    refresh_token: str
    access_ttl: timedelta
    refresh_ttl: timedelta


@dataclass(frozen=True)
class TokenPair:
    access_token: str
    refresh_token: str
    access_ttl: timedelta
    refresh_ttl: timedelta
    principal: str
    principal_id: int


@dataclass(frozen=True)
class SignInOutcome:
    """A sign-in's result: a pair, or why not (a failure is committed too: it counts)."""

    pair: TokenPair | None
    reason: str = WRONG_CREDENTIALS


@needs("admin")
@dataclass(frozen=True)
class CreateWhiteLabel:
    name: str
    description: str = ""


@needs("admin")
@dataclass(frozen=True)
class CreatePlan:
    name: str
    kind: str = "risk"
    description: str = ""


@needs("admin")
@dataclass(frozen=True)
class CreatePreset:
    name: str
    currency: str | None = None
    leverage: int | None = None
    account_type: str | None = None
    swap_free: bool | None = None
    description: str = ""


@needs("admin")
@dataclass(frozen=True)
class CreateUserGroup:
    """A user group: currency None is the server currency; a branding or plan by id."""

    name: str
    currency: str | None = None
    branding_id: int | None = None
    plan_id: int | None = None
    description: str = ""
    default_leverage: int | None = None
    max_leverage: int | None = None


@needs("users:read")
@dataclass(frozen=True)
class GroupFilter:
    branding_id: int | None = None
    name: str | None = None
    plan_id: int | None = None
    server_id: int | None = None
    offset: int = 0
    limit: int = MAX_PAGE


@dataclass(frozen=True)
class NewAccount:
    """An account to open for a user: its name, and the preset to apply (if any)."""

    name: str
    preset_id: int | None = None


@needs("users:write")
@dataclass(frozen=True)
class OpenUser:
    """Seed 004's Create User: the user, its group, and at least one account."""

    login: str
    password: str
    email: str
    group_id: int
    first_name: str = ""
    last_name: str = ""
    accounts: tuple[NewAccount, ...] = ()


@dataclass(frozen=True)
class UserWithAccounts:
    user: User
    accounts: list[Account]


@needs("users:write")
@dataclass(frozen=True)
class AddAccount:
    """POST /accounts: one more account for a user, in the user's group."""

    user_id: int
    account: NewAccount


@needs("users:read")
@dataclass(frozen=True)
class UserFilter:
    """GET /users: every filter given must match; logins are a list (any of them)."""

    branding_id: int | None = None
    email: str | None = None
    logins: tuple[str, ...] | None = None
    plan_id: int | None = None
    group_id: int | None = None
    offset: int = 0
    limit: int = MAX_PAGE


@needs("users:write")
@dataclass(frozen=True)
class UpdateUser:
    """PATCH /users/{id}: move to another user group and/or set the status (ruleValue)."""

    user_id: int
    group_id: int | None = None
    status: int | None = None


@needs("users:write")
@dataclass(frozen=True)
class ChangeUserPassword:
    user_id: int
    password: str


@needs("users:write")
@dataclass(frozen=True)
class ResetUserPassword:
    """A new random password for the user (its accounts' too), answered once."""

    user_id: int


@dataclass(frozen=True)
class PasswordReset:
    user: User
    password: str


@needs("users:delete")
@dataclass(frozen=True)
class DeleteUser:
    user_id: int


WEBHOOK_NAME_MAX = 32


ACTIONS = ("buy", "sell", "close")


@needs("users:write")
@dataclass(frozen=True)
class CreateWebhookKey:
    """`as_user`: the signed-in TE user acting for itself (None: a back-office user)."""

    user_id: int
    name: str | None = None
    expires_at: datetime | None = None
    as_user: int | None = None


@dataclass(frozen=True)
class IssuedWebhookKey:
    """A new key: `secret` is shown once and never stored."""

    key: WebhookKey
    secret: str


@needs("users:read")
@dataclass(frozen=True)
class ListWebhookKeys:
    """A user's keys (`user_id`), or, for a back-office user naming none, every key of the
    users within its reach."""

    user_id: int | None = None
    as_user: int | None = None


@needs("users:write")
@dataclass(frozen=True)
class DeleteWebhookKey:
    key_id: int
    as_user: int | None = None


@dataclass(frozen=True)
class WebhookIdentity:
    key: WebhookKey
    user: User
    needs_touch: bool


@dataclass(frozen=True)
class WebhookProof:
    """How an inbound webhook proves its key: the HMAC-SHA256 `signature` of the raw `body`
    (keyed with SHA-256 of the secret, hex, an optional `sha256=` before it), else the key's
    `secret` itself; neither given is a refusal."""

    body: bytes
    signature: str | None = None
    secret: str | None = None


@needs()
@dataclass(frozen=True)
class WebhookOrder:
    """An order placed through webhook key `api_key`, whose secret or signature the caller
    has checked: buy or sell `volume` lots of `symbol`, or close every position of `symbol`
    ("close"), on account `login` of the key's user (None: the user's first account, by
    login). `sent_at`, the time the sender put in what it signed, must be within REPLAY_WINDOW of
    now; `webhook_id`, the sender's id in the same signed body, is what the caller claimed to
    apply the order at most once (both are required: a replay is refused or answered with the
    first answer, never executed again)."""

    api_key: str
    action: str
    symbol: str
    volume: Number | None = None
    login: int | None = None
    comment: str = ""
    sent_at: datetime | None = None
    webhook_id: str = ""


@dataclass(frozen=True)
class WebhookFill:
    """What a webhook order did: the key, the account, each execution in order."""

    key: WebhookKey
    account: Account
    executions: tuple[Execution, ...]

    @property
    def risk(self) -> Risk:
        """The account's figures after the order."""
        return self.executions[-1].risk


@needs("users:read")
@dataclass(frozen=True)
class ReadWhiteLabel:
    """One white label (a TraderEvolution branding) by id."""

    branding_id: int
