"""The `brokerplane` commands but serve: tls, db, demo, manager, key, audit, ledger, approvals
and maintenance, acting as the system. The root group (cli/main.py) loads this module only
when one of them runs."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from brokerplane import auditkeys, bootstrap
from brokerplane.auditkeys import AuditKeyError
from brokerplane.bootstrap import Runtime
from brokerplane.cli import tls
from brokerplane.cli.common import (
    EXIT_CHECK_FAILED,
    EXPIRY_HELP,
    CliFailure,
    build_settings,
    comma_list,
    console,
    database_options,
    iso,
    parse_expiry,
    runtime_for,
    safe_url,
)
from brokerplane.cli.dbcreate import db_create
from brokerplane.cli.demo import (
    DEMO_ACCOUNTS_GROUP,
    DEMO_APPROVER_LOGIN,
    DEMO_MANAGER_LOGIN,
    generate_password,
    load_demo,
    open_demo_accounts,
    show_secrets,
)
from brokerplane.core.access.commands import CreateApiKey, CreateManager, IssuedKey, UpdateManager
from brokerplane.core.access.model import ApiKey, Manager
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.errors import ApiKeyNotFound, ManagerNotFound, ValidationError
from brokerplane.core.money import Currency, format_minor

if TYPE_CHECKING:
    from rich.table import Table

    from brokerplane.core.approval.model import ApprovalThreshold
    from brokerplane.core.audit.model import ChainReport


def escape(text: str) -> str:
    """rich.markup.escape, imported when output is drawn (`--json` never draws)."""
    from rich.markup import escape as rich_escape

    return rich_escape(text)


def _table(title: str, **options: Any) -> Table:
    """A rich Table, imported when output is drawn (`--json` never draws)."""
    from rich.table import Table

    return Table(title=title, **options)


def _migrate() -> Any:
    """storage.migrate (alembic), imported when a command needs it."""
    from brokerplane.storage import migrate

    return migrate


# --------------------------------------------------------------------------- tls


@click.group("tls")
def tls_group() -> None:
    """Certificates for the HTTPS listener (brokerplane serve --mt5-tls-port)."""


@tls_group.command("self-signed")
@click.option(
    "--out-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write cert.pem and key.pem [default: <data dir>/tls, i.e. var/tls].",
)
@click.option(
    "--days",
    type=int,
    default=825,
    show_default=True,
    help=f"How long the certificate is valid (1-{tls.MAX_DAYS}).",
)
@click.option(
    "--name",
    "names",
    multiple=True,
    metavar="HOST",
    help="Another DNS name or IP address to put in the certificate (repeatable); localhost "
    "and 127.0.0.1 are always in it.",
)
@click.option("--force", is_flag=True, help="Replace cert.pem and key.pem if they exist.")
def tls_self_signed(out_dir: Path | None, days: int, names: tuple[str, ...], force: bool) -> None:
    """Write a self-signed certificate and key for localhost.

    The certificate has CN localhost and the subject alternative names DNS:localhost and
    IP:127.0.0.1 (plus every --name); the key is readable by its owner only. Prints the serve
    command that uses them.
    """
    if out_dir is None:
        out_dir = build_settings().data_dir / "tls"
    try:
        cert, key, info = tls.self_signed(
            out_dir, days=days, names=(*tls.DEFAULT_NAMES, *names), force=force
        )
    except tls.TlsProblem as exc:
        raise CliFailure(str(exc)) from None
    click.echo(f"wrote {cert}: {info.subject}; {', '.join(info.names)}; "
               f"valid until {info.not_after:%Y-%m-%d}")  # fmt: skip
    click.echo(f"wrote {key}: its private key, readable by its owner only")
    click.echo(f"SHA-256 fingerprint {info.fingerprint}")
    click.echo("Serve the API over HTTPS too (clients must allow this self-signed certificate):")
    click.echo(f"brokerplane serve --mt5-tls-port 8443 --tls-cert {cert} --tls-key {key}")


# --------------------------------------------------------------------------- db


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


# --------------------------------------------------------------------------- demo


@click.command()
@database_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object and nothing else.")
@click.option(
    "--accounts",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Also open this many demo accounts (checked and audited, 2,000 per transaction).",
)
@click.option(
    "--group",
    default=DEMO_ACCOUNTS_GROUP,
    show_default=True,
    help="Group of the accounts opened by --accounts.",
)
def demo(
    database_url: str | None, data_dir: Path | None, as_json: bool, accounts: int, group: str
) -> None:
    """Migrate and load the demo data once; print its secrets.

    The demo data: groups, symbols, manager 1000 with an admin key, manager 1001 (the finance
    approver) with its key, and the USD approval threshold of 10000.00.
    """
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, migrate_schema=True) as runtime:
        secrets = load_demo(runtime)
        logins = _open_accounts(runtime, accounts, group, quiet=as_json)
        if as_json:
            payload: dict[str, Any]
            if secrets is None:
                payload = {"already_loaded": True, "manager": {"login": DEMO_MANAGER_LOGIN}}
            else:
                payload = secrets.to_json()
            payload["accounts_opened"] = len(logins)
            if logins:
                payload["account_logins"] = {"first": logins[0], "last": logins[-1]}
            click.echo(json.dumps(payload))
            return
        out = console()
        if runtime.keyring is not None and runtime.keyring.created:
            out.print(escape(runtime.keyring.announcement()), soft_wrap=True)
        if secrets is None:
            out.print(
                f"Demo data is already loaded (manager {DEMO_MANAGER_LOGIN} exists); its "
                "secrets were shown when it was loaded.\nA new key: brokerplane key create "
                f"--manager {DEMO_MANAGER_LOGIN} --scopes admin\nA new approver key: brokerplane "
                f"key create --manager {DEMO_APPROVER_LOGIN} --scopes balances:approve,"
                "balances:write"
            )
        else:
            out.print(_groups_table(runtime))
            out.print(_symbols_table(runtime))
            show_secrets(secrets, runtime, out)
        if logins:
            out.print(f"Opened {len(logins)} accounts in {group}: {logins[0]}..{logins[-1]}")


def _open_accounts(runtime: Runtime, count: int, group: str, *, quiet: bool) -> list[int]:
    if count == 0:
        return []
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("opening accounts"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=console(stderr=True), disable=quiet) as progress:
        task = progress.add_task("accounts", total=count)
        return open_demo_accounts(
            runtime, count, group, on_opened=lambda done: progress.update(task, completed=done)
        )


def _groups_table(runtime: Runtime) -> Table:
    table = _table("groups")
    for col in ("name", "currency", "leverage", "logins", "broker"):
        table.add_column(col, no_wrap=True)
    for g in runtime.services.list_groups(system_actor()):
        logins = f"{g.login_range_from}-{g.login_range_to}" if g.login_range_from else "server"
        leverage = f"1:{g.default_leverage} (max {g.max_leverage})"
        table.add_row(escape(g.name), g.currency, leverage, logins, escape(g.broker))
    return table


def _symbols_table(runtime: Runtime) -> Table:
    table = _table("symbols")
    for col in ("name", "path", "digits", "contract size", "base/profit/margin"):
        table.add_column(col)
    for s in runtime.services.list_symbols(system_actor()):
        currencies = f"{s.currency_base}/{s.currency_profit}/{s.currency_margin}"
        table.add_row(
            escape(s.name), escape(s.path), str(s.digits), str(s.contract_size), currencies
        )
    return table


# --------------------------------------------------------------------------- manager

RIGHTS_HELP = ", ".join(SCOPES)
# A manager login: a positive signed 64-bit number (a longer one is a usage error, not a crash).
MANAGER_LOGIN = click.IntRange(1, 2**63 - 1)


def _rights(value: str, field: str = "rights") -> frozenset[str]:
    rights = comma_list(value)
    if not rights:
        raise ValidationError.field(field, f"name at least one, of: {RIGHTS_HELP}")
    return rights


def _key_state(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


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
    table = _table(title, show_header=False)
    table.add_row("login", str(m.login))
    table.add_row("name", escape(m.name))
    table.add_row("enabled", "yes" if m.enabled else "no (its keys do not work)")
    table.add_row("rights", ", ".join(sorted(m.rights)) or "(none)")
    table.add_row("groups", escape(m.group_mask))
    table.add_row("brokers", escape(m.white_labels))
    table.add_row("password", "set" if m.verifiers else "none")
    return table


def _existing_manager(runtime: Runtime, login: int) -> Manager:
    found = runtime.services.get_manager(login)
    if found is None:
        raise ManagerNotFound(login)
    return found


def _update_manager(
    database_url: str | None, data_dir: Path | None, cmd: UpdateManager
) -> tuple[Manager, Manager]:
    """(before, after) of one manager update, acting as the system."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        before = _existing_manager(runtime, cmd.login)
        after = runtime.services.update_manager(cmd, system_actor())
    return before, after


