# ruff: noqa: E501  (the pgbench scripts are one statement a line)
"""The reference deposit: a baseline that does not move with brokerplane's SQL.

One durable transaction per deposit, on tables of its own (`ref_*`) that brokerplane never
touches: claim a request id (a unique insert), lock and update the account's balance, insert
the ledger entry, read the audit head `FOR UPDATE`, insert one audit record chained to the
previous one by hash, update the head. PostgreSQL runs it with pgbench; SQLite with a plain
`sqlite3` loop (WAL, synchronous=FULL, BEGIN IMMEDIATE). After each run the tables are
checked: every balance equals the sum of its entries, every entry has its claimed request id,
and every audit record's hash is sha256(previous hash | payload) of the one before it.

Variants show the database's best one-commit rate: fewer clients (`-c 8`) and the audit step
as one statement (head read, record insert and head update in one CTE).
"""

from __future__ import annotations

import hashlib
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64

PG_SCHEMA = """
DROP TABLE IF EXISTS ref_request, ref_ledger, ref_audit, ref_audit_head, ref_account;
CREATE TABLE ref_account (login bigint PRIMARY KEY, balance bigint NOT NULL DEFAULT 0);
CREATE TABLE ref_request (id bigint PRIMARY KEY, login bigint NOT NULL);
CREATE TABLE ref_ledger (
    id bigserial PRIMARY KEY, login bigint NOT NULL REFERENCES ref_account,
    amount bigint NOT NULL, balance_after bigint NOT NULL, request_id bigint NOT NULL
);
CREATE INDEX ref_ledger_login ON ref_ledger (login, id);
CREATE TABLE ref_audit (
    id bigint PRIMARY KEY, prev_hash text NOT NULL, hash text NOT NULL, payload text NOT NULL
);
CREATE TABLE ref_audit_head (id int PRIMARY KEY, last_id bigint NOT NULL, last_hash text NOT NULL);
"""

# The payload hashed into the chain: the entry's login, amount and request id.
_PG_PAYLOAD = "('deposit|' || :login || '|100|' || :rid)"
_PG_HASH = f"encode(sha256(convert_to(:last_hash || '|' || {_PG_PAYLOAD}, 'UTF8')), 'hex')"

PG_SCRIPT = f"""\\set login random(1, {{accounts}})
\\set rid random(1, 9000000000000000000)
BEGIN;
INSERT INTO ref_request (id, login) VALUES (:rid, :login);
UPDATE ref_account SET balance = balance + 100 WHERE login = :login RETURNING balance \\gset
INSERT INTO ref_ledger (login, amount, balance_after, request_id) VALUES (:login, 100, :balance, :rid);
SELECT last_id, last_hash FROM ref_audit_head WHERE id = 1 FOR UPDATE \\gset
INSERT INTO ref_audit (id, prev_hash, hash, payload) VALUES (:last_id + 1, :last_hash, {_PG_HASH}, {_PG_PAYLOAD}) RETURNING hash AS new_hash \\gset
UPDATE ref_audit_head SET last_id = :last_id + 1, last_hash = :new_hash WHERE id = 1;
COMMIT;
"""

# The audit step as one statement: the head is read, the record inserted and the head moved
# in one round trip, so the head's lock is held for no client round trip before the commit.
PG_SCRIPT_ONE = f"""\\set login random(1, {{accounts}})
\\set rid random(1, 9000000000000000000)
BEGIN;
INSERT INTO ref_request (id, login) VALUES (:rid, :login);
UPDATE ref_account SET balance = balance + 100 WHERE login = :login RETURNING balance \\gset
INSERT INTO ref_ledger (login, amount, balance_after, request_id) VALUES (:login, 100, :balance, :rid);
WITH h AS (SELECT last_id, last_hash FROM ref_audit_head WHERE id = 1 FOR UPDATE), r AS (INSERT INTO ref_audit (id, prev_hash, hash, payload) SELECT h.last_id + 1, h.last_hash, encode(sha256(convert_to(h.last_hash || '|' || {_PG_PAYLOAD}, 'UTF8')), 'hex'), {_PG_PAYLOAD} FROM h RETURNING id, hash) UPDATE ref_audit_head SET last_id = r.id, last_hash = r.hash FROM r WHERE ref_audit_head.id = 1;
COMMIT;
"""

