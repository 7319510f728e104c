"""Online backup of the SQLite database: a consistent copy while the server keeps writing."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from brokerplane.storage.engine import normalize_url


class BackupError(Exception):
    """The copy could not be made or is not sound (the message says why)."""


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL; None for any other database (or an in-memory one)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database).expanduser()


def copy_sqlite(source: Path, target: Path) -> int:
    """Copy the database at `source` into the new file `target` with SQLite's online backup
    API, in one step: one read transaction, so the copy is the database as of one commit, and
    (in WAL mode) the server's writers are not blocked meanwhile. The copy is synced to disk
    and passes `PRAGMA integrity_check`. Returns its size in bytes."""
    if not source.is_file():
        raise BackupError(f"there is no database at {source}")
    try:
        src = sqlite3.connect(source, timeout=30)  # it only reads
    except sqlite3.Error as err:
        raise BackupError(f"cannot open {source}: {err}") from None
    try:
        # owner-only, as the database under the data directory is (it holds personal data)
        os.close(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except OSError as err:
        src.close()
        raise BackupError(f"cannot create {target}: {err}") from None
    try:
        dst = sqlite3.connect(target, timeout=30)
        try:
            src.backup(dst)  # pages=-1: everything in one step
            problems = [row[0] for row in dst.execute("PRAGMA integrity_check").fetchall()]
            if problems != ["ok"]:
                raise BackupError(f"the copy fails its integrity check: {problems[:5]}")
        finally:
            dst.close()
    except sqlite3.Error as err:
        raise BackupError(f"the backup of {source} failed: {err}") from None
    finally:
        src.close()
    with open(target, "rb+") as handle:
        os.fsync(handle.fileno())
    return target.stat().st_size
