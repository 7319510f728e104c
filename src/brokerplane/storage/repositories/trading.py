"""The TradingRepository over SQL: quotes, open positions, deals and the exposure aggregate
(its statement in storage/sql/exposure.py)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update
from sqlalchemy.engine import Row
from sqlalchemy.sql.elements import ColumnElement

from brokerplane.core.trading.model import (
    Deal,
    DealQuery,
    ExposureFilter,
    ExposureSum,
    ExposureSums,
    Position,
    PositionQuery,
    Quote,
)
from brokerplane.storage import tables as t
from brokerplane.storage.sql.conditions import reach
from brokerplane.storage.sql.exposure import LINE, exposure_statement

_POSITION_COLUMNS = [c.name for c in t.positions.columns if c.name != "id"]
_DEAL_COLUMNS = [c.name for c in t.deals.columns]


def _mapping(row: Row[Any]) -> dict[str, Any]:
    return dict(row._mapping)


class SqlTrading:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    # quotes
    def put_quotes(self, quotes: Sequence[Quote]) -> int:
        latest: dict[str, Quote] = {}
        for q in quotes:  # the newest of each symbol in the batch
            if q.symbol not in latest or q.at >= latest[q.symbol].at:
                latest[q.symbol] = q
        if not latest:
            return 0
        held = self.quotes(sorted(latest), for_update=True)
        stored = 0
        for symbol, q in latest.items():
            values = {
                "bid": q.bid,
                "ask": q.ask,
                "at": q.at,
                "set_by": q.set_by,
                "set_people": q.set_people,
            }
            old = held.get(symbol)
            if old is None:
                self.c.execute(insert(t.quotes).values(symbol=symbol, **values))
            elif q.at >= old.at:
                self.c.execute(update(t.quotes).where(t.quotes.c.symbol == symbol).values(values))
            else:
                continue
            stored += 1
        return stored

    def quotes(
        self, symbols: Sequence[str] | None = None, *, for_update: bool = False
    ) -> dict[str, Quote]:
        q = select(t.quotes)
        if symbols is not None:
            if not symbols:
                return {}
            q = q.where(t.quotes.c.symbol.in_(list(symbols)))
        if for_update:
            q = q.order_by(t.quotes.c.symbol).with_for_update()
        return {r.symbol: Quote(**_mapping(r)) for r in self.c.execute(q)}

    # positions
    def positions_of(self, login: int) -> list[Position]:
        p = t.positions.c
        q = select(t.positions).where(p.login == login).order_by(p.id)
        return [Position(**_mapping(r)) for r in self.c.execute(q)]

    def get_position(self, position_id: int) -> Position | None:
        row = self.c.execute(select(t.positions).where(t.positions.c.id == position_id)).first()
        return Position(**_mapping(row)) if row else None

    def add_position(self, position: Position) -> Position:
        values = {name: getattr(position, name) for name in _POSITION_COLUMNS}
        q = insert(t.positions).values(**values).returning(t.positions.c.id)
        position.id = int(self.c.execute(q).scalar_one())
        return position

    def update_position(self, position: Position) -> None:
        values = {name: getattr(position, name) for name in _POSITION_COLUMNS}
        self.c.execute(update(t.positions).where(t.positions.c.id == position.id).values(values))

    def delete_position(self, position_id: int) -> None:
        self.c.execute(delete(t.positions).where(t.positions.c.id == position_id))

    def _reach(
        self, login: Any, group_ids: tuple[int, ...] | None, broker_mask: str | None
    ) -> list[ColumnElement[bool]]:
        if group_ids is None and broker_mask is None:
            return []
        return [reach(login, group_ids, broker_mask, self.c.dialect.name)]

    def list_positions(self, query: PositionQuery) -> list[Position]:
        p = t.positions.c
        if (query.logins is not None and not query.logins) or query.group_ids == ():
            return []
        conds = self._reach(p.login, query.group_ids, query.broker_mask)
        if query.logins is not None:
            conds.append(p.login.in_(query.logins))
        if query.symbol is not None:
            conds.append(p.symbol == query.symbol)
        if query.after_id is not None:
            conds.append(p.id > query.after_id)
        q = select(t.positions).where(and_(True, *conds)).order_by(p.id).limit(query.limit)
        return [Position(**_mapping(r)) for r in self.c.execute(q)]

    # deals
    def add_deal(self, deal: Deal) -> None:
        self.c.execute(insert(t.deals).values({n: getattr(deal, n) for n in _DEAL_COLUMNS}))

    def get_deal(self, deal_id: int) -> Deal | None:
        row = self.c.execute(select(t.deals).where(t.deals.c.id == deal_id)).first()
        return Deal(**_mapping(row)) if row else None

    def list_deals(self, query: DealQuery) -> list[Deal]:
        d = t.deals.c
        if query.group_ids == ():
            return []
        conds = self._reach(d.login, query.group_ids, query.broker_mask)
        for column, value in (
            (d.login, query.login),
            (d.position_id, query.position_id),
        ):
            if value is not None:
                conds.append(column == value)
        if query.entries:
            conds.append(d.entry.in_(query.entries))
        if query.logins is not None:
            conds.append(d.login.in_(query.logins))
        if query.ids is not None:
            conds.append(d.id.in_(query.ids))
        bounds = (
            (d.at, query.time_from, query.time_to),
            (d.opened_at, query.opened_from, query.opened_to),
        )
        for column, low, high in bounds:
            if low is not None:
                conds.append(column >= low)
            if high is not None:
                conds.append(column < high)
        if query.after_id is not None:
            conds.append(d.id > query.after_id)
        q = select(t.deals).where(and_(True, *conds)).order_by(d.id).limit(query.limit)
        return [Deal(**_mapping(r)) for r in self.c.execute(q)]

    # exposure
    def exposure(self, query: ExposureFilter) -> ExposureSums:
        if query.group_ids == () or query.symbols == ():
            return ExposureSums([], {}, 0)
        lines: list[ExposureSum] = []
        by_group: dict[int, int] = {}
        for r in self.c.execute(exposure_statement(query, self.c.dialect.name)):
            if r.level == LINE:
                lines.append(_exposure_sum(r))
            else:
                by_group[int(r.group_id)] = int(r.accounts)
        # An account is in one group: the groups' distinct accounts add up to everyone's.
        everyone = sum(by_group.values())
        return ExposureSums(lines, by_group, everyone)


def _exposure_sum(r: Row[Any]) -> ExposureSum:
    quote = None if r.bid is None else Quote(r.symbol, r.bid, r.ask, r.at)
    return ExposureSum(
        symbol=r.symbol,
        group_id=int(r.group_id),
        digits=int(r.digits),
        contract_size=Decimal(r.contract_size),
        buy_volume=int(r.buy_volume),
        buy_value=int(r.buy_value),
        sell_volume=int(r.sell_volume),
        sell_value=int(r.sell_value),
        positions=int(r.positions),
        accounts=int(r.accounts),
        quote=quote,
    )
