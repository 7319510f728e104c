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

PostgreSQL work happens in a schema of its own (bench_<pid>), dropped at the end, also on
Ctrl-C or SIGTERM; nothing else on the server is touched. Only loopback servers are used.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import hashlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
MEASUREMENTS = (
    "cli-startup", "deposit-pg", "deposit-sqlite", "accounts", "dialects", "report", "report-pg",
    "events", "replica", "workers",
)  # fmt: skip
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


# ---- the server under test -----------------------------------------------------------------


class Server:
    """`brokerplane serve` in its own process: one uvicorn process (MT5 sessions live in it)."""

    def __init__(
        self, url: str, data_dir: Path, port: int, env: dict[str, str] | None = None
    ) -> None:
        self.url = url
        self.extra_env = env or {}
        self.port = port or free_port()
        self.tcp_port = free_port()  # the MT5 Web API's TCP protocol
        self.data_dir = data_dir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / f"serve-{self.port}.log"

    def __enter__(self) -> Server:
        env = dict(os.environ)
        # No per-key rate limit (a benchmark sends far more than 600/min on one key) and no
        # access log line per request: what an operator would run under load.
        env.update(BROKERPLANE_RATE_LIMIT_PER_MINUTE="0", BROKERPLANE_LOG_LEVEL="warning")
        env.update(self.extra_env)
        cmd = [
            str(BIN / "brokerplane"),
            "serve",
            "--database-url",
            self.url,
            "--data-dir",
            str(self.data_dir),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--mt5-tcp-port",
            str(self.tcp_port),
        ]
        self.log_file = self.log_path.open("wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"brokerplane serve exited: {self.log_path.read_text()[-2000:]}")
            try:
                status, _ = asyncio.run(one_request("127.0.0.1", self.port, "GET", "/health"))
                if status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("brokerplane serve did not answer /health within 60 s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def reset_peak_rss(self) -> None:
        with contextlib.suppress(OSError):
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the server process (and its live workers, with
        BROKERPLANE_WORKERS) has used so far."""
        pids = [self.pid]
        with contextlib.suppress(OSError):
            pids += [int(p) for p in Path(f"/proc/{self.pid}/task/{self.pid}/children")
                     .read_text().split()]  # fmt: skip
        return sum(_cpu_of(pid) for pid in pids)

    def peak_rss_mb(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None


def _cpu_of(pid: int) -> float:
    """User plus system CPU seconds of one process (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _postgres_cpu() -> float:
    """CPU seconds of every process named postgres on this machine (all of PostgreSQL)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    total += _cpu_of(int(entry.name))
    return total


def _machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine so far, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    idle = values[3] + values[4]
    return (sum(values) - idle) / tick, sum(values) / tick


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
            issued = _cli_json("key", "create", "--manager", str(login), "--scopes", "admin",
                               "--name", "bench", *where)  # fmt: skip
            return cls(issued["key"], login, "", opened["first"], opened["last"])
        return cls(data["admin_key"], data["manager"]["login"], data["manager"]["password"],
                   opened["first"], opened["last"])  # fmt: skip


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

        plain = self.server.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(plain, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql)

    def create(self) -> None:
        self._psql(f'CREATE SCHEMA "{self.name}"')

    def drop(self) -> None:
        self._psql(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')

    @property
    def url(self) -> str:
        base = self.server.set(drivername="postgresql").render_as_string(hide_password=False)
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


# ---- a small HTTP/1.1 client (keep-alive, Content-Length or chunked) -----------------------


class Http:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.mt5_authenticated = False  # an MT5 session lives on its connection
        self.tcp_number = 0  # the MT5 TCP protocol's packet number
        self.tcp_prefixed = False  # MT5WEBAPI goes before the connection's first packet
        self.last_headers: dict[str, str] = {}  # of the last answer, names in lower case

    @classmethod
    async def open(cls, host: str, port: int) -> Http:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 20)
        return cls(reader, writer)

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes = b"",
        sink: Callable[[bytes], None] | None = None,
    ) -> tuple[int, bytes]:
        """One exchange; with `sink`, the body is handed over in pieces and not kept."""
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        if body or method in ("POST", "PUT"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        fields = {}
        for line in head.decode("latin-1").split("\r\n")[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        self.last_headers = fields
        parts: list[bytes] = []
        keep = sink or parts.append
        if fields.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    break
                keep(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        else:
            keep(await self.reader.readexactly(int(fields.get("content-length", "0"))))
        return status, b"".join(parts)


async def one_request(
    host: str,
    port: int,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> tuple[int, bytes]:
    conn = await Http.open(host, port)
    try:
        return await conn.request(method, path, headers, body)
    finally:
        await conn.close()


async def drive(
    port: int,
    connections: int,
    seconds: float,
    worker: Callable[[Http, Callable[[float], None]], Any],
    fresh_connections: bool = False,
) -> Load:
    """Run `worker(conn, done)` in a loop on each connection for `seconds`; `done(started)`
    counts one operation. With fresh_connections, each loop opens its own connection."""
    latencies: list[float] = []
    errors = 0
    first_error = ""
    stop = time.monotonic() + seconds

    def done(started: float) -> None:
        latencies.append(time.monotonic() - started)

    async def one() -> None:
        nonlocal errors, first_error
        conn = None if fresh_connections else await Http.open("127.0.0.1", port)
        while time.monotonic() < stop:
            c = await Http.open("127.0.0.1", port) if fresh_connections else conn
            assert c is not None
            try:
                await worker(c, done)
            except (AssertionError, OSError, asyncio.IncompleteReadError, ValueError) as err:
                errors += 1
                first_error = first_error or f"{type(err).__name__}: {err}"[:200]
                if not fresh_connections:
                    await c.close()
                    conn = c = await Http.open("127.0.0.1", port)
            if fresh_connections:
                await c.close()
        if conn is not None:
            await conn.close()

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(connections)))
    elapsed = time.monotonic() - started
    latencies.sort()
    p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
    return Load(len(latencies), elapsed, p50 and p50 * 1000, p99 and p99 * 1000, errors,
                first_error=first_error)  # fmt: skip


# ---- capturing the SQL of one deposit ------------------------------------------------------


@dataclass
class Statement:
    sql: str
    params: list[tuple[str, Any]]  # (bind name, DB-API value), in the statement's order
    returns: bool = False

    def column_of(self, name: str) -> str:
        """The column an INSERT's anonymous bind (`param_3`) fills, else the bind's name."""
        found = re.search(r"INSERT INTO \w+ \(([^)]*)\) VALUES \((.*?)\)\s*(?:\)|RETURNING|$)",
                          " ".join(self.sql.split()))  # fmt: skip
        if found:
            columns = [c.strip() for c in found.group(1).split(",")]
            binds = re.findall(r"%\((\w+)\)s", found.group(2))
            return dict(zip(binds, columns, strict=False)).get(name, name)
        return name


@dataclass
class Capture:
    """Every statement brokerplane ran for one native deposit, with the values it sent."""

    statements: list[Statement] = field(default_factory=list)
    transactions: int = 0
    login: int = 0
    login_span: int = 1  # deposits pick a login in [login, login + login_span)
    request_id: str = ""
    audit_id: int = 0
    event_id: int = 0  # the head's last event id after the deposit (its event's id)


def capture_deposit(url: str, data_dir: Path, demo: Demo) -> Capture:
    """One deposit through the real app in this process, its statements recorded by a
    SQLAlchemy listener on the runtime's engine. A first deposit warms caches (and the key's
    last-used stamp) and is not recorded."""
    from sqlalchemy import event
    from starlette.testclient import TestClient

    from brokerplane import bootstrap
    from brokerplane.api.app import create_app
    from brokerplane.settings import Settings

    runtime = bootstrap.build(
        Settings(database_url=url, data_dir=data_dir, rate_limit_per_minute=0)
    )
    cap = Capture(login=demo.first_login, login_span=demo.last_login - demo.first_login + 1)
    recording = False

    def before(
        conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
    ) -> None:
        if not recording:
            return
        rows = parameters if executemany else [parameters]
        names: list[str] | None = None
        compiled = getattr(context, "compiled", None)
        if compiled is not None and getattr(compiled, "positiontup", None):
            names = list(compiled.positiontup)
        for row in rows:
            if isinstance(row, dict):
                params = list(row.items())
            else:
                values = list(row or ())
                params = list(
                    zip(names or [f"p{n}" for n in range(len(values))], values, strict=False)
                )
            cap.statements.append(Statement(statement, params, "FROM audit_head" in statement))

    def began(conn: Any) -> None:
        if recording:
            cap.transactions += 1

    engine = runtime.storage.engine
    event.listen(engine, "before_cursor_execute", before)
    event.listen(engine, "begin", began)
    try:
        with TestClient(create_app(runtime)) as client:
            for n in range(2):
                recording = n == 1
                cap.request_id = f"capture-{secrets.token_hex(8)}"
                answer = client.post(
                    "/v1/balances/deposit",
                    json={"login": cap.login, "amount": "1.00", "comment": "bench"},
                    headers={
                        "Authorization": f"Bearer {demo.admin_key}",
                        "x-request-id": cap.request_id,
                    },
                )
                if answer.status_code != 200:
                    raise RuntimeError(
                        f"capture deposit failed: {answer.status_code} {answer.text}"
                    )
        recording = False
        with runtime.storage.uow(write=False) as uow:
            cap.audit_id = uow.audit.head()[0]
        with engine.connect() as conn:
            cap.event_id = int(
                conn.exec_driver_sql("SELECT last_event_id FROM audit_head").scalar_one()
            )
    finally:
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "begin", began)
        runtime.close()
    return cap


def _is_txn_control(sql: str) -> bool:
    """Transaction boundaries, and the claim transaction's lazy commit: replayed as one
    transaction per deposit, that setting would make the whole deposit's commit lazy."""
    words = sql.split()
    return bool(words) and (
        words[0].upper() in ("BEGIN", "COMMIT", "ROLLBACK")
        or sql.upper().startswith("SET LOCAL SYNCHRONOUS_COMMIT")
    )


def _role(name: str, value: Any, cap: Capture) -> str | None:
    """Which per-deposit variable a captured value stands for, if any."""
    if name in ("e_id", "b_last_event") and value == cap.event_id:
        return "event_id"  # the deposit's event (the outbox row), numbered from the head
    if name == "e_audit_id" and value == cap.audit_id:
        return "audit_id"
    base = re.sub(r"(_m?\d+)+$", "", name)  # login_1, id_m0 (a multi-row VALUES) ...
    base = re.sub(r"^[br]_", "", base)  # prebuilt statements' binds: b_login, r_entity_id ...
    if isinstance(value, int) and not isinstance(value, bool):
        if value == cap.login and base in ("login", "entity_id"):
            return "login"
        if value == cap.audit_id and base in ("id", "last_id"):
            return "audit_id"
    if isinstance(value, str):
        if value == cap.request_id:
            return "key"
        if value == str(cap.login) and base == "entity_id":
            return "login_text"
    if base == "prev_hash":
        return "prev_hash"
    return None


def pgbench_script(cap: Capture, literal: Callable[[Any], str], per_txn: int = 1) -> str:
    """The captured statements as a pgbench script, `per_txn` deposits per transaction: each
    with a random login among the demo accounts, a unique request id, and the audit chain's
    next id read from its head row (`\\gset`) as brokerplane does."""
    lines = [(f"-- generated by bench/bench.py from the SQL of one brokerplane deposit, "
              f"{per_txn} per transaction")]  # fmt: skip
    for n in range(per_txn):
        lines += [f"\\set login{n} random({cap.login}, {cap.login + cap.login_span - 1})",
                  f"\\set rid{n} random(1, 9000000000000000000)"]  # fmt: skip
    lines.append("BEGIN;")
    work = [st for st in cap.statements if not _is_txn_control(st.sql)]
    seal = next((i for i, st in enumerate(work) if st.returns), len(work))
    # With several deposits, the audit chain is sealed once for all of them at the end, as a
    # unit of work does at commit: the head row is locked only for that last part.
    for part in (work[:seal], work[seal:]):
        for n in range(per_txn):
            exprs = {
                "login": f":login{n}", "login_text": f"(:login{n})::text",
                "key": f"('pgb-' || :client_id || '-' || :rid{n})",
                "audit_id": ":next_id", "prev_hash": ":last_hash", "event_id": ":next_event",
            }  # fmt: skip
            for st in part:
                subs = {}
                for name, value in st.params:
                    role = _role(st.column_of(name), value, cap)
                    subs[name] = exprs[role] if role else literal(value)
                text = " ".join(st.sql.split())
                sql = re.sub(r"%\((\w+)\)s", lambda m, s=subs: s[m.group(1)], text)
                sql = sql.replace("%%", "%")
                then = "\\set next_id :last_id + 1\n\\set next_event :last_event_id + 1"
                lines.append(sql + (f" \\gset\n{then}" if st.returns else ";"))
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


def pgbench_literal(value: Any, conn: Any) -> str:
    """A SQL literal pgbench leaves alone: it would read `:name` inside a string as one of
    its variables, so colons in quoted text are written as the escape `\\x3a`."""
    import psycopg

    text: str = psycopg.sql.Literal(value).as_string(conn)
    quoted = re.fullmatch(r"(?s)\s*(E?)'(.*)'((?:::[\w ]+)?)", text)
    if ":" not in text or quoted is None:
        return text
    body = quoted.group(2) if quoted.group(1) else quoted.group(2).replace("\\", "\\\\")
    return "E'" + body.replace(":", "\\x3a") + "'" + quoted.group(3)


# ---- measurements --------------------------------------------------------------------------


class Bench:
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
            [str(BIN / "py-spy"), "record", "-p", str(server.pid), "-r", "200", "--gil",
             "-d", str(round(self.cfg.seconds)), "-f", "raw", "-o", str(out)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            return self.wrk(server, demo, kind, self.cfg.seconds)
        finally:
            spy.wait()
            log(f"profile (collapsed stacks) in {out}")

    # deposits on PostgreSQL ---------------------------------------------------------------

    def postgres(self) -> None:
        wanted = {"deposit-pg", "accounts", "dialects"} & set(self.cfg.only)
        if not wanted:
            return
        schema = PgSchema(self.cfg.database_url)
        schema.create()
        try:
            demo = Demo.load(schema.url, self.tmp, self.cfg.accounts)
            if "deposit-pg" in wanted:
                self.deposit_on_postgres(schema, demo)
            with Server(schema.url, self.tmp, self.cfg.port) as server:
                if "accounts" in wanted:
                    self.accounts(server, demo)
                if "dialects" in wanted:
                    self.dialects(server, demo)
        finally:
            schema.drop()

    def deposit_on_postgres(self, schema: PgSchema, demo: Demo) -> None:
        import psycopg

        cap = capture_deposit(schema.url, self.tmp, demo)
        scripts = []
        with psycopg.connect(_plain(schema)) as conn:
            for per_txn in (1, self.cfg.group_probe):
                path = self.tmp / f"deposit-{per_txn}.pgbench.sql"
                path.write_text(pgbench_script(cap, lambda v: pgbench_literal(v, conn), per_txn))
                scripts.append(path)
                if self.cfg.keep_sql:
                    shutil.copy(path, self.cfg.output.parent / path.name)
        with Server(schema.url, self.tmp, self.cfg.port) as server:
            load = self.wrk_measured(server, demo, "deposit", "postgresql")
        alone = self.ungrouped(schema.url, demo, "postgresql")
        refs = self.reference_on_postgres(schema)
        ref = refs[0][1]
        best_name, best = max(refs, key=lambda r: r[1].rate)
        captured = self.pgbench(schema, scripts[0])
        self.deposit_pg = load.rate
        statements = sum(1 for s in cap.statements if not _is_txn_control(s.sql))
        self.add(
            "deposit (native API)",
            load,
            ref.rate,
            "postgresql",
            f"wrk {self.cfg.connections} connections, unique x-request-id; baseline: the "
            f"reference deposit (bench/reference.py), pgbench -M prepared -c "
            f"{self.cfg.connections} -j {self.cfg.threads}, p50/p99 {_ms(ref.p50_ms)}/"
            f"{_ms(ref.p99_ms)} ms",
        )
        self.add(
            "deposit (native API) ÷ the best one-commit variant",
            load,
            best.rate,
            "postgresql",
            f"the same run as the row above; baseline: the fastest reference variant ({best_name})",
        )
        self.add_ungrouped(alone, ref.rate, "postgresql")
        for name, variant in refs:
            self.add(name, variant, ref.rate, "postgresql",
                     "the database alone (no brokerplane); ratio to the reference at "
                     f"-c {self.cfg.connections}")  # fmt: skip
        self.add(
            "pgbench, brokerplane's captured statements (diagnostic)",
            captured,
            ref.rate,
            "postgresql",
            f"pgbench -M prepared -c {self.cfg.connections} running the {statements} "
            f"statements one deposit sends ({cap.transactions} transactions in brokerplane) "
            "as one transaction per deposit; moves with brokerplane's SQL, so not the baseline",
        )
        if self.cfg.group_probe > 1:
            # As many deposits in flight as the other rows, grouped: connections / group size.
            clients = str(max(1, self.cfg.connections // self.cfg.group_probe))
            grouped = self.pgbench(schema, scripts[1], "-c", clients, "-j", "1", "--max-tries=50")
            grouped.ops *= self.cfg.group_probe
            self.add(
                f"pgbench, {self.cfg.group_probe} captured deposits per transaction",
                grouped,
                ref.rate,
                "postgresql",
                "what committing deposits together could reach in the database (a probe for "
                "group commit, not brokerplane): the audit chain sealed once per "
                f"transaction, {clients} clients, deadlocks retried; ops are deposits, latency "
                "is per transaction",
            )

    def reference_on_postgres(self, schema: PgSchema) -> list[tuple[str, Load]]:
        """The reference deposit (bench/reference.py) and its variants under pgbench, on
        tables of their own; checked afterwards (balances, claims, the hash chain)."""
        measured: list[tuple[str, Load]] = []
        reference.pg_prepare(schema.url, self.cfg.accounts)
        for variant in reference.pg_variants(self.cfg.connections):
            path = self.tmp / f"{variant.key}.pgbench.sql"
            path.write_text(variant.script.format(accounts=self.cfg.accounts))
            extra = ("-c", str(variant.clients)) if variant.clients else ()
            measured.append((variant.name, self.pgbench(schema, path, *extra)))
        problems = reference.pg_check(schema.url)
        if problems:
            raise RuntimeError(f"the reference deposit's tables are wrong: {problems}")
        return measured

    def pgbench(self, schema: PgSchema, script: Path, *extra: str) -> Load:
        logdir = self.tmp / f"pgbench-{secrets.token_hex(3)}"
        logdir.mkdir()
        env = schema.libpq_env()
        common = [
            "pgbench",
            "-n",
            "-M",
            "prepared",
            "-c",
            str(self.cfg.connections),
            "-j",
            str(self.cfg.threads),
            "-f",
            str(script),
            *extra,
        ]

        def run(seconds: float, *extra: str) -> str:
            cmd = [*common, "-T", str(max(1, round(seconds))), *extra]
            done = subprocess.run(
                cmd, env=env, capture_output=True, text=True, cwd=logdir, check=False
            )
            if done.returncode != 0:
                raise RuntimeError(f"pgbench failed: {done.stderr[-2000:]}")
            return done.stdout

        if self.cfg.warmup > 0:
            run(self.cfg.warmup)
        out = run(self.cfg.seconds, "-l", f"--log-prefix={logdir}/tx")
        tps = float(re.search(r"tps = ([\d.]+)", out).group(1))  # type: ignore[union-attr]
        failed = re.search(r"number of failed transactions: (\d+)", out)
        latencies: list[float] = []
        for f in logdir.glob("tx.*"):
            for line in f.read_text().splitlines():
                parts = line.split()
                if len(parts) >= 3 and parts[2].isdigit():
                    latencies.append(int(parts[2]) / 1000)
        latencies.sort()
        seconds = self.cfg.seconds
        return Load(
            round(tps * seconds),
            seconds,
            percentile(latencies, 50),
            percentile(latencies, 99),
            int(failed.group(1)) if failed else 0,
        )

    # deposits on SQLite -------------------------------------------------------------------

    def sqlite(self) -> None:
        if "deposit-sqlite" not in self.cfg.only:
            return
        path = self.tmp / "deposit.db"
        url = f"sqlite:///{path}"
        demo = Demo.load(url, self.tmp, self.cfg.accounts)
        cap = capture_deposit(url, self.tmp, demo)
        with Server(url, self.tmp, self.cfg.port) as server:
            load = self.wrk_measured(server, demo, "deposit", "sqlite")
        alone = self.ungrouped(url, demo, "sqlite")
        base = self.reference_on_sqlite()
        if self.cfg.warmup > 0:
            sqlite_loop(path, cap, self.cfg.warmup)
        captured = sqlite_loop(path, cap, self.cfg.seconds)
        statements = sum(1 for s in cap.statements if not _is_txn_control(s.sql))
        self.deposit_sqlite = load.rate
        self.add(
            "deposit (native API)",
            load,
            base.rate,
            "sqlite",
            f"wrk {self.cfg.connections} connections; baseline: the reference deposit "
            "(bench/reference.py) in a sqlite3 loop, one connection, one transaction per "
            f"deposit (BEGIN IMMEDIATE, WAL, synchronous=FULL), p50/p99 "
            f"{_ms(base.p50_ms)}/{_ms(base.p99_ms)} ms",
        )
        self.add_ungrouped(alone, base.rate, "sqlite")
        self.add("reference deposit, sqlite3 loop", base, base.rate, "sqlite",
                 "the database alone (no brokerplane): " + reference.describe())  # fmt: skip
        self.add(
            "sqlite3 loop, brokerplane's captured statements (diagnostic)",
            captured,
            base.rate,
            "sqlite",
            f"the {statements} statements one deposit sends, one transaction per deposit on "
            "brokerplane's own database; moves with brokerplane's SQL, so not the baseline",
        )

    def reference_on_sqlite(self) -> Load:
        path = self.tmp / "reference.db"
        reference.sqlite_prepare(path, self.cfg.accounts)
        if self.cfg.warmup > 0:
            reference.sqlite_loop(path, self.cfg.accounts, self.cfg.warmup)
        done = reference.sqlite_loop(path, self.cfg.accounts, self.cfg.seconds)
        if done.problems:
            raise RuntimeError(f"the reference deposit's tables are wrong: {done.problems}")
        return Load(done.ops, done.seconds, percentile(done.latencies_ms, 50),
                    percentile(done.latencies_ms, 99))  # fmt: skip

    def ungrouped(self, url: str, demo: Demo, db: str) -> Load | None:
        """The same deposits with group commit off: what committing together gives."""
        if not self.cfg.ungrouped:
            return None
        with Server(url, self.tmp, self.cfg.port, {"BROKERPLANE_GROUP_COMMIT_MAX": "1"}) as srv:
            return self.wrk_measured(srv, demo, "deposit", f"{db}-ungrouped")

    def add_ungrouped(self, load: Load | None, baseline: float, db: str) -> None:
        if load is not None:
            self.add(
                "deposit (native API, group commit off)",
                load,
                baseline,
                db,
                "as the row above with BROKERPLANE_GROUP_COMMIT_MAX=1: every deposit commits "
                "alone; same baseline",
            )

    # several processes --------------------------------------------------------------------

    def workers(self) -> None:
        """Deposits through `serve --workers 2` against `--workers 1`, one after the other on
        one database, with where the CPU went during each: the server processes, PostgreSQL
        (all of it), wrk, and the machine as a whole."""
        if "workers" not in self.cfg.only:
            return
        schema = PgSchema(self.cfg.database_url)
        schema.create()
        try:
            demo = Demo.load(schema.url, self.tmp, self.cfg.accounts)
            measured: dict[int, tuple[Load, str]] = {}
            for count in (1, 2):
                env = {"BROKERPLANE_WORKERS": str(count)}
                with Server(schema.url, self.tmp, self.cfg.port, env) as server:
                    if self.cfg.warmup > 0:
                        self.wrk(server, demo, "deposit", self.cfg.warmup)
                    pg, (busy, total) = _postgres_cpu(), _machine_cpu()
                    wrk_cpu = _children_cpu()
                    server_cpu = server.cpu_seconds()
                    load = self.wrk(server, demo, "deposit", self.cfg.seconds)
                    split = _split(
                        server.cpu_seconds() - server_cpu, _postgres_cpu() - pg,
                        _children_cpu() - wrk_cpu, _machine_cpu(), (busy, total),
                    )  # fmt: skip
                    measured[count] = (load, split)
            one, two = measured[1], measured[2]
            self.add(
                "deposit (native API), 2 workers / 1 worker",
                two[0],
                one[0].rate,
                "postgresql",
                f"wrk {self.cfg.connections} connections; `serve --workers 2` against "
                f"--workers 1 in the same run (baseline); CPU of the machine's "
                f"{os.cpu_count()} cores, 2 workers: {two[1]}; 1 worker: {one[1]}",
            )
        finally:
            schema.drop()

    # accounts, dialects -------------------------------------------------------------------

    def accounts(self, server: Server, demo: Demo) -> None:
        load = self.wrk_measured(server, demo, "account", "postgresql")
        self.add(
            "account creation (native API)",
            load,
            self.deposit_pg,
            "postgresql",
            f"wrk POST /v1/users, {self.cfg.connections} connections, unique x-request-id;"
            " baseline: the native deposit figure of this run (same stack, one audited "
            "durable write each)",
        )

    def dialects(self, server: Server, demo: Demo) -> None:
        c, s = self.cfg.connections, self.cfg.seconds
        port, key = server.port, demo.admin_key
        logins = (demo.first_login, demo.last_login)
        measured: dict[str, Load] = {}
        for name, job, target in (
            ("native", native_deposit(key, logins), port),
            ("mt5-sessions", mt5_session(demo, logins), port),
            ("mt5-balance", mt5_balance(demo, logins), port),
            ("mt5-tcp-sessions", mt5_tcp_session(demo, logins), server.tcp_port),
            ("mt5-tcp-balance", mt5_tcp_balance(demo, logins), server.tcp_port),
            ("ctrader", ctrader_balance(port, demo, logins), port),
        ):
            worker, fresh = job
            if self.cfg.warmup > 0:
                asyncio.run(drive(target, c, self.cfg.warmup, worker, fresh))
            server.reset_peak_rss()
            cpu = server.cpu_seconds()
            load = asyncio.run(drive(target, c, s, worker, fresh))
            load.peak_rss_mb = server.peak_rss_mb()
            load.server_cpu_ms = (server.cpu_seconds() - cpu) * 1000 / max(1, load.ops)
            measured[name] = load
        native = measured["native"].rate
        client = f"Python asyncio client, {c} connections"
        self.add(
            "deposit (native API, Python client)",
            measured["native"],
            None,
            "postgresql",
            f"{client}; the baseline of the dialect rows below",
        )
        self.add(
            "MT5 handshake + user/get (sessions)",
            measured["mt5-sessions"],
            native,
            "postgresql",
            f"{client}, a new connection per session: auth/start, auth/answer, user/get",
        )
        self.add(
            "MT5 trade/balance",
            measured["mt5-balance"],
            native,
            "postgresql",
            f"{client}, one authenticated session per connection, type=2 deposits",
        )
        self.add(
            "MT5 TCP handshake + USER_GET (sessions)",
            measured["mt5-tcp-sessions"],
            native,
            "postgresql",
            f"{client}, the native TCP protocol (no AES), a new connection per session: "
            "AUTH_START, AUTH_ANSWER, USER_GET",
        )
        self.add(
            "MT5 TCP TRADE_BALANCE",
            measured["mt5-tcp-balance"],
            native,
            "postgresql",
            f"{client}, the native TCP protocol (no AES), one authenticated session per "
            "connection, TYPE=2 deposits",
        )
        self.add(
            "cTrader changebalance",
            measured["ctrader"],
            native,
            "postgresql",
            f"{client}, DEPOSIT with a unique Idempotency-Key (claimed like native x-request-id)",
        )

    # report -------------------------------------------------------------------------------

    def report(self) -> None:
        """The rows on the cached 1M-account databases (bench/bigdb.py)."""
        if {"report", "report-pg"} & set(self.cfg.only):
            import bigdb  # bench/bigdb.py

            if "report" in self.cfg.only:
                bigdb.sqlite_rows(self)
            if "report-pg" in self.cfg.only:
                bigdb.postgres_rows(self)

    # CLI start-up -------------------------------------------------------------------------

    def cli_startup(self) -> None:
        """Median wall time of `brokerplane --help` and of `brokerplane key list` over the demo
        data (SQLite, two keys drawn as a table), each against an interpreter doing only the
        least it must: starting, and importing click and sqlalchemy. The runs alternate, after
        one of each that writes the bytecode caches (as an installed package has them)."""
        if "cli-startup" not in self.cfg.only:
            return
        data = self.tmp / "cli-startup"
        _cli_json("demo", "--data-dir", str(data))
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("BROKERPLANE_") and k != "PYTHONDONTWRITEBYTECODE"}  # fmt: skip
        python, cli = str(BIN / "python"), str(BIN / "brokerplane")
        runs = {
            "help": [cli, "--help"],
            "key list": [cli, "key", "list", "--data-dir", str(data)],
            "python": [python, "-c", "pass"],
            "libraries": [python, "-c", "import click, sqlalchemy"],
        }
        took: dict[str, list[float]] = {name: [] for name in runs}
        cpu: dict[str, list[float]] = {name: [] for name in runs}
        for n in range(self.cfg.cli_runs + 1):
            for name, cmd in runs.items():
                before, started = _children_cpu(), time.perf_counter()
                subprocess.run(cmd, env=env, cwd=self.tmp, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, check=True)  # fmt: skip
                if n:  # the first of each wrote the bytecode caches
                    took[name].append(time.perf_counter() - started)
                    cpu[name].append(_children_cpu() - before)
        median = {name: statistics.median(values) for name, values in took.items()}
        cpu_ms = {name: statistics.median(values) * 1000 for name, values in cpu.items()}
        self.cli_seconds = {"help": median["help"], "key list": median["key list"]}
        for name, baseline, shown in (
            ("help", "python", "an interpreter starting (python -c pass)"),
            ("key list", "libraries", "an interpreter importing click and sqlalchemy"),
        ):
            seconds = sorted(took[name])
            load = Load(1, median[name], median[name] * 1000, seconds[-1] * 1000)
            self.add(
                f"CLI start-up: brokerplane {'--help' if name == 'help' else name}",
                load,
                1 / median[baseline],
                "-" if name == "help" else "sqlite",
                f"median {median[name]:.3f} s wall, {cpu_ms[name]:.0f} ms CPU over "
                f"{len(seconds)} runs (p99 column: the slowest); ops/s: starts per second; "
                f"baseline: {shown}, median {median[baseline]:.3f} s",
            )

    # the read replica (bench/replica.py) ----------------------------------------------------

    def replica(self) -> None:
        if "replica" in self.cfg.only:
            import replica  # bench/replica.py

            replica.measure(self)

    # the issue's table -------------------------------------------------------------------

    def targets(self) -> list[dict[str, Any]]:
        """The figures the performance issue sets targets for, from this run's rows; a figure
        this run did not measure says so."""

        def row(name: str, db: str) -> Row | None:
            return next((r for r in self.rows if r.name == name and r.database == db), None)

        def cpu(name: str, db: str) -> float | None:
            found = row(name, db)
            m = re.search(r"server CPU ([\d.]+) ms/op", found.notes) if found else None
            return float(m.group(1)) if m else None

        def ratio(name: str, db: str) -> float | None:
            found = row(name, db)
            return found.ratio if found else None

        def p99(name: str, db: str) -> float | None:
            found = row(name, db)
            return found.p99_ms if found else None

        big = f"deposit (native API), {self.cfg.report_accounts} accounts"
        out: list[dict[str, Any]] = []

        def target(
            figure: str,
            value: float | None,
            issue: str,
            goal: str,
            met: Callable[[float], bool],
            unit: str = "",
            why: str = "",
        ) -> None:
            shown = "not measured" + (f" ({why})" if why else "") if value is None else (
                f"{value:.2f}{unit}")  # fmt: skip
            out.append({"figure": figure, "measured": value, "shown": shown, "this_issue": issue,
                        "goal": goal, "met": None if value is None else met(value)})  # fmt: skip

        dep = "deposit (native API)"
        target("server CPU per native deposit, PostgreSQL", cpu(dep, "postgresql"), "<= 0.5 ms",
               "<= 0.25 ms", lambda v: v <= 0.5, " ms")  # fmt: skip
        target("server CPU per native deposit, SQLite", cpu(dep, "sqlite"), "<= 0.5 ms",
               "<= 0.25 ms", lambda v: v <= 0.5, " ms")  # fmt: skip
        target("native deposits/s ÷ reference deposit (pgbench -M prepared -c 32)",
               ratio(dep, "postgresql"), ">= 1.5", ">= 3.0", lambda v: v >= 1.5)  # fmt: skip
        target("native deposits/s ÷ reference deposit (sqlite3 loop)", ratio(dep, "sqlite"),
               ">= 1.0", ">= 1.6", lambda v: v >= 1.0)  # fmt: skip
        target("p99 of a native deposit, 32 connections, PostgreSQL", p99(dep, "postgresql"),
               "<= 50 ms", "<= 30 ms", lambda v: v <= 50, " ms")  # fmt: skip
        target("account openings/s ÷ native deposits/s",
               ratio("account creation (native API)", "postgresql"), ">= 0.8", "1.0",
               lambda v: v >= 0.8)  # fmt: skip
        target("users CSV export, 1M accounts, ÷ raw sqlite3+csv loop",
               ratio("report /v1/reports/users CSV (rows)", "sqlite"), ">= 1.0",
               ">= 1.0, flat memory", lambda v: v >= 1.0)  # fmt: skip
        target("users CSV export on PostgreSQL ÷ COPY ... TO STDOUT CSV",
               ratio("report /v1/reports/users CSV (rows)", "postgresql"), ">= 0.5", ">= 0.8",
               lambda v: v >= 0.5)  # fmt: skip
        exposure = row("exposure report (GET /v1/reports/exposure)", "postgresql")
        target("exposure report, 1M accounts / 100k open positions, PostgreSQL",
               exposure.p50_ms / 1000 if exposure and exposure.p50_ms else None, "< 1 s",
               "< 0.3 s", lambda v: v < 1, " s")  # fmt: skip
        target("deposits/s with 1M accounts ÷ with 1k accounts (SQLite)", ratio(big, "sqlite"),
               ">= 0.9", ">= 0.95", lambda v: v >= 0.9)  # fmt: skip
        target("MT5 trade/balance ÷ native deposit", ratio("MT5 trade/balance", "postgresql"),
               ">= 1.0", ">= 1.0", lambda v: v >= 1.0)  # fmt: skip
        target("cTrader changebalance ÷ native deposit",
               ratio("cTrader changebalance", "postgresql"), ">= 1.0", ">= 1.0",
               lambda v: v >= 1.0)  # fmt: skip
        target("CLI start-up: brokerplane key list (median wall)",
               self.cli_seconds.get("key list"), "< 0.5 s", "<= 0.35 s", lambda v: v < 0.5,
               " s")  # fmt: skip
        target("CLI start-up: brokerplane --help (median wall)", self.cli_seconds.get("help"),
               "< 0.5 s", "<= 0.1 s", lambda v: v < 0.5, " s")  # fmt: skip
        return out

    # events: deposits with a webhook subscription, and the feed ---------------------------

    def events(self) -> None:
        """Deposits/s (the Python client, on PostgreSQL) with no webhook subscription, then
        with one delivering every event to a receiver on loopback (goal: ratio >= 0.9); then
        how fast GET /v1/events pages through what the run wrote."""
        if "events" not in self.cfg.only:
            return
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        received = [0]

        class Receiver(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received[0] += len(json.loads(body)["events"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        hook = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
        threading.Thread(target=hook.serve_forever, daemon=True).start()
        schema = PgSchema(self.cfg.database_url)
        schema.create()
        env = {"BROKERPLANE_WEBHOOK_ALLOW_PRIVATE": "1"}
        try:
            demo = Demo.load(schema.url, self.tmp, self.cfg.accounts)
            auth = {"Authorization": f"Bearer {demo.admin_key}", "Content-Type": "application/json"}
            rng = random.Random(7)

            async def deposit(conn: Http, done: Callable[[float], None]) -> None:
                login = rng.randint(demo.first_login, demo.last_login)
                body = json.dumps({"login": login, "amount": "1.00"}).encode()
                started = time.monotonic()
                status, _ = await conn.request("POST", "/v1/balances/deposit", auth, body)
                assert status == 200, status
                done(started)

            def measure(server: Server) -> Load:
                if self.cfg.warmup > 0:
                    asyncio.run(drive(server.port, self.cfg.connections, self.cfg.warmup, deposit))
                return asyncio.run(drive(server.port, self.cfg.connections, self.cfg.seconds,
                                         deposit))  # fmt: skip

            with Server(schema.url, self.tmp, self.cfg.port, env) as server:
                plain = measure(server)
            with Server(schema.url, self.tmp, self.cfg.port, env) as server:
                url = f"http://127.0.0.1:{hook.server_address[1]}/hook"
                status, answer = asyncio.run(one_request(
                    "127.0.0.1", server.port, "POST", "/v1/webhooks", auth,
                    json.dumps({"url": url, "types": ["ledger."]}).encode()))  # fmt: skip
                assert status == 201, answer
                hooked = measure(server)
                behind = hooked.ops - received[0]
                feed = self._feed(server, demo)
            self.add("deposit (native API, Python client), no webhook", plain, None,
                     "postgresql", f"{self.cfg.connections} connections")  # fmt: skip
            self.add(
                "deposit (native API, Python client), one webhook subscription",
                hooked, plain.rate, "postgresql",
                f"every deposit's event delivered to a receiver on loopback by the server's "
                f"worker; baseline: the row above; {max(behind, 0)} events not yet delivered "
                "when the load stopped",
            )  # fmt: skip
            self.add("event feed read (GET /v1/events, pages of 1000)", feed, None,
                     "postgresql", "ops are events; one client reading from the start")  # fmt: skip
        finally:
            hook.shutdown()
            schema.drop()

    def _feed(self, server: Server, demo: Demo) -> Load:
        auth = {"Authorization": f"Bearer {demo.admin_key}"}

        async def read() -> tuple[int, float, list[float]]:
            conn = await Http.open("127.0.0.1", server.port)
            after, count, pages = 0, 0, []
            began = time.monotonic()
            try:
                while True:
                    started = time.monotonic()
                    status, body = await conn.request(
                        "GET", f"/v1/events?after={after}&limit=1000", auth)  # fmt: skip
                    assert status == 200, body[:200]
                    page = json.loads(body)
                    pages.append(time.monotonic() - started)
                    count += len(page["items"])
                    after = page["next"]
                    if not page["more"]:
                        return count, time.monotonic() - began, sorted(pages)
            finally:
                await conn.close()

        count, elapsed, pages = asyncio.run(read())
        p50, p99 = percentile(pages, 50), percentile(pages, 99)
        return Load(count, elapsed, p50 and p50 * 1000, p99 and p99 * 1000, 0)

    # --------------------------------------------------------------------------------------

    def run(self) -> None:
        for unknown in set(self.cfg.only) - set(MEASUREMENTS):
            raise SystemExit(f"BENCH_ONLY: unknown measurement {unknown}; use {MEASUREMENTS}")
        try:
            self.cli_startup()
            self.postgres()
            self.sqlite()
            self.report()
            self.events()
            self.replica()
            self.workers()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
        self.cfg.output.parent.mkdir(parents=True, exist_ok=True)
        targets = self.targets()
        document = {
            "run": {"started": self.started, "load_average_at_start": self.load_at_start,
                    "seconds_per_figure": self.cfg.seconds, "connections": self.cfg.connections,
                    "measurements": list(self.cfg.only)},
            "rows": [asdict(r) for r in self.rows],
            "targets": targets,
        }  # fmt: skip
        self.cfg.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        print(table(self.rows))
        print()
        print(targets_table(targets))
        print(f"\nwritten to {self.cfg.output}")


def _children_cpu() -> float:
    """CPU seconds of this process's finished children (the wrk runs) so far."""
    times = os.times()
    return times.children_user + times.children_system


def _split(
    server: float, postgres: float, wrk: float, now: tuple[float, float],
    then: tuple[float, float],
) -> str:  # fmt: skip
    """Where the CPU went over one measurement, as shares of the machine's CPU time."""
    busy, total = now[0] - then[0], now[1] - then[1]
    if total <= 0:
        return "unknown"
    parts = (("brokerplane", server), ("PostgreSQL", postgres), ("wrk", wrk),
             ("other", max(0.0, busy - server - postgres - wrk)))  # fmt: skip
    shares = ", ".join(f"{name} {100 * cpu / total:.0f}%" for name, cpu in parts)
    return f"{shares}, idle {100 * (1 - busy / total):.0f}%"


def _plain(schema: PgSchema) -> str:
    return schema.server.set(drivername="postgresql").render_as_string(hide_password=False)


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


# ---- the dialect workers -------------------------------------------------------------------

Worker = tuple[Callable[[Http, Callable[[float], None]], Any], bool]
JSON = {"Content-Type": "application/json"}


def _rid() -> str:
    return secrets.token_hex(12)


def _login(logins: tuple[int, int]) -> int:
    return secrets.randbelow(logins[1] - logins[0] + 1) + logins[0]


def native_deposit(key: str, logins: tuple[int, int]) -> Worker:
    auth = {"Authorization": f"Bearer {key}", **JSON}

    async def work(conn: Http, done: Callable[[float], None]) -> None:
        body = json.dumps({"login": _login(logins), "amount": "1.00", "comment": "bench"})
        started = time.monotonic()
        status, _ = await conn.request(
            "POST", "/v1/balances/deposit", {**auth, "x-request-id": _rid()}, body.encode()
        )
        assert status == 200, status
        done(started)

    return work, False


def _mt5_hash(password: str, rand_hex: str) -> str:
    inner = hashlib.md5(password.encode("utf-16-le")).digest()
    b2 = hashlib.md5(inner + b"WebAPI").digest()
    return hashlib.md5(b2 + bytes.fromhex(rand_hex)).hexdigest()


async def _mt5_call(conn: Http, path: str) -> dict[str, Any]:
    status, body = await conn.request("GET", path)
    assert status == 200, status
    answer: dict[str, Any] = json.loads(body)
    assert answer.get("retcode", "").startswith("0 "), answer
    return answer


async def _mt5_auth(conn: Http, demo: Demo) -> None:
    started = await _mt5_call(
        conn, f"/api/auth/start?version=484&agent=bench&login={demo.manager_login}&type=manager"
    )
    cli_rand = secrets.token_hex(16)
    proof = _mt5_hash(demo.manager_password, started["srv_rand"])
    await _mt5_call(conn, f"/api/auth/answer?srv_rand_answer={proof}&cli_rand={cli_rand}")


def mt5_session(demo: Demo, logins: tuple[int, int]) -> Worker:
    async def work(conn: Http, done: Callable[[float], None]) -> None:
        started = time.monotonic()
        await _mt5_auth(conn, demo)
        await _mt5_call(conn, f"/api/user/get?login={_login(logins)}")
        done(started)

    return work, True


async def _tcp_call(conn: Http, command: str, params: dict[str, Any]) -> dict[str, str]:
    """One MT5 TCP protocol command (plain channel): its answer line's parameters."""
    conn.tcp_number = conn.tcp_number % 0x3FFF + 1
    number = conn.tcp_number
    text = command + "|" + "".join(f"{k}={v}|" for k, v in params.items()) + "\r\n"
    body = text.encode("utf-16-le")
    prefix = b"" if conn.tcp_prefixed else b"MT5WEBAPI"
    conn.tcp_prefixed = True
    conn.writer.write(prefix + f"{len(body):04x}{number:04x}0".encode() + body)
    await conn.writer.drain()
    parts: list[bytes] = []
    while True:
        head = await conn.reader.readexactly(9)
        length, got, flags = int(head[:4], 16), int(head[4:8], 16), int(head[8:9], 16)
        data = await conn.reader.readexactly(length) if length else b""
        if got != number:
            continue  # the server's pings
        parts.append(data)
        if not flags & 1:
            break
    line = b"".join(parts).decode("utf-16-le").partition("\r\n")[0]
    fields = dict(p.partition("=")[::2] for p in line.split("|")[1:-1])
    assert fields.get("RETCODE", "").startswith("0 "), line[:200]
    return fields


async def _tcp_auth(conn: Http, demo: Demo) -> None:
    started = await _tcp_call(conn, "AUTH_START", {"VERSION": 3211, "AGENT": "bench",
        "LOGIN": demo.manager_login, "TYPE": "MANAGER", "CRYPT_METHOD": "NONE"})  # fmt: skip
    proof = _mt5_hash(demo.manager_password, started["SRV_RAND"])
    await _tcp_call(
        conn, "AUTH_ANSWER", {"SRV_RAND_ANSWER": proof, "CLI_RAND": secrets.token_hex(16)}
    )


def mt5_tcp_session(demo: Demo, logins: tuple[int, int]) -> Worker:
    async def work(conn: Http, done: Callable[[float], None]) -> None:
        started = time.monotonic()
        await _tcp_auth(conn, demo)
        await _tcp_call(conn, "USER_GET", {"LOGIN": _login(logins)})
        done(started)

    return work, True


def mt5_tcp_balance(demo: Demo, logins: tuple[int, int]) -> Worker:
    async def work(conn: Http, done: Callable[[float], None]) -> None:
        if not conn.mt5_authenticated:
            await _tcp_auth(conn, demo)
            conn.mt5_authenticated = True
        started = time.monotonic()
        deposit = {"LOGIN": _login(logins), "TYPE": 2, "BALANCE": "1.00", "COMMENT": "bench"}
        await _tcp_call(conn, "TRADE_BALANCE", deposit)
        done(started)

    return work, False


def mt5_balance(demo: Demo, logins: tuple[int, int]) -> Worker:
    async def work(conn: Http, done: Callable[[float], None]) -> None:
        if not conn.mt5_authenticated:
            await _mt5_auth(conn, demo)
            conn.mt5_authenticated = True
        started = time.monotonic()
        await _mt5_call(
            conn, f"/api/trade/balance?login={_login(logins)}&type=2&balance=1.00&comment=bench"
        )
        done(started)

    return work, False


def ctrader_balance(port: int, demo: Demo, logins: tuple[int, int]) -> Worker:
    hashed = hashlib.md5(demo.manager_password.encode()).hexdigest()
    body = json.dumps({"login": demo.manager_login, "hashedPassword": hashed}).encode()
    status, answer = asyncio.run(
        one_request(
            "127.0.0.1",
            port,
            "POST",
            "/v2/webserv/managers/token",
            {**JSON, "Accept": "application/json"},
            body,
        )
    )
    if status != 200:
        raise RuntimeError(f"cTrader token: {status} {answer[:200]!r}")
    token = json.loads(answer)["webservToken"]
    headers = {**JSON, "Accept": "application/json"}

    async def work(conn: Http, done: Callable[[float], None]) -> None:
        login = _login(logins)
        sent = json.dumps(
            {
                "login": login,
                "type": "DEPOSIT",
                "preciseAmount": 1.0,
                "comment": "bench",
                "externalId": "bench",
            }
        )
        started = time.monotonic()
        status, _ = await conn.request(
            "POST",
            f"/v2/webserv/traders/{login}/changebalance?token={token}",
            {**headers, "Idempotency-Key": _rid()},
            sent.encode(),
        )
        assert status == 200, status
        done(started)

    return work, False


# ---- baselines that need no server ---------------------------------------------------------


def sqlite_loop(path: Path, cap: Capture, seconds: float) -> Load:
    """The captured statements on one sqlite3 connection, one durable transaction per
    deposit, with brokerplane's settings (WAL, synchronous=FULL, foreign keys, BEGIN
    IMMEDIATE); the same per-deposit values as the pgbench script."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=10000", "synchronous=FULL"):
        conn.execute(f"PRAGMA {pragma}")
    work = [s for s in cap.statements if not _is_txn_control(s.sql)]
    latencies: list[float] = []
    stop = time.monotonic() + seconds
    started_all = time.monotonic()
    n = 0
    while time.monotonic() < stop:
        n += 1
        login = cap.login + (n % cap.login_span)
        key = f"loop-{os.getpid()}-{n}-{secrets.token_hex(4)}"
        last_id, last_hash, last_event = 0, "", 0
        started = time.monotonic()
        conn.execute("BEGIN IMMEDIATE")
        for st in work:
            values = []
            for name, value in st.params:
                role = _role(st.column_of(name), value, cap)
                values.append(
                    {
                        "login": login,
                        "login_text": str(login),
                        "key": key,
                        "audit_id": last_id + 1,
                        "prev_hash": last_hash,
                        "event_id": last_event + 1,
                        None: value,
                    }[role]
                )
            cur = conn.execute(st.sql, values)
            if st.returns:
                last_id, last_hash, last_event = cur.fetchone()
            else:
                cur.fetchall()
        conn.execute("COMMIT")
        latencies.append((time.monotonic() - started) * 1000)
    elapsed = time.monotonic() - started_all
    conn.close()
    latencies.sort()
    return Load(len(latencies), elapsed, percentile(latencies, 50), percentile(latencies, 99))


async def fetch_report(port: int, key: str) -> tuple[int, float]:
    """GET the CSV report, counting lines as they stream; (data rows, seconds)."""
    conn = await Http.open("127.0.0.1", port)
    lines = 0

    def count(piece: bytes) -> None:
        nonlocal lines
        lines += piece.count(b"\n")

    started = time.monotonic()
    try:
        status, _ = await conn.request(
            "GET", "/v1/reports/users?format=csv", {"Authorization": f"Bearer {key}"}, sink=count
        )
    finally:
        await conn.close()
    if status != 200:
        raise RuntimeError(f"report answered {status}")
    return lines - 1, time.monotonic() - started


def sqlite_count(db: Path, table: str) -> int:
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    except sqlite3.Error:  # not migrated yet
        return 0
    finally:
        conn.close()


def sqlite_report(db: Path) -> tuple[int, float]:
    """The report's rows straight from SQLite into csv.writer: the same join and order, the
    report's columns that are stored as they are (`enabled` is derived from the rights)."""
    from brokerplane.api.native.accounts import CSV_COLUMNS

    with contextlib.closing(sqlite3.connect(db)) as probe:
        stored = {r[1] for r in probe.execute("PRAGMA table_info(accounts)")}
    columns = ", ".join("g.name" if c == "group" else f"a.{c}" for c in CSV_COLUMNS
                        if c == "group" or c in stored)  # fmt: skip
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


# ---- output --------------------------------------------------------------------------------


def _rate(value: float) -> str:
    """A rate for the table: whole numbers, or two decimals below 10 (the start-up rows)."""
    return f"{value:,.0f}" if value >= 10 else f"{value:.2f}"


def table(rows: list[Row]) -> str:
    head = ("measurement", "db", "ops/s", "p50 ms", "p99 ms", "baseline/s", "ratio", "RSS MB")
    body = [
        (
            r.name,
            r.database,
            _rate(r.ops_per_s),
            _ms(r.p50_ms),
            _ms(r.p99_ms),
            "-" if r.baseline_ops_per_s is None else _rate(r.baseline_ops_per_s),
            "-" if r.ratio is None else f"{r.ratio:.2f}",
            _ms(r.peak_rss_mb),
        )
        for r in rows
    ]
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    out = [
        " | ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True))
        for line in [head, *body]
    ]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)


def targets_table(targets: list[dict[str, Any]]) -> str:
    head = ("figure (the performance issue's table)", "this run", "this issue", "goal", "met")
    body = [
        (t["figure"], t["shown"], t["this_issue"], t["goal"],
         "-" if t["met"] is None else ("yes" if t["met"] else "no"))
        for t in targets
    ]  # fmt: skip
    widths = [max(len(str(x[i])) for x in [head, *body]) for i in range(len(head))]
    out = [
        " | ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True))
        for line in [head, *body]
    ]
    out.insert(1, "-+-".join("-" * w for w in widths))
    return "\n".join(out)


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
