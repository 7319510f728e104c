"""A desk of signed-in console clients over real HTTP in-process (no browser): an admin, an
admin limited to demo* groups and a clerk without personal data or admin, with two demo
accounts and a foreign one. The `desk` fixture is offered to tests/console by conftest.py."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.symbol.commands import CreateSymbol

PASSWORD = "Manag3r!pw"
ADMIN, LIMITED, CLERK = 1000, 1002, 1003


@dataclass
class Desk:
    runtime: Runtime
    admin: TestClient
    limited: TestClient  # every right, admin included, but only groups demo*
    clerk: TestClient  # users:read/write and reports:read: no personal data, not admin
    demo: dict[str, int]
    foreign: int


def sign_in(client: TestClient, login: int, password: str = PASSWORD) -> None:
    page = client.get("/console/signin")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    answer = client.post(
        "/console/signin", data={"csrf": csrf, "login": str(login), "password": password}
    )
    assert answer.status_code == 303, answer.text


def csrf(client: TestClient) -> str:
    token: str = client.get("/console/").text.split('name="csrf" value="')[1].split('"')[0]
    return token


def post(client: TestClient, path: str, form: dict[str, str] | list[tuple[str, str]]) -> str:
    pairs = list(form.items()) if isinstance(form, dict) else list(form)
    answer = client.post(
        path,
        content=urlencode([("csrf", csrf(client)), *pairs]),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    return f"{answer.status_code} {answer.text}"


@pytest.fixture
def desk(runtime: Runtime, admin: Actor) -> Iterator[Desk]:
    s = runtime.app
    s.create_manager(CreateManager(ADMIN, "Head of desk", PASSWORD), admin)
    s.create_manager(
        CreateManager(LIMITED, "Demo desk", PASSWORD, frozenset(SCOPES), group_mask="demo*"), admin
    )
    s.create_manager(
        CreateManager(
            CLERK, "Clerk", PASSWORD, frozenset({"users:read", "users:write", "reports:read"})
        ),
        admin,
    )
    s.create_group(CreateGroup("demo-usd", "USD"), admin)
    s.create_group(CreateGroup("real\\standard", "USD"), admin)
    s.create_symbol(CreateSymbol("EURUSD"), admin)

    def account(group: str, name: str, email: str, broker: str = "") -> int:
        profile = {"email": email, "broker": broker}
        return s.open_account(OpenAccount(group=group, name=name, profile=profile), admin).login

    demo = {
        "alice": account("demo-usd", "Alice Smith", "alice@example.com", "acme"),
        "bruno": account("demo-usd", "Bruno Rossi", "bruno@example.com"),
    }
    foreign = account("real\\standard", "Foreign Smith", "foreign@example.com", "acme")
    app = create_app(runtime)
    with (
        TestClient(app, follow_redirects=False) as a,
        TestClient(app, follow_redirects=False) as b,
        TestClient(app, follow_redirects=False) as c,
    ):
        sign_in(a, ADMIN)
        sign_in(b, LIMITED)
        sign_in(c, CLERK)
        yield Desk(runtime, a, b, c, demo, foreign)