def _show_manager(m: Manager, as_json: bool, line: str) -> None:
    if as_json:
        click.echo(json.dumps(_manager_json(m)))
    else:
        console().print(line, soft_wrap=True)


json_option = click.option(
    "--json", "as_json", is_flag=True, help="Print one JSON object and nothing else."
)


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
    cmd = CreateManager(login=login, name=name, password=secret, rights=_rights(rights),
                        group_mask=groups, white_labels=brokers)  # fmt: skip
    with runtime_for(settings) as runtime:
        created = runtime.services.create_manager(cmd, system_actor())
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
        services = runtime.services
        found = services.list_managers(system_actor())
        keys = services.list_api_keys(system_actor())
        now = services.clock()
    active = Counter(k.manager_login for k in keys if _key_state(k, now) == "active")
    items = [_manager_json(m, active[m.login]) for m in sorted(found, key=lambda m: m.login)]
    if as_json:
        click.echo(json.dumps({"items": items}))
        return
    out = console()
    if not items:
        out.print("No managers yet: brokerplane manager create (or brokerplane demo).")
        return
    table = _table("managers", box=None, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="bold underline")  # fmt: skip
    for col in ("login", "name", "enabled", "rights", "groups", "brokers", "keys"):
        table.add_column(col, no_wrap=col in ("login", "rights"), overflow="fold")
    for n, m in enumerate(items):
        if n:
            table.add_row()  # a blank line between managers
        table.add_row(
            str(m["login"]), escape(m["name"]), "yes" if m["enabled"] else "no",
            "\n".join(m["rights"]) or "(none)", escape(m["groups"]), escape(m["brokers"]),
            str(m["active_keys"]),
        )  # fmt: skip
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
    _show_manager(after, as_json, f"manager {login} {state}: its API keys and sessions do not "
                  "work until it is enabled")  # fmt: skip


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
    database_url: str | None, data_dir: Path | None, login: int, password: str | None,
    as_json: bool,
) -> None:  # fmt: skip
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
        cleared = runtime.services.unlock_manager(login, system_actor())
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
        had = runtime.services.reset_second_factor(login, system_actor())
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
    database_url: str | None, data_dir: Path | None, login: int, groups: str | None,
    brokers: str | None, as_json: bool,
) -> None:  # fmt: skip
    """Change the groups and white labels a manager may see and touch."""
    if groups is None and brokers is None:
        raise CliFailure("name --groups, --brokers or both")
    cmd = UpdateManager(login, group_mask=groups, white_labels=brokers)
    _, after = _update_manager(database_url, data_dir, cmd)
    _show_manager(after, as_json, f"manager {login} reaches groups {escape(after.group_mask)} "
                  f"and brokers {escape(after.white_labels)}")  # fmt: skip


