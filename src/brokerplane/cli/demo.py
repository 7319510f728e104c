"""Demo data: groups, symbols, managers, keys and the approval threshold the examples use."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from brokerplane.bootstrap import Runtime
from brokerplane.core import passwords
from brokerplane.core.actor import SCOPES, Actor, system_actor
from brokerplane.core.errors import (
    GroupAlreadyExists,
    ManagerAlreadyExists,
    PasswordPolicyViolation,
    SymbolAlreadyExists,
)

if TYPE_CHECKING:
    from rich.console import Console

    from brokerplane.core.account.commands import OpenAccount

DEMO_MANAGER_LOGIN = 1000
DEMO_MANAGER_NAME = "Demo Manager"
DEMO_ACCOUNTS_GROUP = "demo-usd"
# A second manager, so a held high-value operation has someone other than its requester to
# approve it (seed 000: approval before high-value operations).
DEMO_APPROVER_LOGIN = 1001
DEMO_APPROVER_NAME = "Finance approver"
DEMO_APPROVER_RIGHTS = frozenset(
    {"users:read", "balances:write", "balances:approve", "reports:read"}
)
# USD operations above this amount wait for a second manager's approval.
DEMO_APPROVAL_THRESHOLDS: tuple[tuple[str, str], ...] = (("USD", "10000.00"),)

# Punctuation that survives copy-paste into a shell or a JSON string unquoted.
_PASSWORD_SPECIALS = "#@%+=-_"


def generate_password(length: int = 14) -> str:
    """A random password meeting seed 002's policy (lower, upper, digit, special; 8-16 long)."""
    if not passwords.MIN_LENGTH <= length <= passwords.MAX_LENGTH:
        raise ValueError(f"length must be {passwords.MIN_LENGTH}-{passwords.MAX_LENGTH}")
    alphabet = string.ascii_letters + string.digits + _PASSWORD_SPECIALS
    while True:
        first = secrets.choice(string.ascii_letters)
        rest = "".join(secrets.choice(alphabet) for _ in range(length - 1))
        candidate = first + rest
        try:
            passwords.check_policy(candidate, "password")
        except PasswordPolicyViolation:
            continue
        return candidate


