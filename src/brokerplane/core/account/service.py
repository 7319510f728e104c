"""Account commands (open, update, disable, enable, delete, passwords) and reads, with their
rules."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from brokerplane.core import attributes, masks, passwords
from brokerplane.core.access import reach
from brokerplane.core.account.model import (
    ACCESS_RIGHTS,
    LIMITED_RISK_STRATEGIES,
    PASSWORD_KINDS,
    RIGHT_ENABLED,
    RIGHTS_MAX,
    TEXT_LIMITS,
    Account,
    AccountQuery,
)
from brokerplane.core.actor import Actor
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.audit.service import record
from brokerplane.core.backoffice.model import usable
from brokerplane.core.clock import Clock
from brokerplane.core.config import CoreConfig
from brokerplane.core.errors import (
    AccountNotFound,
    Conflict,
    CurrencyMismatch,
    FieldError,
    GroupNotFound,
    LeverageOutOfRange,
    LoginAlreadyExists,
    LoginRangeExhausted,
    PasswordPolicyViolation,
    ValidationError,
)
from brokerplane.core.group.model import ACCOUNT_TYPES, MARGIN_MODES, Group
from brokerplane.core.money import currency
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.validate import MAX_LOGIN, Problems

# Fields a command may set on an account, beyond login, group, leverage and passwords.
PROFILE_FIELDS: frozenset[str] = frozenset(TEXT_LIMITS) | {
    "country_id", "color", "language", "agent", "client_id", "limited_risk",
    "limited_risk_strategy", "max_leverage", "send_own_statement", "send_statement_to_broker",
    "swap_free", "limit_orders", "limit_positions", "api_data", "attributes", "rights",
    "access_rights", "account_type", "margin_mode", "blank_fields",
}  # fmt: skip
UPDATABLE_FIELDS: frozenset[str] = PROFILE_FIELDS | {"group", "leverage"}
BLANK_FIELDS_MAX = 255
READ_ONLY_FIELDS: frozenset[str] = frozenset({
    "login", "currency", "currency_digits", "balance", "credit", "bonus", "registered_at",
    "updated_at", "last_access", "last_ip", "last_pass_change", "disabled_reason",
    "disabled_at", "group_id", "enabled", "main_password", "investor_password",
    "phone_password", "api_password", "deleted_at", "user_id",
})  # fmt: skip
# The owner is never set as a field: linking proves the account's password (cID `ctid/link`),
# and an account opened for a user (TraderEvolution) is that user's. Unknown and foreign users
# thus meet the same refusal, before any user is looked up.
OWNER_READ_ONLY = (
    "is read-only: link the account to its user with cTrader cID POST /cid/ctid/link (which "
    "proves the account's password), or open it for the user (TraderEvolution POST /accounts)"
)

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_INT_FIELDS = {
    "country_id": (0, 999), "color": (0, 0xFFFFFFFF), "language": (0, 0xFFFF),
    "agent": (0, MAX_LOGIN), "client_id": (0, MAX_LOGIN), "limit_orders": (0, 1_000_000),
    "limit_positions": (0, 1_000_000), "rights": (0, RIGHTS_MAX),
}  # fmt: skip
_BOOL_FIELDS = ("limited_risk", "send_own_statement", "send_statement_to_broker", "swap_free")


@dataclass(frozen=True)
class OpenAccount:
    """Open a trading account in `group`; login 0 or None allocates one from the range."""

    group: str
    leverage: int | None = None
    name: str = ""
    login: int | None = None
    currency: str | None = None
    main_password: str | None = None
    investor_password: str | None = None
    phone_password: str | None = None
    main_password_md5: str | None = None
    profile: dict[str, Any] = field(default_factory=dict)
    # MT5 user/add: the main and investor passwords must both be given.
    require_passwords: bool = False
    # The user the account is opened for; set only by the user services, which load the user
    # within reach first (never from a request's fields: `user_id` is read-only there).
    owner_id: int | None = None
    # The dialect's groups carry no currency (cTrader): see check_group_currency.
    currency_free_groups: bool = False


@dataclass(frozen=True)
class UpdateAccount:
    login: int
    changes: dict[str, Any]
    # MT5 user/update: names that are not updatable fields, values that would be invalid, and
    # (without personal_data) the contact fields, are left out silently instead of refusing the
    # whole change. A group that does not exist, is out of reach or in another currency is
    # still refused.
    skip_invalid: bool = False
    # A new phone password ("" removes it); other passwords change through ChangePassword.
    phone_password: str | None = None
    # cTrader's full update carries the main password's MD5: set in the same transaction when
    # it is not the current one.
    main_password_md5: str | None = None
    # The dialect's groups carry no currency (cTrader): see check_group_currency.
    currency_free_groups: bool = False


@dataclass(frozen=True)
class DisableAccount:
    login: int
    reason: str = ""


@dataclass(frozen=True)
class EnableAccount:
    login: int


@dataclass(frozen=True)
class DeleteAccount:
    """Delete an account: it reads as not found from then on, everywhere; its row, ledger and
    audit records stay, and its login is never handed out again."""

    login: int


@dataclass(frozen=True)
class CheckPassword:
    """Whether `password` is the account's password of `kind` (main, investor or api)."""

    login: int
    kind: str
    password: str
    # cTrader sends the MD5 hex of the password, never the password itself.
    hashed: bool = False


