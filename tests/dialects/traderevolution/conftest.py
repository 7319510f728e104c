"""Fixtures for the TraderEvolution Back-Office dialect: a real app over a real database (both
engines), back-office user 1010 signed in at /auth/token, two user groups under a branding with
a plan, and a preset, made through the services."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
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
from brokerplane.core.backoffice.commands import (
    CreatePlan,
    CreatePreset,
    CreateUserGroup,
    CreateWhiteLabel,
)
from tests.dialects import seeds

BASE = "/proftrading/rest"
MANAGER = 1010
PASSWORD = "Backoffice#1010"
USER_PASSWORD = "Trader#2024x"


@dataclass
class TE:
    """A TraderEvolution client holding back-office user 1010's access token."""

    client: TestClient
    runtime: Runtime
    admin: Actor
    token: str
    refresh: str
    ids: dict[str, int] = field(default_factory=dict)

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
        token: str | None = None,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> httpx.Response:
        sent = {"Authorization": f"Bearer {self.token if token is None else token}"}
        sent.update(headers or {})
        result: httpx.Response = self.client.request(
            method, BASE + path, json=json, params=params, headers=sent, content=content
        )
        return result

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("GET", path, **kw)

    def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.call("POST", path, json=json, **kw)

    def patch(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        return self.call("PATCH", path, json=json, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.call("DELETE", path, **kw)

    def ok(self, response: httpx.Response, status: int = 200) -> Any:
        assert response.status_code == status, response.text
        return response.json() if response.content else None

    def error(self, response: httpx.Response, status: int) -> str:
        """The errorCode of an error answer (asserting its status and body shape)."""
        assert response.status_code == status, response.text
        body = response.json()
        assert set(body) == {"errorCode", "errorMessage"}, body
        assert body["errorMessage"]
        return str(body["errorCode"])

    def create_user(
        self, login: str = "jsmith", email: str | None = None, group: str = "retail", **extra: Any
    ) -> dict[str, Any]:
        body = {
            "email": email or f"{login}@example.com",
            "firstName": "John",
            "lastName": "Smith",
            "login": login,
            "password": USER_PASSWORD,
            "userGroup": self.ids[group],
            "accounts": {"accountName": f"{login} main"},
            **extra,
        }
        answer: dict[str, Any] = self.ok(self.post("/users", body))
        return answer


def sign_in(client: TestClient, login: Any, password: str) -> httpx.Response:
    result: httpx.Response = client.post(
        BASE + "/auth/token", json={"login": login, "password": password}
    )
    return result


def make_catalog(services: Application, admin: Actor) -> dict[str, int]:
    brand = services.create_white_label(CreateWhiteLabel("BESTBRAND", "the main brand"), admin)
    risk = services.create_plan(CreatePlan("Standard risk", "risk"), admin)
    retail = services.create_user_group(
        CreateUserGroup("retail", "USD", brand.id, risk.id, "retail clients"), admin
    )
    vip = services.create_user_group(
        CreateUserGroup("vip", "USD", brand.id, None, "VIP clients", 200, 200), admin
    )
    euro = services.create_user_group(CreateUserGroup("euro", "EUR"), admin)
    preset = services.create_account_preset(
        CreatePreset("EUR netted", "EUR", 50, "NETTED", True), admin
    )
    return {
        "brand": brand.id,
        "risk": risk.id,
        "retail": retail.id,
        "vip": vip.id,
        "euro": euro.id,
        "preset": preset.id,
    }


def seed_te(runtime: Runtime, admin: Actor) -> dict[str, int]:
    """What `te` starts from: back-office user 1010 with every right and `make_catalog`'s
    entries (their ids returned)."""
    services = runtime.app
    services.create_manager(
        CreateManager(MANAGER, "TE back office", PASSWORD, frozenset(SCOPES)), admin
    )
    return make_catalog(services, admin)


@pytest.fixture(scope="session")
def _te_seed(
    _sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> seeds.Seed[dict[str, int]]:
    return seeds.make_seed("te", seed_te, _sqlite_template, tmp_path_factory)


@pytest.fixture
def sqlite_url(request: pytest.FixtureRequest, _sqlite_template: Path, tmp_path: Path) -> str:
    """A fresh SQLite database: a copy of `te`'s seeded template for the tests using `te`."""
    return seeds.sqlite_copy(request, _sqlite_template, tmp_path, "te", "_te_seed")


@pytest.fixture
def te(request: pytest.FixtureRequest, runtime: Runtime, admin: Actor) -> Iterator[TE]:
    ids = dict(seeds.setup_once(request, "te", runtime, admin, seed_te))  # each test its own
    with TestClient(create_app(runtime)) as client:
        response = sign_in(client, MANAGER, PASSWORD)
        assert response.status_code == 200, response.text
        body = response.json()
        yield TE(client, runtime, admin, body["accessToken"], body["refreshToken"], ids)
