"""MT5 balance operations (`trade/balance`) into the core ledger, and deals (`deal/*`: balance
operations and trade deals); positions are positions.py, orders and history orders.py.

trade/balance `type` → core operation, by the sign of `balance`:

    type            positive            negative
    2 balance       deposit             withdrawal
    3 credit        credit_in           credit_out
    4 charge        correction (+)      charge
    5 correction    correction (+)      correction (-)
    6 bonus         bonus_in            bonus_out

MT5's charge (4) is "additional adding/withdrawing": the core's `charge` only takes money away,
so an adding charge is posted as a positive correction and reads back as deal action 5.

`check_margin` 1 (the default) refuses money out of an account with open positions beyond its
free margin (10019 Not enough money); 0 checks only that no figure goes below zero. Either way a
withdrawal beyond the balance, or a credit out beyond the credit, is 10019.

Approvals: MT5 has no "held" answer. An operation above the approval threshold is held as a
pending approval exactly as the native API holds it (whoever asks: nobody approves their own
operation) and answered 10006 Request rejected, with `approval_id` and a `reason` naming it; a
different manager approves it through `/v1/approvals`, and it is applied then.

Retries: trade/balance takes an optional idempotency key in the `Idempotency-Key` (or
`x-request-id`) header. The same key and the same parameters replay the first answer, retcode
and body as they were (10006 and the same approval too), with `Idempotent-Replay: true`; the
same key with other parameters is 17 Duplicate data and nothing is applied; a repeat while the
first is still running waits for it and replays its answer.

Deals are the ledger's entries in ticket order (MT5 deal and balance tickets share a sequence):
`Deal` = the entry id, `Reason` 2 (DEAL_REASON_DEALER). A balance operation has `Action` by
kind (the table above read backwards) and `Profit` = the signed change. A trade deal (ledger
kind "trade") renders from its Deal: `Action` 0 buy / 1 sell, `Entry` 0 in / 1 out / 2 inout,
`Order` = the deal ticket (a market order fills at once in one deal), `Profit` the realised P/L,
`PricePosition` the position's (average) open price, `PositionID`/`ExpertPositionID` the
position, `Value` the deal's notional in the deposit currency, `VolumeClosed` its volume when
it only closes (an inout deal does not keep how much of it closed: 0). A page's trade deals are
loaded in one query and joined by ticket.

Positions (IMTPosition): `Action` 0 buy / 1 sell, `PriceCurrent` where it would close now (bid
for a buy, ask for a sell), `Profit` floating at the latest quotes in the deposit currency,
`RateProfit` the profit-to-deposit currency rate, `Reason` 2 (dealer). brokerplane keeps no
stops, swaps or per-position margin rate: `PriceSL`, `PriceTP`, `Storage`, `RateMargin` are 0.
`position/get` answers the first position of the symbol (a netted account holds one).

Orders: a market order fills at once, so there are never open orders (`order/get` 13,
`order/get_total` 0, `order/get_page` []). The history holds one filled order per trade deal
(IMTOrder): `Order` = the deal ticket, `State` 4 (ORDER_STATE_FILLED), `Type` 0 buy / 1 sell,
`TypeFill` 0 (fill or kill), `TimeSetup` = `TimeDone` = the deal's time, `PriceOrder` =
`PriceCurrent` = the fill price, `VolumeInitial` = the deal's volume, `VolumeCurrent` 0 (nothing
left unfilled), `PositionID` the position, `Reason` 2 (dealer).

Volumes: `Volume` in 1/10000 lot, `VolumeExt` in 1/10^8 lot; prices at the symbol's digits."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import islice
from typing import Any

from brokerplane.api.kit import idempotency as keyed
from brokerplane.api.kit.approvals import held_message, is_held
from brokerplane.api.mt5 import newer
from brokerplane.api.mt5.errors import ERR_PARAMS, REQUEST_REJECTED, Mt5Error
from brokerplane.api.mt5.wire import Answer, Context, command
from brokerplane.application.idempotency import Replay
from brokerplane.core.errors import LedgerEntryNotFound
from brokerplane.core.kinds import EntryKind, Operation
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import KINDS, SIGNED_OPERATIONS, LedgerEntry, LedgerQuery
from brokerplane.core.money import Currency, format_minor, parse_decimal, to_minor_half_up
from brokerplane.core.trading.model import TRADE_KIND, Deal, DealQuery

MAX_MONEY = Decimal(1_000_000_000)  # |balance| above this: 4005 Money limit reached
TRADE_MAX_MONEY = 4005
COMMENT_MAX = 31  # MT5 keeps 32 characters with the terminator; longer comments are cut
PAGE_MAX = 100  # get_page answers at most this many; total=0 (or more) means this many
DEAL_REASON_DEALER = 2  # also POSITION_REASON_DEALER and ORDER_REASON_DEALER
ORDER_STATE_FILLED = 4
VOLUME_EXT = 10**4  # VolumeExt (1/10^8 lot) per Volume unit (1/10^4 lot)
RATE_QUANTUM = Decimal("1e-8")
ENTRIES = {"in": 0, "out": 1, "inout": 2}  # IMTDeal::EnDealEntry
MAX_TICKET = 2**63 - 1
LATEST = 253_402_300_799  # 9999-12-31 23:59:59, the last second a datetime holds

# type -> (operation for a positive amount, operation for a negative one)
BALANCE_TYPES: dict[int, tuple[Operation, Operation]] = {
    2: (Operation.DEPOSIT, Operation.WITHDRAWAL),
    3: (Operation.CREDIT, Operation.CREDIT),
    4: (Operation.CORRECTION, Operation.CHARGE),
    5: (Operation.CORRECTION, Operation.CORRECTION),
    6: (Operation.BONUS, Operation.BONUS),
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


def _signed(operation: Operation) -> bool:
    """Whether the core reads the operation's direction from the amount's sign."""
    return operation in SIGNED_OPERATIONS or KINDS[EntryKind(operation)][1] == 0


def balance_operation(kind: int, amount: Decimal) -> tuple[Operation, Decimal]:
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
    check_margin = p.integer("check_margin", default=1, low=0, high=1) == 1
    comment = (p.text("comment") or "")[:COMMENT_MAX]
    cmd = PostLedgerEntry(login, operation, amount, comment=comment, check_margin=check_margin)

    request_print = keyed.fingerprint(
        "mt5", "trade/balance", login, operation, amount, comment, check_margin
    )
    request = keyed.request_of(ctx.actor, ctx.key, request_print)
    actor = keyed.keyed_actor(ctx.actor, request)
    outcome = keyed.run(lambda: ctx.services.run(cmd, actor, request), _balance_label)
    if isinstance(outcome, Replay):
        if outcome.response is not None:  # stored as it was sent, before answers were data
            return Answer(replayed=outcome.response)
        return replace(_balance_answer(outcome.result), replay=True)
    return _balance_answer(outcome)


def _balance_label(posting: Posting) -> tuple[int, str | None]:
    """A deal as a reused key's refusal names it: its ticket."""
    return 200, str(posting.operation_id or "")


