"""Measure the deposit transaction on PostgreSQL with four drivers to pick one by numbers."""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import importlib.util
import ipaddress
import json
import math
import os
import platform
import queue
import random
import signal
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Engine,
    ForeignKey,
    Identity,
    Index,
    MetaData,
    Table,
    bindparam,
    create_engine,
    func,
    insert,
    select,
    text,
    update,
)
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/test"
DEFAULT_OUTPUT = Path(__file__).resolve().parent / "results" / "drivers.json"
ACCOUNTS = 1000
MAX_AMOUNT = 10_000  # minor units, like the project's money columns
STATEMENT_TIMEOUT_MS = 5000  # no transaction can hang the run
CONNECT_TIMEOUT_S = 5
MAX_ERRORS_PER_WORKER = 50
BASELINE = "sa-psycopg"
REPORTED_PACKAGES = (
    "sqlalchemy",
    "psycopg",
    "psycopg-binary",
    "psycopg-pool",
    "psycopg2-binary",
    "psycopg2",
    "asyncpg",
)

Op = Callable[[int, int], None]


# --------------------------------------------------------------------------- variants


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    modules: tuple[str, ...]
    packages: tuple[str, ...]


VARIANTS: tuple[Variant, ...] = (
    Variant("sa-psycopg", "(a) SQLAlchemy 2 + psycopg 3", ("psycopg",), ("psycopg",)),
    # Not a driver: (a) with its statements built once; shows where (a)'s time goes.
    Variant(
        "sa-psycopg-prebuilt", "(a') as (a), statements built once", ("psycopg",), ("psycopg",)
    ),
    Variant("sa-psycopg2", "(b) SQLAlchemy 2 + psycopg2", ("psycopg2",), ("psycopg2-binary",)),
    Variant("psycopg", "(c) raw psycopg 3, pool, prepared", ("psycopg",), ("psycopg",)),
    Variant("asyncpg", "(d) raw asyncpg, asyncio tasks", ("asyncpg",), ("asyncpg",)),
)


def _missing(variant: Variant) -> str | None:
    for module, package in zip(variant.modules, variant.packages, strict=True):
        if importlib.util.find_spec(module) is None:
            return f"package '{package}' is not installed (pip install {package})"
    return None


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


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
            t1 = time.perf_counter()
            res.committed += 1
            res.last_end = t1
            if t0 >= measure_start:
                res.latencies_ms.append((t1 - t0) * 1000.0)

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
                t1 = time.perf_counter()
                res.committed += 1
                res.last_end = t1
                if t0 >= measure_start:
                    res.latencies_ms.append((t1 - t0) * 1000.0)

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


# --------------------------------------------------------------------------- reporting


def _ratio(value: float | None, base: float | None) -> float | None:
    if value is None or base is None or base == 0 or math.isnan(value) or math.isnan(base):
        return None
    return value / base


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "-" if value is None or math.isnan(value) else f"{value:{spec}}{suffix}"