# (name, currency, settings). Every seed example names one of these groups.
DEMO_GROUPS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    # Seed 000: `POST /mt4/manager/users {"login": 910024, "group": "demo-usd", ...}`.
    # No login range of its own: allocations come from the server range (100000-99999999).
    (
        "demo-usd",
        "USD",
        {
            "description": "Demo accounts in USD (the MT4 Manager API quick start)",
            "default_leverage": 100,
            "max_leverage": 500,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    # Seed 002: `POST /api/user/add?group=demoforex&name=JohnSmith&leverage=100`; its reply shows
    # login 954402, so the group allocates from 950000-959999.
    (
        "demoforex",
        "USD",
        {
            "description": "MT5 demo forex (the MT5 Web API user/add example)",
            "default_leverage": 100,
            "max_leverage": 500,
            "login_range_from": 950_000,
            "login_range_to": 959_999,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    # Seed 002's JSON user record: `"Group": "demo\\demoforex"`.
    (
        "demo\\demoforex",
        "USD",
        {
            "description": "MT5 demo forex, path-style name (the MT5 Web API user record)",
            "default_leverage": 100,
            "max_leverage": 500,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    # Kept out by masks such as `demo\*,!demo\vip`.
    (
        "demo\\vip",
        "USD",
        {
            "description": "Demo VIP accounts (excluded by `demo\\*,!demo\\vip` masks)",
            "default_leverage": 200,
            "max_leverage": 1000,
            "margin_call": "80",
            "stop_out": "30",
        },
    ),
    # Seed 003 (cTrader use cases): traders are created in `Default` and moved to `DX_452`, both
    # with depositCurrency EUR and brokerName BESTBROKER; the first two created get 8035344 and
    # 8035345, hence the range. The seed's white-label example also opens a *USD* account in
    # `Default` (brokerName BESTBROKER_UK): an account may carry a deposit currency other than
    # its group's, but it cannot then move to a group in another currency.
    (
        "Default",
        "EUR",
        {
            "description": "cTrader default trader group (cTrader Web Services examples)",
            "broker": "BESTBROKER",
            "default_leverage": 100,
            "max_leverage": 1000,
            "login_range_from": 8_035_344,
            "login_range_to": 8_999_999,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    (
        "DX_452",
        "EUR",
        {
            "description": "cTrader group traders are moved to (cTrader Web Services examples)",
            "broker": "BESTBROKER",
            "default_leverage": 100,
            "max_leverage": 500,
            "login_range_from": 8_035_344,
            "login_range_to": 8_999_999,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    # Live-style groups for mask examples (`real\*`, `!real\vip`).
    (
        "real\\standard",
        "USD",
        {
            "description": "Live standard accounts",
            "default_leverage": 100,
            "max_leverage": 200,
            "login_range_from": 2_000_000,
            "login_range_to": 2_999_999,
            "password_min_length": 10,
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    (
        "real\\vip",
        "USD",
        {
            "description": "Live VIP accounts",
            "default_leverage": 100,
            "max_leverage": 500,
            "login_range_from": 3_000_000,
            "login_range_to": 3_999_999,
            "password_min_length": 10,
            "margin_call": "80",
            "stop_out": "30",
        },
    ),
    # Seed 004 (TraderEvolution): users belong to user groups and inherit their settings.
    (
        "TE Retail",
        "USD",
        {
            "description": "TraderEvolution retail user group (TraderEvolution user guide)",
            "default_leverage": 30,
            "max_leverage": 100,
            "default_account_type": "NETTED",
            "margin_mode": "NET",
            "margin_call": "100",
            "stop_out": "50",
        },
    ),
    (
        "TE Professional",
        "USD",
        {
            "description": "TraderEvolution professional user group (TraderEvolution user guide)",
            "default_leverage": 100,
            "max_leverage": 500,
            "default_account_type": "NETTED",
            "margin_mode": "NET",
            "margin_call": "80",
            "stop_out": "30",
        },
    ),
)


def _fx(name: str, description: str, path: str, digits: int = 5) -> tuple[str, dict[str, Any]]:
    base, quote = name[:3], name[3:]
    return name, {
        "path": f"{path}\\{name}",
        "description": description,
        "digits": digits,
        "contract_size": "100000",
        "currency_base": base,
        "currency_profit": quote,
        "currency_margin": base,
        "volume_min": "0.01",
        "volume_max": "100",
        "volume_step": "0.01",
    }


def _cfd(
    name: str, description: str, path: str, digits: int, contract_size: str, base: str
) -> tuple[str, dict[str, Any]]:
    return name, {
        "path": f"{path}\\{name}",
        "description": description,
        "digits": digits,
        "contract_size": contract_size,
        "currency_base": base,
        "currency_profit": "USD",
        "currency_margin": "USD",
        "volume_min": "0.01",
        "volume_max": "50",
        "volume_step": "0.01",
    }


DEMO_SYMBOLS: tuple[tuple[str, dict[str, Any]], ...] = (
    _fx("EURUSD", "Euro vs US Dollar", "Forex\\Major"),
    _fx("GBPUSD", "Great Britain Pound vs US Dollar", "Forex\\Major"),
    _fx("USDJPY", "US Dollar vs Japanese Yen", "Forex\\Major", digits=3),
    _fx("USDCHF", "US Dollar vs Swiss Franc", "Forex\\Major"),
    _fx("AUDUSD", "Australian Dollar vs US Dollar", "Forex\\Major"),
    _fx("USDCAD", "US Dollar vs Canadian Dollar", "Forex\\Major"),
    _fx("NZDUSD", "New Zealand Dollar vs US Dollar", "Forex\\Major"),
    _fx("EURGBP", "Euro vs Great Britain Pound", "Forex\\Cross"),
    _fx("EURJPY", "Euro vs Japanese Yen", "Forex\\Cross", digits=3),
    _cfd("XAUUSD", "Gold vs US Dollar", "Metals", 2, "100", "XAU"),
    _cfd("XAGUSD", "Silver vs US Dollar", "Metals", 3, "5000", "XAG"),
    _cfd("BTCUSD", "Bitcoin vs US Dollar", "Crypto", 2, "1", "BTC"),
    _cfd("US500", "US 500 Cash Index", "Indices", 1, "1", "USD"),
)

# A plausible first quote (symbol, bid, ask) of each demo symbol, so the examples can trade
# at once; a feed (`brokerplane quotes feed`) or `PUT /v1/quotes` moves them.
DEMO_QUOTES: tuple[tuple[str, str, str], ...] = (
    ("EURUSD", "1.08500", "1.08515"), ("GBPUSD", "1.26500", "1.26518"),
    ("USDJPY", "151.200", "151.215"), ("USDCHF", "0.88500", "0.88516"),
    ("AUDUSD", "0.65800", "0.65814"), ("USDCAD", "1.36200", "1.36217"),
    ("NZDUSD", "0.60100", "0.60117"), ("EURGBP", "0.85750", "0.85765"),
    ("EURJPY", "164.050", "164.070"), ("XAUUSD", "2350.00", "2350.40"),
    ("XAGUSD", "28.500", "28.530"), ("BTCUSD", "65000.00", "65030.00"),
    ("US500", "5200.0", "5200.6"),
)  # fmt: skip


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
    return runtime.services.get_manager(DEMO_MANAGER_LOGIN) is not None


def load_demo(runtime: Runtime, actor: Actor | None = None) -> DemoSecrets | None:
    """Create the demo data through the services; None when it is already loaded.

    Groups, symbols and the approver that already exist are left as they are (thresholds are set
    again), so a run that stopped halfway can be repeated. Each object is one command, so rules
    and the audit chain hold.
    """
    # The commands' modules are imported here, not at the top: `brokerplane key list` and the
    # other commands that share cli/commands.py with `demo` need none of them.
    from brokerplane.core.access.commands import CreateApiKey, CreateManager, UpdateManager
    from brokerplane.core.approval.commands import SetApprovalThreshold
    from brokerplane.core.group.commands import CreateGroup
    from brokerplane.core.symbol.commands import CreateSymbol
    from brokerplane.core.trading.commands import QuoteInput

    if is_loaded(runtime):
        return None
    actor = actor or system_actor()
    services = runtime.services
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


_FIRST = ("Alice", "Bruno", "Chen", "Dana", "Emeka", "Fatima", "Goran", "Hana", "Ivan", "Jana")
_LAST = ("Smith", "Rossi", "Wang", "Novak", "Okafor", "Haddad", "Petrov", "Sato", "Silva", "Berg")
_PLACES = (
    ("United States", "New York"),
    ("United Kingdom", "London"),
    ("Germany", "Berlin"),
    ("Cyprus", "Limassol"),
    ("Japan", "Tokyo"),
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
        opened = runtime.services.open_accounts([next(commands) for _ in range(size)], actor)
        logins.extend(account.login for account in opened)
        if on_opened is not None:
            on_opened(len(logins))
    return logins


def _demo_account_commands(group: str) -> Iterator[OpenAccount]:
    from brokerplane.core.account.commands import OpenAccount

    n = 0
    while True:
        first = _FIRST[n % len(_FIRST)]
        last = _LAST[(n // len(_FIRST)) % len(_LAST)]
        country, city = _PLACES[n % len(_PLACES)]
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
