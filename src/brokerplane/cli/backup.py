"""`brokerplane backup FILE`: an online copy of the SQLite database, verified before it is kept;
for PostgreSQL, what to run instead (pg_dump, base backups with WAL archiving)."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING

import click

from brokerplane.cli.common import (
    EXIT_ERROR,
    CliFailure,
    build_settings,
    database_options,
    runtime_for,
    safe_url,
)

if TYPE_CHECKING:
    from brokerplane.settings import Settings

POSTGRES_GUIDANCE = """\
{url} is PostgreSQL: back it up with PostgreSQL's own tools (nothing was written).
  a logical dump, consistent while brokerplane runs:
    pg_dump --format=custom --file {file} '{url}'
    restore into an empty database: pg_restore --dbname '<new URL>' {file}
  point-in-time recovery: a base backup plus archived WAL (archive_mode=on, archive_command):
    pg_basebackup --pgdata <dir> --wal-method=stream --checkpoint=fast -d '{url}'
    restore: the base backup with restore_command and recovery_target_time, then promote
then check the restored copy: brokerplane ledger verify and brokerplane audit verify
(with the same audit key; keep the key file's own backup apart from the database's)."""


@click.command("backup")
@database_options
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def backup(database_url: str | None, data_dir: Path | None, file: Path, force: bool) -> None:
    """Copy the SQLite database to FILE while the server runs, then verify the copy.

    The copy is one consistent state of the database (SQLite's online backup API; writers
    are not held up). It is written next to FILE, checked (SQLite's integrity check, then
    `ledger verify` and `audit verify` on the copy, with this server's audit key) and only
    then renamed to FILE: a FILE that exists is a verified backup. The audit key is not in
    the copy: keep the key file's backup too. For PostgreSQL this prints what to run instead
    (pg_dump, or base backups with WAL archiving for point-in-time recovery) and exits 2."""
    from brokerplane.storage.backup import BackupError, copy_sqlite, sqlite_path

    settings = build_settings(database_url=database_url, data_dir=data_dir)
    url = settings.effective_database_url
    source = sqlite_path(url)
    if source is None:
        if url.startswith(("postgres", "postgresql")):
            click.echo(POSTGRES_GUIDANCE.format(url=safe_url(url), file=file), err=True)
            click.get_current_context().exit(EXIT_ERROR)
        raise CliFailure(f"cannot back up {safe_url(url)}: only a SQLite file or PostgreSQL")
    if os.path.lexists(file) and not force:  # a symlink too, even one pointing nowhere
        raise CliFailure(f"{file} exists; give --force to replace it")
    _refuse_live_files(file, source, settings)
    partial = file.with_name(f".{file.name}.partial")
    scratch = file.with_name(f".{file.name}.check")  # an older revision is verified migrated
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        _remove(partial)
        _remove(scratch)
        size = copy_sqlite(source, partial)
        at, head = _revision_of(partial), _head()
        if at == head:
            accounts, entries, records = _verify(partial, settings)
            at_note = ""
        else:
            _check_known(at, head, source)
            copy_sqlite(partial, scratch)
            accounts, entries, records = _verify(scratch, settings, migrate=True)
            at_note = f", at revision {at} (verified on a scratch copy brought to {head})"
        os.replace(partial, file)
    except BackupError as err:
        raise CliFailure(str(err)) from None
    except OSError as err:  # the directory cannot be made or written, the rename refused
        raise CliFailure(f"cannot write {file}: {err.strerror or err}") from None
    finally:
        with contextlib.suppress(OSError):
            _remove(partial)
            _remove(scratch)
    click.echo(
        f"backed up {source} to {file} ({size} bytes{at_note}): ledger OK ({accounts} accounts, "
        f"{entries} entries), audit chain intact ({records} records)"
    )
    click.echo("the audit key is not in the backup: keep a copy of the key file as well")


def _refuse_live_files(file: Path, source: Path, settings: Settings) -> None:
    """FILE may not be the database, its journal files (replacing a live -wal or -shm loses
    or corrupts committed data) or the audit key file, by whatever name they are reached."""
    live = {
        source: "the database itself",
        **{
            Path(f"{source}{extra}"): f"the database's {extra[1:]} file"
            for extra in ("-wal", "-shm", "-journal")
        },
        settings.effective_audit_key_file: "the audit key file",
    }
    # the working files next to FILE (and their journals) are removed before and after
    working = [
        file.with_name(f".{file.name}.{kind}{extra}")
        for kind in ("partial", "check")
        for extra in ("", "-wal", "-shm", "-journal")
    ]
    try:
        resolved = {path.resolve(): what for path, what in live.items()}
        target = file.resolve()
        if target in resolved:
            raise CliFailure(f"{file} is {resolved[target]}")
        for path in working:
            if path.resolve() in resolved:
                raise CliFailure(
                    f"{file} needs {path.name} next to it as a working file, and that is "
                    f"{resolved[path.resolve()]}: pick another name"
                )
    except (OSError, RuntimeError) as err:  # a symlink loop
        raise CliFailure(f"cannot write {file}: {err}") from None


def _head() -> str:
    from brokerplane.storage import revisions

    return revisions.head()


def _revision_of(copy: Path) -> str | None:
    """The copy's schema revision; None when it has none (not a brokerplane database)."""
    try:
        with contextlib.closing(sqlite3.connect(copy)) as conn:
            rows = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    except sqlite3.Error:
        return None
    return str(rows[0][0]) if len(rows) == 1 else None


def _check_known(at: str | None, head: str, source: Path) -> None:
    """An older revision this release can migrate is fine (the database a server of the
    release before still serves, backed up before an upgrade); anything else is refused."""
    from brokerplane.storage import migrate

    if at is None:
        raise CliFailure(f"{source} holds no brokerplane schema (no revision): nothing to back up")
    if not migrate.known(at):
        raise CliFailure(
            f"{source} is at schema revision {at}, newer than this brokerplane knows (its "
            f"newest is {head}): back it up with the brokerplane that serves it"
        )


def _verify(copy: Path, settings: Settings, *, migrate: bool = False) -> tuple[int, int, int]:
    """Open the copy as brokerplane would (`migrate`: bring it to head first, for a copy of an
    older revision) and run ledger verify and audit verify on it."""
    of_copy = settings.model_copy(
        update={"database_url": f"sqlite:///{copy.as_posix()}", "read_database_url": ""}
    )
    with runtime_for(of_copy, provision_key=False, migrate_schema=migrate) as runtime:
        ledger = runtime.app.audit_ledger()
        chain = runtime.app.verify_audit()
    if not ledger.ok:
        raise CliFailure("the copy fails `ledger verify`: the database itself needs checking")
    if not chain.ok:
        raise CliFailure(
            f"the copy fails `audit verify` at record {chain.first_bad_id}: {chain.reason}"
        )
    return ledger.accounts, ledger.entries, chain.records


def _remove(path: Path) -> None:
    for extra in ("", "-wal", "-shm", "-journal"):
        with contextlib.suppress(FileNotFoundError):
            Path(f"{path}{extra}").unlink()
