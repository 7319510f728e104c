"""Fixtures for the MT5 Web API: a real app over a real database (both engines), a manager
session already through the handshake, and demo-like groups and symbols made by the services."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.api.mt5.auth import password_hash, rand_answer
from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.symbol.commands import CreateSymbol
from tests.dialects import seeds

MANAGER = 1005
PASSWORD = "Password1"
# demoforex hands out logins from this range: its first is seed 002's example answer, 954402.
DEMO_RANGE = (954402, 954499)

_ports = count(50100)


def handshake(client: TestClient, login: int, password: str) -> httpx.Response:
    """Run /api/auth/start and /api/auth/answer on the client's connection; the answer's
    response (check its status: 403 when the password is wrong)."""
    start = client.get(
        "/api/auth/start",
        params={"version": "3470", "agent": "pytest", "login": str(login), "type": "manager"},
    )
    assert start.status_code == 200, start.text
    srv_rand = bytes.fromhex(start.json()["srv_rand"])
    b2 = password_hash(password)
    cli_rand = secrets.token_bytes(16)
    answer = client.get(
        "/api/auth/answer",
        params={"srv_rand_answer": rand_answer(b2, srv_rand), "cli_rand": cli_rand.hex()},
    )
    if answer.status_code == 200:
        assert answer.json()["cli_rand_answer"] == rand_answer(b2, cli_rand)
    result: httpx.Response = answer
    return result


@dataclass
class Mt5:
    """An MT5 client over one connection, authenticated as `login`."""

    client: TestClient
    runtime: Runtime
    admin: Actor
    login: int = MANAGER
    _others: list[TestClient] = field(default_factory=list)

    @property
    def services(self) -> Application:
        return self.runtime.app

    def get(self, cmd: str, **params: Any) -> httpx.Response:
        """GET /api/<cmd>?params (values sent as given; None values left out)."""
        query = {k: v for k, v in params.items() if v is not None}
        result: httpx.Response = self.client.get(f"/api/{cmd}", params=query)
        return result

    def post(
        self,
        cmd: str,
        params: dict[str, Any] | None = None,
        json: Any = None,
        *,
        content: str | bytes | None = None,
        data: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        """POST /api/<cmd>?params with a JSON body (`json`), raw `content` or a form `data`."""
        result: httpx.Response = self.client.post(
            f"/api/{cmd}",
            params=params or {},
            json=json,
            content=content,
            data=data,
            headers=headers,
        )
        return result

    def ok(self, response: httpx.Response) -> Any:
        """The `answer` of a successful command (asserting HTTP 200 and "0 Done")."""
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["retcode"] == "0 Done", body
        return body.get("answer")

    def retcode(self, response: httpx.Response) -> str:
        assert response.status_code == 200, response.text
        return str(response.json()["retcode"])

    def as_manager(
        self,
        login: int,
        *,
        rights: frozenset[str] = frozenset(SCOPES),
        group_mask: str = "*",
        white_labels: str = "*",
        password: str = PASSWORD,
    ) -> Mt5:
        """Another manager (created through the services), on its own connection."""
        self.services.create_manager(
            CreateManager(login, f"Manager {login}", password, rights, group_mask, white_labels),
            self.admin,
        )
        client = TestClient(self.client.app, client=("testclient", next(_ports)))
        self._others.append(client)
        response = handshake(client, login, password)
        assert response.status_code == 200, response.text
        return Mt5(client, self.runtime, self.admin, login)

    def add_user(self, **params: Any) -> dict[str, Any]:
        """user/add into demoforex with valid passwords; returns the answer."""
        query = {"group": "demoforex", "name": "John Smith", "leverage": "100", **params}
        body = {"PassMain": "1Ar#pqkj", "PassInvestor": "2Ar#pqkj"}
        answer: dict[str, Any] = self.ok(self.post("user/add", query, body))
        return answer


def make_groups_and_symbols(runtime: Runtime, admin: Actor) -> None:
    services = runtime.app
    low, high = DEMO_RANGE
    services.create_group(
        CreateGroup(
            "demoforex",
            "USD",
            {"max_leverage": 500, "login_range_from": low, "login_range_to": high},
        ),
        admin,
    )
    services.create_group(CreateGroup("demo\\vip", "USD", {"password_min_length": 10}), admin)
    services.create_group(
        CreateGroup("real\\standard", "USD", {"login_range_from": 5000, "login_range_to": 5002}),
        admin,
    )
    services.create_group(CreateGroup("demo\\eur", "EUR"), admin)
    services.create_symbol(CreateSymbol("EURUSD", {"path": "Forex\\Major\\EURUSD"}), admin)
    services.create_symbol(
        CreateSymbol("XAUUSD", {"path": "Metals\\XAUUSD", "digits": 2, "contract_size": "100"}),
        admin,
    )


def seed_mt5(runtime: Runtime, admin: Actor) -> None:
    """What `mt5` starts from: manager 1005 with every right, the groups and the symbols."""
    runtime.app.create_manager(
        CreateManager(MANAGER, "MT5 Manager", PASSWORD, frozenset(SCOPES)), admin
    )
    make_groups_and_symbols(runtime, admin)


@pytest.fixture(scope="session")
def _mt5_seed(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> seeds.Seed[None]:
    return seeds.make_seed("mt5", seed_mt5, _sqlite_template, tmp_path_factory)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, _sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh SQLite database: a copy of `mt5`'s seeded template for the tests using `mt5`."""
    return seeds.sqlite_copy(request, _sqlite_template, tmp_path, "mt5", "_mt5_seed")


@pytest.fixture
def mt5(request: pytest.FixtureRequest, runtime: Runtime, admin: Actor) -> Iterator[Mt5]:
    """Manager 1005 (password "Password1", every right) authenticated over MT5."""
    seeds.setup_once(request, "mt5", runtime, admin, seed_mt5)
    with TestClient(create_app(runtime)) as client:
        response = handshake(client, MANAGER, PASSWORD)
        assert response.status_code == 200, response.text
        session = Mt5(client, runtime, admin)
        try:
            yield session
        finally:
            for other in session._others:
                other.close()
