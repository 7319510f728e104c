"""`brokerplane backup` while `brokerplane serve` writes: the copy is one consistent state,
passes `ledger verify` and `audit verify`, and holds every operation acknowledged before the
backup began (and none that the database itself does not hold)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from brokerplane import bootstrap
from brokerplane.settings import Settings
from brokerplane.storage import migrate
from brokerplane.storage.engine import make_engine
from tests.reliability.support import SERVE, Load, Served, seed

pytestmark = pytest.mark.engines("sqlite")


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*SERVE, *args], capture_output=True, text=True, timeout=120, check=False)


def _migrated(db: Path) -> str:
    """A brokerplane database at this release's head in `db`, made in this process (the
    backups are the command under test, not `db upgrade`), as a URL."""
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()
    return url


def _operation_ids(db: Path) -> set[int]:
    with contextlib.closing(sqlite3.connect(db)) as conn:  # sqlite3's own `with` only commits
        return {row[0] for row in conn.execute("SELECT id FROM ledger_entries")}


def test_a_backup_taken_while_the_server_writes_is_consistent_and_verified(
    tmp_path: Path, serve: Callable[[str], Served]
) -> None:
    db = tmp_path / "brokerplane.db"
    url = f"sqlite:///{db}"
    seeded = seed(url, tmp_path, 4, 1_000_00, migrate=True)
    served = serve(url)
    copy = tmp_path / "backups" / "copy.db"
    with Load("backup", served, seeded, 4) as load:
        assert load.wait_for_progress(20), "no deposits before the backup"
        before = {op.operation_id for op in load.operations if op.operation_id is not None}
        made = _run("backup", "--database-url", url, "--data-dir", str(tmp_path), str(copy))
        assert load.wait_for_progress(20), "the server stopped writing during the backup"
    assert made.returncode == 0, made.stderr
    assert "ledger OK" in made.stdout and "audit chain intact" in made.stdout
    assert stat.S_IMODE(os.stat(copy).st_mode) == 0o600
    assert [p.name for p in copy.parent.iterdir()] == ["copy.db"]  # no partial file left

    copied, live = _operation_ids(copy), _operation_ids(db)
    assert before <= copied  # everything acknowledged before the backup began
    assert copied < live  # and the server went on writing after it
    # the copy opens as a brokerplane database of its own, and verifies again
    runtime = bootstrap.build(
        Settings(database_url=f"sqlite:///{copy}", data_dir=tmp_path), provision_key=False
    )
    try:
        assert runtime.app.audit_ledger().ok
        assert runtime.app.verify_audit().ok
    finally:
        runtime.close()

    again = _run("backup", "--database-url", url, "--data-dir", str(tmp_path), str(copy))
    assert again.returncode == 2 and "exists; give --force" in again.stderr


def test_backup_of_a_postgresql_database_says_what_to_run_and_writes_nothing(
    tmp_path: Path,
) -> None:
    target = tmp_path / "dump"
    url = "postgresql://brokerplane:s3cret@127.0.0.1:1/brokerplane"
    done = _run("backup", "--database-url", url, str(target))
    assert done.returncode == 2
    assert "pg_dump --format=custom" in done.stderr and "pg_basebackup" in done.stderr
    assert "s3cret" not in done.stderr
    assert not target.exists()


def test_backup_refuses_the_live_files_and_unwritable_targets_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "brokerplane.db"
    url = _migrated(db)
    base = ("backup", "--database-url", url, "--data-dir", str(tmp_path))
    if not (tmp_path / "audit.key").exists():  # the tests' key may come from the environment
        (tmp_path / "audit.key").write_bytes(b"the key file")
    key = (tmp_path / "audit.key").read_bytes()
    # the database's journal files and the audit key are never replaced, even with --force
    for name, what in [
        ("brokerplane.db-wal", "wal file"),
        ("brokerplane.db-shm", "shm file"),
        ("audit.key", "audit key file"),
    ]:
        done = _run(*base, "--force", str(tmp_path / name))
        assert done.returncode == 2 and what in done.stderr, done.stderr
    assert (tmp_path / "audit.key").read_bytes() == key
    # a symlink that points nowhere exists: replacing it needs --force
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere" / "copy.db")
    done = _run(*base, str(tmp_path / "dangling"))
    assert done.returncode == 2 and "exists; give --force" in done.stderr
    assert (tmp_path / "dangling").is_symlink()
    # a directory that cannot be made: one line, no traceback
    (tmp_path / "plain").write_text("a file, not a directory")
    done = _run(*base, str(tmp_path / "plain" / "copy.db"))
    assert done.returncode == 2 and "cannot write" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_backup_before_an_upgrade_keeps_the_old_revision_and_is_verified(
    tmp_path: Path,
) -> None:
    """The guide says: back up before every upgrade. The new release's command does it on the
    database the old release still serves (one revision behind): the backup is that database
    as it is (its revision unchanged), verified on a scratch copy brought to this release's
    head, which is what a restore would then run."""
    from brokerplane.storage import revisions

    previous = f"{int(revisions.head()) - 1:04d}"  # revisions are numbered

    db = tmp_path / "brokerplane.db"
    url = f"sqlite:///{db}"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine, previous)
    finally:
        engine.dispose()
    copy = tmp_path / "backups" / "before-upgrade.db"
    done = _run("backup", "--database-url", url, "--data-dir", str(tmp_path), str(copy))
    assert done.returncode == 0, done.stderr
    assert f"at revision {previous}" in done.stdout, done.stdout
    with contextlib.closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(previous,)]
    with contextlib.closing(sqlite3.connect(db)) as conn:  # the live database is untouched
        assert conn.execute("SELECT version_num FROM alembic_version").fetchall() == [(previous,)]
    assert sorted(p.name for p in copy.parent.iterdir()) == [copy.name]  # no scratch left


def test_a_backup_of_a_database_newer_than_this_release_is_refused_in_one_line(
    tmp_path: Path,
) -> None:
    db = tmp_path / "brokerplane.db"
    url = _migrated(db)
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    copy = tmp_path / "copy.db"
    done = _run("backup", "--database-url", url, "--data-dir", str(tmp_path), str(copy))
    assert done.returncode == 2, done.stdout
    assert "9999" in done.stderr and "newer" in done.stderr and "Traceback" not in done.stderr
    assert not copy.exists() and list(tmp_path.glob(".copy.db*")) == []


def test_a_backup_never_removes_the_database_as_its_working_file(tmp_path: Path) -> None:
    """The copy is written as .<FILE>.partial next to FILE (stale ones removed first): a FILE
    whose working file would be the live database is refused, the database left alone."""
    db = tmp_path / ".copy.db.partial"
    url = _migrated(db)
    size = db.stat().st_size
    done = _run(
        "backup", "--database-url", url, "--data-dir", str(tmp_path), str(tmp_path / "copy.db")
    )
    assert done.returncode == 2 and "working file" in done.stderr, done.stderr
    assert db.stat().st_size == size and not (tmp_path / "copy.db").exists()
