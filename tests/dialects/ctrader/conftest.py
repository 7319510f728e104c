"""Fixtures for cTrader Web Services: a real app over a real database (both engines), manager
1007 with a password and a webservToken already obtained, and the groups seed 003 uses."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup
from tests.dialects import seeds

MANAGER = 1007
PASSWORD = "Manager#1007"
JSON = {"Accept": "application/json"}
# Seed 003's hashedPassword: not even hex, and cTrader takes it as it comes.
SEED_HASH = "c5678ghf94578ce06iqrs5ag76a62c5ca4"
# Seed 003's minimal create (4.1), "balance" a string as the seed sends it.
MINIMAL = {
    "accessRights": "FULL_ACCESS",
    "accountType": "HEDGED",
    "balance": "00",
    "brokerName": "BESTBROKER",
    "depositCurrency": "EUR",
    "groupName": "Default",
    "hashedPassword": SEED_HASH,
    "leverageInCents": 10000,
}


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


@dataclass
class CTrader:
    """A cTrader client holding manager 1007's token; JSON unless told otherwise."""

    client: TestClient
    runtime: Runtime
    admin: Actor
    token: str

    @property
    def services(self) -> Application:
        return self.runtime.app

    def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        token: str | None = None,
    ) -> httpx.Response:
        query = {"token": self.token if token is None else token, **(params or {})}
        result: httpx.Response = self.client.request(
            method,
            "/v2/webserv" + path,
            params=query,
            json=json,
            headers=JSON if headers is None else headers,
        )
        return result

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.call("POST", path, json=json, **kw)

    def create(self, **fields: Any) -> dict[str, Any]:
        response = self.post("/traders", {**MINIMAL, **fields})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def trader(self, login: int) -> dict[str, Any]:
        response = self.get(f"/traders/{login}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def error(self, response: httpx.Response, status: int) -> str:
        """The errorCode of an error answer (asserting its status and body shape)."""
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"error"} and set(body["error"]) == {"errorCode", "description"}
        return str(body["error"]["errorCode"])


def get_token(client: TestClient, login: int, password: str) -> httpx.Response:
    result: httpx.Response = client.post(
        "/v2/webserv/managers/token",
        headers=JSON,
        json={"login": login, "hashedPassword": md5(password)},
    )
    return result


def seed_ct(runtime: Runtime, admin: Actor) -> None:
    """What `ct` starts from: manager 1007 with every right and seed 003's groups."""
    services = runtime.app
    services.create_manager(
        CreateManager(MANAGER, "cTrader Manager", PASSWORD, frozenset(SCOPES)), admin
    )
    services.create_group(CreateGroup("Default", "EUR", {"broker": "BESTBROKER"}), admin)
    services.create_group(CreateGroup("DX_452", "EUR", {"broker": "BESTBROKER"}), admin)
    services.create_group(CreateGroup("usd\\standard", "USD", {"margin_mode": "NET"}), admin)


@pytest.fixture(scope="session")
def _ct_seed(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> seeds.Seed[None]:
    return seeds.make_seed("ct", seed_ct, _sqlite_template, tmp_path_factory)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, _sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh SQLite database: a copy of `ct`'s seeded template for the tests using `ct`."""
    return seeds.sqlite_copy(request, _sqlite_template, tmp_path, "ct", "_ct_seed")


@pytest.fixture
def ct(request: pytest.FixtureRequest, runtime: Runtime, admin: Actor) -> Iterator[CTrader]:
    seeds.setup_once(request, "ct", runtime, admin, seed_ct)
    with TestClient(create_app(runtime)) as client:
        response = get_token(client, MANAGER, PASSWORD)
        assert response.status_code == 200, response.text
        yield CTrader(client, runtime, admin, response.json()["webservToken"])


def as_manager(
    ct: CTrader,
    login: int,
    *,
    rights: frozenset[str] = frozenset(SCOPES) - {"admin"},
    group_mask: str = "*",
    white_labels: str = "*",
) -> CTrader:
    """Another manager (by default without the admin right) holding its own webservToken."""
    password = f"Manager#{login}"
    ct.services.create_manager(
        CreateManager(login, f"Manager {login}", password, rights, group_mask, white_labels),
        ct.admin,
    )
    response = get_token(ct.client, login, password)
    assert response.status_code == 200, response.text
    return CTrader(ct.client, ct.runtime, ct.admin, response.json()["webservToken"])


# ---- cID calls (/cid and seed 003's /v2/cid) ------------------------------------------------

CID_PREFIXES = ("/cid", "/v2/cid")


def cid_call(
    ct: CTrader,
    method: str,
    path: str,
    *,
    json: Any = None,
    params: dict[str, Any] | None = None,
    prefix: str = "/cid",
    token: str | None = None,
) -> httpx.Response:
    """A cID call (path after the prefix, e.g. `/ctid/create`) with `?token=`, asking JSON."""
    query = {"token": ct.token if token is None else token, **(params or {})}
    result: httpx.Response = ct.client.request(
        method, prefix + path, params=query, json=json, headers=JSON
    )
    return result
