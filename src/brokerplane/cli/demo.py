"""`brokerplane demo`: migrate and load the demo data (cli/demodata.py) once and show its
secrets; `brokerplane serve --demo` loads it through load_demo too."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from brokerplane.bootstrap import Runtime
from brokerplane.cli.common import (
    build_settings,
    console,
    database_options,
    escape,
    generate_password,
    rich_table,
    runtime_for,
)
from brokerplane.cli.demodata import (
    DEMO_ACCOUNTS_GROUP,
    DEMO_APPROVAL_THRESHOLDS,
    DEMO_APPROVER_LOGIN,
    DEMO_APPROVER_NAME,
    DEMO_APPROVER_RIGHTS,
    DEMO_FIRST_NAMES,
    DEMO_GROUPS,
    DEMO_LAST_NAMES,
    DEMO_MANAGER_LOGIN,
    DEMO_MANAGER_NAME,
    DEMO_PLACES,
    DEMO_QUOTES,
    DEMO_SYMBOLS,
)
from brokerplane.core.actor import SCOPES, Actor, system_actor
from brokerplane.core.errors import GroupAlreadyExists, ManagerAlreadyExists, SymbolAlreadyExists

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from brokerplane.core.account.commands import OpenAccount


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
    table = rich_table("groups")
    for col in ("name", "currency", "leverage", "logins", "broker"):
        table.add_column(col, no_wrap=True)
    for g in runtime.app.list_groups(system_actor()):
        logins = f"{g.login_range_from}-{g.login_range_to}" if g.login_range_from else "server"
        leverage = f"1:{g.default_leverage} (max {g.max_leverage})"
        table.add_row(escape(g.name), g.currency, leverage, logins, escape(g.broker))
    return table


def _symbols_table(runtime: Runtime) -> Table:
    table = rich_table("symbols")
    for col in ("name", "path", "digits", "contract size", "base/profit/margin"):
        table.add_column(col)
    for s in runtime.app.list_symbols(system_actor()):
        currencies = f"{s.currency_base}/{s.currency_profit}/{s.currency_margin}"
        table.add_row(
            escape(s.name), escape(s.path), str(s.digits), str(s.contract_size), currencies
        )
    return table


@dataclass(frozen=True)
class DemoSecrets:
    """What `load_demo` created and the secrets it shows exactly once."""

    manager_login: int
    manager_password: str
    admin_key: str
    admin_key_id: str
    approver_login: int = DEMO_APPROVER_LOGIN
    approver_key: str = ""
    approver_key_id: str = ""
    approver_password: str = ""
    groups: list[str] = field(default_factory=list)
    symbols: list[str] = field(default_factory=list)
    approval_thresholds: list[tuple[str, str]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "manager": {"login": self.manager_login, "password": self.manager_password},
            "admin_key": self.admin_key,
            "admin_key_id": self.admin_key_id,
            "approver": {
                "login": self.approver_login,
                "name": DEMO_APPROVER_NAME,
                "password": self.approver_password,
            },
            "approver_key": self.approver_key,
            "approver_key_id": self.approver_key_id,
            "already_loaded": False,
            "groups": self.groups,
            "symbols": self.symbols,
            "approval_thresholds": [
                {"currency": code, "group": None, "amount": amount}
                for code, amount in self.approval_thresholds
            ],
        }


def is_loaded(runtime: Runtime) -> bool:
    """True once the demo manager exists (the last-but-one thing `load_demo` creates)."""
    return runtime.app.get_manager(DEMO_MANAGER_LOGIN) is not None


def load_demo(runtime: Runtime, actor: Actor | None = None) -> DemoSecrets | None:
    """Create the demo data through the services; None when it is already loaded.

    Groups, symbols and the approver that already exist are left as they are (thresholds are set
    again), so a run that stopped halfway can be repeated. Each object is one command, so rules
    and the audit chain hold.
    """
    from brokerplane.core.access.commands import CreateApiKey, CreateManager, UpdateManager
    from brokerplane.core.approval.commands import SetApprovalThreshold
    from brokerplane.core.group.commands import CreateGroup
    from brokerplane.core.symbol.commands import CreateSymbol
    from brokerplane.core.trading.commands import QuoteInput

    if is_loaded(runtime):
        return None
    actor = actor or system_actor()
    services = runtime.app
    for name, cur, settings in DEMO_GROUPS:
        with contextlib.suppress(GroupAlreadyExists):
            services.create_group(CreateGroup(name=name, currency=cur, settings=settings), actor)
    for name, sym_settings in DEMO_SYMBOLS:
        with contextlib.suppress(SymbolAlreadyExists):
            services.create_symbol(CreateSymbol(name=name, settings=sym_settings), actor)
    services.set_quotes([QuoteInput(name, bid, ask) for name, bid, ask in DEMO_QUOTES], actor)
    for code, amount in DEMO_APPROVAL_THRESHOLDS:
        services.set_approval_threshold(SetApprovalThreshold(currency=code, amount=amount), actor)
    # The approver signs in to the console with its password (to approve what manager 1000
    # asks) and works through its API key elsewhere.
    approver_password = generate_password()
    try:
        services.create_manager(
            CreateManager(
                login=DEMO_APPROVER_LOGIN,
                name=DEMO_APPROVER_NAME,
                password=approver_password,
                rights=DEMO_APPROVER_RIGHTS,
                group_mask="*",
            ),
            actor,
        )
    except ManagerAlreadyExists:
        services.update_manager(
            UpdateManager(DEMO_APPROVER_LOGIN, password=approver_password), actor
        )
    approver = services.create_api_key(
        CreateApiKey(
            manager_login=DEMO_APPROVER_LOGIN, scopes=DEMO_APPROVER_RIGHTS, name="demo approver"
        ),
        actor,
    )
    password = generate_password()
    services.create_manager(
        CreateManager(
            login=DEMO_MANAGER_LOGIN,
            name=DEMO_MANAGER_NAME,
            password=password,
            rights=frozenset(SCOPES),
            group_mask="*",
        ),
        actor,
    )
    issued = services.create_api_key(
        CreateApiKey(manager_login=DEMO_MANAGER_LOGIN, scopes=frozenset(SCOPES), name="demo admin"),
        actor,
    )
    return DemoSecrets(
        manager_login=DEMO_MANAGER_LOGIN,
        manager_password=password,
        admin_key=issued.secret,
        admin_key_id=issued.key.id,
        approver_login=DEMO_APPROVER_LOGIN,
        approver_key=approver.secret,
        approver_key_id=approver.key.id,
        approver_password=approver_password,
        groups=[name for name, _, _ in DEMO_GROUPS],
        symbols=[name for name, _ in DEMO_SYMBOLS],
        approval_thresholds=list(DEMO_APPROVAL_THRESHOLDS),
    )


# Accounts opened per transaction: big enough that commits are rare, small enough that a
# batch's rows and audit records stay a few megabytes.
DEMO_ACCOUNTS_BATCH = 2000


def open_demo_accounts(
    runtime: Runtime,
    count: int,
    group: str = DEMO_ACCOUNTS_GROUP,
    actor: Actor | None = None,
    on_opened: Callable[[int], None] | None = None,
    batch: int = DEMO_ACCOUNTS_BATCH,
) -> list[int]:
    """Open `count` demo accounts in `group` through the services, a batch per transaction.

    Every account is still one OpenAccount command: checked, allocated a login and audited
    like any other; a batch commits (durably) as a whole, so a million take minutes, not hours.
    """
    actor = actor or system_actor()
    logins: list[int] = []
    commands = _demo_account_commands(group)
    while len(logins) < count:
        size = min(batch, count - len(logins))
        opened = runtime.app.open_accounts([next(commands) for _ in range(size)], actor)
        logins.extend(account.login for account in opened)
        if on_opened is not None:
            on_opened(len(logins))
    return logins


def _demo_account_commands(group: str) -> Iterator[OpenAccount]:
    from brokerplane.core.account.commands import OpenAccount

    n = 0
    while True:
        first = DEMO_FIRST_NAMES[n % len(DEMO_FIRST_NAMES)]
        last = DEMO_LAST_NAMES[(n // len(DEMO_FIRST_NAMES)) % len(DEMO_LAST_NAMES)]
        country, city = DEMO_PLACES[n % len(DEMO_PLACES)]
        tag = secrets.token_hex(4)
        yield OpenAccount(
            group=group,
            name=f"{first} {last}",
            profile={
                "first_name": first,
                "last_name": last,
                "email": f"{first.lower()}.{last.lower()}.{tag}@demo.brokerplane.test",
                "country": country,
                "city": city,
                "comment": "demo account",
                "lead_source": "brokerplane demo",
            },
        )
        n += 1


DEMO_FILE = "demo.json"


def save_demo(data_dir: Path, demo: DemoSecrets) -> Path:
    """Write the demo's secrets (as `brokerplane demo --json` prints them) to
    <data_dir>/demo.json, readable by its owner only (0600, whatever the umask); the directory
    is made owner-only when it is new. An older file is replaced whole."""
    if not data_dir.exists():
        data_dir.mkdir(parents=True, mode=0o700)
        os.chmod(data_dir, 0o700)
    path = data_dir / DEMO_FILE
    spare = path.with_name(f".{DEMO_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(spare, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({**demo.to_json(), "accounts_opened": 0}, handle, indent=2)
            handle.write("\n")
        os.chmod(spare, 0o600)
        os.replace(spare, path)
    except BaseException:
        with contextlib.suppress(OSError):
            spare.unlink()
        raise
    return path


def show_secrets(
    secrets: DemoSecrets, runtime: Runtime, out: Console, saved: Path | None = None
) -> None:
    """The demo's secrets in a panel, once, and commands to paste."""
    from rich.panel import Panel

    settings = runtime.settings
    held = "".join(
        f"\n{code} operations above {amount} wait for a second manager's approval."
        for code, amount in secrets.approval_thresholds
    )
    kept = f"\nThey are also in {saved} (readable by you only)." if saved else ""
    body = (
        f"Manager login     [bold]{secrets.manager_login}[/]\n"
        f"Manager password  [bold]{secrets.manager_password}[/]\n"
        f"Approver login    [bold]{secrets.approver_login}[/] (in the console, approves what "
        f"{secrets.manager_login} asks)\n"
        f"Approver password [bold]{secrets.approver_password}[/]\n"
        f"Admin API key (manager {secrets.manager_login}, all scopes):\n"
        f"[bold]{secrets.admin_key}[/]\n"
        f"Approver API key (manager {secrets.approver_login}, balances:approve):\n"
        f"[bold]{secrets.approver_key}[/]\n"
        f"{held}\n\nThese secrets are shown once.{kept}"
    )
    out.print(Panel(body, title="demo data loaded", border_style="green", expand=False))
    # Outside the panel and never wrapped, so each line pastes into a shell whole.
    out.print(
        "Try:\n"
        f"export KEY={secrets.admin_key}\n"
        f"export APPROVER_KEY={secrets.approver_key}\n"
        f'curl -H "Authorization: Bearer $KEY" http://{settings.host}:{settings.port}/v1/groups',
        soft_wrap=True,
    )