# --------------------------------------------------------------------------- key


def _key_json(key: ApiKey, now: datetime) -> dict[str, Any]:
    """A key as `GET /keys` shows it: never its secret or the secret's hash."""
    return {
        "id": key.id,
        "prefix": key.prefix,
        "manager_login": key.manager_login,
        "scopes": sorted(key.scopes),
        "name": key.name,
        "state": _key_state(key, now),
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
    table = _table(title, show_header=False)
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
    for k in runtime.services.list_api_keys(system_actor()):
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
        services = runtime.services
        expires_at = parse_expiry(expires, services.clock()) if expires is not None else None
        cmd = CreateApiKey(manager_login=manager_login, scopes=comma_list(scopes), name=name,
                           expires_at=expires_at)  # fmt: skip
        issued = services.create_api_key(cmd, system_actor())
        owner = _existing_manager(runtime, manager_login)
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
        services = runtime.services
        if manager_login is not None:
            _existing_manager(runtime, manager_login)
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
    table = _table("API keys", box=None, pad_edge=False, padding=(0, 1, 0, 0),
                  header_style="bold underline")  # fmt: skip
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
            f"{k['id']}\n{k['prefix']}", str(k["manager_login"]), escape(k["name"]),
            "\n".join(k["scopes"]), state, _minute(k["expires_at"]) or "never",
            _minute(k["last_used_at"]) or "-",
        )  # fmt: skip
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
        issued, previous = runtime.services.rotate_api_key(
            _key_id(runtime, key_ref), system_actor()
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
        services = runtime.services
        started = services.clock()
        revoked = services.revoke_api_key(_key_id(runtime, key_ref), system_actor())
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


# --------------------------------------------------------------------------- audit


@click.group()
def audit() -> None:
    """The keyed, hash-chained audit trail: verify, checkpoint, rotate the key."""


def _chain_summary(report: ChainReport) -> str:
    keyed = report.records - report.legacy
    text = f"{report.records} records"
    if report.legacy:
        text += f" ({keyed} sealed with the audit key, {report.legacy} legacy unkeyed)"
    return text


@audit.command("verify")
@database_options
@click.option(
    "--checkpoint",
    "checkpoint",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    metavar="FILE",
    help="Also prove the chain still holds the head this signed checkpoint states, unchanged.",
)
def audit_verify(database_url: str | None, data_dir: Path | None, checkpoint: Path | None) -> None:
    """Re-hash the audit chain under the audit keys; exit 1 naming the first bad record.

    With --checkpoint FILE (from `brokerplane audit checkpoint`), also check the checkpoint's
    signature and that the chain still holds its record with the same hash: a rewrite of
    history (even by someone holding the audit key), a rollback or a truncation fails."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, provision_key=False) as runtime:
        keys = runtime.services.config.audit_keys
        point = None
        if checkpoint is not None:
            try:
                point = auditkeys.read_checkpoint(checkpoint.read_text(encoding="utf-8"), keys)
            except (OSError, UnicodeDecodeError) as exc:
                raise CliFailure(f"checkpoint {checkpoint}: {exc}") from None
            except AuditKeyError as exc:
                click.echo(f"checkpoint {checkpoint}: {exc}", err=True)
                click.get_current_context().exit(EXIT_CHECK_FAILED)
        report = runtime.services.verify_audit(
            pin=(point.record, point.hash) if point is not None else None
        )
    if report.ok:
        click.echo(f"audit chain intact: {_chain_summary(report)}")
        if point is not None:
            click.echo(
                f"checkpoint holds: record {point.record} (of {point.made_at}, signed with audit "
                f"key {point.key_id}) is still in the chain, unchanged"
            )
        return
    click.echo(f"audit chain broken at record {report.first_bad_id}: {report.reason}", err=True)
    click.get_current_context().exit(EXIT_CHECK_FAILED)


@audit.command("checkpoint")
@database_options
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    metavar="FILE",
    help="Write the checkpoint to FILE instead of printing it.",
)
def audit_checkpoint(database_url: str | None, data_dir: Path | None, out: Path | None) -> None:
    """Verify the chain, then print a signed statement of its head (record, hash, counts,
    ledger totals) to keep somewhere the database's writers cannot reach.

    Signed with an Ed25519 key derived from the audit key; `audit verify --checkpoint FILE`
    later proves the chain still holds this head unchanged."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, provision_key=False) as runtime:
        if runtime.keyring is None:
            raise CliFailure(
                "no audit key is configured: a checkpoint is signed with it (run "
                "`brokerplane db upgrade` to make one)"
            )
        report, totals = runtime.services.chain_statement()
        if not report.ok:
            click.echo(
                f"audit chain broken at record {report.first_bad_id}: {report.reason}; "
                "no checkpoint signed",
                err=True,
            )
            click.get_current_context().exit(EXIT_CHECK_FAILED)
        statement = auditkeys.sign_checkpoint(
            runtime.keyring.keys.current, report.head, report.records, report.legacy, totals,
            runtime.services.clock(),
        )  # fmt: skip
    text = json.dumps(statement, indent=2, sort_keys=True) + "\n"
    if out is None:
        click.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise CliFailure(f"checkpoint {out}: {exc.strerror or exc}") from None
    click.echo(f"checkpoint of record {report.head[0]} written to {out}", err=True)


@audit.command("rotate-key")
@database_options
def audit_rotate_key(database_url: str | None, data_dir: Path | None) -> None:
    """Put a new audit key first in the key file; the old keys stay to verify their records.

    Running servers keep sealing with the key they started with (still verifiable): restart
    them to seal with the new one. Back the key file up again afterwards."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        if runtime.keyring is None:
            raise CliFailure("no audit key is configured, so there is none to rotate")
        old = runtime.keyring.keys.current.id
        ring = auditkeys.rotate(runtime.keyring)
    click.echo(
        f"audit key rotated in {ring.source}: new records are sealed with {ring.keys.current.id}; "
        f"{old} is kept to verify older records. Restart running servers, and back up the file."
    )


# --------------------------------------------------------------------------- ledger


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


@click.group()
def ledger() -> None:
    """The ledger of money operations."""


@ledger.command("verify")
@database_options
def ledger_verify(database_url: str | None, data_dir: Path | None) -> None:
    """Recompute every account's figures from its entries and tie every entry to its audit record.

    Exit 1 naming each account whose cached balance, credit or bonus is not the sum of its
    ledger entries, and each entry that no audit record (or more than one) names, or whose
    amount, kind, account, figures after, currency, time, comment, reference, manager or
    approval differ from what its audit record says; each account whose currency or digits
    differ from its entries' or its opening record's; and each manager, API key and approval
    that differs from its newest audit record (or has none).
    """
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings, provision_key=False) as runtime:
        report = runtime.services.audit_ledger()
    if report.ok:
        click.echo(
            f"ledger OK: {_count(report.accounts, 'account')} checked, "
            f"{_count(report.entries, 'entry').replace('entrys', 'entries')} tied to their "
            "audit records"
        )
        return
    for m in report.figures:
        cur = Currency(m.currency, m.currency_digits)
        click.echo(
            f"ledger mismatch: account {m.login} {m.figure}: cached "
            f"{format_minor(m.cached, cur)} {cur.code}, ledger sum "
            f"{format_minor(m.ledger, cur)} {cur.code}",
            err=True,
        )
    for p in report.entry_problems:
        click.echo(f"ledger entry mismatch: {p.reason}", err=True)
    for c in report.currencies:
        click.echo(
            f"account currency mismatch: account {c.login} is in {c.currency} with "
            f"{c.currency_digits} digits, its {c.source} says {c.said_currency} with "
            f"{c.said_digits}",
            err=True,
        )
    for reason in report.row_problems:
        click.echo(f"audit tie mismatch: {reason}", err=True)
    if report.currencies or report.row_problems:
        click.echo(
            f"ledger check failed: {len(report.currencies)} account currency and "
            f"{len(report.row_problems)} manager, API key or approval problem(s) against the "
            "audit trail",
            err=True,
        )
    if report.figures:
        accounts = len({m.login for m in report.figures})
        click.echo(
            f"ledger check failed: {accounts} of {report.accounts} accounts checked do not match "
            "their ledger entries",
            err=True,
        )
    if report.entry_problems:
        shown = len(report.entry_problems)
        from brokerplane.core.ledger.commands import MAX_REPORTED

        more = " (the first ones shown)" if shown >= MAX_REPORTED else ""
        click.echo(
            f"ledger check failed: {shown} entry problem(s){more} between the ledger's "
            f"{report.entries} entries and the audit trail",
            err=True,
        )
    click.get_current_context().exit(EXIT_CHECK_FAILED)


# --------------------------------------------------------------------------- approvals


@click.group()
def approvals() -> None:
    """Approval of high-value money operations."""


@approvals.group("thresholds")
def thresholds() -> None:
    """Amounts above which money operations wait for approval."""


def _threshold_json(t: ApprovalThreshold) -> dict[str, Any]:
    amount = format_minor(t.amount, Currency(t.currency, t.currency_digits))
    return {"currency": t.currency, "group": t.group, "amount": amount}


@thresholds.command("list")
@database_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def thresholds_list(database_url: str | None, data_dir: Path | None, as_json: bool) -> None:
    """List the currency thresholds and the group overrides."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        found = runtime.services.list_approval_thresholds(system_actor())
    items = [_threshold_json(t) for t in found]
    if as_json:
        click.echo(json.dumps({"items": items}))
        return
    out = console()
    if not items:
        out.print("No approval thresholds: every money operation applies at once.")
        return
    table = _table("approval thresholds")
    for col in ("currency", "group", "held above"):
        table.add_column(col, no_wrap=True)
    for item in items:
        group = escape(item["group"]) if item["group"] else "(every group)"
        table.add_row(item["currency"], group, item["amount"])
    out.print(table)


@thresholds.command("set")
@database_options
@click.option("--currency", required=True, help="Currency code, e.g. USD.")
@click.option("--amount", required=True, help="Operations above this amount are held, e.g. 10000.")
@click.option("--group", default=None, help="Override for this group only.")
def thresholds_set(
    database_url: str | None, data_dir: Path | None, currency: str, amount: str, group: str | None
) -> None:
    """Hold operations above an amount for a second manager's approval.

    Without --group the threshold holds for every account in the currency; with it, it
    overrides that for the group's accounts.
    """
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    from brokerplane.core.approval.commands import SetApprovalThreshold

    cmd = SetApprovalThreshold(currency=currency, amount=amount, group=group)
    with runtime_for(settings) as runtime:
        t = runtime.services.set_approval_threshold(cmd, system_actor())
    if t is None:  # pragma: no cover - a set always answers the threshold
        raise CliFailure("the threshold was not set")
    shown = _threshold_json(t)
    where = f"group {shown['group']}" if shown["group"] else "every group"
    click.echo(
        f"{shown['currency']} operations above {shown['amount']} in {where} now wait for approval"
    )


@thresholds.command("remove")
@database_options
@click.option("--currency", required=True, help="Currency code, e.g. USD.")
@click.option("--group", default=None, help="Remove this group's override only.")
def thresholds_remove(
    database_url: str | None, data_dir: Path | None, currency: str, group: str | None
) -> None:
    """Remove a currency's threshold or a group's override."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    from brokerplane.core.approval.commands import SetApprovalThreshold

    cmd = SetApprovalThreshold(currency=currency, amount=None, group=group)
    with runtime_for(settings) as runtime:
        before = {
            (t.currency, t.group) for t in runtime.services.list_approval_thresholds(system_actor())
        }
        runtime.services.set_approval_threshold(cmd, system_actor())
    code = currency.strip().upper()
    where = f"group {group}" if group else "every group"
    if (code, group) in before:
        click.echo(f"{code} threshold for {where} removed")
    else:
        click.echo(f"no {code} threshold for {where}: nothing to remove")


# --------------------------------------------------------------------------- maintenance


@click.group()
def maintenance() -> None:
    """Purge expired request ids and old events; expire overdue approvals.

    The server runs it every BROKERPLANE_MAINTENANCE_INTERVAL_S seconds.
    """


@maintenance.command("run")
@database_options
def maintenance_run(database_url: str | None, data_dir: Path | None) -> None:
    """Purge expired request ids and events past the retention; expire overdue approvals, once."""
    settings = build_settings(database_url=database_url, data_dir=data_dir)
    with runtime_for(settings) as runtime:
        purged, expired = runtime.services.run_maintenance()
        old_events = runtime.services.purge_events()
    click.echo(
        f"maintenance: {_count(purged, 'expired request id')} purged, "
        f"{_count(expired, 'overdue approval')} expired, "
        f"{_count(old_events, 'event')} past the retention purged"
    )
