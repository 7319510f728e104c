"""The tables bench/drivers.py measures deposits on: an accounts table and a ledger in a
schema of the run's own, set up, reset between variants, checked and dropped."""

from __future__ import annotations

from contextlib import suppress
from dataclasses import dataclass

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    Table,
    create_engine,
    func,
    insert,
    select,
    text,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

ACCOUNTS = 1000
CONNECT_TIMEOUT_S = 5


# --------------------------------------------------------------------------- schema


@dataclass(frozen=True)
class Schema:
    name: str
    metadata: MetaData
    accounts: Table
    ledger: Table

    @classmethod
    def build(cls, name: str) -> Schema:
        md = MetaData(schema=name)
        accounts = Table(
            "accounts",
            md,
            Column("id", BigInteger, primary_key=True, autoincrement=False),
            Column("balance", BigInteger, nullable=False, server_default="0"),
        )
        ledger = Table(
            "ledger",
            md,
            Column("id", BigInteger, Identity(), primary_key=True),
            Column("account_id", BigInteger, ForeignKey(accounts.c.id), nullable=False),
            Column("amount", BigInteger, nullable=False),
            Column("balance_after", BigInteger, nullable=False),
            Column(
                "created_at", DateTime(timezone=True), nullable=False, server_default=func.now()
            ),
            Index(f"ix_{name}_ledger_account", "account_id", "id"),
        )
        return cls(name, md, accounts, ledger)

    # The same three statements, spelled for the raw drivers.
    def raw_sql(self, style: str) -> tuple[str, str, str]:
        p = ["%s", "%s", "%s"] if style == "format" else ["$1", "$2", "$3"]
        s = self.name
        return (
            f"SELECT balance FROM {s}.accounts WHERE id = {p[0]} FOR UPDATE",
            f"UPDATE {s}.accounts SET balance = {p[0]} WHERE id = {p[1]}",
            (
                f"INSERT INTO {s}.ledger (account_id, amount, balance_after) "
                f"VALUES ({p[0]}, {p[1]}, {p[2]}) RETURNING id"
            ),
        )


class Admin:
    """Setup, reset between variants, consistency check and cleanup, over one plain connection."""

    def __init__(self, url: URL, schema: Schema) -> None:
        self.schema = schema
        self.engine = create_engine(
            url.set(drivername="postgresql+psycopg"),
            poolclass=NullPool,
            connect_args={"connect_timeout": CONNECT_TIMEOUT_S},
        )

    def server_version(self) -> str:
        with self.engine.connect() as conn:
            return str(conn.execute(text("SHOW server_version")).scalar_one())

    def settings(self) -> dict[str, str]:
        names = ("synchronous_commit", "fsync", "max_connections", "shared_buffers")
        with self.engine.connect() as conn:
            return {n: str(conn.execute(text(f"SHOW {n}")).scalar_one()) for n in names}

    def create(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {self.schema.name}"))
            self.schema.metadata.create_all(conn)
            conn.execute(
                insert(self.schema.accounts).from_select(
                    ["id", "balance"],
                    select(func.generate_series(1, ACCOUNTS), text("0")),
                )
            )

    def reset(self) -> None:
        """Start every variant from the same state: empty ledger, zero balances, fresh stats."""
        s = self.schema.name
        with self.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {s}.ledger RESTART IDENTITY"))
            conn.execute(text(f"UPDATE {s}.accounts SET balance = 0"))
        with self.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f"VACUUM ANALYZE {s}.accounts, {s}.ledger"))
            # A checkpoint landing mid-run is the noisiest thing; take it now if allowed.
            with suppress(sa_exc.DBAPIError):
                conn.execute(text("CHECKPOINT"))

    def check(self, committed: int) -> tuple[bool, str]:
        """Balances equal the ledger sums and the ledger holds every commit we counted."""
        s = self.schema.name
        with self.engine.connect() as conn:
            rows = int(conn.execute(text(f"SELECT count(*) FROM {s}.ledger")).scalar_one())
            bad = int(
                conn.execute(
                    text(
                        f"SELECT count(*) FROM {s}.accounts a WHERE a.balance <> COALESCE("
                        f"(SELECT sum(amount) FROM {s}.ledger l WHERE l.account_id = a.id), 0)"
                    )
                ).scalar_one()
            )
        ok = bad == 0 and rows == committed
        return ok, f"ledger rows {rows}, commits counted {committed}, mismatched balances {bad}"

    def drop(self) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            conn.execute(text(f"DROP SCHEMA IF EXISTS {self.schema.name} CASCADE"))
        self.engine.dispose()
