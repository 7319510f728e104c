"""The users CSV export on the cached 1M-account databases (bench/bigdb.py), on its own:
repeated A/B figures against the `report`/`report-pg` rows' baselines, and profiles.

    PYTHONPATH=src .venv/bin/python bench/exportprof.py measure sqlite|pg [repetitions]
    PYTHONPATH=src .venv/bin/python bench/exportprof.py profile sqlite|pg
    PYTHONPATH=src .venv/bin/python bench/exportprof.py plan              # PostgreSQL only

`measure` starts `brokerplane serve` once, measures its CPU over IDLE_SECONDS idle (its
background work, taken off each export's CPU in proportion to its wall time), and
alternates, `repetitions` times (default 3), the export over HTTP (wall seconds, the server
process's CPU seconds) with the row's baseline:
sqlite3 + csv.writer over the stored columns in this process (its CPU: this process's), or
`COPY (...) TO STDOUT CSV` into psql (its CPU: psql's). The ratios are baseline seconds over
export seconds, as the bench rows compute them (rows/s ÷ rows/s over the same rows).

`profile` runs, in this process, the generator the endpoint streams (the application's
`export_accounts_csv` pages through `csv_chunks`) under cProfile, then the whole HTTP export with
the server's main thread (the event loop: uvicorn writing the pieces) under cProfile; both
written to bench/results/profile-export-<engine>-*.txt. `plan` times the page's COPY statement
and the baseline's inside PostgreSQL alone (`COPY ... TO '/dev/null'`, server side).
"""

from __future__ import annotations

import asyncio
import cProfile
import io
import os
import pstats
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bigdb
from bench import Bench
from bigdb import sqlite_report
from harness import BIN, ROOT, Config, free_port, log
from httpclient import fetch_report, one_request
from serverproc import Server, _children_cpu

RESULTS = ROOT / "bench" / "results"
IDLE_SECONDS = 5


def _target(bench: Bench, engine: str) -> tuple[str, Path, Any, Any]:
    """(database URL, data dir, demo, the baseline: a callable giving (rows, wall, CPU))."""
    if engine == "sqlite":
        db, demo = bigdb.sqlite_cache(bench)

        def base() -> tuple[int, float, float]:
            cpu = time.process_time()
            rows, wall = sqlite_report(db)
            return rows, wall, time.process_time() - cpu

        return f"sqlite:///{db}", bigdb.data_dir(bench, db.stem), demo, base
    schema, demo = bigdb.pg_cache(bench)

    def copy() -> tuple[int, float, float]:
        cpu = _children_cpu()
        rows, wall = bigdb.copy_baseline(schema)
        return rows, wall, _children_cpu() - cpu

    where = bigdb.data_dir(bench, f"report-pg-{bench.cfg.report_accounts}")
    return schema.url, where, demo, copy


def measure(engine: str, repetitions: int) -> None:
    bench = Bench(Config())
    url, where, demo, base = _target(bench, engine)
    ours: list[tuple[float, float]] = []
    theirs: list[tuple[float, float]] = []
    with Server(url, where, bench.cfg.port) as server:
        idle = server.peak_rss_mb()
        server.reset_peak_rss()
        cpu = server.cpu_seconds()
        time.sleep(IDLE_SECONDS)  # the server's own background work, charged to no export
        idle_cpu = (server.cpu_seconds() - cpu) / IDLE_SECONDS
        for n in range(repetitions):
            cpu = server.cpu_seconds()
            rows, wall = asyncio.run(fetch_report(server.port, demo.admin_key))
            ours.append((wall, server.cpu_seconds() - cpu - idle_cpu * wall))
            base_rows, base_wall, base_cpu = base()
            theirs.append((base_wall, base_cpu))
            if rows != base_rows:
                raise RuntimeError(f"the export wrote {rows} rows, the baseline {base_rows}")
            log(
                f"{engine} #{n + 1}: export {wall:.2f} s wall, {ours[-1][1]:.2f} s server CPU; "
                f"baseline {base_wall:.2f} s wall, {base_cpu:.2f} s CPU; "
                f"ratio {base_wall / wall:.2f}"
            )
        peak = server.peak_rss_mb()
    walls = [b[0] / o[0] for o, b in zip(ours, theirs, strict=True)]
    ratio = statistics.median(walls)
    print(
        f"{engine}: {rows} rows; export wall {_spread(o[0] for o in ours)} s, server CPU "
        f"{_spread(o[1] for o in ours)} s (less {idle_cpu:.3f} s/s idle); baseline wall "
        f"{_spread(b[0] for b in theirs)} s, CPU {_spread(b[1] for b in theirs)} s; ratio "
        f"(wall) median {ratio:.2f} ({', '.join(f'{r:.2f}' for r in walls)}); server RSS "
        f"{idle or 0:.0f} MB idle, peak {peak or 0:.0f} MB"
    )


def _spread(values: Any) -> str:
    v = sorted(values)
    return f"{statistics.median(v):.2f} [{v[0]:.2f}-{v[-1]:.2f}]"


def _stats(profile: cProfile.Profile, title: str, path: Path) -> None:
    out = io.StringIO()
    out.write(title + "\n")
    stats = pstats.Stats(profile, stream=out).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(25)
    path.write_text(out.getvalue())
    log(f"profile written to {path}")


