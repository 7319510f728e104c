"""brokerplane benchmarks: each figure against a baseline measured in the same run.

Run through `make bench` (bench/run.sh installs wrk and pgbench first). Every option is an
environment variable; see bench/README.md. Measurements (BENCH_ONLY picks some):

  deposit-pg      native deposits (wrk) on PostgreSQL vs pgbench running the captured SQL
  deposit-sqlite  native deposits (wrk) on SQLite vs a sqlite3 loop running the captured SQL
  accounts        POST /v1/users (wrk) on PostgreSQL vs the deposit figure
  dialects        MT5 sessions and trade/balance, cTrader changebalance, native deposits,
                  all from one Python client on PostgreSQL; baseline: its native deposits
  workers         native deposits (wrk) on PostgreSQL with `serve --workers 2` vs --workers 1,
                  with the CPU each side used (see "Several processes" in bench/README.md)
  report          GET /v1/reports/users as CSV over BENCH_REPORT_ACCOUNTS accounts (SQLite,
                  made once under bench/.cache, see bench/bigdb.py) vs a sqlite3 + csv loop
                  over the same rows; deposits over them vs deposits over BENCH_ACCOUNTS
  report-pg       the same CSV on PostgreSQL (the schema bench_cache_<N>, made once) vs
                  COPY ... TO STDOUT CSV of the same rows; the exposure report over them
  cli-startup     wall time of `brokerplane --help` and `brokerplane key list` (the demo
                  data on SQLite), median of BENCH_CLI_RUNS runs each, vs the bare interpreter
                  and the interpreter importing click and sqlalchemy

Each measurement lives in a module of its own (bench/README.md lists them); this one holds
the run and the order of the measurements.

PostgreSQL work happens in a schema of its own (bench_<pid>), dropped at the end, also on
Ctrl-C or SIGTERM; nothing else on the server is touched. Only loopback servers are used.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import clistartup
import deposits
import eventrows
import tables
from harness import BIN, MEASUREMENTS, ROOT, Config, Demo, Load, Row, _r, log
from serverproc import Server


class Bench:
    """One run: its options, the rows measured so far, a scratch directory, and wrk, which
    most rows drive; the measurements themselves live in the modules `run` calls."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.rows: list[Row] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="brokerplane-bench-"))
        self.deposit_pg: float | None = None
        self.deposit_sqlite: float | None = None
        self.started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        self.load_at_start = round(os.getloadavg()[0], 1)
        self.cli_seconds: dict[str, float] = {}

    def add(self, name: str, load: Load, baseline: float | None, database: str, notes: str) -> None:
        ratio = round(load.rate / baseline, 3) if baseline else None
        if load.server_cpu_ms is not None:
            notes += f"; server CPU {load.server_cpu_ms:.2f} ms/op"
        if load.errors:
            notes += f"; {load.errors} errors" + (
                f" (the first: {load.first_error})" if load.first_error else ""
            )
        row = Row(
            name,
            round(load.rate, 1),
            _r(load.p50_ms),
            _r(load.p99_ms),
            baseline and round(baseline, 1),
            ratio,
            _r(load.peak_rss_mb),
            database,
            notes,
        )
        self.rows.append(row)
        log(f"{name}: {row.ops_per_s}/s (baseline {row.baseline_ops_per_s}, ratio {ratio})")

    # wrk ----------------------------------------------------------------------------------

    def wrk(self, server: Server, demo: Demo, kind: str, seconds: float) -> Load:
        env = dict(
            os.environ,
            BENCH_KEY=demo.admin_key,
            BENCH_KIND=kind,
            BENCH_LOGIN_FIRST=str(demo.first_login),
            BENCH_LOGIN_LAST=str(demo.last_login),
        )
        cmd = [
            "wrk",
            "-t",
            str(self.cfg.threads),
            "-c",
            str(self.cfg.connections),
            "-d",
            f"{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(ROOT / "bench" / "deposit.lua"),
            f"http://127.0.0.1:{server.port}",
        ]
        server.reset_peak_rss()
        cpu = server.cpu_seconds()
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
        cpu = server.cpu_seconds() - cpu
        line = next(x for x in out.splitlines() if x.startswith("BENCH_JSON "))
        data = json.loads(line[len("BENCH_JSON ") :])
        ok = data["requests"] - data["status_errors"]
        return Load(
            ok,
            data["duration_us"] / 1e6,
            data["p50_us"] / 1000,
            data["p99_us"] / 1000,
            data["status_errors"] + data["socket_errors"],
            server.peak_rss_mb(),
            cpu * 1000 / ok if ok else None,
        )

    def wrk_measured(self, server: Server, demo: Demo, kind: str, db: str) -> Load:
        if self.cfg.warmup > 0:
            self.wrk(server, demo, kind, self.cfg.warmup)
        if not self.cfg.profile:
            return self.wrk(server, demo, kind, self.cfg.seconds)
        # Sampled while wrk runs, only threads holding the GIL: where the server's CPU goes.
        out = self.cfg.output.parent / f"profile-{kind}-{db}.txt"
        spy = subprocess.Popen(
            [
                str(BIN / "py-spy"),
                "record",
                "-p",
                str(server.pid),
                "-r",
                "200",
                "--gil",
                "-d",
                str(round(self.cfg.seconds)),
                "-f",
                "raw",
                "-o",
                str(out),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            return self.wrk(server, demo, kind, self.cfg.seconds)
        finally:
            spy.wait()
            log(f"profile (collapsed stacks) in {out}")

    def run(self) -> None:
        for unknown in set(self.cfg.only) - set(MEASUREMENTS):
            raise SystemExit(f"BENCH_ONLY: unknown measurement {unknown}; use {MEASUREMENTS}")
        try:
            clistartup.measure(self)
            deposits.postgres(self)
            deposits.sqlite(self)
            self.report()
            eventrows.measure(self)
            self.replica()
            deposits.workers(self)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        tables.write(self)

    def report(self) -> None:
        """The rows on the cached 1M-account databases (bench/bigdb.py)."""
        if {"report", "report-pg"} & set(self.cfg.only):
            import bigdb  # bench/bigdb.py

            if "report" in self.cfg.only:
                bigdb.sqlite_rows(self)
            if "report-pg" in self.cfg.only:
                bigdb.postgres_rows(self)

    def replica(self) -> None:
        """The read replica's rows (bench/replica.py)."""
        if "replica" in self.cfg.only:
            import replica  # bench/replica.py

            replica.measure(self)


def main() -> None:
    cfg = Config()
    bench = Bench(cfg)

    def stop(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, stop)
    log(
        f"measurements: {', '.join(cfg.only)}; {cfg.seconds:g} s each, {cfg.connections} "
        f"connections, load average {os.getloadavg()[0]:.1f}"
    )
    bench.run()


if __name__ == "__main__":
    main()
