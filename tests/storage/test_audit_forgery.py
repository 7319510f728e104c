"""A database writer forging money: the keyed chain, the ledger's ties to the audit trail and the
signed checkpoint catch what plain SQL can do, on both engines; keys, rotation and legacy chains."""

from __future__ import annotations

import base64
import json
import stat
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import insert, select, update

from brokerplane import auditkeys, bootstrap
from brokerplane.application.app import Application
from brokerplane.auditkeys import AuditKeyError
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditKey, AuditRecord
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.settings import Settings
from brokerplane.storage import tables as t

Edit = Callable[[AuditRecord], None]


def _funded(services: Application, admin: Actor, deposits: int = 3) -> int:
    login = services.open_account(OpenAccount(group="real\\standard"), admin).login
    for i in range(deposits):
        services.post_ledger_entry(PostLedgerEntry(login, "deposit", f"{100 + i}.00"), admin)
    return login


def _records(runtime: Runtime) -> list[AuditRecord]:
    with runtime.storage.uow(write=False) as uow:
        return list(uow.audit.iter_all())


def _rechain(
    runtime: Runtime, edits: dict[int, Edit], key: AuditKey | None, *, keep_seal_key: bool = False
) -> None:
    """What a database writer does to hide an edit: change records, re-seal the chain from the
    first edited one (with `key`, or plain SHA-256 without) and move audit_head along."""
    records = _records(runtime)
    first = min(edits)
    prev = next((r.hash for r in reversed(records) if r.id < first), "0" * 64)
    with runtime.storage.engine.begin() as conn:
        for rec in records:
            if rec.id < first:
                continue
            if rec.id in edits:
                edits[rec.id](rec)
            claimed = rec.seal_key
            rec.seal(prev, key)
            if keep_seal_key:
                rec.seal_key = claimed
            prev = rec.hash
            conn.execute(
                update(t.audit_records)
                .where(t.audit_records.c.id == rec.id)
                .values(
                    after=rec.after,
                    before=rec.before,
                    prev_hash=rec.prev_hash,
                    hash=rec.hash,
                    seal_key=rec.seal_key,
                )
            )
        conn.execute(update(t.audit_head).values(last_id=records[-1].id, last_hash=prev))


def _entry_record(runtime: Runtime, entry_id: int) -> AuditRecord:
    return next(
        r for r in _records(runtime) if (r.after or {}).get("entry", {}).get("id") == entry_id
    )


def _forge_deposit(runtime: Runtime, login: int, entry_id: int, amount: int) -> None:
    """Edit a deposit's amount, its balance after and the account's balance to match."""
    e, a = t.ledger_entries.c, t.accounts.c
    with runtime.storage.engine.begin() as conn:
        old = conn.execute(select(e.amount).where(e.id == entry_id)).scalar_one()
        delta = amount - old
        conn.execute(
            update(t.ledger_entries)
            .where(e.id == entry_id)
            .values(amount=amount, balance_after=e.balance_after + delta)
        )
        conn.execute(
            update(t.ledger_entries)
            .where(e.login == login, e.id > entry_id)
            .values(balance_after=e.balance_after + delta)
        )
        conn.execute(update(t.accounts).where(a.login == login).values(balance=a.balance + delta))


def _raise_in_record(amount: int) -> Edit:
    def edit(rec: AuditRecord) -> None:
        assert rec.after is not None
        delta = amount - rec.after["entry"]["amount"]
        rec.after = {
            **rec.after,
            "balance": rec.after["balance"] + delta,
            "entry": {
                **rec.after["entry"],
                "amount": amount,
                "balance_after": rec.after["entry"]["balance_after"] + delta,
            },
        }

    return edit


# --------------------------------------------------------------------------- forgery (a)


