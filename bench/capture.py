"""The SQL of one native deposit, captured through the real app, and the baselines made
from it that need no server: a pgbench script and a sqlite3 loop."""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import Demo, Load, percentile

# ---- capturing the SQL of one deposit ------------------------------------------------------


@dataclass
class Statement:
    sql: str
    params: list[tuple[str, Any]]  # (bind name, DB-API value), in the statement's order
    returns: bool = False

    def column_of(self, name: str) -> str:
        """The column an INSERT's anonymous bind (`param_3`) fills, else the bind's name."""
        found = re.search(
            r"INSERT INTO \w+ \(([^)]*)\) VALUES \((.*?)\)\s*(?:\)|RETURNING|$)",
            " ".join(self.sql.split()),
        )
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
    lines = [
        (
            f"-- generated by bench/bench.py from the SQL of one brokerplane deposit, "
            f"{per_txn} per transaction"
        )
    ]
    for n in range(per_txn):
        lines += [
            f"\\set login{n} random({cap.login}, {cap.login + cap.login_span - 1})",
            f"\\set rid{n} random(1, 9000000000000000000)",
        ]
    lines.append("BEGIN;")
    work = [st for st in cap.statements if not _is_txn_control(st.sql)]
    seal = next((i for i, st in enumerate(work) if st.returns), len(work))
    # With several deposits, the audit chain is sealed once for all of them at the end, as a
    # unit of work does at commit: the head row is locked only for that last part.
    for part in (work[:seal], work[seal:]):
        for n in range(per_txn):
            exprs = {
                "login": f":login{n}",
                "login_text": f"(:login{n})::text",
                "key": f"('pgb-' || :client_id || '-' || :rid{n})",
                "audit_id": ":next_id",
                "prev_hash": ":last_hash",
                "event_id": ":next_event",
            }
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