def _median_or_none(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def _aggregate(runs: list[Run]) -> dict[str, Any]:
    """Median over rounds, so one noisy round does not decide."""
    errors: Counter[str] = Counter()
    for r in runs:
        errors.update(r.errors)
    return {
        "ops_per_s": statistics.median(r.ops_per_s for r in runs),
        "p50_ms": statistics.median(r.p50_ms for r in runs),
        "p99_ms": statistics.median(r.p99_ms for r in runs),
        "client_cpu_ms_per_commit": _median_or_none([r.client_cpu_ms for r in runs]),
        "transactions": sum(r.transactions for r in runs),
        "errors": dict(errors),
        "consistent": all(r.consistent for r in runs),
    }


def report(
    rows: list[dict[str, Any]], cfg: Config, rounds: int, meta: dict[str, Any], output: Path
) -> None:
    base = next((r for r in rows if r["variant"] == BASELINE and r["status"] == "ok"), None)
    for r in rows:
        if r["status"] != "ok":
            continue
        for metric in ("ops_per_s", "p50_ms", "p99_ms"):
            ratio = _ratio(r[metric], base[metric] if base else None)
            r[f"{metric}_vs_a"] = None if ratio is None else round(ratio, 3)
        for metric in ("ops_per_s", "p50_ms", "p99_ms"):
            r[metric] = round(r[metric], 3)

    header = (
        f"{'variant':<38} {'ops/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'ops÷a':>7} {'p50÷a':>7} {'p99÷a':>7} {'cpu ms':>6} {'errors':>6} {'check':>5}"
    )
    print()
    print(
        f"deposit transaction, {cfg.concurrency} concurrent, {cfg.seconds:g} s measured "
        f"(+{cfg.warmup:g} s warm-up), median of {rounds} round(s), {os.cpu_count()} CPU(s)"
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        if r["status"] != "ok":
            print(f"{r['label']:<38} skipped: {r['reason']}")
            continue
        print(
            f"{r['label']:<38} {_fmt(r['ops_per_s'], '9.0f')} {_fmt(r['p50_ms'], '8.2f')} "
            f"{_fmt(r['p99_ms'], '8.2f')} {_fmt(r.get('ops_per_s_vs_a'), '6.2f', 'x')} "
            f"{_fmt(r.get('p50_ms_vs_a'), '6.2f', 'x')} {_fmt(r.get('p99_ms_vs_a'), '6.2f', 'x')} "
            f"{_fmt(r['client_cpu_ms_per_commit'], '6.2f')} {sum(r['errors'].values()):>6} "
            f"{'ok' if r['consistent'] else 'BAD':>5}"
        )
    print("ratios are against (a); ops÷a above 1 is faster, p50÷a and p99÷a below 1 are faster")
    print("cpu ms: this process's CPU per commit (client cost; the server's is not in it)")

    document = {**meta, "results": rows}
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {output}")


# --------------------------------------------------------------------------- main


def _load_1m() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _loopback_only(url: URL) -> None:
    hosts = [url.host or ""]
    query_host = url.query.get("host")
    if query_host:
        hosts += [query_host] if isinstance(query_host, str) else list(query_host)
    for host in hosts:
        if host in ("", "localhost") or host.startswith("/"):
            continue  # default / Unix socket / loopback name
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            pass
        raise SystemExit(f"refusing non-loopback database host {host!r}: this bench is local only")


@contextmanager
def _terminate_cleanly() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so the schema is still dropped."""

    def on_term(_signum: int, _frame: FrameType | None) -> None:
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, on_term)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--database-url", default=DEFAULT_URL, help="loopback PostgreSQL URL")
    p.add_argument("--seconds", type=float, default=10.0, help="measured seconds per variant")
    p.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    p.add_argument("--concurrency", type=int, default=16, help="threads / asyncio tasks")
    p.add_argument("--rounds", type=int, default=1, help="repeat all variants, report medians")
    p.add_argument(
        "--variants",
        default=",".join(v.key for v in VARIANTS),
        help="comma-separated subset of: " + ", ".join(v.key for v in VARIANTS),
    )
    p.add_argument(
        "--pre-ping",
        action="store_true",
        help="pool_pre_ping=True on the SQLAlchemy engines, as brokerplane's make_engine does",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    args = p.parse_args(argv)
    if args.seconds <= 0 or args.warmup < 0 or args.concurrency < 1 or args.rounds < 1:
        p.error("--seconds and --concurrency and --rounds must be positive, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    raw_url = str(args.database_url)
    if raw_url.startswith("postgres://"):
        raw_url = "postgresql://" + raw_url[len("postgres://") :]
    url = make_url(raw_url)
    if url.get_backend_name() != "postgresql":
        raise SystemExit("--database-url must be a PostgreSQL URL")
    _loopback_only(url)
    if importlib.util.find_spec("psycopg") is None:
        raise SystemExit("setup needs psycopg 3 (a brokerplane dependency): pip install psycopg")

    keys = [k.strip() for k in str(args.variants).split(",") if k.strip()]
    known = {v.key: v for v in VARIANTS}
    unknown = [k for k in keys if k not in known]
    if unknown:
        raise SystemExit(f"unknown variant(s) {unknown}; choose from {sorted(known)}")
    selected = [v for v in VARIANTS if v.key in keys]

    cfg = Config(
        url=url,
        seconds=float(args.seconds),
        warmup=float(args.warmup),
        concurrency=int(args.concurrency),
        pre_ping=bool(args.pre_ping),
        seed=int(args.seed),
    )
    schema = Schema.build(f"bench_drivers_{os.getpid()}")
    admin = Admin(url, schema)

    skipped = {v.key: reason for v in selected if (reason := _missing(v)) is not None}
    for key, reason in skipped.items():
        print(f"skipping {known[key].label}: {reason}", flush=True)
    runnable = [v for v in selected if v.key not in skipped]
    runs: dict[str, list[Run]] = {v.key: [] for v in runnable}

    with _terminate_cleanly():
        meta: dict[str, Any] = {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": sys.version.split()[0],
                "note": "client and server share the machine; loopback TCP",
            },
            "server": {"version": admin.server_version(), **admin.settings()},
            "packages": {d: _version(d) for d in REPORTED_PACKAGES},
            "settings": {
                "seconds": cfg.seconds,
                "warmup": cfg.warmup,
                "concurrency": cfg.concurrency,
                "rounds": int(args.rounds),
                "accounts": ACCOUNTS,
                "pre_ping": cfg.pre_ping,
                "isolation": "READ COMMITTED",
                "transaction": "SELECT balance FOR UPDATE; UPDATE balance; "
                "INSERT ledger RETURNING id; COMMIT",
            },
        }
        admin.create()
        try:
            for rnd in range(int(args.rounds)):
                # Rotate the order each round so no variant always runs first (or last).
                order = runnable[rnd % len(runnable) :] + runnable[: rnd % len(runnable)]
                for v in order if runnable else []:
                    admin.reset()
                    print(f"round {rnd + 1}: {v.label} ...", flush=True)
                    load, cpu = _load_1m(), time.process_time()
                    run = run_variant(v.key, schema, cfg)
                    cpu = time.process_time() - cpu
                    run.load_1m = load
                    if run.committed_total:
                        run.client_cpu_ms = round(cpu * 1000.0 / run.committed_total, 3)
                    run.consistent, run.check = admin.check(run.committed_total)
                    err = f", errors {run.errors} ({run.first_error})" if run.errors else ""
                    print(
                        f"    {run.ops_per_s:.0f} ops/s, p50 {run.p50_ms:.2f} ms, "
                        f"p99 {run.p99_ms:.2f} ms, client CPU "
                        f"{_fmt(run.client_cpu_ms, '.2f')} ms/commit; "
                        f"load {_fmt(load, '.1f')}; {run.check}{err}",
                        flush=True,
                    )
                    runs[v.key].append(run)
        finally:
            admin.drop()
            print(f"dropped schema {schema.name}", flush=True)

    rows: list[dict[str, Any]] = []
    for v in selected:
        if v.key in skipped:
            rows.append(
                {"variant": v.key, "label": v.label, "status": "skipped", "reason": skipped[v.key]}
            )
            continue
        rows.append(
            {
                "variant": v.key,
                "label": v.label,
                "status": "ok",
                **_aggregate(runs[v.key]),
                "rounds": [r.as_json() for r in runs[v.key]],
            }
        )
    report(rows, cfg, int(args.rounds), meta, Path(args.output))
    failed = any(r["status"] == "ok" and (r["errors"] or not r["consistent"]) for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
