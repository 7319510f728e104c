"""`brokerplane manager`: back-office managers, their rights, reach and password, acting as
the system."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from brokerplane.cli.common import (
    CliFailure,
    build_settings,
    comma_list,
    console,
    database_options,
    escape,
    existing_manager,
    generate_password,
    iso,
    json_option,
    key_state,
    rich_table,
    runtime_for,
)
from brokerplane.core.access.commands import CreateManager, UpdateManager
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.errors import ValidationError

if TYPE_CHECKING:
    from rich.table import Table

    from brokerplane.core.access.model import Manager


RIGHTS_HELP = ", ".join(SCOPES)
# A manager login: a positive signed 64-bit number (a longer one is a usage error, not a crash).
MANAGER_LOGIN = click.IntRange(1, 2**63 - 1)


def _rights(value: str, field: str = "rights") -> frozenset[str]:
    rights = comma_list(value)
    if not rights:
        raise ValidationError.field(field, f"name at least one, of: {RIGHTS_HELP}")
    return rights


def _manager_json(m: Manager, active_keys: int | None = None) -> dict[str, Any]:
    """A manager as the CLI shows it: never a password or a verifier, only whether one is set."""
    shown: dict[str, Any] = {
        "login": m.login,
        "name": m.name,
        "enabled": m.enabled,
        "rights": sorted(m.rights),
        "groups": m.group_mask,
        "brokers": m.white_labels,
        "password_set": bool(m.verifiers),
        "created_at": iso(m.created_at),
        "updated_at": iso(m.updated_at),
    }
    if active_keys is not None:
        shown["active_keys"] = active_keys
    return shown


def _manager_table(m: Manager, title: str) -> Table:
    table = rich_table(title, show_header=False)
    table.add_row("login", str(m.login))
    table.add_row("name", escape(m.name))
    table.add_row("enabled", "yes" if m.enabled else "no (its keys do not work)")
    table.add_row("rights", ", ".join(sorted(m.rights)) or "(none)")
    table.add_row("groups", escape(m.group_mask))
    table.add_row("brokers", escape(m.white_labels))
    table.add_row("password", "set" if m.verifiers else "none")
    return table


def _update_manager(
    database_url: str | None, data_dir: Path | None, cmd: UpdateManager
) -> tuple[Manager, Manager]:
    """(before, after) of one manager update, acting as the system."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        before = existing_manager(runtime, cmd.login)
        after = runtime.app.update_manager(cmd, system_actor())
    return before, after


def _show_manager(m: Manager, as_json: bool, line: str) -> None:
    if as_json:
        click.echo(json.dumps(_manager_json(m)))
    else:
        console().print(line, soft_wrap=True)


@click.group()
def manager() -> None:
    """Back-office managers: their rights, reach and password (the owners of API keys)."""


@manager.command("create")
@database_options
@click.option("--login", type=int, required=True, help="Manager login (a number).")
@click.option("--name", required=True, help="Display name.")
@click.option(
    "--password",
    default=None,
    help="API password (8-64 characters) for the dialects' manager logins; generated and "
    "printed once if omitted.",
)
@click.option(
    "--no-password",
    is_flag=True,
    help="No API password: the manager works through its API keys only.",
)
@click.option(
    "--rights",
    required=True,
    metavar="R1,R2",
    help=f"Comma list of rights, of: {RIGHTS_HELP} (admin implies every other).",
)
@click.option(
    "--groups",
    default=None,
    metavar="MASKS",
    help="Groups the manager may see and touch: MT5-style masks, e.g. '*' or "
    "'demo\\*,!demo\\vip'.  [required]",
)
@click.option("--group-mask", default=None, hidden=True)  # the old name of --groups
@click.option(
    "--brokers",
    default="*",
    show_default=True,
    metavar="B1,B2",
    help="White labels (broker names) the manager may touch: a comma list, masks allowed.",
)
@json_option
def manager_create(
    database_url: str | None,
    data_dir: Path | None,
    login: int,
    name: str,
    password: str | None,
    no_password: bool,
    rights: str,
    groups: str | None,
    group_mask: str | None,
    brokers: str,
    as_json: bool,
) -> None:
    """Create a manager with its rights and reach."""
    if no_password and password is not None:
        raise CliFailure("give --password or --no-password, not both")
    if groups is not None and group_mask is not None and groups != group_mask:
        raise CliFailure("--groups and --group-mask differ: give --groups only")
    groups = groups if groups is not None else group_mask
    if groups is None:
        raise click.MissingParameter(param_hint="'--groups'", param_type="option")
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    generated = password is None and not no_password
    secret = generate_password() if generated else password
    cmd = CreateManager(
        login=login,
        name=name,
        password=secret,
        rights=_rights(rights),
        group_mask=groups,
        white_labels=brokers,
    )
    with runtime_for(settings) as runtime:
        created = runtime.app.create_manager(cmd, system_actor())
    if as_json:
        payload = _manager_json(created)
        if generated:
            payload["password"] = secret
        click.echo(json.dumps(payload))
        return
    out = console()
    out.print(_manager_table(created, f"manager {created.login} created"))
    if generated and secret is not None:
        from rich.panel import Panel

        out.print(Panel(f"[bold]{escape(secret)}[/]", title="password (shown once)", expand=False))


