"""MT5 calls CRMs make in bulk or ahead of a trade: batch reads, the what-if trade
calculations, the balance check and the archive.

Batch reads (`user/account/get_batch`, `deal/get_batch`, `history/get_batch`,
`order/get_batch`, `user/archive/get_batch`) take `login` (a comma list), `group` (masks, `*`
and `!`) and, where MT5 has them, `ticket` (a comma list) and `from`/`to` (unix seconds, both
inclusive); any of them together selects their union; none is 3. Logins and tickets that do
not exist or are out of the manager's reach are left out, as MT5 leaves out what a manager
cannot see. One answer holds at most 5,000 records (oldest ticket, or lowest login, first);
when more match, the first 5,000 come with `14 Partial error` (as MT5's mask reads do): ask
again with a later `from` (deals, history) or a narrower selection.

- `deal/get_batch`: balance operations and trade deals as `deal/get` renders them.
- `history/get_batch`: the filled orders of trade deals, as `history/get` renders them.
- `order/get_batch`: always `[]`: market orders fill at once, no order is ever open.
- `user/account/get_batch`: the trade state of each account, as `user/account/get`.
- `trade/check_margin` (`login`, `symbol`, `type`, `volume` in 1/10^8 lot, `price`): the
  account's state `current` and `new` (with the order), as `user/account/get` renders it.
  `type` 0, 2, 4, 6 buy; 1, 3, 5, 7 sell; `price` 0 or absent: the current quote.
- `trade/calc_profit` (`group`, `symbol`, `type` 0/1, `volume`, `price_open`, `price_close`):
  `Profit` in the group's currency and `Profit_rate` (profit currency to group currency), as
  MT5 writes them: six decimals.
- `user/check_balance` (`login`, `fixflag`): `Balance` (balance plus bonus, as MT5's user
  `Balance`) and `Credit`, each `User` (the account's cached figure) and `History` (what its
  ledger adds up to), six decimals. `fixflag=1` sets the cached figures to the ledger's (the
  `admin` right; audited); the answer shows the figures found, before the fix.
- `user/archive/add` is `user/delete` (the soft delete); `user/archive/get` and
  `user/archive/get_batch` read archived accounts as `user/get` does; `user/restore` (`login`)
  brings one back (the `users:delete` right) and answers its record.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator
from dataclasses import replace
from decimal import Context as DecimalContext
from decimal import Decimal
from typing import Any

from brokerplane.api.mt5.deals import render_deal, time_window
from brokerplane.api.mt5.errors import ERR_PARAMS, Mt5Error
from brokerplane.api.mt5.orders import render_order
from brokerplane.api.mt5.users import _by_logins, render_trade_state, render_user
from brokerplane.api.mt5.wire import Answer, Context, Params, command
from brokerplane.core.account.commands import DeleteAccount, ListAccounts, RestoreAccount
from brokerplane.core.account.model import Account
from brokerplane.core.money import parse_decimal
from brokerplane.core.trading.commands import MAX_BATCH, BatchSelection, CalcProfit, CheckMargin
from brokerplane.core.trading.model import TRADE_KIND

PARTIAL = 14  # more matched than one answer holds
ACCOUNTS_PER_READ = 1000
SIX = Decimal("0.000001")
_WIDE = DecimalContext(
    prec=60
)  # room for the largest figures the bounds on prices and volumes allow
VOLUME_EXT_PER_LOT = Decimal(10) ** 8
BUY_TYPES = (0, 2, 4, 6)
SELL_TYPES = (1, 3, 5, 7)


# ---- selections -------------------------------------------------------------------------------


def _group(p: Params) -> str | None:
    value = p.text("group")
    return value if value is not None and value.strip() else None


def _selection(
    p: Params, *, tickets: bool
) -> tuple[list[int] | None, str | None, list[int] | None]:
    logins = p.logins("login", "logins")
    group = _group(p)
    found = p.logins("ticket", "tickets") if tickets else None
    if logins is None and group is None and found is None:
        need = "login, group or ticket" if tickets else "login or group"
        raise Mt5Error(ERR_PARAMS, f"{need} is required")
    return logins, group, found


def _batch_selection(ctx: Context) -> BatchSelection:
    logins, group, tickets = _selection(ctx.params, tickets=True)
    start, end = time_window(ctx)
    return BatchSelection(
        logins=None if logins is None else tuple(logins),
        group_mask=group,
        tickets=None if tickets is None else tuple(tickets),
        time_from=start,
        time_to=end,
        limit=MAX_BATCH,
    )


def _union(streams: Iterable[Iterator[Account]], limit: int) -> tuple[list[Account], bool]:
    """Accounts of the streams (each in login order) without repeats; whether all fit."""
    out: list[Account] = []
    last: int | None = None
    for acc in heapq.merge(*streams, key=lambda a: a.login):
        if acc.login == last:
            continue
        if len(out) == limit:
            return out, False
        out.append(acc)
        last = acc.login
    return out, True


def _accounts(ctx: Context, *, archived: bool) -> tuple[list[Account], bool]:
    logins, group, _ = _selection(ctx.params, tickets=False)
    streams: list[Iterator[Account]] = []
    if archived:
        if logins is not None:
            wanted = tuple(sorted(set(logins)))
            for i in range(0, len(wanted), ACCOUNTS_PER_READ):
                chunk = ListAccounts(logins=wanted[i : i + ACCOUNTS_PER_READ])
                streams.append(ctx.services.iter_archived(chunk, ctx.actor))
        if group is not None:
            streams.append(ctx.services.iter_archived(ListAccounts(group_mask=group), ctx.actor))
    else:
        if logins is not None:
            streams.append(_by_logins(ctx, logins))
        if group is not None:
            every = ListAccounts(group_mask=group)
            streams.append(ctx.services.iter_accounts(every, ctx.actor))
    return _union(streams, MAX_BATCH)


def _answer(rows: list[Any], complete: bool) -> Answer:
    return Answer(rows, code=0 if complete else PARTIAL)


# ---- batch reads ------------------------------------------------------------------------------


@command("user/account/get_batch")
def user_account_get_batch(ctx: Context) -> Answer:
    found, complete = _accounts(ctx, archived=False)
    states = []
    for start in range(0, len(found), ACCOUNTS_PER_READ):
        chunk = found[start : start + ACCOUNTS_PER_READ]
        risks = ctx.services.get_risks(chunk, ctx.actor)
        states += [render_trade_state(risks[a.login].state()) for a in chunk]
    return _answer(states, complete)


@command("deal/get_batch")
def deal_get_batch(ctx: Context) -> Answer:
    found = ctx.services.batch_ledger(_batch_selection(ctx), ctx.actor)
    trades = [e.id for e in found.rows if e.kind == TRADE_KIND and e.id is not None]
    deals = ctx.services.deals_by_ids(trades, ctx.actor) if trades else {}
    return _answer([render_deal(e, deals.get(e.id or 0)) for e in found.rows], found.complete)


@command("history/get_batch")
def history_get_batch(ctx: Context) -> Answer:
    found = ctx.services.batch_deals(_batch_selection(ctx), ctx.actor)
    return _answer([render_order(d) for d in found.rows], found.complete)


@command("order/get_batch")
def order_get_batch(ctx: Context) -> Answer:
    # The selection is checked as the other batch reads check it; no order is ever open.
    ctx.services.batch_deals(replace(_batch_selection(ctx), limit=1), ctx.actor)
    return Answer([])


# ---- what-if ----------------------------------------------------------------------------------


def _side(p: Params, *, pending: bool) -> str:
    kind = p.require_integer("type")
    if kind in (BUY_TYPES if pending else (0,)):
        return "buy"
    if kind in (SELL_TYPES if pending else (1,)):
        return "sell"
    raise Mt5Error(ERR_PARAMS, "type is not an order type this call takes")


def _lots(p: Params) -> Decimal:
    volume = p.require_integer("volume", low=1, high=2**63 - 1)
    return Decimal(volume) / VOLUME_EXT_PER_LOT


def _price(p: Params, name: str, *, required: bool) -> Decimal | None:
    raw = p.raw(name)
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if required:
            raise Mt5Error(ERR_PARAMS, f"{name} is required")
        return None
    return parse_decimal(raw, name)


def _six(value: Decimal) -> str:
    return f"{value.quantize(SIX, context=_WIDE):f}"


@command("trade/check_margin")
def trade_check_margin(ctx: Context) -> Answer:
    p = ctx.params
    cmd = CheckMargin(
        login=p.require_integer("login", low=1),
        symbol=p.require_text("symbol"),
        side=_side(p, pending=True),
        volume=_lots(p),
        price=_price(p, "price", required=False),
    )
    outlook = ctx.services.check_margin(cmd, ctx.actor)
    return Answer(
        {"new": render_trade_state(outlook.new), "current": render_trade_state(outlook.current)}
    )


@command("trade/calc_profit")
def trade_calc_profit(ctx: Context) -> Answer:
    p = ctx.params
    open_, close = _price(p, "price_open", required=True), _price(p, "price_close", required=True)
    assert open_ is not None and close is not None
    cmd = CalcProfit(
        group=p.require_text("group"),
        symbol=p.require_text("symbol"),
        side=_side(p, pending=False),
        volume=_lots(p),
        price_open=open_,
        price_close=close,
    )
    outlook = ctx.services.calc_profit(cmd, ctx.actor)
    return Answer({"Profit": _six(outlook.profit), "Profit_rate": _six(outlook.rate)})


# ---- the balance check ------------------------------------------------------------------------


@command("user/check_balance")
def user_check_balance(ctx: Context) -> Answer:
    p = ctx.params
    login = p.require_integer("login", low=1)
    fix = p.integer("fixflag", default=0, low=0, high=1) == 1
    found = (ctx.services.fix_balance if fix else ctx.services.check_balance)(login, ctx.actor)

    def money(minor: int) -> str:
        return _six(Decimal(minor).scaleb(-found.currency_digits))

    return Answer(
        {
            "Balance": {
                "User": money(found.balance + found.bonus),
                "History": money(found.ledger_balance + found.ledger_bonus),
            },
            "Credit": {"User": money(found.credit), "History": money(found.ledger_credit)},
        }
    )


# ---- the archive ------------------------------------------------------------------------------


@command("user/archive/add")
def user_archive_add(ctx: Context) -> Answer:
    ctx.services.delete_account(DeleteAccount(ctx.params.require_integer("login")), ctx.actor)
    return Answer()


@command("user/archive/get")
def user_archive_get(ctx: Context) -> Answer:
    login = ctx.params.require_integer("login")
    return Answer(render_user(ctx.services.get_archived(login, ctx.actor)))


@command("user/archive/get_batch")
def user_archive_get_batch(ctx: Context) -> Answer:
    found, complete = _accounts(ctx, archived=True)
    return _answer([render_user(a) for a in found], complete)


@command("user/restore")
def user_restore(ctx: Context) -> Answer:
    login = ctx.params.require_integer("login")
    return Answer(render_user(ctx.services.restore_account(RestoreAccount(login), ctx.actor)))
