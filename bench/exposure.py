"""The exposure report's row of `BENCH_ONLY=report-pg` (bench/bigdb.py): GET /v1/reports/exposure
timed through the server over the cached 1,000,000 accounts and 100,000 open positions, and
the one statement it sends, run on its own: `EXPLAIN (ANALYZE, BUFFERS)` PLAN_RUNS times (the
server's own execution times, in `results/exposure-plan.txt` with the last plan), and the
statement PLAN_RUNS times more with parallel workers off, timing the PostgreSQL backend's CPU
seconds from /proc (a loopback server on this machine), which a loaded machine inflates far
less than wall time.

Before measuring, `VACUUM (ANALYZE)` of `accounts` and `positions`: the report reads the
accounts from an index alone (revision 0025), which needs the table's visibility map, and
autovacuum may be off on a bench server (it is off on the shared one), so a cache made in one
go would never be vacuumed. It changes no row; on a vacuumed table it skips every page.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness import Load, PgSchema, log
from httpclient import Http

if TYPE_CHECKING:
    from bench import Bench
    from harness import Demo
    from serverproc import Server

RUNS = 5  # GET /v1/reports/exposure, timed end to end
PLAN_RUNS = 5  # EXPLAIN (ANALYZE, BUFFERS), then the statement alone for its CPU


async def _get(port: int, key: str) -> float:
    conn = await Http.open("127.0.0.1", port)
    try:
        started = time.monotonic()
        status, body = await conn.request(
            "GET", "/v1/reports/exposure", {"Authorization": f"Bearer {key}"}
        )
        spent = time.monotonic() - started
    finally:
        await conn.close()
    if status != 200:
        raise RuntimeError(f"exposure answered {status}: {body[:300]!r}")
    return spent


def vacuum(schema: PgSchema) -> float:
    import psycopg

    started = time.monotonic()
    with psycopg.connect(schema.url, autocommit=True) as conn:
        conn.execute("VACUUM (ANALYZE) accounts, positions")
    return time.monotonic() - started


def statement(schema: PgSchema) -> tuple[str, Any]:
    """The SQL and parameters the repository sends for an admin's report (every group)."""
    from sqlalchemy import create_engine, event

    from brokerplane.core.trading.model import ExposureFilter
    from brokerplane.storage.repositories.trading import SqlTrading

    engine = create_engine(schema.url)
    sent: list[tuple[str, Any]] = []
    event.listen(engine, "before_cursor_execute", lambda _c, _k, s, p, *_: sent.append((s, p)))
    try:
        with engine.connect() as conn:
            SqlTrading(conn).exposure(ExposureFilter())
    finally:
        engine.dispose()
    (only,) = sent  # one statement per report
    return only


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def explain(schema: PgSchema) -> tuple[str, list[float], list[float]]:
    """(the last plan, execution ms of each EXPLAIN ANALYZE, backend CPU s of each plain run)."""
    import psycopg

    sql, params = statement(schema)
    executions: list[float] = []
    cpu: list[float] = []
    lines: list[str] = []
    with psycopg.connect(schema.url, autocommit=True) as conn:
        for _ in range(PLAN_RUNS):
            rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params).fetchall()
            lines = [r[0] for r in rows]
            found = [x for x in lines if x.startswith("Execution Time:")]
            executions.append(float(found[0].split()[2]))
        pid = conn.execute("SELECT pg_backend_pid()").fetchone()[0]  # type: ignore[index]
        conn.execute("SET max_parallel_workers_per_gather = 0")  # all its CPU in one process
        for _ in range(PLAN_RUNS):
            before = _cpu_seconds(pid)
            conn.execute(sql, params).fetchall()
            after = _cpu_seconds(pid)
            if before is not None and after is not None:
                cpu.append(after - before)
    return "\n".join([sql, str(params), "", *lines]), executions, cpu


NAME = "exposure report (GET /v1/reports/exposure)"


def measure(bench: Bench, server: Server, schema: PgSchema, demo: Demo) -> tuple[Load, str]:
    """The row's figures: the report through the server (median of RUNS), with the
    statement's own in its notes."""
    log(f"exposure: VACUUM (ANALYZE) accounts, positions: {vacuum(schema):.1f} s")
    times = sorted(asyncio.run(_get(server.port, demo.admin_key)) for _ in range(RUNS))
    plan, executions, cpu = explain(schema)
    bench.cfg.output.parent.mkdir(parents=True, exist_ok=True)
    (bench.cfg.output.parent / "exposure-plan.txt").write_text(plan + "\n")
    median = statistics.median(times)
    cpu_note = f"; backend CPU {statistics.median(cpu):.2f} s (all: {_list(cpu)})" if cpu else ""
    return Load(1, median, median * 1000, times[-1] * 1000), (
        f"median of {RUNS} (all: {_list(times)} s); its one statement: EXPLAIN ANALYZE "
        f"execution median {statistics.median(executions):.0f} ms (all: "
        f"{_list(executions, '.0f')} ms){cpu_note}; plan in results/exposure-plan.txt"
    )


def _list(values: list[float], fmt: str = ".2f") -> str:
    return ", ".join(f"{x:{fmt}}" for x in values)