def test_a_ledger_row_inserted_with_its_balance_raised_is_named_by_the_ledger_check(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    login = _funded(services, admin)
    assert services.audit_ledger().ok
    with runtime.storage.engine.begin() as conn:  # the sums still agree: only the tie tells
        forged = conn.execute(
            insert(t.ledger_entries)
            .values(
                login=login,
                kind="deposit",
                amount=1_000_000,
                balance_after=1_030_300,
                credit_after=0,
                bonus_after=0,
                currency="USD",
                currency_digits=2,
                at=datetime.now(UTC),
                comment="",
                reference="",
                dialect="native",
            )
            .returning(t.ledger_entries.c.id)
        ).scalar_one()
        conn.execute(
            update(t.accounts)
            .where(t.accounts.c.login == login)
            .values(balance=t.accounts.c.balance + 1_000_000)
        )

    report = services.audit_ledger()

    assert report.figures == []
    assert [(p.entry_id, p.login) for p in report.entry_problems] == [(forged, login)]
    assert "has no audit record" in report.entry_problems[0].reason


def test_an_entry_whose_amount_was_edited_disagrees_with_its_audit_record(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    login = _funded(services, admin)
    first = services.list_ledger(LedgerQuery(login=login), admin)[0]

    _forge_deposit(runtime, login, first.id, 9_999_900)

    report = services.audit_ledger()
    assert report.figures == []
    reasons = [p.reason for p in report.entry_problems]
    assert any(f"entry {first.id} on account {login}: amount 9999900" in r for r in reasons)
    assert services.verify_audit().ok  # the trail itself was not touched


def test_an_audit_record_of_an_entry_that_was_deleted_is_reported(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    login = _funded(services, admin, deposits=2)
    e = t.ledger_entries.c
    with runtime.storage.engine.begin() as conn:
        last = conn.execute(select(e.id, e.amount).order_by(e.id.desc()).limit(1)).one()
        conn.execute(t.ledger_entries.delete().where(e.id == last.id))
        conn.execute(
            update(t.accounts)
            .where(t.accounts.c.login == login)
            .values(balance=t.accounts.c.balance - last.amount)
        )

    [problem] = services.audit_ledger().entry_problems
    assert (problem.entry_id, "not in the ledger") == (last.id, "not in the ledger")
    assert "not in the ledger" in problem.reason


# --------------------------------------------------------------------------- forgery (b)


def test_an_entry_and_its_record_edited_and_rechained_without_the_key_break_the_chain(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    login = _funded(services, admin)
    target = _entry_record(runtime, 3)  # the newest deposit: no later figures to adjust
    _forge_deposit(runtime, login, 3, 5_000_000)

    _rechain(runtime, {target.id: _raise_in_record(5_000_000)}, key=None)  # plain SHA-256

    assert services.audit_ledger().ok  # ledger, cache and record agree with one another
    report = services.verify_audit()
    assert (report.ok, report.first_bad_id) == (False, target.id)
    assert "unkeyed record where the chain is keyed" in report.reason


def test_a_record_rechained_under_a_guessed_key_names_a_key_not_in_the_keyring(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    login = _funded(services, admin)
    target = _entry_record(runtime, 2)
    _forge_deposit(runtime, login, 2, 5_000_000)

    _rechain(runtime, {target.id: _raise_in_record(5_000_000)}, key=AuditKey(b"g" * 32))

    report = services.verify_audit()
    assert (report.ok, report.first_bad_id) == (False, target.id)
    assert "not in the keyring" in report.reason


def test_a_record_rechained_with_sha256_under_the_real_key_id_fails_its_hash(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    login = _funded(services, admin)
    target = _entry_record(runtime, 3)
    _forge_deposit(runtime, login, 3, 5_000_000)

    _rechain(runtime, {target.id: _raise_in_record(5_000_000)}, key=None, keep_seal_key=True)

    report = services.verify_audit()
    assert (report.ok, report.first_bad_id) == (False, target.id)
    assert "edited" in report.reason


# --------------------------------------------------------------------------- checkpoints


def test_a_checkpoint_catches_a_history_rewritten_with_the_key(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    login = _funded(services, admin)
    report, _ = services.chain_statement()
    pin = report.head
    _funded(services, admin, deposits=1)  # the chain goes on after the checkpoint
    target = _entry_record(runtime, 1)
    _forge_deposit(runtime, login, 1, 5_000_000)
    assert runtime.keyring is not None

    _rechain(runtime, {target.id: _raise_in_record(5_000_000)}, key=runtime.keyring.keys.current)

    assert services.verify_audit().ok  # whoever holds the key can rewrite history...
    caught = services.verify_audit(pin=pin)  # ...but not past a checkpoint kept elsewhere
    assert (caught.ok, caught.first_bad_id) == (False, pin[0])
    assert "differs from the checkpoint" in caught.reason


def test_a_checkpoint_catches_a_chain_rolled_back_before_it(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    _funded(services, admin)
    pin = services.chain_statement()[0].head
    records = _records(runtime)
    keep = records[-3]
    with runtime.storage.engine.begin() as conn:  # the newest records deleted, the head moved
        conn.execute(t.audit_records.delete().where(t.audit_records.c.id > keep.id))
        conn.execute(update(t.audit_head).values(last_id=keep.id, last_hash=keep.hash))

    assert services.verify_audit().ok  # a clean truncation leaves a consistent chain...
    caught = services.verify_audit(pin=pin)
    assert not caught.ok
    assert f"no longer holds the checkpoint's record {pin[0]}" in caught.reason


def test_a_signed_checkpoint_verifies_and_an_altered_one_does_not(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    _funded(services, admin)
    assert runtime.keyring is not None
    report, totals = services.chain_statement()
    key = runtime.keyring.keys.current
    signed = auditkeys.sign_checkpoint(
        key, report.head, report.records, report.legacy, totals, datetime.now(UTC)
    )
    point = auditkeys.read_checkpoint(json.dumps(signed), runtime.keyring.keys)
    assert (point.record, point.hash) == report.head
    assert totals == {"USD": {"entries": 3, "balance": 30_300, "credit": 0, "bonus": 0}}
    with pytest.raises(AuditKeyError, match="altered"):
        auditkeys.read_checkpoint(json.dumps({**signed, "record": 1}), runtime.keyring.keys)
    stranger = AuditKey(b"s" * 32)  # a checkpoint made up with a key of one's own
    made_up = auditkeys.sign_checkpoint(
        stranger, report.head, report.records, 0, totals, datetime.now(UTC)
    )
    with pytest.raises(AuditKeyError, match="not in this database's keyring"):
        auditkeys.read_checkpoint(json.dumps(made_up), runtime.keyring.keys)
    posing = {k: v for k, v in made_up.items() if k != "signature"} | {"key_id": key.id}
    signature = auditkeys.signing_key(stranger).sign(auditkeys._canonical(posing))
    posing["signature"] = base64.b64encode(signature).decode()
    with pytest.raises(AuditKeyError, match="was not signed with it"):
        auditkeys.read_checkpoint(json.dumps(posing), runtime.keyring.keys)


# --------------------------------------------------------------------------- keys


def _file_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(database_url=database_url, data_dir=data_dir)


@pytest.fixture
def no_env_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BROKERPLANE_AUDIT_KEY", raising=False)


def test_a_new_key_file_is_owner_only_and_seals_the_chain(
    database_url: str, tmp_path: Path, no_env_key: None, admin: Actor
) -> None:
    data_dir = tmp_path / "data"
    runtime = bootstrap.build(_file_settings(database_url, data_dir))
    try:
        key_file = data_dir / "audit.key"
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        runtime.app.create_group(CreateGroup("real\\standard", "USD", {}), admin)
        assert runtime.keyring is not None
        assert {r.seal_key for r in _records(runtime)} == {runtime.keyring.keys.current.id}
        assert runtime.app.verify_audit().ok
    finally:
        runtime.close()


def _write_some(runtime: Runtime, admin: Actor, name: str) -> None:
    runtime.app.create_group(CreateGroup(f"real\\{name}", "USD", {}), admin)


def test_a_keyed_chain_whose_key_file_is_missing_refuses_to_start(
    database_url: str, tmp_path: Path, no_env_key: None, admin: Actor
) -> None:
    runtime = bootstrap.build(_file_settings(database_url, tmp_path))
    _write_some(runtime, admin, "a")
    runtime.close()
    (tmp_path / "audit.key").unlink()

    with pytest.raises(AuditKeyError, match=r"no audit key is configured.*restore the key file"):
        bootstrap.build(_file_settings(database_url, tmp_path))
    assert not (tmp_path / "audit.key").exists()  # no new key made for the old chain


def test_a_key_file_of_another_chain_refuses_to_start(
    database_url: str, tmp_path: Path, no_env_key: None, admin: Actor
) -> None:
    runtime = bootstrap.build(_file_settings(database_url, tmp_path))
    _write_some(runtime, admin, "a")
    runtime.close()
    (tmp_path / "audit.key").write_text(f"key {'ab' * 32}\n")

    with pytest.raises(AuditKeyError, match="which is not in the keyring"):
        bootstrap.build(_file_settings(database_url, tmp_path))


def test_records_sealed_before_and_after_a_key_rotation_all_verify(
    database_url: str, tmp_path: Path, no_env_key: None, admin: Actor
) -> None:
    runtime = bootstrap.build(_file_settings(database_url, tmp_path))
    _write_some(runtime, admin, "a")
    assert runtime.keyring is not None
    old = runtime.keyring.keys.current.id
    ring = auditkeys.rotate(runtime.keyring)
    runtime.close()
    assert stat.S_IMODE((tmp_path / "audit.key").stat().st_mode) == 0o600

    runtime = bootstrap.build(_file_settings(database_url, tmp_path))
    try:
        _write_some(runtime, admin, "b")
        new = ring.keys.current.id
        assert new != old
        assert [r.seal_key for r in _records(runtime)] == [old, new]
        assert runtime.app.verify_audit().ok
    finally:
        runtime.close()


def test_a_legacy_chain_still_verifies_and_is_keyed_from_the_upgrade_on(
    database_url: str, tmp_path: Path, no_env_key: None, admin: Actor
) -> None:
    legacy = bootstrap.build(_file_settings(database_url, tmp_path), provision_key=False)
    assert legacy.keyring is None  # a plane from before audit keys
    _write_some(legacy, admin, "a")
    _write_some(legacy, admin, "b")
    legacy.close()

    runtime = bootstrap.build(_file_settings(database_url, tmp_path))
    try:
        assert "legacy-until 2" in (tmp_path / "audit.key").read_text()
        _write_some(runtime, admin, "c")
        assert [r.seal_key is None for r in _records(runtime)] == [True, True, False]
        report = runtime.app.verify_audit()
        assert (report.ok, report.records, report.legacy) == (True, 3, 2)

        _rechain(runtime, {3: lambda rec: None}, key=None)  # the keyed tail made "legacy"

        report = runtime.app.verify_audit()
        assert (report.ok, report.first_bad_id) == (False, 3)
        assert "unkeyed record where the chain is keyed" in report.reason
    finally:
        runtime.close()


def test_a_key_file_placed_in_a_shared_directory_leaves_that_directory_alone(
    database_url: str, tmp_path: Path, no_env_key: None
) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o1777)  # like /tmp
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path / "data",
        audit_key_file=shared / "brokerplane.key",
    )

    bootstrap.build(settings).close()

    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "brokerplane.key").stat().st_mode) == 0o600


def test_processes_making_the_key_at_once_all_end_up_with_the_same_one(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    with ThreadPoolExecutor(8) as pool:
        rings = list(pool.map(lambda _: auditkeys.generate(path, 0), range(8)))

    assert len({ring.keys.current.id for ring in rings}) == 1
    assert sum(ring.created for ring in rings) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["audit.key"]
