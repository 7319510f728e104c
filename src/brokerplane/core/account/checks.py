"""What every account rule checks and how it loads and saves: the fields a command may set,
an account's validity in its group, the group's currency, the login."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from brokerplane.core.access import reach
from brokerplane.core.account.model import (
    ACCESS_RIGHTS,
    LIMITED_RISK_STRATEGIES,
    RIGHTS_MAX,
    TEXT_LIMITS,
    Account,
)
from brokerplane.core.actor import Actor
from brokerplane.core.attribute import service as attributes
from brokerplane.core.errors import (
    AccountNotFound,
    CurrencyMismatch,
    GroupNotFound,
    LeverageOutOfRange,
    ValidationError,
)
from brokerplane.core.group.model import ACCOUNT_TYPES, MARGIN_MODES, Group
from brokerplane.core.money import currency
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import MAX_LOGIN, Problems

# Fields a command may set on an account, beyond login, group, leverage and passwords.
PROFILE_FIELDS: frozenset[str] = frozenset(TEXT_LIMITS) | {
    "country_id",
    "color",
    "language",
    "agent",
    "client_id",
    "limited_risk",
    "limited_risk_strategy",
    "max_leverage",
    "send_own_statement",
    "send_statement_to_broker",
    "swap_free",
    "limit_orders",
    "limit_positions",
    "api_data",
    "attributes",
    "rights",
    "access_rights",
    "account_type",
    "margin_mode",
    "blank_fields",
}
UPDATABLE_FIELDS: frozenset[str] = PROFILE_FIELDS | {"group", "leverage"}
BLANK_FIELDS_MAX = 255
READ_ONLY_FIELDS: frozenset[str] = frozenset(
    {
        "login",
        "currency",
        "currency_digits",
        "balance",
        "credit",
        "bonus",
        "registered_at",
        "updated_at",
        "last_access",
        "last_ip",
        "last_pass_change",
        "disabled_reason",
        "disabled_at",
        "group_id",
        "enabled",
        "main_password",
        "investor_password",
        "phone_password",
        "api_password",
        "deleted_at",
        "user_id",
    }
)
# The owner is never set as a field: linking proves the account's password (cID `ctid/link`),
# and an account opened for a user (TraderEvolution) is that user's. Unknown and foreign users
# thus meet the same refusal, before any user is looked up.
OWNER_READ_ONLY = (
    "is read-only: link the account to its user with cTrader cID POST /cid/ctid/link (which "
    "proves the account's password), or open it for the user (TraderEvolution POST /accounts)"
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INT_FIELDS = {
    "country_id": (0, 999),
    "color": (0, 0xFFFFFFFF),
    "language": (0, 0xFFFF),
    "agent": (0, MAX_LOGIN),
    "client_id": (0, MAX_LOGIN),
    "limit_orders": (0, 1_000_000),
    "limit_positions": (0, 1_000_000),
    "rights": (0, RIGHTS_MAX),
}
_BOOL_FIELDS = ("limited_risk", "send_own_statement", "send_statement_to_broker", "swap_free")


CHECKABLE_PASSWORDS = ("main", "investor", "api")
PHONE_PASSWORD_MAX = 31


def refuse_unknown_fields(names: set[str], allowed: frozenset[str]) -> None:
    p = Problems()
    for name in sorted(names - allowed):
        if name == "user_id":
            p.add(name, OWNER_READ_ONLY)
        else:
            p.add(name, "is read-only" if name in READ_ONLY_FIELDS else "is not an account field")
    p.raise_if_any()


def validate_account(acc: Account, group: Group) -> None:
    p = Problems()
    for name, limit in TEXT_LIMITS.items():
        value = getattr(acc, name)
        if type(value) is not str or len(value) > limit or "\x00" in value:
            p.text(name, value, limit)  # names the problem; the common good case skips the call
    if isinstance(acc.email, str) and acc.email and not _EMAIL.match(acc.email):
        p.add("email", "is not an email address")
    for name, (low, high) in _INT_FIELDS.items():
        value = getattr(acc, name)
        if value is not None or name != "country_id":
            p.integer(name, value, low, high)
    for name in _BOOL_FIELDS:
        p.boolean(name, getattr(acc, name))
    p.choice("access_rights", acc.access_rights, ACCESS_RIGHTS)
    p.choice("account_type", acc.account_type, ACCOUNT_TYPES)
    p.choice("limited_risk_strategy", acc.limited_risk_strategy, LIMITED_RISK_STRATEGIES)
    if acc.margin_mode is not None:
        p.choice("margin_mode", acc.margin_mode, MARGIN_MODES)
    if acc.max_leverage is not None:
        p.integer("max_leverage", acc.max_leverage, 1, 100_000_000)
    if acc.user_id is not None:
        p.integer("user_id", acc.user_id, 1, MAX_LOGIN)
    if not isinstance(acc.api_data, list) or len(acc.api_data) > 16:
        p.add("api_data", "must be a list of at most 16 cells")
    elif not all(isinstance(c, dict) for c in acc.api_data):
        p.add("api_data", "cells must be objects")
    attributes.check_mapping(p, "attributes", acc.attributes)
    if type(acc.blank_fields) is not str or len(acc.blank_fields) > BLANK_FIELDS_MAX:
        p.text("blank_fields", acc.blank_fields, BLANK_FIELDS_MAX)
    elif acc.blank_fields and not set(acc.blank_fields.split(",")) <= TEXT_LIMITS.keys():
        p.add("blank_fields", "must name text fields of the profile, comma-separated")
    p.raise_if_any()
    if isinstance(acc.leverage, bool) or not isinstance(acc.leverage, int):
        raise LeverageOutOfRange.field("leverage", "must be an integer")
    if not 1 <= acc.leverage <= group.max_leverage:
        raise LeverageOutOfRange.field(
            "leverage", f"must be between 1 and {group.max_leverage} (group {group.name})"
        )


def load_group(uow: UnitOfWork, name: Any, field_name: str = "group") -> Group:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError.field(field_name, "is required")
    group = uow.groups.get(name.strip())
    if group is None:
        raise GroupNotFound(name)
    return group


def check_group_currency(
    group: Group, code: str, login: int | None, *, currency_free_groups: bool
) -> None:
    """The one rule for an account's currency and its group, on opening and on every move.

    MT4/MT5-style planes (native, MT5, TraderEvolution) give a group one deposit currency:
    an account is in its group's currency, opened there or moved there. cTrader's groups have
    no currency (a trader's `depositCurrency` is its own, spec section 13): with
    `currency_free_groups` any currency a server knows may be in any group, on creation and
    on a move alike, and the account keeps its currency when it moves."""
    if currency_free_groups:
        return
    if currency(group.currency, group.currency_digits).code != code:
        who = f"account {login}" if login else "the account"
        raise CurrencyMismatch.field(
            "group", f"group {group.name} is in {group.currency}; {who} is in {code}"
        )


# --- attributes: one store for every dialect ---------------------------------------------------
# An account's attributes live in the attribute store (core.attribute; cTrader's trader
# attributes), not in the account row: the native API's `attributes` object and cTrader's
# attribute calls read and write the same name/value pairs.


def save_account(uow: UnitOfWork, acc: Account) -> None:
    """Write the account row; its attributes are kept in the store, never in the row."""
    uow.accounts.update(replace(acc, attributes={}))


def with_attributes(uow: UnitOfWork, accounts: list[Account]) -> list[Account]:
    """The accounts with their attributes filled in from the store (one read for all)."""
    found = attributes.mappings(uow, "account", [a.login for a in accounts])
    for acc in accounts:
        acc.attributes = found.get(acc.login, {})
    return accounts


def check_login(login: object, field: str = "login") -> int:
    """A login every dialect accepts: an integer from 1 to 2^63-1."""
    if isinstance(login, bool) or not isinstance(login, int) or not 1 <= login <= MAX_LOGIN:
        raise ValidationError.field(field, f"must be between 1 and {MAX_LOGIN}")
    return login


def load_account(uow: UnitOfWork, login: int, actor: Actor, *, for_update: bool = False) -> Account:
    """The account, if it exists and is within the actor's reach (else AccountNotFound)."""
    acc = uow.accounts.get(check_login(login), for_update=for_update)
    if acc is None:
        raise AccountNotFound(login)
    return with_attributes(uow, [reach.check_account(actor, acc)])[0]


def check_phone_password(value: Any) -> None:
    p = Problems()
    p.text("phone_password", value, PHONE_PASSWORD_MAX)
    p.raise_if_any()
