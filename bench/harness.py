"""What every bench measurement uses: the options (BENCH_* variables), a row of the table
and what a load generator measured, the log line, the demo data a run opens, and the
PostgreSQL schema of the run's own."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
MEASUREMENTS = (
    "cli-startup",
    "deposit-pg",
    "deposit-sqlite",
    "accounts",
    "dialects",
    "report",
    "report-pg",
    "events",
    "replica",
    "workers",
)
LOOPBACK = {"127.0.0.1", "localhost", "::1", ""}


def _env(name: str, default: str) -> str:
    value = os.environ.get(name, "").strip()
    return value or default


@dataclass(frozen=True)
class Config:
    seconds: float = float(_env("BENCH_SECONDS", "20"))
    warmup: float = float(_env("BENCH_WARMUP", "3"))
    connections: int = int(_env("BENCH_CONNECTIONS", "32"))
    threads: int = int(_env("BENCH_THREADS", "2"))
    only: tuple[str, ...] = tuple(
        m.strip() for m in _env("BENCH_ONLY", ",".join(MEASUREMENTS)).split(",") if m.strip()
    )
    database_url: str = _env("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
    accounts: int = int(_env("BENCH_ACCOUNTS", "1000"))
    report_accounts: int = int(_env("BENCH_REPORT_ACCOUNTS", "1000000"))
    output: Path = Path(_env("BENCH_OUTPUT", str(ROOT / "bench" / "results" / "latest.json")))
    cache: Path = Path(_env("BENCH_CACHE", str(ROOT / "bench" / ".cache")))
    port: int = int(_env("BENCH_PORT", "0"))
    keep_sql: bool = _env("BENCH_KEEP_SQL", "0") == "1"
    group_probe: int = int(_env("BENCH_GROUP_PROBE", "8"))
    ungrouped: bool = _env("BENCH_UNGROUPED", "1") == "1"
    profile: bool = _env("BENCH_PROFILE", "0") == "1"
    cli_runs: int = int(_env("BENCH_CLI_RUNS", "10"))


@dataclass
class Row:
    name: str
    ops_per_s: float
    p50_ms: float | None
    p99_ms: float | None
    baseline_ops_per_s: float | None
    ratio: float | None
    peak_rss_mb: float | None
    database: str
    notes: str


@dataclass
class Load:
    """What a load generator measured."""

    ops: int
    seconds: float
    p50_ms: float | None
    p99_ms: float | None
    errors: int = 0
    peak_rss_mb: float | None = None
    server_cpu_ms: float | None = None  # the server process's CPU time per operation
    first_error: str = ""  # what the first failed operation saw

    @property
    def rate(self) -> float:
        return self.ops / self.seconds if self.seconds > 0 else 0.0


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def percentile(sorted_values: list[float], q: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values)) - 1))
    return sorted_values[index]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Demo:
    """What `brokerplane demo --json` printed: the secrets and the accounts it opened."""

    admin_key: str
    manager_login: int
    manager_password: str
    first_login: int
    last_login: int

    @classmethod
    def load(cls, url: str, data_dir: Path, accounts: int) -> Demo:
        """Load the demo data and open `accounts` more accounts. On a database that already
        has it (a preparation that was interrupted), a new admin key stands in for the
        secrets shown only the first time."""
        where = ["--database-url", url, "--data-dir", str(data_dir)]
        data = _cli_json("demo", "--accounts", str(accounts), *where)
        opened = data.get("account_logins", {"first": 0, "last": 0})
        if data.get("already_loaded"):
            login = data["manager"]["login"]
            issued = _cli_json(
                "key",
                "create",
                "--manager",
                str(login),
                "--scopes",
                "admin",
                "--name",
                "bench",
                *where,
            )
            return cls(issued["key"], login, "", opened["first"], opened["last"])
        return cls(
            data["admin_key"],
            data["manager"]["login"],
            data["manager"]["password"],
            opened["first"],
            opened["last"],
        )


def _cli_json(*args: str) -> dict[str, Any]:
    cmd = [str(BIN / "brokerplane"), *args, "--json"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"brokerplane {args[0]} failed: {done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


# ---- PostgreSQL: a scratch schema ----------------------------------------------------------


class PgSchema:
    """A schema of our own on the server; URLs that put it first on the search path."""

    def __init__(self, server_url: str) -> None:
        from sqlalchemy.engine import make_url

        self.server = make_url(server_url.replace("postgres://", "postgresql://", 1))
        if self.server.get_backend_name() != "postgresql":
            raise SystemExit(f"BENCH_DATABASE_URL must be a PostgreSQL URL, not {server_url}")
        if (self.server.host or "") not in LOOPBACK:
            raise SystemExit(f"refusing a non-loopback PostgreSQL host: {self.server.host}")
        self.name = f"bench_{os.getpid()}"

    def _psql(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(self.plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self._psql(f'CREATE SCHEMA "{self.name}"')

    def drop(self) -> None:
        self._psql(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')

    @property
    def plain(self) -> str:
        """The server's URL as libpq takes it (the database, not the schema)."""
        return self.server.set(drivername="postgresql").render_as_string(hide_password=False)

    @property
    def url(self) -> str:
        base = self.plain
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}options={quote(f'-csearch_path={self.name}')}"

    def libpq_env(self) -> dict[str, str]:
        s = self.server
        env = dict(
            os.environ,
            PGHOST=s.host or "127.0.0.1",
            PGPORT=str(s.port or 5432),
            PGUSER=s.username or "postgres",
            PGDATABASE=s.database or "postgres",
            PGOPTIONS=f"-c search_path={self.name}",
        )
        if s.password:
            env["PGPASSWORD"] = str(s.password)
        return env


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
