"""How bench/drivers.py drives one variant: threads (or asyncio tasks) running the deposit
transaction back to back, their latencies and errors, summed up as one Run."""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import math
import queue
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from driverdb import ACCOUNTS, CONNECT_TIMEOUT_S, Schema
from sqlalchemy import (
    Engine,
    bindparam,
    create_engine,
    insert,
    select,
    update,
)
from sqlalchemy.engine import URL

MAX_AMOUNT = 10_000  # minor units, like the project's money columns
STATEMENT_TIMEOUT_MS = 5000  # no transaction can hang the run
MAX_ERRORS_PER_WORKER = 50

Op = Callable[[int, int], None]


# --------------------------------------------------------------------------- measurement


@dataclass
class Config:
    url: URL
    seconds: float
    warmup: float
    concurrency: int
    pre_ping: bool
    seed: int


@dataclass
class WorkerResult:
    latencies_ms: list[float] = field(default_factory=list)
    committed: int = 0
    last_end: float = 0.0
    errors: Counter[str] = field(default_factory=Counter)
    first_error: str | None = None

    def fail(self, exc: BaseException) -> bool:
        """Record an error; True when this worker has seen enough and should stop."""
        self.errors[type(exc).__name__] += 1
        if self.first_error is None:
            self.first_error = f"{type(exc).__name__}: {exc}".strip()[:300]
        return sum(self.errors.values()) >= MAX_ERRORS_PER_WORKER

    def committed_one(self, t0: float, measure_start: float) -> None:
        """Count a commit that started at `t0`; its latency counts after the warm-up."""
        t1 = time.perf_counter()
        self.committed += 1
        self.last_end = t1
        if t0 >= measure_start:
            self.latencies_ms.append((t1 - t0) * 1000.0)


@dataclass
class Run:
    ops_per_s: float
    p50_ms: float
    p99_ms: float
    transactions: int
    committed_total: int
    errors: dict[str, int]
    first_error: str | None
    consistent: bool = False
    check: str = ""
    load_1m: float | None = None  # the machine's load average when the run started
    client_cpu_ms: float | None = None  # this process's CPU per commit, warm-up and setup included

    def as_json(self) -> dict[str, Any]:
        return {
            "ops_per_s": round(self.ops_per_s, 1),
            "p50_ms": round(self.p50_ms, 3),
            "p99_ms": round(self.p99_ms, 3),
            "transactions": self.transactions,
            "errors": self.errors,
            "first_error": self.first_error,
            "consistent": self.consistent,
            "check": self.check,
            "load_1m": self.load_1m,
            "client_cpu_ms_per_commit": self.client_cpu_ms,
        }


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q * len(sorted_values)))  # nearest rank
    return sorted_values[rank - 1]


def _summarise(results: list[WorkerResult], measure_start: float, stop_at: float) -> Run:
    latencies = sorted(x for r in results for x in r.latencies_ms)
    errors: Counter[str] = Counter()
    for r in results:
        errors.update(r.errors)
    end = max([stop_at, *(r.last_end for r in results)])
    elapsed = end - measure_start
    first_error = next((r.first_error for r in results if r.first_error), None)
    return Run(
        ops_per_s=len(latencies) / elapsed if elapsed > 0 else 0.0,
        p50_ms=_percentile(latencies, 0.50),
        p99_ms=_percentile(latencies, 0.99),
        transactions=len(latencies),
        committed_total=sum(r.committed for r in results),
        errors=dict(errors),
        first_error=first_error,
    )


