"""`brokerplane key`: native API keys of the managers, acting as the system."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from brokerplane.cli.common import (
    EXPIRY_HELP,
    CliFailure,
    build_settings,
    comma_list,
    console,
    database_options,
    escape,
    existing_manager,
    iso,
    json_option,
    key_state,
    parse_expiry,
    rich_table,
    runtime_for,
)
from brokerplane.core.access.commands import CreateApiKey, IssuedKey, RevokeApiKey, RotateApiKey
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.errors import ApiKeyNotFound

if TYPE_CHECKING:
    from brokerplane.bootstrap import Runtime
    from brokerplane.core.access.model import ApiKey

RIGHTS_HELP = ", ".join(SCOPES)


def _key_json(key: ApiKey, now: datetime) -> dict[str, Any]:
    """A key as `GET /keys` shows it: never its secret or the secret's hash."""
    return {
        "id": key.id,
        "prefix": key.prefix,
        "manager_login": key.manager_login,
        "scopes": sorted(key.scopes),
        "name": key.name,
        "state": key_state(key, now),
        "created_at": iso(key.created_at),
        "expires_at": iso(key.expires_at),
        "revoked_at": iso(key.revoked_at),
        "last_used_at": iso(key.last_used_at),
    }


def _minute(stamp: str | None) -> str | None:
    """An ISO time shortened for a table cell: 2027-01-31, 18:00Z below it."""
    return f"{stamp[:10]}\n{stamp[11:16]}Z" if stamp else None


def _issued_json(issued: IssuedKey, previous: ApiKey | None = None) -> dict[str, Any]:
    """A new key as `POST /keys` answers it: `key` is the secret, shown this once."""
    key = issued.key
    return {
        "id": key.id,
        "key": issued.secret,
        "prefix": key.prefix,
        "manager_login": key.manager_login,
        "scopes": sorted(key.scopes),
        "name": key.name,
        "expires_at": iso(key.expires_at),
        "previous": {"id": previous.id, "expires_at": iso(previous.expires_at)}
        if previous
        else None,
    }


def _show_issued(issued: IssuedKey, title: str) -> None:
    key = issued.key
    out = console()
    table = rich_table(title, show_header=False)
    table.add_row("id", key.id)
    table.add_row("prefix", key.prefix)
    table.add_row("manager", str(key.manager_login))
    table.add_row("scopes", ", ".join(sorted(key.scopes)))
    table.add_row("name", escape(key.name))
    table.add_row("expires", iso(key.expires_at) or "never")
    out.print(table)
    from rich.panel import Panel

    out.print(Panel(f"[bold]{issued.secret}[/]", title="key (shown once)", expand=False))


def _key_id(runtime: Runtime, ref: str) -> str:
    """A key's id from its id or its prefix (the part of the secret that logs show)."""
    ref = ref.strip()
    for k in runtime.app.list_api_keys(system_actor()):
        if ref in (k.id, k.prefix):
            return k.id
    raise ApiKeyNotFound(ref)


@click.group()
def key() -> None:
    """Native API keys: create, list, rotate, revoke."""


@key.command("create")
@database_options
@click.option("--manager", "manager_login", type=int, required=True, help="Owner's login.")
@click.option(
    "--scopes",
    required=True,
    metavar="S1,S2",
    help=f"Comma list of scopes, each a right of the manager, of: {RIGHTS_HELP}.",
)
@click.option("--name", default="", help="What the key is for, e.g. crm-provisioning.")
@click.option(
    "--expires", default=None, metavar="WHEN", help=f"Expiry: {EXPIRY_HELP}. Default: never."
)
@click.option("--expires-in-days", type=click.IntRange(min=1), default=None, hidden=True)
@json_option
def key_create(
    database_url: str | None,
    data_dir: Path | None,
    manager_login: int,
    scopes: str,
    name: str,
    expires: str | None,
    expires_in_days: int | None,
    as_json: bool,
) -> None:
    """Issue an API key for a manager; the secret is printed once."""
    if expires is not None and expires_in_days is not None:
        raise CliFailure("give --expires only (--expires-in-days N is --expires Nd)")
    if expires_in_days is not None:
        expires = f"{expires_in_days}d"
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        services = runtime.app
        expires_at = parse_expiry(expires, services.clock()) if expires is not None else None
        cmd = CreateApiKey(
            manager_login=manager_login, scopes=comma_list(scopes), name=name, expires_at=expires_at
        )
        issued = services.create_api_key(cmd, system_actor())
        owner = existing_manager(runtime, manager_login)
    if not owner.enabled:
        console(stderr=True).print(
            f"note: manager {manager_login} is disabled; the key works once it is enabled"
        )
    if as_json:
        click.echo(json.dumps(_issued_json(issued)))
        return
    _show_issued(issued, f"key {issued.key.id} created")