PG_CHECK = f"""
SELECT
  (SELECT count(*) FROM ref_account a
     WHERE a.balance <> (SELECT coalesce(sum(amount), 0) FROM ref_ledger l WHERE l.login = a.login)),
  (SELECT count(*) FROM ref_ledger l LEFT JOIN ref_request r ON r.id = l.request_id
     WHERE r.id IS NULL OR r.login <> l.login),
  (SELECT count(*) FROM ref_request) - (SELECT count(*) FROM ref_ledger),
  (SELECT count(*) FROM ref_audit a LEFT JOIN ref_audit p ON p.id = a.id - 1
     WHERE a.prev_hash <> coalesce(p.hash, '{GENESIS}')
        OR a.hash <> encode(sha256(convert_to(a.prev_hash || '|' || a.payload, 'UTF8')), 'hex')),
  (SELECT count(*) FROM ref_audit) - (SELECT count(*) FROM ref_ledger),
  (SELECT last_id FROM ref_audit_head) - (SELECT count(*) FROM ref_audit)
"""


@dataclass(frozen=True)
class Variant:
    key: str
    name: str
    script: str
    clients: int | None  # None: BENCH_CONNECTIONS


def pg_variants(connections: int) -> list[Variant]:
    """The reference first (the baseline of the deposit ratio), then its variants."""
    return [
        Variant("ref", f"reference deposit, pgbench -c {connections}", PG_SCRIPT, None),
        Variant("ref-c8", "reference deposit, pgbench -c 8", PG_SCRIPT, 8),
        Variant(
            "ref-one",
            f"reference deposit, audit step as one statement, -c {connections}",
            PG_SCRIPT_ONE,
            None,
        ),
        Variant(
            "ref-one-c8", "reference deposit, audit step as one statement, -c 8", PG_SCRIPT_ONE, 8
        ),
    ]


def pg_prepare(conninfo: str, accounts: int) -> None:
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(PG_SCHEMA)
        conn.execute(
            "INSERT INTO ref_account (login) SELECT g FROM generate_series(1, %s) g", (accounts,)
        )
        conn.execute("INSERT INTO ref_audit_head VALUES (1, 0, %s)", (GENESIS,))
        conn.execute("VACUUM ANALYZE ref_account")


def pg_check(conninfo: str) -> list[str]:
    """What is wrong with the reference tables after a run (nothing: an empty list)."""
    import psycopg

    with psycopg.connect(conninfo, autocommit=True) as conn:
        row = conn.execute(PG_CHECK).fetchone()
    assert row is not None
    names = (
        "balances off their entries",
        "entries without their claim",
        "claims without entry",
        "audit records off the chain",
        "entries without audit record",
        "head off the last record",
    )
    return [f"{n}: {v}" for n, v in zip(names, row, strict=True) if v]


# ---- SQLite ------------------------------------------------------------------------------

SQLITE_SCHEMA = [
    "CREATE TABLE ref_account (login INTEGER PRIMARY KEY, balance INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE ref_request (id TEXT PRIMARY KEY, login INTEGER NOT NULL)",
    "CREATE TABLE ref_ledger (id INTEGER PRIMARY KEY, login INTEGER NOT NULL REFERENCES ref_account, amount INTEGER NOT NULL, balance_after INTEGER NOT NULL, request_id TEXT NOT NULL)",
    "CREATE INDEX ref_ledger_login ON ref_ledger (login, id)",
    "CREATE TABLE ref_audit (id INTEGER PRIMARY KEY, prev_hash TEXT NOT NULL, hash TEXT NOT NULL, payload TEXT NOT NULL)",
    "CREATE TABLE ref_audit_head (id INTEGER PRIMARY KEY, last_id INTEGER NOT NULL, last_hash TEXT NOT NULL)",
]


@dataclass
class LoopResult:
    ops: int
    seconds: float
    latencies_ms: list[float]
    problems: list[str]


def _sqlite_connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=10)
    for pragma in ("journal_mode=WAL", "foreign_keys=ON", "busy_timeout=10000", "synchronous=FULL"):
        conn.execute(f"PRAGMA {pragma}")
    return conn


