"""MT5 user commands (spec §4.2, seed 002): `user/add|update|delete|get|get_batch|logins|total|
group|account/get|check_password|change_password`, and the user record as MT5 writes it.

Translation, in both directions:
- In, names match whatever their case, `_` or `-` (`pass_main`, `PassMain`); the JSON body wins
  over the query. Text longer than MT5 keeps is cut to its length (name 127 characters, company
  63, address 127, comment 63, ... core TEXT_LIMITS), as MT5 cuts it, before the core command is
  built (the core itself refuses overlong text). `TradeAccounts` is the exception MT5 makes:
  more than 127 characters in all, or more than 31 in one account, is `4 Invalid data`.
- `user/add` needs `group`, `name`, `leverage` and both passwords (a missing or weak password
  is 3006); login 0 or absent allocates one from the group's range (3002 when exhausted).
- `user/update` leaves out, silently, what it cannot apply: server-side fields (`Balance`,
  `Registration`, `CertSerialNumber`, ...), passwords other than the phone password, and values
  the core finds invalid (the core's `skip_invalid`). A group that is missing or out of reach is
  still 8, one in another currency 3010, an unknown login 13.
- `user/delete` is the core's soft delete: the account reads as 13 from then on (404 natively),
  its ledger and audit stay, and its login is never handed out again.
- Out, every value is a string. `Balance` is the balance plus any bonus (MT5 books bonus deals
  into the balance); `user/account/get`'s `Profit` (= `Floating`) and `Margin` are those of the
  open positions at the latest quotes, `Equity` is balance + credit + bonus + profit,
  `MarginFree` equity - margin, `MarginLevel` equity / margin in percent (0 without margin).
  Passwords are never answered (`PhonePassword` is ""). Fields brokerplane does not keep (the
  commissions, interest and previous-day/month figures) read 0. Without the `personal_data`
  right the core blanks the contact fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from decimal import Decimal
from functools import partial
from typing import Any

from brokerplane.api.mt5.errors import ERR_DATA, ERR_PARAMS, Mt5Error
from brokerplane.api.mt5.identity import manager_account, refuse_self_deletion
from brokerplane.api.mt5.wire import Answer, Context, Params, command
from brokerplane.core.account.api_data import API_DATA_CELLS, API_VALUE_FIELDS, normalize_api_data
from brokerplane.core.account.commands import (
    ChangePassword,
    CheckPassword,
    DeleteAccount,
    ListAccounts,
    OpenAccount,
    UpdateAccount,
)
from brokerplane.core.account.model import TEXT_LIMITS, Account, TradeState
from brokerplane.core.errors import AccountNotFound, ValidationError
from brokerplane.core.money import Currency, format_amount

INVALID_PASSWORD = 3006
TRADE_ACCOUNTS_MAX = 127  # 128 with the terminator: longer is 4, not cut
TRADE_ACCOUNT_MAX = 31  # one `gateway=account` entry
LOGINS_PER_QUERY = 1000

# MT5 field -> account field, for the text fields (query names are the same, any case).
TEXT_FIELDS: dict[str, str] = {
    "Name": "name",
    "FirstName": "first_name",
    "LastName": "last_name",
    "MiddleName": "middle_name",
    "Company": "company",
    "Account": "bank_account",
    "Country": "country",
    "City": "city",
    "State": "state",
    "ZIPCode": "zip_code",
    "Address": "address",
    "Phone": "phone",
    "Email": "email",
    "ID": "id_document",
    "Status": "status",
    "Comment": "comment",
    "MQID": "mqid",
    "LeadSource": "lead_source",
    "LeadCampaign": "lead_campaign",
}
INTEGER_FIELDS: dict[str, str] = {
    "Rights": "rights",
    "Language": "language",
    "Color": "color",
    "Agent": "agent",
    "ClientID": "client_id",
    "LimitOrders": "limit_orders",
    "LimitPositions": "limit_positions",
}
PHONE_PASSWORD = ("PhonePassword", "pass_phone")


# ---- in ---------------------------------------------------------------------------------------


def _take(into: dict[str, Any], name: str, read: Callable[[], Any], lenient: bool) -> None:
    """Put what `read` gives under `name`; a value that does not parse is 3, or left out when
    `lenient` (user/update)."""
    try:
        value = read()
    except (Mt5Error, ValidationError):
        if lenient:
            return
        raise
    if value is not None:
        into[name] = value


def _cut(params: Params, mt5_name: str, field: str) -> str | None:
    value = params.text(mt5_name)
    return None if value is None else value[: TEXT_LIMITS[field]]


def _trade_accounts(params: Params) -> str | None:
    value = params.text("TradeAccounts")
    if value is None:
        return None
    entries = [e for e in value.split("|") if e]
    if len(value) > TRADE_ACCOUNTS_MAX or any(len(e) > TRADE_ACCOUNT_MAX for e in entries):
        raise Mt5Error(ERR_DATA, "TradeAccounts is longer than MT5 keeps")
    return value


def _api_data(params: Params) -> list[dict[str, Any]] | None:
    raw = params.raw("ApiData")
    return None if raw is None else normalize_api_data(raw)


def _profile(params: Params, *, lenient: bool) -> dict[str, Any]:
    """The account fields a request names, translated to the core's names and types."""
    out: dict[str, Any] = {}
    for mt5_name, field in TEXT_FIELDS.items():
        _take(out, field, partial(_cut, params, mt5_name, field), lenient)
    for mt5_name, field in INTEGER_FIELDS.items():
        _take(out, field, partial(params.integer, mt5_name), lenient)
    _take(out, "api_data", partial(_api_data, params), lenient)
    trade_accounts = _trade_accounts(params)  # too long is 4 on add and on update alike
    if trade_accounts is not None:
        out["trade_accounts"] = trade_accounts
    return out


