"""Fake trading: quotes, positions and deals."""

from __future__ import annotations

from collections.abc import Sequence

from brokerplane.core.errors import Conflict
from brokerplane.core.trading.model import (
    Deal,
    DealQuery,
    ExposureFilter,
    ExposureSums,
    Position,
    PositionQuery,
    Quote,
)
from tests.unit.fake_exposure import exposure_sums
from tests.unit.fakes.base import _copy, _Repo


class FakeTrading(_Repo):
    """The TradingRepository port: newest quote per symbol, positions by id, deals by the id of
    their ledger entry, and the exposure sums the SQL aggregate gives."""

    def put_quotes(self, quotes: Sequence[Quote]) -> int:
        self._writing()
        stored = 0
        for q in quotes:
            held = self._s.quotes.get(q.symbol)
            if held is None or q.at >= held.at:
                self._s.quotes[q.symbol] = q
                stored += 1
        return stored

    def quotes(self, symbols: Sequence[str] | None = None) -> dict[str, Quote]:
        return {k: q for k, q in self._s.quotes.items() if symbols is None or k in symbols}

    def positions_of(self, login: int) -> list[Position]:
        return [_copy(p) for _, p in sorted(self._s.positions.items()) if p.login == login]

    def get_position(self, position_id: int) -> Position | None:
        found = self._s.positions.get(position_id)
        return _copy(found) if found else None

    def add_position(self, position: Position) -> Position:
        self._writing()
        if position.login not in self._s.accounts:
            raise Conflict("foreign key: positions.login")
        position.id = self._s.next_position_id
        self._s.next_position_id += 1
        self._s.positions[position.id] = _copy(position)
        return position

    def update_position(self, position: Position) -> None:
        self._writing()
        self._s.positions[position.id] = _copy(position)

    def delete_position(self, position_id: int) -> None:
        self._writing()
        self._s.positions.pop(position_id, None)

    def list_positions(self, query: PositionQuery) -> list[Position]:
        out = []
        for pid, pos in sorted(self._s.positions.items()):
            if query.logins is not None and pos.login not in query.logins:
                continue
            if query.symbol is not None and pos.symbol != query.symbol:
                continue
            if query.after_id is not None and pid <= query.after_id:
                continue
            if not self._in_reach(pos.login, query.group_ids, query.broker_mask):
                continue
            out.append(_copy(pos))
        return out[: query.limit]

    def add_deal(self, deal: Deal) -> None:
        self._writing()
        if deal.id in self._s.deals or all(e.id != deal.id for e in self._s.ledger):
            raise Conflict("deals.id must be a new ledger entry's id")
        self._s.deals[deal.id] = _copy(deal)

    def get_deal(self, deal_id: int) -> Deal | None:
        found = self._s.deals.get(deal_id)
        return _copy(found) if found else None

    def list_deals(self, query: DealQuery) -> list[Deal]:
        out = []
        for did, deal in sorted(self._s.deals.items()):
            checks = (
                query.login is None or deal.login == query.login,
                query.position_id is None or deal.position_id == query.position_id,
                query.logins is None or deal.login in query.logins,
                query.ids is None or did in query.ids,
                not query.entries or deal.entry in query.entries,
                query.time_from is None or deal.at >= query.time_from,
                query.time_to is None or deal.at < query.time_to,
                query.opened_from is None or deal.opened_at >= query.opened_from,
                query.opened_to is None or deal.opened_at < query.opened_to,
                query.after_id is None or did > query.after_id,
                self._in_reach(deal.login, query.group_ids, query.broker_mask),
            )
            if all(checks):
                out.append(_copy(deal))
        return out[: query.limit]

    def exposure(self, query: ExposureFilter) -> ExposureSums:
        if query.group_ids == () or query.symbols == ():
            return ExposureSums([], {}, 0)
        s = self._s
        return exposure_sums(s.positions, s.accounts, s.quotes, query, self._in_reach)