@manager.command("list")
@database_options
@json_option
def manager_list(database_url: str | None, data_dir: Path | None, as_json: bool) -> None:
    """List the managers with their rights, reach and number of active keys."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        services = runtime.app
        found = services.list_managers(system_actor())
        keys = services.list_api_keys(system_actor())
        now = services.clock()
    active = Counter(k.manager_login for k in keys if key_state(k, now) == "active")
    items = [_manager_json(m, active[m.login]) for m in sorted(found, key=lambda m: m.login)]
    if as_json:
        click.echo(json.dumps({"items": items}))
        return
    out = console()
    if not items:
        out.print("No managers yet: brokerplane manager create (or brokerplane demo).")
        return
    table = rich_table(
        "managers", box=None, pad_edge=False, padding=(0, 1, 0, 0), header_style="bold underline"
    )
    for col in ("login", "name", "enabled", "rights", "groups", "brokers", "keys"):
        table.add_column(col, no_wrap=col in ("login", "rights"), overflow="fold")
    for n, m in enumerate(items):
        if n:
            table.add_row()  # a blank line between managers
        table.add_row(
            str(m["login"]),
            escape(m["name"]),
            "yes" if m["enabled"] else "no",
            "\n".join(m["rights"]) or "(none)",
            escape(m["groups"]),
            escape(m["brokers"]),
            str(m["active_keys"]),
        )
    out.print(table)


@manager.command("disable")
@database_options
@click.argument("login", type=MANAGER_LOGIN)
@json_option
def manager_disable(
    database_url: str | None, data_dir: Path | None, login: int, as_json: bool
) -> None:
    """Disable a manager: all its keys and sessions stop working at once."""
    before, after = _update_manager(database_url, data_dir, UpdateManager(login, enabled=False))
    state = "was already disabled" if not before.enabled else "disabled"
    _show_manager(
        after,
        as_json,
        f"manager {login} {state}: its API keys and sessions do not work until it is enabled",
    )


@manager.command("enable")
@database_options
@click.argument("login", type=MANAGER_LOGIN)
@json_option
def manager_enable(
    database_url: str | None, data_dir: Path | None, login: int, as_json: bool
) -> None:
    """Enable a manager again: its keys that are neither revoked nor expired work again."""
    before, after = _update_manager(database_url, data_dir, UpdateManager(login, enabled=True))
    state = "was already enabled" if before.enabled else "enabled"
    _show_manager(after, as_json, f"manager {login} {state}")


@manager.command("set-password")
@database_options
@click.argument("login", type=MANAGER_LOGIN)
@click.option(
    "--password", default=None, help="The new password; generated and printed once if omitted."
)
@json_option
def manager_set_password(
    database_url: str | None,
    data_dir: Path | None,
    login: int,
    password: str | None,
    as_json: bool,
) -> None:
    """Set a manager's API password (for the dialects' manager logins)."""
    generated = password is None
    secret = password if password is not None else generate_password()
    _, after = _update_manager(database_url, data_dir, UpdateManager(login, password=secret))
    if as_json:
        payload = _manager_json(after)
        if generated:
            payload["password"] = secret
        click.echo(json.dumps(payload))
        return
    out = console()
    out.print(f"password of manager {login} changed")
    if generated:
        from rich.panel import Panel

        out.print(Panel(f"[bold]{escape(secret)}[/]", title="password (shown once)", expand=False))


@manager.command("unlock")
@database_options
@click.argument("login", type=MANAGER_LOGIN)
@json_option
def manager_unlock(
    database_url: str | None, data_dir: Path | None, login: int, as_json: bool
) -> None:
    """Forget a manager's failed sign-ins (from every address) and end its locks at once;
    audited as manager.unlocked. The addresses' own counters stay."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        cleared = runtime.app.unlock_manager(login, system_actor())
    if as_json:
        click.echo(json.dumps({"login": login, "counters_cleared": cleared}))
        return
    state = "unlocked" if cleared else "had no failed sign-ins to forget"
    console().print(f"manager {login} {state}", soft_wrap=True)


