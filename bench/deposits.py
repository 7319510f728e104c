"""The deposit rows: native deposits (wrk) on PostgreSQL and SQLite against the reference
deposit (bench/reference.py), the captured statements replayed, group commit off, account
openings, and `serve --workers 2` against --workers 1."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import reference
from capture import _is_txn_control, capture_deposit, pgbench_literal, pgbench_script, sqlite_loop
from harness import Demo, Load, PgSchema, _ms, percentile
from serverproc import Server, _children_cpu, _machine_cpu, _postgres_cpu, _split

import dialects

if TYPE_CHECKING:
    from bench import Bench


def postgres(bench: Bench) -> None:
    wanted = {"deposit-pg", "accounts", "dialects"} & set(bench.cfg.only)
    if not wanted:
        return
    schema = PgSchema(bench.cfg.database_url)
    schema.create()
    try:
        demo = Demo.load(schema.url, bench.tmp, bench.cfg.accounts)
        if "deposit-pg" in wanted:
            deposit_on_postgres(bench, schema, demo)
        with Server(schema.url, bench.tmp, bench.cfg.port) as server:
            if "accounts" in wanted:
                accounts(bench, server, demo)
            if "dialects" in wanted:
                dialects.measure(bench, server, demo)
    finally:
        schema.drop()


def deposit_on_postgres(bench: Bench, schema: PgSchema, demo: Demo) -> None:
    import psycopg

    cap = capture_deposit(schema.url, bench.tmp, demo)
    scripts = []
    with psycopg.connect(schema.plain) as conn:
        for per_txn in (1, bench.cfg.group_probe):
            path = bench.tmp / f"deposit-{per_txn}.pgbench.sql"
            path.write_text(pgbench_script(cap, lambda v: pgbench_literal(v, conn), per_txn))
            scripts.append(path)
            if bench.cfg.keep_sql:
                shutil.copy(path, bench.cfg.output.parent / path.name)
    with Server(schema.url, bench.tmp, bench.cfg.port) as server:
        load = bench.wrk_measured(server, demo, "deposit", "postgresql")
    alone = ungrouped(bench, schema.url, demo, "postgresql")
    refs = reference_on_postgres(bench, schema)
    ref = refs[0][1]
    best_name, best = max(refs, key=lambda r: r[1].rate)
    captured = pgbench(bench, schema, scripts[0])
    bench.deposit_pg = load.rate
    statements = sum(1 for s in cap.statements if not _is_txn_control(s.sql))
    bench.add(
        "deposit (native API)",
        load,
        ref.rate,
        "postgresql",
        f"wrk {bench.cfg.connections} connections, unique x-request-id; baseline: the "
        f"reference deposit (bench/reference.py), pgbench -M prepared -c "
        f"{bench.cfg.connections} -j {bench.cfg.threads}, p50/p99 {_ms(ref.p50_ms)}/"
        f"{_ms(ref.p99_ms)} ms",
    )
    bench.add(
        "deposit (native API) ÷ the best one-commit variant",
        load,
        best.rate,
        "postgresql",
        f"the same run as the row above; baseline: the fastest reference variant ({best_name})",
    )
    add_ungrouped(bench, alone, ref.rate, "postgresql")
    for name, variant in refs:
        bench.add(
            name,
            variant,
            ref.rate,
            "postgresql",
            "the database alone (no brokerplane); ratio to the reference at "
            f"-c {bench.cfg.connections}",
        )
    bench.add(
        "pgbench, brokerplane's captured statements (diagnostic)",
        captured,
        ref.rate,
        "postgresql",
        f"pgbench -M prepared -c {bench.cfg.connections} running the {statements} "
        f"statements one deposit sends ({cap.transactions} transactions in brokerplane) "
        "as one transaction per deposit; moves with brokerplane's SQL, so not the baseline",
    )
    if bench.cfg.group_probe > 1:
        # As many deposits in flight as the other rows, grouped: connections / group size.
        clients = str(max(1, bench.cfg.connections // bench.cfg.group_probe))
        grouped = pgbench(bench, schema, scripts[1], "-c", clients, "-j", "1", "--max-tries=50")
        grouped.ops *= bench.cfg.group_probe
        bench.add(
            f"pgbench, {bench.cfg.group_probe} captured deposits per transaction",
            grouped,
            ref.rate,
            "postgresql",
            "what committing deposits together could reach in the database (a probe for "
            "group commit, not brokerplane): the audit chain sealed once per "
            f"transaction, {clients} clients, deadlocks retried; ops are deposits, latency "
            "is per transaction",
        )


def reference_on_postgres(bench: Bench, schema: PgSchema) -> list[tuple[str, Load]]:
    """The reference deposit (bench/reference.py) and its variants under pgbench, on
    tables of their own; checked afterwards (balances, claims, the hash chain)."""
    measured: list[tuple[str, Load]] = []
    reference.pg_prepare(schema.url, bench.cfg.accounts)
    for variant in reference.pg_variants(bench.cfg.connections):
        path = bench.tmp / f"{variant.key}.pgbench.sql"
        path.write_text(variant.script.format(accounts=bench.cfg.accounts))
        extra = ("-c", str(variant.clients)) if variant.clients else ()
        measured.append((variant.name, pgbench(bench, schema, path, *extra)))
    problems = reference.pg_check(schema.url)
    if problems:
        raise RuntimeError(f"the reference deposit's tables are wrong: {problems}")
    return measured


def pgbench(bench: Bench, schema: PgSchema, script: Path, *extra: str) -> Load:
    logdir = bench.tmp / f"pgbench-{secrets.token_hex(3)}"
    logdir.mkdir()
    env = schema.libpq_env()
    common = [
        "pgbench",
        "-n",
        "-M",
        "prepared",
        "-c",
        str(bench.cfg.connections),
        "-j",
        str(bench.cfg.threads),
        "-f",
        str(script),
        *extra,
    ]

    def run(seconds: float, *extra: str) -> str:
        cmd = [*common, "-T", str(max(1, round(seconds))), *extra]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=logdir, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
        return done.stdout

    if bench.cfg.warmup > 0:
        run(bench.cfg.warmup)
    out = run(bench.cfg.seconds, "-l", f"--log-prefix={logdir}/tx")
    tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    failed = re.search(r"number of failed transactions: (\d+)", out)
    latencies: list[float] = []
    for f in logdir.glob("tx.*"):
        for line in f.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 3 and parts[2].isdigit():
                latencies.append(int(parts[2]) / 1000)
    latencies.sort()
    seconds = bench.cfg.seconds
    return Load(
        round(tps * seconds),
        seconds,
        percentile(latencies, 50),
        percentile(latencies, 99),
        int(failed.group(1)) if failed else 0,
    )


def sqlite(bench: Bench) -> None:
    if "deposit-sqlite" not in bench.cfg.only:
        return
    path = bench.tmp / "deposit.db"
    url = f"sqlite:///{path}"
    demo = Demo.load(url, bench.tmp, bench.cfg.accounts)
    cap = capture_deposit(url, bench.tmp, demo)
    with Server(url, bench.tmp, bench.cfg.port) as server:
        load = bench.wrk_measured(server, demo, "deposit", "sqlite")
    alone = ungrouped(bench, url, demo, "sqlite")
    base = reference_on_sqlite(bench)
    if bench.cfg.warmup > 0:
        sqlite_loop(path, cap, bench.cfg.warmup)
    captured = sqlite_loop(path, cap, bench.cfg.seconds)
    statements = sum(1 for s in cap.statements if not _is_txn_control(s.sql))
    bench.deposit_sqlite = load.rate
    bench.add(
        "deposit (native API)",
        load,
        base.rate,
        "sqlite",
        f"wrk {bench.cfg.connections} connections; baseline: the reference deposit "
        "(bench/reference.py) in a sqlite3 loop, one connection, one transaction per "
        f"deposit (BEGIN IMMEDIATE, WAL, synchronous=FULL), p50/p99 "
        f"{_ms(base.p50_ms)}/{_ms(base.p99_ms)} ms",
    )
    add_ungrouped(bench, alone, base.rate, "sqlite")
    bench.add(
        "reference deposit, sqlite3 loop",
        base,
        base.rate,
        "sqlite",
        "the database alone (no brokerplane): " + reference.describe(),
    )
    bench.add(
        "sqlite3 loop, brokerplane's captured statements (diagnostic)",
        captured,
        base.rate,
        "sqlite",
        f"the {statements} statements one deposit sends, one transaction per deposit on "
        "brokerplane's own database; moves with brokerplane's SQL, so not the baseline",
    )


def reference_on_sqlite(bench: Bench) -> Load:
    path = bench.tmp / "reference.db"
    reference.sqlite_prepare(path, bench.cfg.accounts)
    if bench.cfg.warmup > 0:
        reference.sqlite_loop(path, bench.cfg.accounts, bench.cfg.warmup)
    done = reference.sqlite_loop(path, bench.cfg.accounts, bench.cfg.seconds)
    if done.problems:
        raise RuntimeError(f"the reference deposit's tables are wrong: {done.problems}")
    return Load(
        done.ops, done.seconds, percentile(done.latencies_ms, 50), percentile(done.latencies_ms, 99)
    )


def ungrouped(bench: Bench, url: str, demo: Demo, db: str) -> Load | None:
    """The same deposits with group commit off: what committing together gives."""
    if not bench.cfg.ungrouped:
        return None
    with Server(url, bench.tmp, bench.cfg.port, {"BROKERPLANE_GROUP_COMMIT_MAX": "1"}) as srv:
        return bench.wrk_measured(srv, demo, "deposit", f"{db}-ungrouped")


def add_ungrouped(bench: Bench, load: Load | None, baseline: float, db: str) -> None:
    if load is not None:
        bench.add(
            "deposit (native API, group commit off)",
            load,
            baseline,
            db,
            "as the row above with BROKERPLANE_GROUP_COMMIT_MAX=1: every deposit commits "
            "alone; same baseline",
        )


def workers(bench: Bench) -> None:
    """Deposits through `serve --workers 2` against `--workers 1`, one after the other on
    one database, with where the CPU went during each: the server processes, PostgreSQL
    (all of it), wrk, and the machine as a whole."""
    if "workers" not in bench.cfg.only:
        return
    schema = PgSchema(bench.cfg.database_url)
    schema.create()
    try:
        demo = Demo.load(schema.url, bench.tmp, bench.cfg.accounts)
        measured: dict[int, tuple[Load, str]] = {}
        for count in (1, 2):
            env = {"BROKERPLANE_WORKERS": str(count)}
            with Server(schema.url, bench.tmp, bench.cfg.port, env) as server:
                if bench.cfg.warmup > 0:
                    bench.wrk(server, demo, "deposit", bench.cfg.warmup)
                pg, (busy, total) = _postgres_cpu(), _machine_cpu()
                wrk_cpu = _children_cpu()
                server_cpu = server.cpu_seconds()
                load = bench.wrk(server, demo, "deposit", bench.cfg.seconds)
                split = _split(
                    server.cpu_seconds() - server_cpu,
                    _postgres_cpu() - pg,
                    _children_cpu() - wrk_cpu,
                    _machine_cpu(),
                    (busy, total),
                )
                measured[count] = (load, split)
        one, two = measured[1], measured[2]
        bench.add(
            "deposit (native API), 2 workers / 1 worker",
            two[0],
            one[0].rate,
            "postgresql",
            f"wrk {bench.cfg.connections} connections; `serve --workers 2` against "
            f"--workers 1 in the same run (baseline); CPU of the machine's "
            f"{os.cpu_count()} cores, 2 workers: {two[1]}; 1 worker: {one[1]}",
        )
    finally:
        schema.drop()


def accounts(bench: Bench, server: Server, demo: Demo) -> None:
    load = bench.wrk_measured(server, demo, "account", "postgresql")
    bench.add(
        "account creation (native API)",
        load,
        bench.deposit_pg,
        "postgresql",
        f"wrk POST /v1/users, {bench.cfg.connections} connections, unique x-request-id;"
        " baseline: the native deposit figure of this run (same stack, one audited "
        "durable write each)",
    )
