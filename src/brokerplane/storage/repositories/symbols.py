"""SqlSymbols: instrument settings (see the SymbolRepository port)."""

from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import Connection, delete, insert, select, update

from brokerplane.core.symbol.model import Symbol
from brokerplane.storage import tables as t
from brokerplane.storage.sql.rows import row_dict as _row


class SqlSymbols:
    def __init__(self, conn: Connection) -> None:
        self.c = conn

    def get(self, name: str) -> Symbol | None:
        row = self.c.execute(select(t.symbols).where(t.symbols.c.name == name)).first()
        return Symbol(**_row(row)) if row else None

    def list(self) -> list[Symbol]:
        rows = self.c.execute(select(t.symbols).order_by(t.symbols.c.name))
        return [Symbol(**_row(r)) for r in rows]

    def add(self, symbol: Symbol) -> Symbol:
        values = asdict(symbol)
        values.pop("id")
        q = insert(t.symbols).values(**values).returning(t.symbols.c.id)
        symbol.id = self.c.execute(q).scalar_one()
        return symbol

    def update(self, symbol: Symbol) -> None:
        values = asdict(symbol)
        self.c.execute(update(t.symbols).where(t.symbols.c.id == values.pop("id")).values(**values))

    def delete(self, symbol_id: int) -> None:
        name = select(t.symbols.c.name).where(t.symbols.c.id == symbol_id).scalar_subquery()
        self.c.execute(delete(t.quotes).where(t.quotes.c.symbol == name))
        self.c.execute(delete(t.symbols).where(t.symbols.c.id == symbol_id))
