"""MT5 trade commands: balance operations into the core ledger, deals read back from it, and
the position, order and history reads (empty: brokerplane has no trading yet).

trade/balance `type` → core operation, by the sign of `balance`:

    type            positive            negative
    2 balance       deposit             withdrawal
    3 credit        credit_in           credit_out
    4 charge        correction (+)      charge
    5 correction    correction (+)      correction (-)
    6 bonus         bonus_in            bonus_out

MT5's charge (4) is "additional adding/withdrawing": the core's `charge` only takes money away,
so an adding charge is posted as a positive correction and reads back as deal action 5.
Deals are the ledger's entries: `Deal`/`Ticket` = the entry id, `Action` by kind (the table
above read backwards), `Profit` = the signed change as a decimal string in the account's
currency digits, `Reason` 2 (DEAL_REASON_DEALER: placed by a manager).

`check_margin` is accepted (0 or 1) and changes nothing: with no positions the free margin is
balance + credit, never below the balance, and a withdrawal beyond the balance is refused
(10019) whatever the flag says.

Approvals: MT5 has no "held" answer, so an operation above the approval threshold is refused
with 10006 Request rejected, unless the manager holds balances:approve, when it is applied at
once (the core's `on_threshold="refuse"` rule; the entry's `approved_by` names the manager).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from brokerplane.api.mt5.protocol import Answer, Context, command
from brokerplane.api.mt5.retcodes import ERR_NOTFOUND, ERR_PARAMS, Mt5Error
from brokerplane.core.errors import LedgerEntryNotFound
from brokerplane.core.ledger.model import KINDS, SIGNED_OPERATIONS, LedgerEntry, LedgerQuery
from brokerplane.core.ledger.service import PostLedgerEntry
from brokerplane.core.money import Currency, format_minor, parse_decimal

MAX_MONEY = Decimal(1_000_000_000)  # |balance| above this: 4005 Money limit reached
TRADE_MAX_MONEY = 4005
COMMENT_MAX = 31  # MT5 keeps 32 characters with the terminator; longer comments are cut
PAGE_MAX = 100  # get_page answers at most this many; total=0 (or more) means this many
DEAL_REASON_DEALER = 2
MAX_TICKET = 2**63 - 1
LATEST = 253_402_300_799  # 9999-12-31 23:59:59, the last second a datetime holds

# type -> (operation for a positive amount, operation for a negative one)
BALANCE_TYPES: dict[int, tuple[str, str]] = {
    2: ("deposit", "withdrawal"),
    3: ("credit", "credit"),
    4: ("correction", "charge"),
    5: ("correction", "correction"),
    6: ("bonus", "bonus"),
}
# ledger kind -> deal action (IMTDeal::EnDealAction)
DEAL_ACTIONS: dict[str, int] = {
    "deposit": 2,
    "withdrawal": 2,
    "credit_in": 3,
    "credit_out": 3,
    "charge": 4,
    "correction": 5,
    "bonus_in": 6,
    "bonus_out": 6,
}


def _signed(operation: str) -> bool:
    """Whether the core reads the operation's direction from the amount's sign."""
    return operation in SIGNED_OPERATIONS or KINDS[operation][1] == 0


def balance_operation(kind: int, amount: Decimal) -> tuple[str, Decimal]:
    """The core operation and the amount to post for an MT5 `type` and signed `balance`."""
    if kind not in BALANCE_TYPES:
        raise Mt5Error(ERR_PARAMS, "type must be 2 (balance), 3, 4, 5 or 6")
    if amount.copy_abs() > MAX_MONEY:
        raise Mt5Error(TRADE_MAX_MONEY, "balance is above 1,000,000,000")
    plus, minus = BALANCE_TYPES[kind]
    operation = plus if amount >= 0 else minus
    return operation, (amount if _signed(operation) else amount.copy_abs())


@command("trade/balance")
def trade_balance(ctx: Context) -> Answer:
    p = ctx.params
    login = p.require_integer("login", low=1)
    kind = p.require_integer("type")
    raw = p.raw("balance")
    if raw is None:
        raise Mt5Error(ERR_PARAMS, "balance is required")
    operation, amount = balance_operation(kind, parse_decimal(raw, "balance"))
    p.integer("check_margin", default=1, low=0, high=1)  # see the module's note
    comment = (p.text("comment") or "")[:COMMENT_MAX]
    cmd = PostLedgerEntry(login, operation, amount, comment=comment, on_threshold="refuse")
    posting = ctx.services.post_ledger_entry(cmd, ctx.actor)
    return Answer({"Ticket": posting.operation_id})


# ---- deals ----------------------------------------------------------------------------------


def render_deal(e: LedgerEntry) -> dict[str, Any]:
    """A ledger entry as an MT5 deal (field order as MT5 sends it); every value a string."""
    cur = Currency(e.currency, e.currency_digits)
    profit = format_minor(e.amount, cur)
    at = e.at.astimezone(UTC)
    return {
        "Deal": e.id,
        "ExternalID": e.reference,
        "Login": e.login,
        "Dealer": e.manager_login or 0,
        "Order": 0,
        "Action": DEAL_ACTIONS[e.kind],
        "Entry": 0,
        "Reason": DEAL_REASON_DEALER,
        "Digits": 0,
        "DigitsCurrency": e.currency_digits,
        "ContractSize": 0,
        "Time": int(at.timestamp()),
        "TimeMsc": int(at.timestamp() * 1000),
        "Symbol": "",
        "Price": 0,
        "Volume": 0,
        "VolumeExt": 0,
        "Profit": profit,
        "Storage": 0,
        "Commission": 0,
        "CommissionAgent": 0,
        "Fee": 0,
        "RateProfit": 0,
        "RateMargin": 0,
        "ExpertID": 0,
        "ExpertPositionID": 0,
        "PositionID": 0,
        "Comment": e.comment,
        "ProfitRaw": profit,
        "PricePosition": 0,
        "PriceSL": 0,
        "PriceTP": 0,
        "VolumeClosed": 0,
        "VolumeClosedExt": 0,
        "TickValue": 0,
        "TickSize": 0,
        "Flags": 0,
        "Gateway": "",
        "PriceGateway": 0,
        "ModifyFlags": 0,
        "Value": 0,
        "MarketBid": 0,
        "MarketAsk": 0,
        "MarketLast": 0,
    }


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(min(max(seconds, 0), LATEST), UTC)


def _window(ctx: Context) -> tuple[datetime | None, datetime | None]:
    """`from` and `to` in unix seconds, both inclusive (the core's upper bound is exclusive)."""
    low = ctx.params.integer("from")
    high = ctx.params.integer("to")
    start = None if low is None else _moment(low)
    end = None if high is None or high >= LATEST else _moment(high) + timedelta(seconds=1)
    return start, end


def _deals(ctx: Context) -> Iterator[LedgerEntry]:
    login = ctx.params.require_integer("login", low=1)
    start, end = _window(ctx)
    query = LedgerQuery(login=login, time_from=start, time_to=end)
    return ctx.services.iter_ledger(query, ctx.actor)


def _page(ctx: Context) -> tuple[int, int]:
    """(offset, how many) of a get_page: total 0 or above the limit means the limit."""
    offset = min(ctx.params.integer("offset", low=0) or 0, MAX_TICKET - PAGE_MAX)
    total = ctx.params.integer("total", low=0) or 0
    return offset, (total if 0 < total <= PAGE_MAX else PAGE_MAX)


@command("deal/get")
def deal_get(ctx: Context) -> Answer:
    ticket = ctx.params.require_integer("ticket", "deal", low=1, high=MAX_TICKET)
    # The first entry in reach from `ticket` on: the deal itself, or it is not ours to show.
    found = ctx.services.list_ledger(LedgerQuery(after_id=ticket - 1, limit=1), ctx.actor)
    if not found or found[0].id != ticket:
        raise LedgerEntryNotFound(ticket)
    return Answer(render_deal(found[0]))


@command("deal/get_total")
def deal_get_total(ctx: Context) -> Answer:
    return Answer({"Total": sum(1 for _ in _deals(ctx))})


@command("deal/get_page")
def deal_get_page(ctx: Context) -> Answer:
    offset, count = _page(ctx)
    return Answer([render_deal(e) for e in islice(_deals(ctx), offset, offset + count)])


# ---- positions, orders, closed orders: none until brokerplane trades ------------------------


def _known_login(ctx: Context) -> None:
    """The `login` exists and is within reach (else 13 Not found)."""
    ctx.services.get_account(ctx.params.require_integer("login", low=1), ctx.actor)


def _known_logins(ctx: Context) -> None:
    for login in ctx.params.logins("login") or []:
        ctx.services.get_account(login, ctx.actor)


def _not_found(what: str) -> Mt5Error:
    return Mt5Error(ERR_NOTFOUND, f"no such {what}: brokerplane holds no trading yet")


@command("position/get")
def position_get(ctx: Context) -> Answer:
    _known_login(ctx)
    raise _not_found("position")


@command("position/get_batch")
def position_get_batch(ctx: Context) -> Answer:
    if not ctx.params.has("login", "group", "ticket"):
        raise Mt5Error(ERR_PARAMS, "login or group is required")
    _known_logins(ctx)
    return Answer([])


@command("position/get_total", "order/get_total")
def open_total(ctx: Context) -> Answer:
    _known_login(ctx)
    return Answer({"Total": 0})


@command("position/get_page", "order/get_page", "history/get_page")
def empty_page(ctx: Context) -> Answer:
    _known_login(ctx)
    _page(ctx)
    _window(ctx)  # history's from/to; positions and orders send none
    return Answer([])


@command("history/get_total")
def history_get_total(ctx: Context) -> Answer:
    _known_login(ctx)
    _window(ctx)
    return Answer({"Total": 0})


@command("order/get", "history/get")
def order_get(ctx: Context) -> Answer:
    ctx.params.require_integer("ticket", "order", low=1, high=MAX_TICKET)
    raise _not_found("order")
