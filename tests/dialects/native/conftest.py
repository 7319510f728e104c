"""Fixtures for the native API: a real app over a real database, keys built by the services."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.symbol.commands import CreateSymbol
from tests.dialects import seeds


@dataclass
class Api:
    client: TestClient
    runtime: Runtime
    admin: Actor
    admin_key: str
    _keys: dict[frozenset[str], str] = field(default_factory=dict)

    def key(self, *scopes: str) -> str:
        wanted = frozenset(scopes)
        if wanted not in self._keys:
            issued = self.runtime.app.create_api_key(CreateApiKey(1000, wanted), self.admin)
            self._keys[wanted] = issued.secret
        return self._keys[wanted]

    def feed_key(self) -> str:
        """A key of the price feed, manager 1099: a manager may not trade against its own
        quotes, so the tests' quotes come from another manager, as in production."""
        wanted = frozenset({"quotes:write", "@feed"})
        if wanted not in self._keys:
            services = self.runtime.app
            services.create_manager(CreateManager(1099, "Price feed"), self.admin)
            issued = services.create_api_key(
                CreateApiKey(1099, frozenset({"quotes:write"})), self.admin
            )
            self._keys[wanted] = issued.secret
        return self._keys[wanted]

    def headers(self, key: str | None = None, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.admin_key}", **extra}

    def post(self, path: str, json: Any = None, key: str | None = None, **kw: Any) -> Any:
        headers = {**self.headers(key), **kw.pop("headers", {})}
        return self.client.post(path, json=json, headers=headers, **kw)

    def put(self, path: str, json: Any = None, key: str | None = None, **kw: Any) -> Any:
        headers = {**self.headers(key), **kw.pop("headers", {})}
        return self.client.put(path, json=json, headers=headers, **kw)

    def patch(self, path: str, json: Any = None, key: str | None = None) -> Any:
        return self.client.patch(path, json=json, headers=self.headers(key))

    def get(self, path: str, key: str | None = None, **kw: Any) -> Any:
        headers = {**self.headers(key), **kw.pop("headers", {})}
        return self.client.get(path, headers=headers, **kw)

    def open(self, **body: Any) -> dict[str, Any]:
        payload = {"name": "Test User", "group": "demo-usd", "leverage": 100, **body}
        response = self.post("/v1/users", payload)
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result


def seed_api(runtime: Runtime, admin: Actor) -> str:
    """What `api` starts from: manager 1000 with a key of every scope (its secret returned),
    four groups and two symbols, made through the services."""
    services = runtime.app
    services.create_manager(CreateManager(1000, "Test Manager", "Manag3r!pw"), admin)
    admin_key = services.create_api_key(CreateApiKey(1000, frozenset(SCOPES)), admin).secret
    services.create_group(CreateGroup("demo-usd", "USD", {"max_leverage": 500}), admin)
    services.create_group(CreateGroup("demo-eur", "EUR"), admin)
    services.create_group(CreateGroup("demo\\vip", "USD", {"password_min_length": 10}), admin)
    services.create_group(
        CreateGroup("real\\standard", "USD", {"login_range_from": 5000, "login_range_to": 5002}),
        admin,
    )
    services.create_symbol(CreateSymbol("EURUSD", {"path": "Forex\\Major\\EURUSD"}), admin)
    services.create_symbol(
        CreateSymbol("XAUUSD", {"path": "Metals\\XAUUSD", "digits": 2, "contract_size": "100"}),
        admin,
    )
    return admin_key


@pytest.fixture(scope="session")
def _api_seed(_sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> seeds.Seed[str]:
    return seeds.make_seed("api", seed_api, _sqlite_template, tmp_path_factory)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, _sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh SQLite database: a copy of `api`'s seeded template for the tests using `api`."""
    return seeds.sqlite_copy(request, _sqlite_template, tmp_path, "api", "_api_seed")


@pytest.fixture
def api(request: pytest.FixtureRequest, runtime: Runtime, admin: Actor) -> Iterator[Api]:
    admin_key = seeds.setup_once(request, "api", runtime, admin, seed_api)
    with TestClient(create_app(runtime)) as client:
        yield Api(client, runtime, admin, admin_key)