@dataclass(frozen=True)
class ChangePassword:
    """Set the account's password of `kind` (main, investor or api). With `hashed`, the
    password is its MD5 as cTrader sends it: no policy can judge it, only its form."""

    login: int
    kind: str
    password: str
    hashed: bool = False


CHECKABLE_PASSWORDS = ("main", "investor", "api")
PHONE_PASSWORD_MAX = 31

# ApiData (seed 002): at most 16 cells; each names AppID and ID and holds one value whose type is
# the LAST of ValueInt, ValueUInt, ValueDouble present, looked for in that order.
API_DATA_CELLS = 16
API_APP_ID_MAX = 0xFFFF
API_ID_MAX = 0xFF
_API_INT = (-(2**63), 2**63 - 1)
_API_UINT = (0, 2**64 - 1)
API_VALUE_FIELDS = {"valueint": "ValueInt", "valueuint": "ValueUInt", "valuedouble": "ValueDouble"}


def _cell_int(value: Any, low: int, high: int, what: str) -> int:
    if isinstance(value, bool):
        raise ValidationError.field("api_data", f"{what} must be an integer")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise ValidationError.field("api_data", f"{what} must be an integer") from None
    if not isinstance(value, int) or not low <= value <= high:
        raise ValidationError.field("api_data", f"{what} must be an integer from {low} to {high}")
    return value