def _login(params: Params) -> int:
    return params.require_integer("login")


# ---- out --------------------------------------------------------------------------------------


def _unix(value: datetime | None) -> int:
    return int(value.timestamp()) if value else 0


def _double(value: Any) -> str:
    number = float(value) if isinstance(value, int | float | str) else 0.0
    return str(int(number)) if number.is_integer() else repr(number)


def _api_cells(acc: Account) -> list[dict[str, str]]:
    """Always 16 cells: AppID, ID and the one value field of the cell's type (so a cell read
    and sent back keeps its type under seed 002's rule); empty slots only AppID and ID 0."""
    cells = []
    for stored in acc.api_data[:API_DATA_CELLS]:
        cell = {"AppID": str(stored.get("AppID", 0)), "ID": str(stored.get("ID", 0))}
        for name in API_VALUE_FIELDS.values():
            if name in stored:
                value = stored[name]
                cell[name] = _double(value) if name == "ValueDouble" else str(value)
        cells.append(cell)
    return cells + [{"AppID": "0", "ID": "0"} for _ in range(API_DATA_CELLS - len(cells))]


def render_user(acc: Account) -> dict[str, Any]:
    """The MT5 user record (seed 002's data structure), every value a string."""
    state = TradeState.of(acc)
    cur = Currency(acc.currency, acc.currency_digits)
    zero = format_amount(Decimal(0), cur)
    return {
        "Login": acc.login,
        "Group": acc.group,
        "CertSerialNumber": 0,
        "Rights": acc.rights,
        "MQID": acc.mqid,
        "Registration": _unix(acc.registered_at),
        "LastAccess": _unix(acc.last_access or acc.registered_at),
        "LastIP": acc.last_ip or "0.0.0.0",
        "LastPassChange": _unix(acc.last_pass_change),
        "Name": acc.name,
        "FirstName": acc.first_name,
        "LastName": acc.last_name,
        "MiddleName": acc.middle_name,
        "Company": acc.company,
        "Account": acc.bank_account,
        "Country": acc.country,
        "Language": acc.language,
        "ClientID": acc.client_id,
        "City": acc.city,
        "State": acc.state,
        "ZIPCode": acc.zip_code,
        "ZipCode": acc.zip_code,  # the spelling some builds (and their clients) use
        "Address": acc.address,
        "Phone": acc.phone,
        "Email": acc.email,
        "ID": acc.id_document,
        "Status": acc.status,
        "Comment": acc.comment,
        "Color": acc.color,
        "PhonePassword": "",
        "Leverage": acc.leverage,
        "Agent": acc.agent,
        "CurrencyDigits": acc.currency_digits,
        "Balance": format_amount(state.balance_with_bonus, cur),
        "Credit": format_amount(state.credit, cur),
        "InterestRate": zero,
        "CommissionDaily": zero,
        "CommissionMonthly": zero,
        "CommissionAgentDaily": zero,
        "CommissionAgentMonthly": zero,
        "BalancePrevDay": zero,
        "BalancePrevMonth": zero,
        "EquityPrevDay": zero,
        "EquityPrevMonth": zero,
        "TradeAccounts": acc.trade_accounts,
        "ApiData": _api_cells(acc),
        "LeadSource": acc.lead_source,
        "LeadCampaign": acc.lead_campaign,
        "LimitOrders": acc.limit_orders,
        "LimitPositions": acc.limit_positions,
    }


def render_trade_state(state: TradeState) -> dict[str, Any]:
    """IMTAccount: the account's money now (user/account/get)."""
    cur = Currency(state.currency, state.currency_digits)

    def money(value: Decimal) -> str:
        return format_amount(value, cur)

    zero = money(Decimal(0))
    return {
        "Login": state.login,
        "CurrencyDigits": state.currency_digits,
        "Balance": money(state.balance_with_bonus),
        "Credit": money(state.credit),
        "Margin": money(state.margin),
        "MarginFree": money(state.margin_free),
        "MarginLevel": f"{state.margin_level:.2f}",
        "MarginLeverage": state.leverage,
        "MarginInitial": zero,
        "MarginMaintenance": zero,
        "Profit": money(state.profit),
        "Storage": money(state.storage),
        "Commission": zero,
        "Floating": money(state.floating),
        "Equity": money(state.equity),
        "SOActivation": 0,
        "SOTime": 0,
        "SOLevel": "0.00",
        "SOEquity": zero,
        "SOMargin": zero,
        "Assets": zero,
        "Liabilities": zero,
        "BlockedCommission": zero,
        "BlockedProfit": zero,
    }