@manager.command("totp-reset")
@database_options
@click.argument("login", type=MANAGER_LOGIN)
@json_option
def manager_totp_reset(
    database_url: str | None, data_dir: Path | None, login: int, as_json: bool
) -> None:
    """Remove a manager's two-factor sign-in (TOTP secret, recovery codes, waiting sign-ins),
    for a manager who lost the device and the recovery codes; audited as
    manager.second_factor_reset. The manager signs in with the password alone and may enrol
    again."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        had = runtime.app.reset_second_factor(login, system_actor())
    if as_json:
        click.echo(json.dumps({"login": login, "reset": had}))
        return
    state = "two-factor sign-in reset" if had else "had no two-factor sign-in"
    console().print(f"manager {login} {state}", soft_wrap=True)


@manager.command("grant")
@database_options
@click.argument("login", type=MANAGER_LOGIN)
@click.argument("rights", metavar="R1,R2")
@json_option
def manager_grant(
    database_url: str | None, data_dir: Path | None, login: int, rights: str, as_json: bool
) -> None:
    """Give a manager more rights (comma list)."""
    cmd = UpdateManager(login, grant=_rights(rights, "grant"))
    _, after = _update_manager(database_url, data_dir, cmd)
    _show_manager(after, as_json, f"manager {login} rights: {', '.join(sorted(after.rights))}")


@manager.command("revoke")
@database_options
@click.argument("login", type=MANAGER_LOGIN)
@click.argument("rights", metavar="R1,R2")
@json_option
def manager_revoke(
    database_url: str | None, data_dir: Path | None, login: int, rights: str, as_json: bool
) -> None:
    """Take rights away from a manager (comma list); its keys lose them at once."""
    cmd = UpdateManager(login, revoke=_rights(rights, "revoke"))
    _, after = _update_manager(database_url, data_dir, cmd)
    held = ", ".join(sorted(after.rights)) or "(none)"
    _show_manager(after, as_json, f"manager {login} rights: {held}")


@manager.command("set-reach")
@database_options
@click.argument("login", type=MANAGER_LOGIN)
@click.option("--groups", default=None, metavar="MASKS", help="The new group masks.")
@click.option("--brokers", default=None, metavar="B1,B2", help="The new white labels.")
@json_option
def manager_set_reach(
    database_url: str | None,
    data_dir: Path | None,
    login: int,
    groups: str | None,
    brokers: str | None,
    as_json: bool,
) -> None:
    """Change the groups and white labels a manager may see and touch."""
    if groups is None and brokers is None:
        raise CliFailure("name --groups, --brokers or both")
    cmd = UpdateManager(login, group_mask=groups, white_labels=brokers)
    _, after = _update_manager(database_url, data_dir, cmd)
    _show_manager(
        after,
        as_json,
        f"manager {login} reaches groups {escape(after.group_mask)} "
        f"and brokers {escape(after.white_labels)}",
    )
