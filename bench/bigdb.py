"""The 1,000,000-account databases of `make bench`, made once and cached, and the rows measured
on them: `report` (SQLite: the users CSV export, deposits with 1M accounts) and `report-pg`
(PostgreSQL: the users CSV export against `COPY ... TO STDOUT CSV`, the exposure report over
100,000 open positions, bench/exposure.py).

Making a million accounts through `brokerplane demo --accounts` takes minutes on a quiet machine
and most of an hour on a loaded one, so a cache is built from a seed instead: `demo --accounts`
opens BENCH_SEED_ACCOUNTS accounts through the services (checked, audited), then SQL copies
those rows under new logins (login + k x seed) until there are BENCH_REPORT_ACCOUNTS. The copies
have no audit records of their own, which none of the rows here read; everything the export,
the exposure report and a deposit read is in their rows. On PostgreSQL, 100,000 open positions
(one per tenth account, the demo symbols in turn, priced at the demo quotes) are inserted by
SQL the same way. The SQLite cache is `bench/.cache/report-<N>.db` (+ `.json` with the demo's
keys); the PostgreSQL one is the schema `bench_cache_<N>` on the bench server (+ `.cache/
report-pg-<N>.json`), kept between runs: delete the JSON to have it made again.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import exposure  # bench/exposure.py
from harness import Demo, Load, PgSchema, log
from httpclient import fetch_report
from serverproc import Server

if TYPE_CHECKING:
    from bench import Bench

SEED = int(os.environ.get("BENCH_SEED_ACCOUNTS", "").strip() or "20000")
POSITIONS = int(os.environ.get("BENCH_POSITIONS", "").strip() or "100000")


def _copy_sql(dialect: str, seed: int, first: int, last: int, lo: int, hi: int) -> str:
    """INSERT ... SELECT copies k = lo..hi of the seed accounts [first, first + seed) under
    logins login + k x seed, none past `last`."""
    from brokerplane.storage import tables as t

    cols = [c.name for c in t.accounts.columns]
    picked = ", ".join(f"login + n * {seed}" if c == "login" else f'"{c}"' for c in cols)
    names = ", ".join(f'"{c}"' for c in cols)
    where = f"login BETWEEN {first} AND {first + seed - 1} AND login + n * {seed} <= {last}"
    if dialect == "sqlite":
        return (
            f"WITH RECURSIVE k(n) AS (SELECT {lo} UNION ALL SELECT n + 1 FROM k "
            f"WHERE n < {hi}) "
            f"INSERT INTO accounts ({names}) SELECT {picked} FROM accounts, k WHERE {where}"
        )
    return (
        f"INSERT INTO accounts ({names}) SELECT {picked} FROM accounts, "
        f"generate_series({lo}, {hi}) AS n WHERE {where}"
    )


def _grow(engine: Any, demo: Demo, count: int) -> None:
    """Copy the seed accounts until there are `count` in all, ten copies per transaction."""
    from sqlalchemy import text

    seed = demo.last_login - demo.first_login + 1
    last = demo.first_login + count - 1
    copies = (count + seed - 1) // seed - 1
    for lo in range(1, copies + 1, 10):
        hi = min(copies, lo + 9)
        with engine.begin() as conn:
            conn.execute(text(_copy_sql(engine.dialect.name, seed, demo.first_login, last, lo, hi)))
        log(f"  {min(count, (hi + 1) * seed)} accounts")
    demo.last_login = last


def data_dir(bench: Bench, name: str) -> Path:
    """The cached database's data directory (its audit key): kept beside it."""
    path = bench.cfg.cache / f"{name}-data"
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _seeded(url: str, bench: Bench, count: int, data: Path) -> tuple[Demo, float]:
    from sqlalchemy import create_engine

    started = time.monotonic()
    demo = Demo.load(url, data, min(count, SEED))
    engine = create_engine(url)
    try:
        _grow(engine, demo, count)
        if engine.dialect.name == "postgresql":
            _positions(engine, demo, min(POSITIONS, max(1, count // 10)))
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    finally:
        engine.dispose()
    return demo, time.monotonic() - started


def _positions(engine: Any, demo: Demo, count: int) -> None:
    """`count` open positions, one per `stride`-th account, the symbols in turn, half buys,
    1-10 lots opened at the symbol's bid: the rows the open-position path writes."""
    stride = max(1, (demo.last_login - demo.first_login + 1) // count)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"""
            INSERT INTO positions (login, symbol, side, volume, open_value, digits, contract_size,
                                   opened_at, updated_at, comment)
            SELECT {demo.first_login} + (n - 1) * {stride}, s.name,
                   CASE WHEN mod(n, 2) = 0 THEN 'buy' ELSE 'sell' END, 10000 * (1 + mod(n, 10)),
                   10000 * (1 + mod(n, 10)) * round(q.bid::numeric * 10 ^ s.digits)::bigint,
                   s.digits, s.contract_size, now(), now(), ''
            FROM generate_series(1, {count}) AS n
            JOIN (SELECT name, digits, contract_size,
                         row_number() OVER (ORDER BY name) - 1 AS i FROM symbols) s
              ON s.i = mod(n, (SELECT count(*) FROM symbols))
            JOIN quotes q ON q.symbol = s.name""")
    log(f"  {count} open positions")


def sqlite_cache(bench: Bench) -> tuple[Path, Demo]:
    count = bench.cfg.report_accounts
    bench.cfg.cache.mkdir(parents=True, exist_ok=True)
    db = bench.cfg.cache / f"report-{count}.db"
    meta = bench.cfg.cache / f"report-{count}.json"
    if not meta.exists():  # not made yet, or interrupted: made again from the start
        for stale in bench.cfg.cache.glob(f"report-{count}.db*"):
            stale.unlink()
        shutil.rmtree(bench.cfg.cache / f"report-{count}-data", ignore_errors=True)
        log(
            f"preparing {count} accounts on SQLite ({SEED} opened by demo --accounts, then "
            f"copied; kept in {db} for the next runs)"
        )
        demo, spent = _seeded(f"sqlite:///{db}", bench, count, data_dir(bench, f"report-{count}"))
        meta.write_text(json.dumps(asdict(demo) | {"seconds": spent, "seed": SEED}))
    return db, _demo(meta)


def pg_cache(bench: Bench) -> tuple[PgSchema, Demo]:
    count = bench.cfg.report_accounts
    bench.cfg.cache.mkdir(parents=True, exist_ok=True)
    meta = bench.cfg.cache / f"report-pg-{count}.json"
    schema = PgSchema(bench.cfg.database_url)
    schema.name = f"bench_cache_{count}"
    if not meta.exists():
        log(
            f"preparing {count} accounts and {POSITIONS} positions on PostgreSQL (schema "
            f"{schema.name}, kept for the next runs)"
        )
        schema.drop()
        schema.create()
        shutil.rmtree(bench.cfg.cache / f"report-pg-{count}-data", ignore_errors=True)
        demo, spent = _seeded(schema.url, bench, count, data_dir(bench, f"report-pg-{count}"))
        meta.write_text(json.dumps(asdict(demo) | {"seconds": spent, "seed": SEED}))
    return schema, _demo(meta)


def _demo(meta: Path) -> Demo:
    fields = {"admin_key", "manager_login", "manager_password", "first_login", "last_login"}
    return Demo(**{k: v for k, v in json.loads(meta.read_text()).items() if k in fields})


# ---- the rows ------------------------------------------------------------------------------


def export_row(bench: Bench, server: Server, demo: Demo) -> tuple[int, float, float | None]:
    """GET the users CSV once: (rows, seconds, the server's peak RSS in MB meanwhile)."""
    server.reset_peak_rss()
    rows, seconds = asyncio.run(fetch_report(server.port, demo.admin_key))
    return rows, seconds, server.peak_rss_mb()


def sqlite_rows(bench: Bench) -> None:
    """BENCH_ONLY=report: the SQLite export against sqlite3 + csv.writer, then deposits."""
    db, demo = sqlite_cache(bench)
    with Server(f"sqlite:///{db}", data_dir(bench, db.stem), bench.cfg.port) as server:
        idle = server.peak_rss_mb()
        rows, seconds, peak = export_row(bench, server, demo)
    base_rows, base_seconds = sqlite_report(db)
    load = Load(rows, seconds, None, None, 0 if rows == base_rows else 1, peak)
    bench.add(
        "report /v1/reports/users CSV (rows)",
        load,
        base_rows / base_seconds,
        "sqlite",
        f"{rows} rows streamed in {seconds:.1f} s; baseline: sqlite3 + csv.writer over the same "
        f"columns, {base_seconds:.1f} s; server RSS {idle or 0:.1f} MB before the report "
        f"(peak in the RSS column); cached in {db.name}",
    )
    deposits_big_and_small(bench, db, demo)


def deposits_big_and_small(bench: Bench, db: Path, demo: Demo) -> None:
    """Native deposits spread over the cached database's accounts against deposits on a fresh
    database of BENCH_ACCOUNTS accounts: this run's `deposit-sqlite` row when it has one (as
    in `make bench`, which saves two runs), else measured here just before and just after
    (the baseline is the mean of the two). The big database's ledger grows by what they post;
    its account rows, which the export reads, do not change."""
    path = bench.tmp / "deposit-small.db"
    small = (
        None
        if bench.deposit_sqlite is not None
        else Demo.load(f"sqlite:///{path}", bench.tmp, bench.cfg.accounts)
    )

    def on_small() -> float:
        assert small is not None
        with Server(f"sqlite:///{path}", bench.tmp, bench.cfg.port) as server:
            return bench.wrk_measured(server, small, "deposit", "sqlite-small").rate

    before = on_small() if small is not None else None
    with Server(f"sqlite:///{db}", data_dir(bench, db.stem), bench.cfg.port) as server:
        load = bench.wrk_measured(server, demo, "deposit", "sqlite-big")
    if before is None:
        base, how = bench.deposit_sqlite or 0.0, "the native deposit row of this run"
    else:
        after = on_small()
        base, how = (before + after) / 2, f"just before and after ({before:.0f}, {after:.0f}/s)"
    bench.add(
        f"deposit (native API), {bench.cfg.report_accounts} accounts",
        load,
        base,
        "sqlite",
        f"wrk {bench.cfg.connections} connections over the cached database's accounts (logins "
        f"{demo.first_login}-{demo.last_login}); baseline: deposits on a fresh database of "
        f"{bench.cfg.accounts} accounts, {how}",
    )


def sqlite_report(db: Path) -> tuple[int, float]:
    """The report's rows straight from SQLite into csv.writer: the same join and order, the
    report's columns that are stored as they are (`enabled` is derived from the rights)."""
    from brokerplane.api.native.accounts import CSV_COLUMNS

    with contextlib.closing(sqlite3.connect(db)) as probe:
        stored = {r[1] for r in probe.execute("PRAGMA table_info(accounts)")}
    columns = ", ".join(
        "g.name" if c == "group" else f"a.{c}" for c in CSV_COLUMNS if c == "group" or c in stored
    )
    conn = sqlite3.connect(db)
    sink = open(os.devnull, "w")  # noqa: SIM115 - closed below
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    started = time.monotonic()
    rows = 0
    query = (
        f"SELECT {columns} FROM accounts a JOIN groups g ON g.id = a.group_id "
        "WHERE a.deleted_at IS NULL ORDER BY a.login"
    )
    for row in conn.execute(query):
        writer.writerow(row)
        rows += 1
    elapsed = time.monotonic() - started
    sink.close()
    conn.close()
    return rows, elapsed


def copy_baseline(schema: PgSchema) -> tuple[int, float]:
    """The export's columns as stored, straight out of `COPY (...) TO STDOUT CSV` into psql
    writing to /dev/null: what PostgreSQL alone does for the same rows."""
    from brokerplane.api.native.accounts import CSV_COLUMNS

    columns = ", ".join(
        "g.name" if c == "group" else "a.rights" if c == "enabled" else f"a.{c}"
        for c in CSV_COLUMNS
    )
    sql = (
        f"COPY (SELECT {columns} FROM accounts a JOIN groups g ON g.id = a.group_id "
        "WHERE a.deleted_at IS NULL ORDER BY a.login) TO STDOUT CSV"
    )
    started = time.monotonic()
    out = subprocess.run(
        ["psql", "-X", "-q", "-c", sql], env=schema.libpq_env(), check=True, capture_output=True
    )
    return out.stdout.count(b"\n"), time.monotonic() - started


def postgres_rows(bench: Bench) -> None:
    """BENCH_ONLY=report-pg: the export against COPY and the exposure report, on PostgreSQL."""
    schema, demo = pg_cache(bench)
    where = data_dir(bench, f"report-pg-{bench.cfg.report_accounts}")
    with Server(schema.url, where, bench.cfg.port) as server:
        idle = server.peak_rss_mb()
        rows, seconds, peak = export_row(bench, server, demo)
        held, notes = exposure.measure(bench, server, schema, demo)
    base_rows, base_seconds = copy_baseline(schema)
    load = Load(rows, seconds, None, None, 0 if rows == base_rows else 1, peak)
    bench.add(
        "report /v1/reports/users CSV (rows)",
        load,
        base_rows / base_seconds,
        "postgresql",
        f"{rows} rows streamed in {seconds:.1f} s; baseline: COPY (the same rows and columns "
        f"as stored) TO STDOUT CSV into psql, {base_seconds:.1f} s; server RSS "
        f"{idle or 0:.1f} MB before the report (peak in the RSS column); schema {schema.name}",
    )
    bench.add(
        exposure.NAME,
        held,
        None,
        "postgresql",
        f"{notes}; over {bench.cfg.report_accounts} accounts and {POSITIONS} open positions",
    )
