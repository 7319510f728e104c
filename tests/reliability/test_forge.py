"""A database writer forges money while a real server takes deposits and withdrawals, on both
engines: `ledger verify` and `audit verify` afterwards name every forgery and nothing else.

The forger holds a connection with write rights but not the audit key. Between bursts of the
load it mints deposits (a ledger row plus the cached balance raised to match), edits the amount
of real deposits (and the balance), raises cached balances alone, and once rewrites a real
deposit together with its audit record, re-computing every hash after it and audit_head while
the server keeps sealing. Small in `make test`, bigger under `make soak`.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, insert, select, text, update
from sqlalchemy.exc import OperationalError

from brokerplane import bootstrap
from brokerplane.core.audit.model import AuditRecord
from brokerplane.core.errors import StorageUnavailable
from brokerplane.settings import Settings
from brokerplane.storage import tables as t
from tests.reliability.support import (
    Load,
    Served,
    cli_check,
    engine_of,
    seed,
    server_errors,
    size,
    tally,
)

ACCOUNTS = size(4, 16)
CLIENTS = size(4, 16)
EACH = size(2, 8)  # forgeries of each ledger kind
OPENING = 10_000_00

e, a, r = t.ledger_entries.c, t.accounts.c, t.audit_records.c


class Forger:
    """Plain SQL through the database's own engine, one forgery per transaction (taking the
    write lock the server takes: BEGIN IMMEDIATE on SQLite, row locks on PostgreSQL)."""

    def __init__(self, url: str, data_dir: Path, logins: list[int], rng: random.Random) -> None:
        self.runtime = bootstrap.build(Settings(database_url=url, data_dir=data_dir))
        self.logins = logins
        self.rng = rng
        self.minted: set[int] = set()  # entry ids inserted with no audit record
        self.edited: set[int] = set()  # real entries whose amount no longer matches its record
        self.skimmed: set[int] = set()  # accounts whose cached balance alone was raised
        self.rechained: int | None = None  # the audit record rewritten with its entry
        self.touched: set[int] = set()  # real entries forged in any way

    def close(self) -> None:
        self.runtime.close()

    def _write(self, forge: Callable[[Connection], None]) -> None:
        """One forgery in one transaction. Its row locks may meet the server's group commit in
        the other order: PostgreSQL then aborts one side as a deadlock, and a forger whose
        transaction was the one aborted (nothing of it was written) simply tries again."""
        for attempt in range(5):
            try:
                with self.runtime.storage.uow(write=True) as uow:
                    forge(uow.connection)
                    uow.connection.commit()
                return
            except StorageUnavailable as err:
                if (
                    attempt == 4
                    or not isinstance(err.__cause__, OperationalError)
                    or ("deadlock detected" not in str(err.__cause__))
                ):
                    raise

    def _real_deposit(self, conn: Connection) -> tuple[int, int, int]:
        """A deposit the server made (id, login, amount) not forged yet, the newest first."""
        rows = conn.execute(
            select(e.id, e.login, e.amount)
            .where(e.kind == "deposit", e.request_id.is_not(None))
            .order_by(e.id.desc())
            .limit(50)
        ).all()
        row = next(r for r in rows if r.id not in self.touched | self.minted)
        self.touched.add(row.id)
        return int(row.id), int(row.login), int(row.amount)

    def mint(self) -> None:
        login = self.rng.choice(self.logins)
        amount = self.rng.randint(1_00, 500_00)

        def forge(conn: Connection) -> None:
            balance = conn.execute(select(a.balance).where(a.login == login)).scalar_one()
            entry = conn.execute(
                insert(t.ledger_entries)
                .values(
                    login=login,
                    kind="deposit",
                    amount=amount,
                    balance_after=balance + amount,
                    credit_after=0,
                    bonus_after=0,
                    currency="USD",
                    currency_digits=2,
                    at=self.runtime.app.clock(),
                    comment="",
                    reference="",
                    dialect="native",
                )
                .returning(e.id)
            ).scalar_one()
            conn.execute(
                update(t.accounts).where(a.login == login).values(balance=a.balance + amount)
            )
            self.minted.add(int(entry))

        self._write(forge)

    def edit_amount(self) -> None:
        def forge(conn: Connection) -> None:
            entry, login, _ = self._real_deposit(conn)
            conn.execute(
                update(t.ledger_entries).where(e.id == entry).values(amount=e.amount + 1000_00)
            )
            conn.execute(
                update(t.accounts).where(a.login == login).values(balance=a.balance + 1000_00)
            )
            self.edited.add(entry)

        self._write(forge)

    def skim(self) -> None:
        login = self.rng.choice(sorted(set(self.logins) - self.skimmed))

        def forge(conn: Connection) -> None:
            conn.execute(update(t.accounts).where(a.login == login).values(balance=a.balance + 777))
            self.skimmed.add(login)

        self._write(forge)

    def rechain(self) -> None:
        """Raise a real deposit by 5000.00 in the ledger, the cache and its audit record, and
        re-compute the chain from that record to the head as SHA-256, holding the head's lock."""

        def forge(conn: Connection) -> None:
            lock = " FOR UPDATE" if conn.dialect.name == "postgresql" else ""
            last_id = conn.execute(text(f"SELECT last_id FROM audit_head WHERE id = 1{lock}"))
            head = int(last_id.scalar_one())
            entry, login, _ = self._real_deposit(conn)
            plus = 5000_00
            records = [
                AuditRecord(**row._mapping)
                for row in conn.execute(
                    select(t.audit_records).where(r.id <= head).order_by(r.id.desc()).limit(5000)
                )
            ][::-1]
            target = next(
                rec
                for rec in records
                if rec.action == "ledger.entry_posted"
                and rec.after
                and rec.after["entry"]["id"] == entry
            )
            conn.execute(
                update(t.ledger_entries)
                .where(e.id == entry)
                .values(amount=e.amount + plus, balance_after=e.balance_after + plus)
            )
            conn.execute(
                update(t.ledger_entries)
                .where(e.login == login, e.id > entry)
                .values(balance_after=e.balance_after + plus)
            )
            conn.execute(
                update(t.accounts).where(a.login == login).values(balance=a.balance + plus)
            )
            prev = next(rec.hash for rec in reversed(records) if rec.id < target.id)
            for rec in records:
                if rec.id < target.id:
                    continue
                if rec.id == target.id or (
                    rec.action == "ledger.entry_posted" and rec.entity_id == str(login)
                ):
                    # this entry, and the figures after of the account's later records
                    assert rec.after is not None
                    moved = {
                        **rec.after["entry"],
                        "balance_after": rec.after["entry"]["balance_after"] + plus,
                    }
                    if rec.id == target.id:
                        moved["amount"] += plus
                    rec.after = {
                        **rec.after,
                        "balance": rec.after["balance"] + plus,
                        "entry": moved,
                    }
                rec.seal(prev)  # no key to hand: plain SHA-256, as before keys existed
                prev = rec.hash
                conn.execute(
                    update(t.audit_records)
                    .where(r.id == rec.id)
                    .values(after=rec.after, prev_hash=rec.prev_hash, hash=rec.hash, seal_key=None)
                )
            conn.execute(text("UPDATE audit_head SET last_hash = :h WHERE id = 1"), {"h": prev})
            self.rechained = target.id

        self._write(forge)