def profile(engine: str, http: bool = True) -> None:
    bench = Bench(Config())
    url, where, demo, _ = _target(bench, engine)
    RESULTS.mkdir(parents=True, exist_ok=True)
    from brokerplane import bootstrap
    from brokerplane.api.native.accounts import CSV_COLUMNS, EXPORT_COLUMNS, csv_chunks
    from brokerplane.core.account.commands import ListAccounts
    from brokerplane.core.actor import Actor
    from brokerplane.settings import Settings

    runtime = bootstrap.build(Settings(database_url=url, data_dir=where))
    try:
        found = runtime.app.authenticate_key(demo.admin_key)
        actor = Actor(
            manager_login=found.manager.login,
            scopes=found.scopes,
            key_id=found.key.id,
            group_mask=found.manager.group_mask,
            white_labels=found.manager.white_labels,
            dialect="native",
        )

        def export() -> tuple[int, int]:
            cmd = ListAccounts(limit=100)
            stream = runtime.app.export_accounts_csv(cmd, actor, CSV_COLUMNS, EXPORT_COLUMNS)
            size = pieces = 0
            for piece in csv_chunks(next(stream, None), stream):
                size += len(piece)
                pieces += 1
            return size, pieces

        for _ in range(2):  # unprofiled: CPU and wall of the generator alone
            cpu, wall = time.process_time(), time.perf_counter()
            size, pieces = export()
            log(
                f"generator: {size / 1e6:.0f} MB in {pieces} pieces, "
                f"{time.process_time() - cpu:.2f} s CPU, {time.perf_counter() - wall:.2f} s wall"
            )
        prof = cProfile.Profile(time.process_time)  # CPU, not time spent waiting
        prof.enable()
        export()
        prof.disable()
        _stats(
            prof, f"{engine}: the export generator", RESULTS / f"profile-export-{engine}-gen.txt"
        )
    finally:
        runtime.close()
    if http:
        _profile_http(engine, url, where, demo)


def _profile_http(engine: str, url: str, where: Path, demo: Any) -> None:
    """The server under `python -m cProfile` (its main thread: the event loop writing the
    response), one export over HTTP, then SIGTERM so the profile is written."""
    out = RESULTS / f"profile-export-{engine}-http.prof"
    port = free_port()
    cmd = [
        str(BIN / "python"),
        "-m",
        "cProfile",
        "-o",
        str(out),
        str(BIN / "brokerplane"),
        "serve",
        "--database-url",
        url,
        "--data-dir",
        str(where),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--mt5-tcp-port",
        str(free_port()),
    ]
    env = dict(os.environ, BROKERPLANE_RATE_LIMIT_PER_MINUTE="0", BROKERPLANE_LOG_LEVEL="warning")
    proc = subprocess.Popen(cmd, env=env)
    try:
        for _ in range(300):
            try:
                if asyncio.run(one_request("127.0.0.1", port, "GET", "/health"))[0] == 200:
                    break
            except OSError:
                time.sleep(0.2)
        rows, wall = asyncio.run(fetch_report(port, demo.admin_key))
        log(f"http under cProfile: {rows} rows in {wall:.2f} s")
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
    text = io.StringIO()
    stats = pstats.Stats(str(out), stream=text).strip_dirs()
    stats.sort_stats("tottime").print_stats(25)
    path = RESULTS / f"profile-export-{engine}-http.txt"
    path.write_text(
        f"{engine}: the server's main thread (event loop) over one export\n" + text.getvalue()
    )
    log(f"profile written to {path}")


def plan() -> None:
    """PostgreSQL's own time for one export page's COPY and for the baseline's."""
    import psycopg
    from sqlalchemy import create_engine

    from brokerplane.api.native.accounts import CSV_COLUMNS
    from brokerplane.core.account.model import AccountQuery

    bench = Bench(Config())
    schema, _ = bigdb.pg_cache(bench)
    from sqlalchemy import and_, select

    from brokerplane.storage import tables as t
    from brokerplane.storage.sql.conditions import account_conditions
    from brokerplane.storage.sql.csvcells import csv_cell

    engine = create_engine(schema.url)
    try:
        q = (
            select(*(csv_cell(n) for n in CSV_COLUMNS))
            .select_from(t.accounts.join(t.groups, t.groups.c.id == t.accounts.c.group_id))
            .where(and_(*account_conditions(AccountQuery(limit=1_000_000), "postgresql")))
            .order_by(t.accounts.c.login)
        )
        compiled = q.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    finally:
        engine.dispose()
    sent = [f"COPY ({compiled}) TO STDOUT (FORMAT csv)"]
    columns = ", ".join(
        "g.name" if c == "group" else "a.rights" if c == "enabled" else f"a.{c}"
        for c in CSV_COLUMNS
    )
    baseline = (
        f"COPY (SELECT {columns} FROM accounts a JOIN groups g ON g.id = a.group_id "
        "WHERE a.deleted_at IS NULL ORDER BY a.login) TO '/dev/null' CSV"
    )
    ours = sent[-1].replace("TO STDOUT (FORMAT csv)", "TO '/dev/null' (FORMAT csv)")
    with psycopg.connect(schema.url.split("?")[0], autocommit=True) as conn:
        conn.execute(f"SET search_path = {schema.name}")
        conn.execute("SET DateStyle = ISO")
        for _ in range(3):
            for name, sql in (("export's COPY", ours), ("baseline COPY", baseline)):
                started = time.perf_counter()
                conn.execute(sql)
                log(f"{name} inside PostgreSQL: {time.perf_counter() - started:.2f} s")
    print(ours)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "measure"
    if what == "plan":
        plan()
    elif what == "profile":
        profile(sys.argv[2], http=sys.argv[3:] != ["generator"])
    else:
        measure(sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 3)