@key.command("list")
@database_options
@click.option(
    "--manager", "manager_login", type=int, default=None, help="Only this manager's keys."
)
@json_option
def key_list(
    database_url: str | None, data_dir: Path | None, manager_login: int | None, as_json: bool
) -> None:
    """List keys with their state and last use (never their secrets)."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        services = runtime.app
        if manager_login is not None:
            existing_manager(runtime, manager_login)
        keys = services.list_api_keys(system_actor(), manager_login)
        disabled = {m.login for m in services.list_managers(system_actor()) if not m.enabled}
        now = services.clock()
    items = [_key_json(k, now) for k in keys]
    if as_json:
        click.echo(json.dumps({"items": items}))
        return
    out = console()
    if not items:
        out.print("No keys: brokerplane key create --manager L --scopes S1,S2")
        return
    table = rich_table(
        "API keys", box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold underline"
    )
    table.add_column("id / prefix", no_wrap=True)
    table.add_column("owner", no_wrap=True)
    table.add_column("name", overflow="fold", ratio=1)
    table.add_column("scopes", no_wrap=True)
    table.add_column("state", overflow="fold", min_width=6)
    table.add_column("expires", overflow="fold", min_width=10)
    table.add_column("last used", overflow="fold", min_width=10)
    for n, k in enumerate(items):
        if n:
            table.add_row()  # a blank line between keys
        state = k["state"]
        if state == "active" and k["manager_login"] in disabled:
            state = "active (manager disabled)"
        table.add_row(
            f"{k['id']}\n{k['prefix']}",
            str(k["manager_login"]),
            escape(k["name"]),
            "\n".join(k["scopes"]),
            state,
            _minute(k["expires_at"]) or "never",
            _minute(k["last_used_at"]) or "-",
        )
    out.print(table)


@key.command("rotate")
@database_options
@click.argument("key_ref", metavar="ID")
@json_option
def key_rotate(
    database_url: str | None, data_dir: Path | None, key_ref: str, as_json: bool
) -> None:
    """Issue a new secret for a key (same scopes, name and expiry); the old secret keeps working
    for BROKERPLANE_KEY_ROTATION_OVERLAP_HOURS (24), then expires. ID may be the key's prefix."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        issued, previous = runtime.app.rotate_api_key(
            RotateApiKey(_key_id(runtime, key_ref)), system_actor()
        )
    if as_json:
        click.echo(json.dumps(_issued_json(issued, previous)))
        return
    _show_issued(issued, f"key {issued.key.id} created")
    console().print(
        f"It replaces key {previous.id} (prefix {previous.prefix}), which keeps working until "
        f"{iso(previous.expires_at)}; revoke it sooner with: brokerplane key revoke {previous.id}",
        soft_wrap=True,
    )


@key.command("revoke")
@database_options
@click.argument("key_ref", metavar="ID")
@json_option
def key_revoke(
    database_url: str | None, data_dir: Path | None, key_ref: str, as_json: bool
) -> None:
    """Revoke a key at once. ID may be the key's prefix."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        services = runtime.app
        started = services.clock()
        revoked = services.revoke_api_key(RevokeApiKey(_key_id(runtime, key_ref)), system_actor())
        now = services.clock()
    if as_json:
        click.echo(json.dumps(_key_json(revoked, now)))
        return
    already = revoked.revoked_at is not None and revoked.revoked_at < started
    verb = "was already revoked" if already else "revoked"
    click.echo(
        f"key {revoked.id} (prefix {revoked.prefix}, manager {revoked.manager_login}) {verb} "
        f"at {iso(revoked.revoked_at)}"
    )
