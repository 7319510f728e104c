"""Exposure per symbol over the groups within reach, and the accounts at margin call or stop out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import replace
from decimal import Decimal

from brokerplane.core import masks
from brokerplane.core.access import reach
from brokerplane.core.account.model import AccountQuery
from brokerplane.core.actor import Actor
from brokerplane.core.errors import NoQuote
from brokerplane.core.money import currency, to_minor_half_up
from brokerplane.core.ports import UnitOfWork
from brokerplane.core.trading.commands import MAX_PAGE, ExposureLine, ExposureReport, MarginStatus
from brokerplane.core.trading.model import LOT, ExposureFilter, Position, PositionQuery
from brokerplane.core.trading.queries import groups_matching
from brokerplane.core.trading.risk import load_market, risk_of


def exposure(
    uow: UnitOfWork, actor: Actor, *, group: str | None, symbol: str | None, report_currency: str
) -> ExposureReport:
    """Net and gross exposure per symbol and group, priced at the latest quotes: the sums,
    each line's quote and the accounts holding positions come from storage in one aggregate
    over the open positions; prices and rates are applied per line, each line rounded to the
    report currency's cents."""
    actor.require("reports:read")
    cur = currency(report_currency)
    group_ids, brokers = reach.query_scope(uow, actor)
    groups = {g.id: g.name for g in uow.groups.list()}
    if group is not None:
        wanted = {g.id for g in groups_matching(uow, group)}
        group_ids = tuple(sorted(wanted if group_ids is None else wanted & set(group_ids)))
    names: tuple[str, ...] | None = None
    if symbol is not None:
        names = tuple(masks.parse(symbol, "symbol").select(s.name for s in uow.symbols.list()))
    scope = ExposureFilter(group_ids=group_ids, symbols=names, broker_mask=brokers)
    market = load_market(uow)
    lines: list[ExposureLine] = []
    sums = uow.trading.exposure(scope)
    for s in sums.lines:
        sym = market.symbols.get(s.symbol)
        quote = s.quote
        if sym is None or quote is None:
            raise NoQuote(f"no quote for {s.symbol}", symbol=s.symbol)
        rate = market.require_rate(sym.currency_profit, cur.code)
        scale = s.contract_size / LOT
        point = Decimal(10) ** s.digits

        def money(amount: Decimal, rate: Decimal = rate) -> Decimal:
            return Decimal(to_minor_half_up(amount * rate, cur.digits)).scaleb(-cur.digits)

        buy_pl = quote.bid * s.buy_volume - Decimal(s.buy_value) / point
        sell_pl = Decimal(s.sell_value) / point - quote.ask * s.sell_volume
        lines.append(
            ExposureLine(
                symbol=s.symbol,
                group=groups.get(s.group_id, str(s.group_id)),
                accounts=s.accounts,
                positions=s.positions,
                buy_lots=Decimal(s.buy_volume) / LOT,
                sell_lots=Decimal(s.sell_volume) / LOT,
                net_notional=money((s.buy_volume - s.sell_volume) * scale * quote.mid),
                gross_notional=money((s.buy_volume + s.sell_volume) * scale * quote.mid),
                client_profit=money((buy_pl + sell_pl) * scale),
            )
        )
    per_group, everyone = sums.accounts_by_group, sums.accounts
    by_symbol = _merge(lines, lambda x: (x.symbol, "*"))
    by_group = _merge(lines, lambda x: ("*", x.group))
    ids = {name: gid for gid, name in groups.items()}
    by_group = [
        replace(x, accounts=per_group.get(ids.get(x.group, -1), x.accounts)) for x in by_group
    ]
    total = _merge(lines, lambda x: ("*", "*"))
    zero = ExposureLine("*", "*", 0, 0, *(Decimal(0),) * 5)
    return ExposureReport(
        cur.code,
        lines,
        by_symbol,
        by_group,
        replace(total[0] if total else zero, accounts=everyone),
    )


def _merge(
    lines: list[ExposureLine], key: Callable[[ExposureLine], tuple[str, str]]
) -> list[ExposureLine]:
    """Lines added up by a key (symbol, group)."""
    merged: dict[tuple[str, str], ExposureLine] = {}
    for line in lines:
        k = key(line)
        held = merged.get(k)
        if held is None:
            merged[k] = replace(line, symbol=k[0], group=k[1])
            continue
        merged[k] = ExposureLine(
            k[0],
            k[1],
            held.accounts + line.accounts,
            held.positions + line.positions,
            held.buy_lots + line.buy_lots,
            held.sell_lots + line.sell_lots,
            held.net_notional + line.net_notional,
            held.gross_notional + line.gross_notional,
            held.client_profit + line.client_profit,
        )
    return [merged[k] for k in sorted(merged)]


def margin_calls(uow: UnitOfWork, actor: Actor) -> list[MarginStatus]:
    actor.require("reports:read")
    group_ids, brokers = reach.query_scope(uow, actor)
    by_login: dict[int, list[Position]] = defaultdict(list)
    for pos in _all_positions(uow, group_ids, brokers):
        by_login[pos.login].append(pos)
    groups = {g.id: g for g in uow.groups.list()}
    market = load_market(uow)
    out: list[MarginStatus] = []
    logins = sorted(by_login)
    for start in range(0, len(logins), MAX_PAGE):
        chunk = tuple(logins[start : start + MAX_PAGE])
        for acc in uow.accounts.list(AccountQuery(logins=chunk, limit=len(chunk))):
            group = groups[acc.group_id]
            state = risk_of(acc, by_login[acc.login], market, acc.margin_mode or group.margin_mode)
            if state.margin <= 0:
                continue
            level = (Decimal(state.equity) / state.margin * 100).quantize(Decimal("0.01"))
            if level <= group.margin_call:
                kind = "stop_out" if level <= group.stop_out else "margin_call"
                out.append(MarginStatus(state, group, level, kind))
    return sorted(out, key=lambda m: (m.level, m.risk.account.login))


def _all_positions(
    uow: UnitOfWork, group_ids: tuple[int, ...] | None, brokers: str | None
) -> Iterator[Position]:
    after: int | None = None
    while True:
        page = uow.trading.list_positions(
            PositionQuery(after_id=after, limit=MAX_PAGE, group_ids=group_ids, broker_mask=brokers)
        )
        yield from page
        if len(page) < MAX_PAGE:
            return
        after = page[-1].id