def _run_threads(op: Op, cfg: Config) -> Run:
    """`concurrency` threads each run `op` back to back; only what starts after warm-up counts."""
    n = cfg.concurrency
    results = [WorkerResult() for _ in range(n)]
    window = [0.0, 0.0]

    def open_window() -> None:
        now = time.perf_counter()
        window[0] = now + cfg.warmup
        window[1] = now + cfg.warmup + cfg.seconds

    barrier = threading.Barrier(n, action=open_window)

    def worker(i: int) -> None:
        rng = random.Random(cfg.seed * 1000 + i)
        res = results[i]
        barrier.wait()
        measure_start, stop_at = window
        while True:
            t0 = time.perf_counter()
            if t0 >= stop_at:
                return
            try:
                op(rng.randint(1, ACCOUNTS), rng.randint(1, MAX_AMOUNT))
            except Exception as exc:  # counted and reported
                if res.fail(exc):
                    return
                time.sleep(0.01)
                continue
            res.committed_one(t0, measure_start)

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(n)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + cfg.warmup + cfg.seconds + 30.0
    for th in threads:
        th.join(timeout=max(0.1, deadline - time.monotonic()))
    if any(th.is_alive() for th in threads):
        results[0].fail(TimeoutError("worker threads did not stop in time"))
    return _summarise(results, window[0], window[1])


def run_sqlalchemy(driver: str, schema: Schema, cfg: Config, *, prebuilt: bool = False) -> Run:
    """The project's way: Core statements built per call, `engine.begin()`, a QueuePool.

    With `prebuilt`, the three statements are built once with bind parameters instead, so
    each call skips statement construction and cache-key generation.
    """
    connect_args: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
    }
    engine: Engine = create_engine(
        cfg.url.set(drivername=f"postgresql+{driver}"),
        pool_size=cfg.concurrency,
        max_overflow=0,
        pool_timeout=30,
        pool_pre_ping=cfg.pre_ping,
        isolation_level="READ COMMITTED",
        connect_args=connect_args,
    )
    acc, led = schema.accounts, schema.ledger

    def deposit(account_id: int, amount: int) -> None:
        with engine.begin() as conn:
            balance = conn.execute(
                select(acc.c.balance).where(acc.c.id == account_id).with_for_update()
            ).scalar_one()
            new_balance = balance + amount
            conn.execute(update(acc).where(acc.c.id == account_id).values(balance=new_balance))
            conn.execute(
                insert(led)
                .values(account_id=account_id, amount=amount, balance_after=new_balance)
                .returning(led.c.id)
            ).scalar_one()

    sel = select(acc.c.balance).where(acc.c.id == bindparam("aid")).with_for_update()
    upd = update(acc).where(acc.c.id == bindparam("aid")).values(balance=bindparam("nb"))
    ins = (
        insert(led)
        .values(account_id=bindparam("aid"), amount=bindparam("amt"), balance_after=bindparam("nb"))
        .returning(led.c.id)
    )

    def deposit_prebuilt(account_id: int, amount: int) -> None:
        with engine.begin() as conn:
            balance = conn.execute(sel, {"aid": account_id}).scalar_one()
            new_balance = balance + amount
            conn.execute(upd, {"aid": account_id, "nb": new_balance})
            conn.execute(ins, {"aid": account_id, "amt": amount, "nb": new_balance}).scalar_one()

    try:
        return _run_threads(deposit_prebuilt if prebuilt else deposit, cfg)
    finally:
        engine.dispose()


