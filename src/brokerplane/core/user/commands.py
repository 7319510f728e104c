"""The user commands and what they answer: create, change email, link or assign an account,
update the profile; cID's partner attribution and in-app controls."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from brokerplane.core.actor import needs
from brokerplane.core.user.model import User, UserLink


@needs("users:write")
@dataclass(frozen=True)
class CreateUser:
    email: str
    broker: str = ""
    first_name: str = ""
    last_name: str = ""
    language: str = ""
    # The nickname asked for: used when valid and free, else derived (see `create_user`).
    nickname: str | None = None
    # Where a nickname comes from when none is asked for: "user_id" (ctid<id>, classic cTID)
    # or "email" (the email's local part when free, else ctid<id>, cTID SSO).
    nickname_source: str = "user_id"
    # What an email already in use gives: "error" (EmailAlreadyExists) or "existing".
    if_exists: str = "error"


@dataclass(frozen=True)
class CreatedUser:
    user: User
    created: bool


@needs("users:write")
@dataclass(frozen=True)
class ChangeEmail:
    user_id: int
    email: str


@needs("users:write")
@dataclass(frozen=True)
class LinkAccount:
    """Make the user the owner of the account, proven by the account's password MD5."""

    user_id: int
    login: int
    password_md5: str
    environment: str = ""
    # The white label the caller believes the account is under; checked when given.
    broker: str | None = None


@dataclass(frozen=True)
class Linked:
    link: UserLink
    created: bool


@needs("users:write")
@dataclass(frozen=True)
class UpdateProfile:
    """A user's name, language and email (MT5's `client/update`): None keeps a field; an email
    given empty keeps it too (a manager without `personal_data` reads it blank and may send
    the record back as it read it)."""

    user_id: int
    first_name: str | None = None
    last_name: str | None = None
    language: str | None = None
    email: str | None = None


@needs("users:write")
@dataclass(frozen=True)
class AssignAccount:
    """Make the user the account's owner on a manager's word (MT5's `client/user/add`): the
    manager must reach both; no password is asked, as a manager who reaches the account may
    set its password anyway. An account owned by another user is refused (unlink it there
    first)."""

    user_id: int
    login: int


@needs("users:delete")
@dataclass(frozen=True)
class DeleteUser:
    """Delete a user who owns no account and has none linked (MT5's `client/delete`): the
    scope of deleting an account."""

    user_id: int


@needs("users:write")
@dataclass(frozen=True)
class SetInAppControls:
    """Replace the user's in-app controls with `rules` ({} clears every control)."""

    user_id: int
    rules: dict[str, Any]


@needs("users:write")
@dataclass(frozen=True)
class SetPartner:
    """Attribute the user (or, with `link_id`, one of the user's trading accounts) to
    `partner_id`; "" removes the attribution."""

    user_id: int | None
    partner_id: str
    link_id: int | None = None


@dataclass(frozen=True)
class Partner:
    user_id: int
    link_id: int | None
    partner_id: str


@needs("users:read")
@dataclass(frozen=True)
class ReadUser:
    """One user by id: the user, its history, its cID partner and in-app controls, the
    TraderEvolution user with its accounts."""

    user_id: int
