"""Console sessions end on the server: after the idle timeout, and at once when the manager is
disabled (a password change or a disable ends every session of the manager)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.conftest import LIMITED_PASSWORD, Console, start_server, stop_server

IDLE_S = 5


@pytest.fixture(scope="module")
def served(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Console, Path]]:
    tmp = tmp_path_factory.mktemp("console-idle")
    console, server = start_server(tmp, {"BROKERPLANE_CONSOLE_IDLE_TIMEOUT_S": str(IDLE_S)})
    yield console, tmp
    stop_server(server)


def _sign_in(page: Any, console: Console, login: int, password: str) -> str:
    page.goto(console.url("/console/signin"))
    page.get_by_label("Manager login").fill(str(login))
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(console.url("/console/"))
    cookie: str = next(c["value"] for c in page.context.cookies() if c["name"] == "bp_console")
    return cookie


def _opens(console: Console, cookie: str) -> bool:
    answer = httpx.get(console.url("/console/accounts"), cookies={"bp_console": cookie})
    return answer.status_code == 200


def test_an_idle_session_ends_and_an_active_one_goes_on(browser: Any, served: Any) -> None:
    console, _ = served
    context = browser.new_context()
    try:
        page = context.new_page()
        idle = _sign_in(page, console, 1000, console.manager_password)
        assert _opens(console, idle)
        time.sleep(IDLE_S + 1)  # nothing happens for longer than the idle timeout
        page.goto(console.url("/console/accounts"))
        assert "/console/signin" in page.url
        assert not _opens(console, idle)  # the server refuses it, not just the browser
        # working without a pause longer than the timeout keeps the session (it slides)
        _sign_in(page, console, 1000, console.manager_password)
        for _ in range(4):
            time.sleep(IDLE_S * 0.6)
            page.goto(console.url("/console/accounts"))
            assert page.url == console.url("/console/accounts")
    finally:
        context.close()


def test_disabling_the_manager_ends_its_console_session(browser: Any, served: Any) -> None:
    console, tmp = served
    context = browser.new_context()
    try:
        page = context.new_page()
        _sign_in(page, console, 1002, LIMITED_PASSWORD)
        page.goto(console.url("/console/accounts"))
        assert page.url == console.url("/console/accounts")
        disabled = subprocess.run(
            [
                sys.executable,
                "-m",
                "brokerplane.cli.main",
                "manager",
                "disable",
                "1002",
                "--database-url",
                f"sqlite:///{tmp / 'console.db'}",
                "--data-dir",
                str(tmp),
            ],
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
        )
        assert disabled.returncode == 0, disabled.stderr
        page.goto(console.url("/console/accounts"))
        assert "/console/signin" in page.url
    finally:
        context.close()