def _cell_double(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValidationError.field("api_data", f"{what} must be a number")
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        raise ValidationError.field("api_data", f"{what} must be a number") from None
    if not math.isfinite(number):
        raise ValidationError.field("api_data", f"{what} must be a finite number")
    return number


def normalize_api_data(cells: Any) -> list[dict[str, Any]]:
    """ApiData cells as MT5 clients send them (seed 002), in the one shape they are stored in:
    {AppID, ID, <value field>: value}, the value field being the LAST of ValueInt, ValueUInt,
    ValueDouble present (looked for in that order) and the only one kept, so the type survives
    a read and a write back. Keys match whatever their case or `_`; empty cells (AppID and ID
    0, no value or 0) are dropped, so the 16 cells read back and sent again store the same."""
    if not isinstance(cells, list):
        raise ValidationError.field("api_data", "must be a list of cells")
    out: list[dict[str, Any]] = []
    for n, raw in enumerate(cells):
        if not isinstance(raw, dict):
            raise ValidationError.field("api_data", "cells must be objects")
        cell = {str(k).lower().replace("_", ""): v for k, v in raw.items()}
        where = f"cell {n}"
        app_id = _cell_int(cell.get("appid", 0), 0, API_APP_ID_MAX, f"{where}: AppID")
        cell_id = _cell_int(cell.get("id", 0), 0, API_ID_MAX, f"{where}: ID")
        kind = None
        for key in ("valueint", "valueuint", "valuedouble"):
            if cell.get(key) is not None:
                kind = key
        value: int | float = 0
        if kind == "valueint":
            value = _cell_int(cell[kind], *_API_INT, f"{where}: ValueInt")
        elif kind == "valueuint":
            value = _cell_int(cell[kind], *_API_UINT, f"{where}: ValueUInt")
        elif kind == "valuedouble":
            value = _cell_double(cell[kind], f"{where}: ValueDouble")
        if not app_id and not cell_id and not value:
            continue  # an empty slot
        if kind is None:
            raise ValidationError.field(
                "api_data", f"{where}: needs one of ValueInt, ValueUInt, ValueDouble"
            )
        out.append({"AppID": app_id, "ID": cell_id, API_VALUE_FIELDS[kind]: value})
    if len(out) > API_DATA_CELLS:
        raise ValidationError.field("api_data", f"must be a list of at most {API_DATA_CELLS} cells")
    return out


def _field_names_problem(names: set[str], allowed: frozenset[str]) -> None:
    p = Problems()
    for name in sorted(names - allowed):
        if name == "user_id":
            p.add(name, OWNER_READ_ONLY)
        else:
            p.add(name, "is read-only" if name in READ_ONLY_FIELDS else "is not an account field")
    p.raise_if_any()


def _check(acc: Account, group: Group) -> None:
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


def _group(uow: UnitOfWork, name: Any, field_name: str = "group") -> Group:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError.field(field_name, "is required")
    group = uow.groups.get(name.strip())
    if group is None:
        raise GroupNotFound(name)
    return group


def _allocate(uow: UnitOfWork, group: Group, config: CoreConfig) -> int:
    if group.login_range_from is not None and group.login_range_to is not None:
        low, high = group.login_range_from, group.login_range_to
    else:
        low, high = config.login_range_from, config.login_range_to
    login = uow.accounts.allocate_login(low, high)
    if login is None:
        raise LoginRangeExhausted(low, high)
    return login


def open_account(
    uow: UnitOfWork, cmd: OpenAccount, actor: Actor, clock: Clock, config: CoreConfig
) -> Account:
    actor.require("users:write")
    _field_names_problem(set(cmd.profile), PROFILE_FIELDS)
    group = reach.check_group(actor, _group(uow, cmd.group))
    acc = _checked_opening(cmd, actor, group)
    if cmd.login not in (None, 0):
        login = check_login(cmd.login)
        if uow.accounts.exists(login):
            raise LoginAlreadyExists(login)
    else:
        login = _allocate(uow, group, config)
    now = clock()
    _set_login_and_passwords(acc, cmd, login, now)
    uow.accounts.add(replace(acc, attributes={}))
    attributes.store_mapping(uow, "account", login, {}, acc.attributes, now)
    record(uow, actor, now, "account.opened", "account", login, None, acc.snapshot())
    return reach.redact(actor, acc)


def open_accounts(
    uow: UnitOfWork, cmds: Sequence[OpenAccount], actor: Actor, clock: Clock, config: CoreConfig
) -> list[Account]:
    """Open many accounts in one transaction: each command is checked, allocated a login and
    audited as `open_account` does, and the rows are written together. Any refusal refuses
    the whole batch. Logins are the ones opening the accounts one by one would allocate."""
    actor.require("users:write")
    groups: dict[str, Group] = {}
    runs: dict[tuple[int, int], int] = {}  # a login range -> its next free login, in a run
    taken: set[int] = set()
    pending: list[tuple[Account, datetime]] = []

    def flush() -> None:
        # The attributes live in their own store (below); most accounts open without any.
        uow.accounts.add_many(
            [replace(a, attributes={}) if a.attributes else a for a, _ in pending]
        )
        for acc, at in pending:
            attributes.store_mapping(uow, "account", acc.login, {}, acc.attributes, at)
        pending.clear()

    opened: list[Account] = []
    for cmd in cmds:
        _field_names_problem(set(cmd.profile), PROFILE_FIELDS)
        group = groups.get(cmd.group) if isinstance(cmd.group, str) else None
        if group is None:
            group = reach.check_group(actor, _group(uow, cmd.group))
            groups[cmd.group] = group
        acc = _checked_opening(cmd, actor, group)
        if cmd.login not in (None, 0):
            login = check_login(cmd.login)
            if login in taken or uow.accounts.exists(login):
                raise LoginAlreadyExists(login)
        else:
            login = _next_in_run(uow, group, config, runs, taken, flush)
        taken.add(login)
        now = clock()
        _set_login_and_passwords(acc, cmd, login, now)
        pending.append((acc, now))
        record(uow, actor, now, "account.opened", "account", login, None, acc.snapshot())
        opened.append(reach.redact(actor, acc))
    flush()
    return opened


def _next_in_run(
    uow: UnitOfWork, group: Group, config: CoreConfig, runs: dict[tuple[int, int], int],
    taken: set[int], flush: Callable[[], None],
) -> int:  # fmt: skip
    """The login `_allocate` would give once the batch so far is stored. While the top of the
    range is free, every login above the highest used is free too, so they are handed out in
    a run with one read; otherwise (or when the run reaches the top) one allocation each."""
    if group.login_range_from is not None and group.login_range_to is not None:
        span = (group.login_range_from, group.login_range_to)
    else:
        span = (config.login_range_from, config.login_range_to)
    candidate = runs.pop(span, None)
    if candidate is None:
        flush()  # the allocation reads the stored logins
        candidate = _allocate(uow, group, config)
        if uow.accounts.exists(span[1]):
            return candidate  # gaps only: the next one is allocated after this is stored
    while candidate in taken:
        candidate += 1
    if candidate > span[1]:
        flush()
        return _allocate(uow, group, config)
    runs[span] = candidate + 1
    return candidate


def check_group_currency(group: Group, code: str, login: int | None,
                         *, currency_free_groups: bool) -> None:  # fmt: skip
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


def _checked_opening(cmd: OpenAccount, actor: Actor, group: Group) -> Account:
    """The account `cmd` would open in `group` (login not yet set), every rule checked."""
    leverage = group.default_leverage if cmd.leverage is None else cmd.leverage
    cur = (
        currency(cmd.currency) if cmd.currency else currency(group.currency, group.currency_digits)
    )
    check_group_currency(group, cur.code, cmd.login,
                         currency_free_groups=cmd.currency_free_groups)  # fmt: skip
    profile = dict(cmd.profile)
    if cmd.name and profile.get("name", cmd.name) != cmd.name:
        raise ValidationError.field("name", "is given twice with different values")
    profile.setdefault("name", cmd.name)  # `name` is a profile field too; either place will do
    profile.setdefault("rights", group.default_rights)
    profile.setdefault("account_type", group.default_account_type)
    profile.setdefault("broker", group.broker)
    acc = Account(
        login=0,
        group_id=group.id,
        group=group.name,
        currency=cur.code,
        currency_digits=cur.digits,
        leverage=leverage,
        user_id=cmd.owner_id,
        **profile,
    )
    _check(acc, group)
    reach.check_broker(actor, group, acc.broker)
    for pw_field in ("main_password", "investor_password"):
        value = getattr(cmd, pw_field)
        if value is not None:
            passwords.check_policy(value, pw_field, group.password_min_length)
        elif cmd.require_passwords and not (pw_field == "main_password" and cmd.main_password_md5):
            raise PasswordPolicyViolation.field(pw_field, "is required")
    if cmd.phone_password is not None:
        _check_phone_password(cmd.phone_password)
    if cmd.main_password_md5 is not None:
        passwords.check_md5_form(cmd.main_password_md5, "main_password")
    return acc


def _set_login_and_passwords(acc: Account, cmd: OpenAccount, login: int, now: datetime) -> None:
    acc.login = login
    acc.registered_at = acc.updated_at = now
    if cmd.main_password is not None:
        acc.main_password = passwords.make_verifier(cmd.main_password)
        acc.last_pass_change = now
    elif cmd.main_password_md5 is not None:
        acc.main_password = passwords.verifier_from_md5(cmd.main_password_md5)
        acc.last_pass_change = now
    if cmd.investor_password is not None:
        acc.investor_password = passwords.make_verifier(cmd.investor_password)
    if cmd.phone_password:
        acc.phone_password = passwords.make_verifier(cmd.phone_password)


# --- attributes: one store for every dialect ---------------------------------------------------
# An account's attributes live in the attribute store (core.attributes; cTrader's trader
# attributes), not in the account row: the native API's `attributes` object and cTrader's
# attribute calls read and write the same name/value pairs.


def _save(uow: UnitOfWork, acc: Account) -> None:
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


def _load(uow: UnitOfWork, login: int, actor: Actor, *, for_update: bool = False) -> Account:
    """The account, if it exists and is within the actor's reach (else AccountNotFound)."""
    acc = uow.accounts.get(check_login(login), for_update=for_update)
    if acc is None:
        raise AccountNotFound(login)
    return with_attributes(uow, [reach.check_account(actor, acc)])[0]


def _check_phone_password(value: Any) -> None:
    p = Problems()
    p.text("phone_password", value, PHONE_PASSWORD_MAX)
    p.raise_if_any()


def _valid_changes(base: Account, changes: dict[str, Any], group: Group) -> dict[str, Any]:
    """The changes that keep the account valid, each tried on top of those kept before it
    (leverage first, so a new leverage that fits is not judged by the old one)."""
    kept: dict[str, Any] = {}
    for name in sorted(changes, key=lambda n: n != "leverage"):
        value = changes[name]
        try:
            _check(replace(base, **kept, **{name: value}), group)
        except ValidationError:
            continue
        kept[name] = value
    return kept


def _unseen_kept(actor: Actor, changes: dict[str, Any]) -> dict[str, Any]:
    """Without `personal_data` the contact fields read blank, so a blank one in an update (a
    cTrader full update resets what it omits; a read-modify-write sends back what it read) is
    what the caller saw, not a change: the field keeps its value. A value is still stored
    (such a writer may record contacts it then reads back blank)."""
    if actor.has("personal_data"):
        return changes
    return {
        name: value
        for name, value in changes.items()
        if name not in reach.PERSONAL_FIELDS or value not in ("", None)
    }


def update_account(uow: UnitOfWork, cmd: UpdateAccount, actor: Actor, clock: Clock) -> Account:
    actor.require("users:write")
    changes = dict(cmd.changes)
    phone_password = cmd.phone_password
    if cmd.skip_invalid:
        # Without personal_data the contact fields read blank: what such a manager sends back
        # in a read-modify-write is not data, so it does not overwrite them.
        hidden = () if actor.has("personal_data") else reach.PERSONAL_FIELDS
        changes = {k: v for k, v in changes.items() if k in UPDATABLE_FIELDS and k not in hidden}
        if phone_password is not None:
            try:
                _check_phone_password(phone_password)
            except ValidationError:
                phone_password = None
    else:
        if not changes and phone_password is None and cmd.main_password_md5 is None:
            raise ValidationError("nothing to change: the body names no field")
        _field_names_problem(set(changes), UPDATABLE_FIELDS)
        if phone_password is not None:
            _check_phone_password(phone_password)
        changes = _unseen_kept(actor, changes)
    acc = _load(uow, cmd.login, actor, for_update=True)
    group = uow.groups.get_by_id(acc.group_id)
    if group is None:  # pragma: no cover - foreign key keeps it
        raise GroupNotFound(acc.group)
    moved: dict[str, Any] = {}
    if "group" in changes:
        target = reach.check_group(actor, _group(uow, changes.pop("group")))
        if target.id != group.id:
            check_group_currency(target, acc.currency, acc.login,
                                 currency_free_groups=cmd.currency_free_groups)  # fmt: skip
            moved = {"group_id": target.id, "group": target.name}
            group = target
    if cmd.skip_invalid:
        changes = _valid_changes(replace(acc, **moved), changes, group)
    before = acc.snapshot()
    updated = replace(acc, **moved, **changes)
    _check(updated, group)
    reach.check_broker(actor, group, updated.broker)
    new_main = cmd.main_password_md5
    if new_main is not None:
        passwords.check_md5_form(new_main, "main_password")
        if passwords.verify_md5(acc.main_password, new_main):
            new_main = None  # the password it already has
        else:
            updated.main_password = passwords.verifier_from_md5(new_main)
    if phone_password is not None:
        updated.phone_password = passwords.make_verifier(phone_password) if phone_password else None
    elif new_main is None and updated.snapshot() == before:
        return reach.redact(actor, acc)
    updated.updated_at = clock()
    if new_main is not None:
        updated.last_pass_change = updated.updated_at
    _save(uow, updated)
    attributes.store_mapping(uow, "account", acc.login, acc.attributes, updated.attributes,
                             updated.updated_at)  # fmt: skip
    after = updated.snapshot()
    if phone_password is not None:
        after["phone_password"] = "changed" if phone_password else None
    if new_main is not None:
        after["main_password"] = "changed"
    record(uow, actor, updated.updated_at, "account.updated", "account", acc.login, before, after)
    return reach.redact(actor, updated)


def disable_account(uow: UnitOfWork, cmd: DisableAccount, actor: Actor, clock: Clock) -> Account:
    actor.require("users:write")
    p = Problems()
    p.text("reason", cmd.reason, 255)
    p.raise_if_any()
    acc = _load(uow, cmd.login, actor, for_update=True)
    if not acc.enabled:
        return reach.redact(actor, acc)
    before = acc.snapshot()
    now = clock()
    updated = replace(acc, rights=acc.rights & ~RIGHT_ENABLED, disabled_reason=cmd.reason,
                      disabled_at=now, updated_at=now)  # fmt: skip
    _save(uow, updated)
    record(uow, actor, now, "account.disabled", "account", acc.login, before, updated.snapshot())
    return reach.redact(actor, updated)


def enable_account(uow: UnitOfWork, cmd: EnableAccount, actor: Actor, clock: Clock) -> Account:
    actor.require("users:write")
    acc = _load(uow, cmd.login, actor, for_update=True)
    if acc.enabled:
        return reach.redact(actor, acc)
    before = acc.snapshot()
    now = clock()
    updated = replace(acc, rights=acc.rights | RIGHT_ENABLED, disabled_reason="",
                      disabled_at=None, updated_at=now)  # fmt: skip
    _save(uow, updated)
    record(uow, actor, now, "account.enabled", "account", acc.login, before, updated.snapshot())
    return reach.redact(actor, updated)


def delete_account(uow: UnitOfWork, cmd: DeleteAccount, actor: Actor, clock: Clock) -> Account:
    """Mark the account deleted (see DeleteAccount); money it holds stays in its ledger."""
    actor.require("users:delete")
    acc = _load(uow, cmd.login, actor, for_update=True)
    # A held operation on a deleted account could never be decided (the account reads as
    # absent to the approver) yet would stay listed as pending: decide it first.
    held = uow.approvals.list(ApprovalQuery(state="pending", login=acc.login, limit=1))
    if held:
        raise Conflict(
            f"account {acc.login} has an operation waiting for approval (approval "
            f"{held[0].id}); approve or reject it before deleting the account",
            fields=[FieldError("login", "has an operation waiting for approval")],
        )
    before = acc.snapshot()
    now = clock()
    deleted = replace(acc, deleted_at=now, updated_at=now)
    _save(uow, deleted)
    record(uow, actor, now, "account.deleted", "account", acc.login, before, deleted.snapshot())
    return reach.redact(actor, deleted)


def _password_field(kind: Any, allowed: tuple[str, ...] = CHECKABLE_PASSWORDS) -> str:
    name = kind.strip().lower() if isinstance(kind, str) else ""
    if name not in allowed:
        raise ValidationError.field("type", "must be one of " + ", ".join(allowed))
    return PASSWORD_KINDS[name]


def check_password(uow: UnitOfWork, cmd: CheckPassword, actor: Actor) -> bool:
    """Whether the password matches; an account without a password of that kind never does."""
    actor.require("users:read")
    field_name = _password_field(cmd.kind)
    acc = _load(uow, cmd.login, actor)
    if not isinstance(cmd.password, str) or not cmd.password:
        return False
    if acc.user_id is not None:  # a locked (or expired...) owner's accounts cannot be used
        owner = uow.users.get(acc.user_id)
        if owner is not None and not usable(owner.status):
            return False
    if cmd.hashed:
        return passwords.verify_md5(getattr(acc, field_name), cmd.password)
    return passwords.verify(getattr(acc, field_name), cmd.password)


def change_password(uow: UnitOfWork, cmd: ChangePassword, actor: Actor, clock: Clock) -> Account:
    """Set a password under the change policy of the account's group; audited as
    `account.password_changed` naming which password, never its value."""
    actor.require("users:write")
    field_name = _password_field(cmd.kind)
    acc = _load(uow, cmd.login, actor, for_update=True)
    group = uow.groups.get_by_id(acc.group_id)
    if group is None:  # pragma: no cover - foreign key keeps it
        raise GroupNotFound(acc.group)
    if cmd.hashed:
        passwords.check_md5_form(cmd.password, field_name)
        verifier = passwords.verifier_from_md5(cmd.password)
    else:
        passwords.check_change_policy(cmd.password, field_name, group.password_min_length)
        verifier = passwords.make_verifier(cmd.password)
    now = clock()
    changes: dict[str, Any] = {field_name: verifier}
    updated = replace(acc, updated_at=now, **changes)
    if field_name == "main_password":
        updated.last_pass_change = now
    _save(uow, updated)
    after = {**updated.snapshot(), field_name: "changed"}
    record(uow, actor, now, "account.password_changed", "account", acc.login, acc.snapshot(),
           after)  # fmt: skip
    return reach.redact(actor, updated)


def get_account(uow: UnitOfWork, login: int, actor: Actor) -> Account:
    actor.require("users:read")
    return reach.redact(actor, _load(uow, login, actor))


def account_history(uow: UnitOfWork, login: int, actor: Actor) -> list[AuditRecord]:
    actor.require("users:read")
    _load(uow, login, actor)
    return [reach.redact_record(actor, r) for r in uow.audit.for_entity("account", str(login))]


@dataclass(frozen=True)
class ListAccounts:
    group_mask: str | None = None
    email: str | None = None
    logins: tuple[int, ...] | None = None
    registered_from: datetime | None = None
    registered_to: datetime | None = None
    after_login: int | None = None
    limit: int = 100
    # The name holds this text (ASCII letters in either case); the white label matches a mask.
    name: str | None = None
    white_label: str | None = None


MAX_PAGE = 1000
NAME_FILTER_MAX = 127


def list_accounts(
    uow: UnitOfWork, cmd: ListAccounts, actor: Actor, *, scope: str = "users:read"
) -> list[Account]:
    """One page of accounts in login order, after `after_login`."""
    actor.require(scope)
    if not 1 <= cmd.limit <= MAX_PAGE:
        raise ValidationError.field("limit", f"must be between 1 and {MAX_PAGE}")
    _check_filters(cmd, actor)
    page = with_attributes(uow, uow.accounts.list(_query(uow, cmd, actor)))
    return [reach.redact(actor, a) for a in page]


def _check_filters(cmd: ListAccounts, actor: Actor) -> None:
    for login in cmd.logins or ():
        check_login(login, "logins")
    if cmd.email:
        actor.require("personal_data")  # searching by email would reveal it
        p = Problems()
        p.text("email", cmd.email, 255)
        p.raise_if_any()
    if cmd.name:
        p = Problems()
        p.text("name", cmd.name, NAME_FILTER_MAX)
        p.raise_if_any()
    if cmd.white_label:
        masks.parse(cmd.white_label, "white_label")  # bounded: InvalidMask past the limits


# Accounts per read of an export: each page is one short read transaction and the only rows
# held in memory (about 8 MB); each read costs about 1 ms besides its rows.
EXPORT_PAGE = 5000


def export_accounts(
    uow: UnitOfWork,
    cmd: ListAccounts,
    actor: Actor,
    columns: Sequence[str],
    *,
    after_login: int | None,
    limit: int,
    scope: str = "reports:read",
) -> list[Sequence[Any]]:
    """Up to `limit` of the accounts `list_accounts` would list, after `after_login`, as plain
    rows of `columns` for bulk output (see ExportRepository.account_rows): the same checks,
    filters, reach and login order, contact fields empty without `personal_data`. The page is
    `after_login` and `limit`, not the command's own."""
    actor.require(scope)
    _check_filters(cmd, actor)
    query = _query(uow, replace(cmd, after_login=after_login, limit=limit), actor)
    hidden = () if actor.has("personal_data") else reach.PERSONAL_FIELDS
    return uow.exports.account_rows(query, columns, [c for c in columns if c in hidden])


def _query(uow: UnitOfWork, cmd: ListAccounts, actor: Actor) -> AccountQuery:
    group_ids = None
    wanted = masks.parse(cmd.group_mask, "group") if cmd.group_mask else None
    if wanted is not None or not actor.unlimited_reach:
        group_ids = tuple(
            g.id
            for g in uow.groups.list()
            if (wanted is None or wanted.admits(g.name)) and actor.reaches_group(g.name)
        )
    brokers = None if actor.white_labels.strip() == "*" else actor.white_labels
    return AccountQuery(
        group_ids=group_ids,
        broker_mask=brokers,
        email=cmd.email,
        logins=cmd.logins,
        registered_from=cmd.registered_from,
        registered_to=cmd.registered_to,
        after_login=cmd.after_login,
        limit=cmd.limit,
        name_contains=cmd.name or None,
        white_label_mask=cmd.white_label or None,
    )