def _balance_answer(posting: Posting) -> Answer:
    """Applied: the deal's ticket. Held for approval: 10006 naming the approval."""
    if is_held(posting):
        assert posting.approval is not None
        top = {"approval_id": posting.approval.id, "reason": held_message(posting)}
        return Answer(top=top, code=REQUEST_REJECTED)
    return Answer({"Ticket": posting.operation_id})


# ---- deals ----------------------------------------------------------------------------------


def unix(at: datetime) -> int:
    return int(at.astimezone(UTC).timestamp())


def millis(at: datetime) -> int:
    return int(at.astimezone(UTC).timestamp() * 1000)


def rate_shown(rate: Decimal) -> Decimal:
    """A conversion rate as MT5's double shows it, to 8 decimals without trailing zeros."""
    return rate.quantize(RATE_QUANTUM).normalize()


def side_code(side: str) -> int:
    """MT5's 0 buy / 1 sell (deal and position Action, order Type)."""
    return 0 if side == "buy" else 1


def render_deal(e: LedgerEntry, deal: Deal | None = None) -> dict[str, Any]:
    """A ledger entry as an MT5 deal (field order as MT5 sends it); every value a string.
    `deal`: the trade deal the entry carries the P/L of (an entry of kind "trade")."""
    cur = Currency(e.currency, e.currency_digits)
    profit = format_minor(e.amount, cur)
    out: dict[str, Any] = {
        "Deal": e.id,
        "ExternalID": e.reference,
        "Login": e.login,
        "Dealer": e.manager_login or 0,
        "Order": 0,
        "Action": DEAL_ACTIONS.get(e.kind, 0),
        "Entry": 0,
        "Reason": DEAL_REASON_DEALER,
        "Digits": 0,
        "DigitsCurrency": e.currency_digits,
        "ContractSize": 0,
        "Time": unix(e.at),
        "TimeMsc": millis(e.at),
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
        **newer.deal_fields(unix(e.at)),
    }
    if deal is not None:
        out.update(_trade_fields(deal, cur))
    return out