# ---- commands ---------------------------------------------------------------------------------


@command("user/add")
def user_add(ctx: Context) -> Answer:
    p = ctx.params
    p.require_text("name")
    group = p.require_text("group")
    leverage = p.require_integer("leverage")
    cmd = OpenAccount(
        group=group,
        leverage=leverage,
        login=p.integer("login", default=0, low=0),
        main_password=p.text("PassMain", "MainPassword"),
        investor_password=p.text("PassInvestor", "InvestPassword"),
        phone_password=p.text(*PHONE_PASSWORD),
        profile=_profile(p, lenient=False),
        require_passwords=True,
    )
    acc = ctx.services.open_account(cmd, ctx.actor)
    return Answer(render_user(acc), top={"login": acc.login})


@command("user/update")
def user_update(ctx: Context) -> Answer:
    p = ctx.params
    login = _login(p)
    changes = _profile(p, lenient=True)
    _take(changes, "leverage", partial(p.integer, "leverage"), True)
    group = p.text("group")
    if group is not None and group.strip():
        changes["group"] = group
    cmd = UpdateAccount(login, changes, skip_invalid=True, phone_password=p.text(*PHONE_PASSWORD))
    return Answer(render_user(ctx.services.update_account(cmd, ctx.actor)))


@command("user/delete")
def user_delete(ctx: Context) -> Answer:
    login = _login(ctx.params)
    refuse_self_deletion(ctx, login)
    ctx.services.delete_account(DeleteAccount(login), ctx.actor)
    return Answer()


@command("user/get")
def user_get(ctx: Context) -> Answer:
    login = _login(ctx.params)
    try:
        return Answer(render_user(ctx.services.get_account(login, ctx.actor)))
    except AccountNotFound:
        manager = manager_account(ctx, login)  # in MT5 a manager is also an account
        if manager is None:
            raise
        return Answer(render_user(manager))


def _accounts(ctx: Context, query: ListAccounts) -> Iterator[Account]:
    return ctx.services.iter_accounts(query, ctx.actor)


def _by_logins(ctx: Context, logins: list[int]) -> Iterator[Account]:
    """The accounts of these logins that exist and are in reach, in login order; asked for in
    chunks, so a long list never becomes one huge SQL IN."""
    wanted = sorted(set(logins))
    for start in range(0, len(wanted), LOGINS_PER_QUERY):
        chunk = tuple(wanted[start : start + LOGINS_PER_QUERY])
        yield from _accounts(ctx, ListAccounts(logins=chunk))


@command("user/get_batch")
def user_get_batch(ctx: Context) -> Answer:
    p = ctx.params
    logins, group = p.logins("login"), p.text("group")
    if (logins is None) == (group is None):
        raise Mt5Error(ERR_PARAMS, "give either login (a comma list) or group (masks)")
    found = (
        _by_logins(ctx, logins)
        if logins is not None
        else _accounts(ctx, ListAccounts(group_mask=group))
    )
    return Answer([render_user(a) for a in found])


@command("user/logins")
def user_logins(ctx: Context) -> Answer:
    mask = ctx.params.require_text("group")
    return Answer([a.login for a in _accounts(ctx, ListAccounts(group_mask=mask))])


@command("user/total")
def user_total(ctx: Context) -> Answer:
    return Answer({"Total": sum(1 for _ in _accounts(ctx, ListAccounts()))})


@command("user/group")
def user_group(ctx: Context) -> Answer:
    return Answer({"Group": ctx.services.get_account(_login(ctx.params), ctx.actor).group})


@command("user/account/get")
def user_account_get(ctx: Context) -> Answer:
    return Answer(render_trade_state(ctx.services.get_trade_state(_login(ctx.params), ctx.actor)))


def _password_command(params: Params) -> tuple[int, str, str]:
    password = params.text("password")
    if not password:
        raise Mt5Error(ERR_PARAMS, "password is required")
    return _login(params), params.require_text("type"), password


@command("user/check_password", "user/pass_check")
def user_check_password(ctx: Context) -> Answer:
    login, kind, password = _password_command(ctx.params)
    matches = ctx.services.check_password(CheckPassword(login, kind, password), ctx.actor)
    return Answer(code=0 if matches else INVALID_PASSWORD)


@command("user/change_password", "user/pass_change")
def user_change_password(ctx: Context) -> Answer:
    login, kind, password = _password_command(ctx.params)
    ctx.services.change_password(ChangePassword(login, kind, password), ctx.actor)
    return Answer()