def test_every_forgery_by_a_database_writer_under_load_is_named_by_the_verifiers(
    database_url: str,
    tmp_path: Path,
    serve: Callable[[str], Served],
    summary: Callable[[str], None],
) -> None:
    name = f"forge {engine_of(database_url)}"
    seeded = seed(database_url, tmp_path, ACCOUNTS, OPENING)
    served = serve(database_url)
    rng = random.Random()
    forger = Forger(database_url, tmp_path, list(seeded.funded), rng)
    try:
        with Load(name.replace(" ", "-"), served, seeded, CLIENTS) as load:
            plan = ["mint", "edit_amount", "skim"] * EACH + ["rechain"]
            rng.shuffle(plan)
            for forgery in plan:
                assert load.wait_for_progress(CLIENTS), "the server made no progress"
                getattr(forger, forgery)()
            assert load.wait_for_progress(CLIENTS), "the server stopped after the forgeries"
        ledger = forger.runtime.app.audit_ledger()
        chain = forger.runtime.app.verify_audit()
    finally:
        forger.close()
    verdicts = {what: cli_check(what, database_url) for what in ("ledger", "audit")}
    summary(
        f"{name}: {load.acknowledged()} operations acknowledged while {len(plan)} forgeries were "
        f"made ({len(forger.minted)} minted, {len(forger.edited)} amounts edited, "
        f"{len(forger.skimmed)} balances raised, 1 chain re-computed); ledger verify "
        f"{verdicts['ledger']}, audit verify {verdicts['audit']}; answers: {tally(load.answers)}"
    )

    assert not server_errors(load.answers)
    assert {m.login for m in ledger.figures} == forger.skimmed
    assert {(m.login, m.figure) for m in ledger.figures} == {(x, "balance") for x in forger.skimmed}
    flagged = {p.entry_id for p in ledger.entry_problems}
    assert flagged == forger.minted | forger.edited
    assert len(ledger.entry_problems) == len(flagged)  # one finding per forged entry
    assert (chain.ok, chain.first_bad_id) == (False, forger.rechained)
    assert "unkeyed record where the chain is keyed" in chain.reason
    assert verdicts["ledger"].startswith("FAILED") and verdicts["audit"].startswith("FAILED")
    assert f"broken at record {forger.rechained}" in verdicts["audit"]