def sqlite_prepare(path: Path, accounts: int) -> None:
    path.unlink(missing_ok=True)
    conn = _sqlite_connect(path)
    for statement in SQLITE_SCHEMA:
        conn.execute(statement)
    conn.execute("BEGIN")
    conn.executemany(
        "INSERT INTO ref_account (login) VALUES (?)", ((n,) for n in range(1, accounts + 1))
    )
    conn.execute("INSERT INTO ref_audit_head VALUES (1, 0, ?)", (GENESIS,))
    conn.execute("COMMIT")
    conn.close()


def _chain(prev: str, payload: str) -> str:
    return hashlib.sha256(f"{prev}|{payload}".encode()).hexdigest()


def sqlite_loop(path: Path, accounts: int, seconds: float) -> LoopResult:
    """One sqlite3 connection, one durable transaction per reference deposit."""
    conn = _sqlite_connect(path)
    rng = secrets.SystemRandom()
    prefix = f"loop-{os.getpid()}-{secrets.token_hex(4)}-"
    latencies: list[float] = []
    n = 0
    began = time.monotonic()
    stop = began + seconds
    while time.monotonic() < stop:
        n += 1
        login = rng.randint(1, accounts)
        rid = f"{prefix}{n}"
        started = time.monotonic()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO ref_request (id, login) VALUES (?, ?)", (rid, login))
        (balance,) = conn.execute(
            "UPDATE ref_account SET balance = balance + 100 WHERE login = ? RETURNING balance",
            (login,),
        ).fetchone()
        conn.execute(
            "INSERT INTO ref_ledger (login, amount, balance_after, request_id) VALUES (?, 100, ?, ?)",
            (login, balance, rid),
        )
        last_id, last_hash = conn.execute(
            "SELECT last_id, last_hash FROM ref_audit_head WHERE id = 1"
        ).fetchone()  # BEGIN IMMEDIATE holds the write lock: the head is locked already
        payload = f"deposit|{login}|100|{rid}"
        new_hash = _chain(last_hash, payload)
        conn.execute(
            "INSERT INTO ref_audit (id, prev_hash, hash, payload) VALUES (?, ?, ?, ?)",
            (last_id + 1, last_hash, new_hash, payload),
        )
        conn.execute(
            "UPDATE ref_audit_head SET last_id = ?, last_hash = ? WHERE id = 1",
            (last_id + 1, new_hash),
        )
        conn.execute("COMMIT")
        latencies.append((time.monotonic() - started) * 1000)
    elapsed = time.monotonic() - began
    problems = sqlite_check(conn)
    conn.close()
    latencies.sort()
    return LoopResult(len(latencies), elapsed, latencies, problems)


def sqlite_check(conn: sqlite3.Connection) -> list[str]:
    problems: list[str] = []
    off = conn.execute(
        "SELECT count(*) FROM ref_account a WHERE a.balance <> "
        "(SELECT coalesce(sum(amount), 0) FROM ref_ledger l WHERE l.login = a.login)"
    ).fetchone()[0]
    if off:
        problems.append(f"balances off their entries: {off}")
    unclaimed = conn.execute(
        "SELECT count(*) FROM ref_ledger l LEFT JOIN ref_request r ON r.id = l.request_id "
        "WHERE r.id IS NULL"
    ).fetchone()[0]
    if unclaimed:
        problems.append(f"entries without their claim: {unclaimed}")
    prev, count = GENESIS, 0
    for rid, prev_hash, hash_, payload in conn.execute(
        "SELECT id, prev_hash, hash, payload FROM ref_audit ORDER BY id"
    ):
        count += 1
        if rid != count or prev_hash != prev or hash_ != _chain(prev_hash, payload):
            problems.append(f"audit record {rid} off the chain")
            break
        prev = hash_
    entries = conn.execute("SELECT count(*) FROM ref_ledger").fetchone()[0]
    if entries != count:
        problems.append(f"{entries} entries, {count} audit records")
    return problems


def describe(args: Any = None) -> str:
    return (
        "one durable transaction: claim a request id (unique insert), lock+update the balance, "
        "insert the ledger entry, read the audit head FOR UPDATE, insert an audit record "
        "chained by sha256, update the head"
    )