def _trade_fields(d: Deal, cur: Currency) -> dict[str, Any]:
    closed = d.volume if d.entry == "out" else 0
    value = d.volume * d.contract_size * d.price_decimal * d.rate_profit / VOLUME_EXT
    return {
        "ExternalID": "",
        "Order": d.id,
        "Action": side_code(d.side),
        "Entry": ENTRIES[d.entry],
        "Digits": d.digits,
        "ContractSize": d.contract_size.normalize(),
        "Symbol": d.symbol,
        "Price": d.price_decimal,
        "Volume": d.volume,
        "VolumeExt": d.volume * VOLUME_EXT,
        "RateProfit": rate_shown(d.rate_profit),
        "ExpertPositionID": d.position_id,
        "PositionID": d.position_id,
        "Comment": d.comment,
        "PricePosition": d.price_position_decimal,
        "VolumeClosed": closed,
        "VolumeClosedExt": closed * VOLUME_EXT,
        "Value": format_minor(to_minor_half_up(value, cur.digits), cur),
    }


def render_deals(ctx: Context, entries: list[LedgerEntry]) -> list[dict[str, Any]]:
    """Entries as deals; the trade deals among them loaded in one query per account."""
    trades: dict[int, list[LedgerEntry]] = {}
    for e in entries:
        if e.kind == TRADE_KIND:
            trades.setdefault(e.login, []).append(e)
    deals: dict[int, Deal] = {}
    for login, held in trades.items():
        query = DealQuery(
            login=login,
            time_from=min(e.at for e in held),
            time_to=max(e.at for e in held) + timedelta(microseconds=1),
            after_id=held[0].id - 1,
            limit=1000,
        )
        wanted = {e.id for e in held}
        for d in ctx.services.list_deals(query, ctx.actor):
            if d.id in wanted:
                deals[d.id] = d
    return [render_deal(e, deals.get(e.id)) for e in entries]


def _moment(seconds: int) -> datetime:
    return datetime.fromtimestamp(min(max(seconds, 0), LATEST), UTC)


def time_window(ctx: Context) -> tuple[datetime | None, datetime | None]:
    """`from` and `to` in unix seconds, both inclusive (the core's upper bound is exclusive)."""
    low = ctx.params.integer("from")
    high = ctx.params.integer("to")
    start = None if low is None else _moment(low)
    end = None if high is None or high >= LATEST else _moment(high) + timedelta(seconds=1)
    return start, end


def _deals(ctx: Context) -> Iterator[LedgerEntry]:
    login = ctx.params.require_integer("login", low=1)
    start, end = time_window(ctx)
    query = LedgerQuery(login=login, time_from=start, time_to=end)
    return ctx.services.iter_ledger(query, ctx.actor)


def page_of(ctx: Context) -> tuple[int, int]:
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
    return Answer(render_deals(ctx, found)[0])


@command("deal/get_total")
def deal_get_total(ctx: Context) -> Answer:
    return Answer({"Total": sum(1 for _ in _deals(ctx))})


@command("deal/get_page")
def deal_get_page(ctx: Context) -> Answer:
    offset, count = page_of(ctx)
    return Answer(render_deals(ctx, list(islice(_deals(ctx), offset, offset + count))))