def _libpq_dsn(url: URL) -> str:
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def run_psycopg_raw(schema: Schema, cfg: Config) -> Run:
    """psycopg 3 without SQLAlchemy: a connection pool and server-side prepared statements."""
    import psycopg

    sel, upd, ins = (q.encode() for q in schema.raw_sql("format"))
    kwargs: dict[str, Any] = {
        "connect_timeout": CONNECT_TIMEOUT_S,
        "options": f"-c statement_timeout={STATEMENT_TIMEOUT_MS}",
        "prepare_threshold": 0,  # prepare from the first execution
    }
    dsn = _libpq_dsn(cfg.url)

    def deposit_on(conn: psycopg.Connection[Any], account_id: int, amount: int) -> None:
        row = conn.execute(sel, (account_id,), prepare=True).fetchone()
        assert row is not None
        new_balance = row[0] + amount
        conn.execute(upd, (new_balance, account_id), prepare=True)
        conn.execute(ins, (account_id, amount, new_balance), prepare=True).fetchone()
        conn.commit()

    if importlib.util.find_spec("psycopg_pool") is not None:
        from psycopg_pool import ConnectionPool

        print("    pool: psycopg_pool.ConnectionPool", flush=True)
        pool = ConnectionPool(
            dsn, min_size=cfg.concurrency, max_size=cfg.concurrency, kwargs=kwargs, open=True
        )
        pool.wait(timeout=30)

        def deposit(account_id: int, amount: int) -> None:
            with pool.connection() as conn:
                try:
                    deposit_on(conn, account_id, amount)
                except BaseException:
                    conn.rollback()
                    raise

        try:
            return _run_threads(deposit, cfg)
        finally:
            pool.close()

    print("    pool: psycopg_pool not installed, using a queue of connections", flush=True)
    conns: queue.Queue[psycopg.Connection[Any]] = queue.Queue()
    opened = [psycopg.connect(dsn, **kwargs) for _ in range(cfg.concurrency)]
    for c in opened:
        conns.put(c)

    def deposit_q(account_id: int, amount: int) -> None:
        conn = conns.get(timeout=30)
        try:
            deposit_on(conn, account_id, amount)
        except BaseException:
            conn.rollback()
            raise
        finally:
            conns.put(conn)

    try:
        return _run_threads(deposit_q, cfg)
    finally:
        for c in opened:
            c.close()


def run_asyncpg(schema: Schema, cfg: Config) -> Run:
    """asyncpg on one event loop, one connection per task (no pool reset round trip): a ceiling."""
    import asyncpg

    sel, upd, ins = schema.raw_sql("numeric")
    dsn = _libpq_dsn(cfg.url)
    n = cfg.concurrency

    async def main() -> Run:
        conns: list[Any] = await asyncio.gather(
            *(
                asyncpg.connect(
                    dsn,
                    timeout=CONNECT_TIMEOUT_S,
                    server_settings={"statement_timeout": str(STATEMENT_TIMEOUT_MS)},
                )
                for _ in range(n)
            )
        )
        results = [WorkerResult() for _ in range(n)]
        now = time.perf_counter()
        measure_start, stop_at = now + cfg.warmup, now + cfg.warmup + cfg.seconds

        async def worker(i: int) -> None:
            rng = random.Random(cfg.seed * 1000 + i)
            conn, res = conns[i], results[i]
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                account_id, amount = rng.randint(1, ACCOUNTS), rng.randint(1, MAX_AMOUNT)
                try:
                    async with conn.transaction():
                        balance = await conn.fetchval(sel, account_id)
                        new_balance = balance + amount
                        await conn.execute(upd, new_balance, account_id)
                        await conn.fetchval(ins, account_id, amount, new_balance)
                except Exception as exc:  # counted and reported
                    if res.fail(exc):
                        return
                    await asyncio.sleep(0.01)
                    continue
                res.committed_one(t0, measure_start)

        try:
            await asyncio.wait_for(
                asyncio.gather(*(worker(i) for i in range(n))),
                timeout=cfg.warmup + cfg.seconds + 30.0,
            )
        except TimeoutError as exc:
            results[0].fail(exc)
        finally:
            await asyncio.gather(*(c.close(timeout=5) for c in conns), return_exceptions=True)
        return _summarise(results, measure_start, stop_at)

    return asyncio.run(main())


def run_variant(key: str, schema: Schema, cfg: Config) -> Run:
    if key == "sa-psycopg":
        return run_sqlalchemy("psycopg", schema, cfg)
    if key == "sa-psycopg-prebuilt":
        return run_sqlalchemy("psycopg", schema, cfg, prebuilt=True)
    if key == "sa-psycopg2":
        return run_sqlalchemy("psycopg2", schema, cfg)
    if key == "psycopg":
        return run_psycopg_raw(schema, cfg)
    if key == "asyncpg":
        return run_asyncpg(schema, cfg)
    raise ValueError(key)
