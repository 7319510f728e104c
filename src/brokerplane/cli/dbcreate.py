"""`brokerplane db create`: the PostgreSQL role and database of a database URL, in one step.

Connects with an administrator's URL (--admin-url, BROKERPLANE_ADMIN_DATABASE_URL; default
the `postgres` role's `postgres` database on the same host and port), creates the URL's role
(LOGIN, with the URL's password) and its database (owned by the role) when they do not exist,
then connects as the role to check the URL works. Run again, it changes nothing and says so.
Names are quoted as identifiers and the password as a literal by psycopg, never pasted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from brokerplane.cli.common import CliFailure, database_options

ADMIN_ENV = "BROKERPLANE_ADMIN_DATABASE_URL"
MAX_NAME = 63  # PostgreSQL truncates longer identifiers: refuse them instead
CONNECT_TIMEOUT_S = 5


@dataclass(frozen=True)
class Target:
    """What a URL names: where, and which role (and password) and database."""

    host: str | None
    port: int | None
    user: str
    password: str | None
    database: str
    shown: str  # the URL with its password masked

    def connect_args(self, database: str | None = None) -> dict[str, Any]:
        args: dict[str, Any] = {
            "dbname": database or self.database,
            "user": self.user,
            "connect_timeout": CONNECT_TIMEOUT_S,
        }
        if self.host:
            args["host"] = self.host
        if self.port:
            args["port"] = self.port
        if self.password is not None:
            args["password"] = self.password
        return args


def parse(url: str, what: str) -> Target:
    from sqlalchemy.exc import ArgumentError

    from brokerplane.storage.engine import normalize_url

    try:
        parsed = normalize_url(url)
    except (ArgumentError, ValueError) as exc:
        raise CliFailure(f"{what} is not a database URL: {exc}") from None
    shown = parsed.set(drivername="postgresql").render_as_string(hide_password=True)
    if parsed.get_backend_name() != "postgresql":
        raise CliFailure(f"{what} {shown} is not a PostgreSQL URL")
    if "host" in parsed.query or "port" in parsed.query:
        raise CliFailure(f"{what} {shown}: give the host and port in the URL itself")
    if not parsed.username:
        raise CliFailure(f"{what} {shown} names no role (postgresql://ROLE:PASSWORD@host/db)")
    if not parsed.database:
        raise CliFailure(f"{what} {shown} names no database (postgresql://role@host/DATABASE)")
    for kind, name in (("role", parsed.username), ("database", parsed.database)):
        if len(name.encode()) > MAX_NAME or "\x00" in name:
            raise CliFailure(f"the {kind} name {name[:80]!r} is longer than {MAX_NAME} bytes")
    return Target(
        parsed.host, parsed.port, parsed.username, parsed.password, parsed.database, shown
    )


def default_admin(target: Target) -> str:
    host = target.host or ""
    if ":" in host:
        host = f"[{host}]"
    port = f":{target.port}" if target.port else ""
    return f"postgresql://postgres@{host}{port}/postgres"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@click.command("create")
@database_options
@click.option(
    "--admin-url",
    default=None,
    metavar="URL",
    help=f"A role that may create roles and databases [env {ADMIN_ENV}; "
    "postgresql://postgres@<the URL's host and port>/postgres].",
)
@click.option(
    "--set-password",
    is_flag=True,
    help="When the role exists already, set its password to the URL's.",
)
def db_create(
    database_url: str | None, data_dir: Path | None, admin_url: str | None, set_password: bool
) -> None:
    """Create the PostgreSQL role and database of --database-url (idempotent).

    Example: brokerplane db create --database-url
    postgresql://brokerplane:s3cret@127.0.0.1:5432/brokerplane, then serve with
    BROKERPLANE_DATABASE_URL set to the same URL (serve migrates the schema).
    """
    from brokerplane.cli.common import build_settings

    settings = build_settings(database_url=database_url, data_dir=data_dir)
    if not settings.database_url or settings.database_url.startswith("sqlite"):
        click.echo(
            "the database is SQLite (" + settings.effective_database_url + "): nothing to create; "
            "`brokerplane db upgrade` or `brokerplane serve` makes the file"
        )
        return
    target = parse(settings.database_url, "--database-url")
    admin_text = admin_url or os.environ.get(ADMIN_ENV) or default_admin(target)
    admin = parse(admin_text, "--admin-url")
    if admin.user == target.user:
        raise CliFailure(
            f"the admin URL and the database URL are both role {target.user!r}: the admin URL "
            "must name a role that may create others (postgres, say)"
        )
    import psycopg
    from psycopg import sql

    try:
        conn = psycopg.connect(**admin.connect_args(), autocommit=True)
    except psycopg.Error as exc:
        raise CliFailure(
            f"cannot connect as the administrator {admin.shown}: {_first_line(exc)} (give "
            f"--admin-url or {ADMIN_ENV})"
        ) from None
    done: list[str] = []
    try:
        with conn:
            role = sql.Identifier(target.user)
            exists = conn.execute(
                "SELECT 1 FROM pg_roles WHERE rolname = %s", (target.user,)
            ).fetchone()
            secret = sql.Literal(target.password) if target.password is not None else None
            if exists is None:
                statement = sql.SQL("CREATE ROLE {} LOGIN").format(role)
                if secret is not None:
                    statement = sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(role, secret)
                conn.execute(statement)
                done.append(f"created role {target.user}")
            elif set_password and secret is not None:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(role, secret))
                done.append(f"role {target.user} exists; its password is set to the URL's")
            else:
                done.append(f"role {target.user} exists (left as it is)")
            owner = conn.execute(
                "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = %s",
                (target.database,),
            ).fetchone()
            if owner is None:
                conn.execute(
                    sql.SQL("CREATE DATABASE {} OWNER {}").format(
                        sql.Identifier(target.database), role
                    )
                )
                done.append(f"created database {target.database} owned by {target.user}")
            elif owner[0] != target.user:
                done.append(
                    f"database {target.database} exists, owned by {owner[0]}, not "
                    f"{target.user}: brokerplane needs to create tables in it (ALTER DATABASE "
                    f"{target.database} OWNER TO {target.user}, or grant it the rights)"
                )
            else:
                done.append(f"database {target.database} exists, owned by {target.user}")
    except psycopg.errors.InsufficientPrivilege as exc:
        raise CliFailure(
            f"the administrator {admin.user} may not do this: {_first_line(exc)}"
        ) from None
    except psycopg.Error as exc:
        raise CliFailure(f"{admin.shown}: {_first_line(exc)}") from None
    for line in done:
        click.echo(line)
    try:
        with psycopg.connect(**target.connect_args()) as check:
            check.execute("SELECT 1")
    except psycopg.Error as exc:
        hint = ""
        if "password" in str(exc).lower():
            hint = " (the role existed with another password: add --set-password)"
        raise CliFailure(f"cannot connect as {target.shown}: {_first_line(exc)}{hint}") from None
    click.echo(f"connected as {target.shown}: ready")
    click.echo(
        "next: set BROKERPLANE_DATABASE_URL to this URL and run `brokerplane serve` "
        "(it migrates the schema)"
    )
