"""Browser tests of the back-office console: Playwright drives the machine's Chromium (Debian's
`chromium`, never a downloaded browser) against a real `brokerplane serve` process.

Without Chromium or Playwright the tests skip with the reason, unless CI runs them (CI=true or
BROKERPLANE_REQUIRE_BROWSER=1), when they fail instead, as the PostgreSQL tests do.
One server per module, one browser per session (per xdist worker)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from brokerplane import bootstrap
from brokerplane.cli.demo import load_demo
from brokerplane.core.access.commands import CreateManager, UpdateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.trading.commands import OpenPosition, QuoteInput
from brokerplane.settings import Settings
from tests.console.desk import desk  # noqa: F401 (a fixture for the in-process page tests)

ENV_REQUIRE = "BROKERPLANE_REQUIRE_BROWSER"
ENV_CHROMIUM = "BROKERPLANE_CHROMIUM"

APPROVER_PASSWORD = "Appr0ver!pw"
LIMITED_PASSWORD = "L1mited!pw"
VICTIM_PASSWORD = "V1ctim!pw"
HOSTILE_NAME = "<img src=x onerror=\"document.title='pwned'\">Mallory"


def _required() -> bool:
    values = (os.environ.get(ENV_REQUIRE, ""), os.environ.get("CI", ""))
    return any(v.strip().lower() in ("1", "true", "yes", "on") for v in values)


def _unavailable(reason: str) -> NoReturn:
    if _required():
        pytest.fail(f"the browser tests must run in CI but cannot: {reason}", pytrace=False)
    pytest.skip(f"browser tests skipped: {reason} (apt-get install chromium)")


def chromium_path() -> str:
    found = (
        os.environ.get(ENV_CHROMIUM) or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not found:
        _unavailable("Chromium is not installed")
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    path = chromium_path()
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright package is not installed (pip install -e '.[dev]')")
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield launched
        launched.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Console:
    """A served brokerplane with demo data, managers with passwords and a few accounts."""

    base: str
    admin_key: str
    manager_password: str
    demo_logins: list[int] = field(default_factory=list)
    foreign_login: int = 0
    hostile_login: int = 0
    funded_login: int = 0
    margin_call_login: int = 0

    def url(self, path: str) -> str:
        return self.base + path


def _seed(url: str, data_dir: Path) -> Console:
    runtime = bootstrap.build(Settings(database_url=url, data_dir=data_dir))
    try:
        admin = system_actor()
        s = runtime.app
        secrets = load_demo(runtime)
        assert secrets is not None
        s.update_manager(UpdateManager(1001, password=APPROVER_PASSWORD), admin)
        s.create_manager(
            CreateManager(
                1002, "Demo desk", LIMITED_PASSWORD, frozenset(SCOPES), group_mask="demo*"
            ),
            admin,
        )
        s.create_manager(CreateManager(1009, "Locked out", VICTIM_PASSWORD), admin)
        logins = [
            s.open_account(
                OpenAccount(group="demo-usd", name=name, profile={"email": f"{tag}@example.com"}),
                admin,
            ).login
            for name, tag in (("Alice Smith", "alice"), ("Bruno Rossi", "bruno"))
        ]
        hostile = s.open_account(OpenAccount(group="demo-usd", name=HOSTILE_NAME), admin).login
        foreign = s.open_account(
            OpenAccount(group="real\\standard", name="Foreign Client"), admin
        ).login
        funded = s.open_account(OpenAccount(group="demo-usd", name="Funded Trader"), admin).login
        for _ in range(3):
            s.post_ledger_entry(PostLedgerEntry(funded, "deposit", "9000", "seed"), admin)
        s.open_position(OpenPosition(funded, "EURUSD", "buy", "1"), admin)
        s.open_position(OpenPosition(funded, "XAUUSD", "sell", "0.5"), admin)
        # an account the market then moves against: below its stop-out level
        caller = s.open_account(OpenAccount(group="demo-usd", name="Margin Caller"), admin).login
        s.post_ledger_entry(PostLedgerEntry(caller, "deposit", "2000", "seed"), admin)
        s.open_position(OpenPosition(caller, "EURUSD", "buy", "1"), admin)
        s.set_quotes([QuoteInput("EURUSD", "1.07000", "1.07015")], admin)
        return Console(
            "",
            secrets.admin_key,
            secrets.manager_password,
            logins,
            foreign,
            hostile,
            funded,
            caller,
        )
    finally:
        runtime.close()


@dataclass
class Served:
    proc: subprocess.Popen[bytes]
    log: Path


def start_server(tmp: Path, extra_env: dict[str, str] | None = None) -> tuple[Console, Served]:
    url = f"sqlite:///{tmp / 'console.db'}"
    up = subprocess.run(
        [
            sys.executable,
            "-m",
            "brokerplane.cli.main",
            "db",
            "upgrade",
            "--database-url",
            url,
            "--data-dir",
            str(tmp),
        ],
        capture_output=True,
        check=False,
        text=True,
        timeout=120,
    )
    assert up.returncode == 0, up.stderr
    console = _seed(url, tmp)
    port = free_port()
    log = tmp / "server.log"
    env = {
        **os.environ,
        "BROKERPLANE_LOG_LEVEL": "warning",
        "BROKERPLANE_LOCKOUT_FAILURES": "3",
        "BROKERPLANE_LOCKOUT_BASE_DELAY_S": "600",
        **(extra_env or {}),
    }
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "brokerplane.cli.main",
                "serve",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--database-url",
                url,
                "--data-dir",
                str(tmp),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    console.base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a loaded machine (CI, parallel workers) starts slowly
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(console.base + "/ready", timeout=2).status_code == 200:
                return console, Served(proc, log)
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    stop_server(Served(proc, log))
    pytest.fail(f"the server did not start:\n{log.read_text(errors='replace')}")


def stop_server(served: Served) -> None:
    if served.proc.poll() is None:
        served.proc.terminate()
        try:
            served.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            served.proc.kill()
            served.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def console(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    served_console, served = start_server(tmp_path_factory.mktemp("console"))
    yield served_console
    stop_server(served)


def money(text: str) -> Decimal:
    return Decimal(text.replace(",", "").strip())


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()
