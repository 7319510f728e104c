"""What the native /keys tests share: request and storage helpers, and `timed`, a second app over
the same database whose core runs with a FakeClock, so rotation overlaps and expiries are
crossed without sleeping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from brokerplane.api.app import create_app
from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.config import CoreConfig
from brokerplane.storage import tables
from tests.dialects.native.conftest import Api
from tests.unit.fakes import FakeClock

OTHER = 3000  # a second manager
REPLAY = "Idempotent-Replay"


def _iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _when(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _other_manager(api: Api, *rights: str) -> None:
    cmd = CreateManager(OTHER, "Other", "0ther!Passw0rd", rights=frozenset(rights))
    api.runtime.app.create_manager(cmd, api.admin)


def _other_key(api: Api, *scopes: str) -> str:
    issued = api.runtime.app.create_api_key(CreateApiKey(OTHER, frozenset(scopes)), api.admin)
    return issued.secret


def _create(api: Api, key: str | None = None, **body: Any) -> dict[str, Any]:
    response = api.post("/v1/keys", {"scopes": ["users:read"], **body}, key=key)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


def _items(api: Api, key: str | None = None, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v1/keys", key=key, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _rows(api: Api, table: Any) -> list[dict[str, Any]]:
    with api.runtime.storage.engine.connect() as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def _keys_at_rest(api: Api) -> list[dict[str, Any]]:
    """The stored keys, last use aside (the request itself touches the calling key)."""
    return [
        {k: v for k, v in r.items() if k != "last_used_at"} for r in _rows(api, tables.api_keys)
    ]


def _problem(response: Any, status: int, title: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["title"] == title
    return body


@dataclass
class Timed:
    """The same database behind a second app whose core reads a clock the test moves."""

    api: Api
    client: TestClient
    clock: FakeClock

    def get(self, path: str, key: str | None = None, **kw: Any) -> Any:
        return self.client.get(path, headers=_auth(key or self.api.admin_key), **kw)

    def post(self, path: str, json: Any = None, key: str | None = None) -> Any:
        return self.client.post(path, json=json, headers=_auth(key or self.api.admin_key))

    def delete(self, path: str, key: str | None = None) -> Any:
        return self.client.delete(path, headers=_auth(key or self.api.admin_key))

    def create(self, **body: Any) -> dict[str, Any]:
        response = self.post("/v1/keys", {"scopes": ["users:read"], **body})
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    def works(self, key: str) -> int:
        """The status a plain read answers the key: 200, or 401 once it stops working."""
        return int(self.get("/v1/groups", key=key).status_code)

    def items(self, **params: Any) -> dict[str, dict[str, Any]]:
        response = self.get("/v1/keys", params=params)
        assert response.status_code == 200, response.text
        return {k["id"]: k for k in response.json()["items"]}


@contextmanager
def _timed_app(api: Api, config: CoreConfig) -> Iterator[Timed]:
    clock = FakeClock(datetime.now(UTC))
    rt = api.runtime
    moved = Runtime(rt.settings, rt.storage, Application(rt.storage.uow, config, clock))
    with TestClient(create_app(moved)) as client:
        yield Timed(api, client, clock)


@pytest.fixture
def timed(api: Api) -> Iterator[Timed]:
    with _timed_app(api, api.runtime.app.config) as moved:
        yield moved
