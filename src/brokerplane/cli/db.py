"""`brokerplane db`: schema migrations (create is cli/dbcreate.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from brokerplane import bootstrap
from brokerplane.cli.common import (
    EXIT_CHECK_FAILED,
    build_settings,
    database_options,
    runtime_for,
    safe_url,
)
from brokerplane.cli.dbcreate import db_create


def _migrate() -> Any:
    """storage.migrate (alembic), imported when a command needs it."""
    from brokerplane.storage import migrate

    return migrate


@click.group()
def db() -> None:
    """Schema migrations: create, upgrade, current revision, drift check."""


db.add_command(db_create)


@db.command("upgrade")
@database_options
def db_upgrade(database_url: str | None, data_dir: Path | None) -> None:
    """Migrate the database to the newest revision."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, require_head=False) as runtime:
        engine = runtime.storage.engine
        before = _migrate().current(engine)
        _migrate().upgrade(engine)
        after = _migrate().current(engine)
        ring = bootstrap.provision_audit_key(runtime)
    url = safe_url(settings.effective_database_url)
    if before == after:
        click.echo(f"{url}: already at head {after}")
    else:
        click.echo(f"{url}: upgraded {before or 'empty'} -> {after}")
    if ring is not None and ring.created:
        click.echo(ring.announcement())
    elif ring is not None:
        click.echo(f"audit key {ring.keys.current.id} from {ring.source}")


@db.command("current")
@database_options
def db_current(database_url: str | None, data_dir: Path | None) -> None:
    """Print the database's revision and whether it is the newest."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, require_head=False) as runtime:
        at = _migrate().current(runtime.storage.engine)
    head = _migrate().head()
    if at == head:
        click.echo(f"{at} (head)")
    else:
        click.echo(f"{at or 'none'} (head is {head})")


@db.command("check")
@database_options
def db_check(database_url: str | None, data_dir: Path | None) -> None:
    """Fail unless the database is at head and the models match the migrations."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    problems: list[str] = []
    with runtime_for(settings, require_head=False) as runtime:
        engine = runtime.storage.engine
        at, head = _migrate().current(engine), _migrate().head()
        if at != head:
            problems.append(
                f"the database is at revision {at or 'none'}, not head {head} "
                "(run `brokerplane db upgrade`)"
            )
        else:
            diffs = _migrate().drift(engine)
            if diffs:
                problems.append(
                    f"models and migrations differ in {len(diffs)} place(s) "
                    "(add a revision: every schema change is one Alembic revision):"
                )
                problems.extend(f"  {_describe_diff(diff)}" for diff in diffs)
    url = safe_url(settings.effective_database_url)
    if problems:
        click.echo(f"{url}: schema check failed", err=True)
        for line in problems:
            click.echo(line, err=True)
        click.get_current_context().exit(EXIT_CHECK_FAILED)
    click.echo(f"{url}: at head {head}; models match migrations")


def _describe_diff(diff: Any) -> str:
    """One line for one autogenerate difference (Alembic's tuples, or lists of them)."""
    if isinstance(diff, list):
        return "; ".join(_describe_diff(d) for d in diff)
    op, *args = diff
    if op in ("add_table", "remove_table"):
        return f"{op} {args[0].name}"
    if op in ("add_index", "remove_index"):
        return f"{op} {args[0].name} on {args[0].table.name}"
    if op in ("add_column", "remove_column"):
        return f"{op} {args[1]}.{args[2].name}"
    if op.startswith("modify_") and len(args) == 6:
        _schema, table, column, _info, old, new = args
        return f"{op} {table}.{column}: {old!r} -> {new!r}"
    text = repr(diff)
    return text if len(text) <= 200 else text[:197] + "..."
