"""Two apps in one process share the route table (api/routes.py), never each other's objects:
each answers, in every dialect, from its own database, with its own rate limiters and its own
MT5 sessions."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from brokerplane import bootstrap
from brokerplane.api.app import create_app
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.settings import Settings
from tests.dialects.ctrader.conftest import get_token
from tests.dialects.mt5.conftest import handshake
from tests.dialects.traderevolution.conftest import sign_in

MANAGER = 1000
PASSWORDS = {"a": "Alpha#pass1", "b": "Bravo#pass2"}


@pytest.fixture
def two(
    _sqlite_template: Path, tmp_path: Path, admin: Actor
) -> Iterator[dict[str, tuple[TestClient, Runtime, str]]]:
    """Apps "a" and "b", each over a database of its own holding manager 1000 (a password and
    a key of its own) and a group named after the app."""
    made: dict[str, tuple[TestClient, Runtime, str]] = {}
    try:
        for name, password in PASSWORDS.items():
            path = tmp_path / f"{name}.db"
            shutil.copyfile(_sqlite_template, path)
            settings = Settings(
                database_url=f"sqlite:///{path.as_posix()}",
                data_dir=tmp_path / name,
                dialects="native,mt5,ctrader,traderevolution",
                console=False,
                rate_limit_per_minute=3 if name == "a" else 0,
            )
            runtime = bootstrap.build(settings)
            services = runtime.app
            services.create_manager(
                CreateManager(MANAGER, f"Manager {name}", password, frozenset(SCOPES)), admin
            )
            services.create_group(CreateGroup(f"group-{name}", "USD"), admin)
            key = services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), admin).secret
            made[name] = (TestClient(create_app(runtime)), runtime, key)
        yield made
    finally:
        for client, runtime, _ in made.values():
            client.close()
            runtime.close()


def test_each_app_answers_from_its_own_database(
    two: dict[str, tuple[TestClient, Runtime, str]],
) -> None:
    (a, _, key_a), (b, _, key_b) = two["a"], two["b"]
    # the same route objects, but FastAPI's own /openapi.json (each app's document)
    pairs = zip(a.app.routes[1:], b.app.routes[1:], strict=True)  # type: ignore[attr-defined]
    assert all(mine is theirs for mine, theirs in pairs)

    # native: each app knows its own key and lists its own group
    assert b.get("/v1/groups", headers={"Authorization": f"Bearer {key_a}"}).status_code == 401
    groups = b.get("/v1/groups", headers={"Authorization": f"Bearer {key_b}"})
    assert groups.status_code == 200, groups.text
    assert "group-b" in groups.text and "group-a" not in groups.text
    # the probes read their own runtime
    assert a.get("/ready").status_code == b.get("/ready").status_code == 200
    # cTrader and TraderEvolution (sub-applications shared by both): each app's passwords
    assert get_token(a, MANAGER, PASSWORDS["a"]).status_code == 200
    assert get_token(b, MANAGER, PASSWORDS["a"]).status_code != 200
    assert get_token(b, MANAGER, PASSWORDS["b"]).status_code == 200
    assert sign_in(a, MANAGER, PASSWORDS["a"]).status_code == 200
    assert sign_in(b, MANAGER, PASSWORDS["a"]).status_code != 200
    assert sign_in(b, MANAGER, PASSWORDS["b"]).status_code == 200


def test_each_app_keeps_its_own_sessions_and_limits(
    two: dict[str, tuple[TestClient, Runtime, str]],
) -> None:
    (a, _, key_a), (b, _, key_b) = two["a"], two["b"]

    # MT5: a session opened on app a (same client address) is no session on app b
    assert handshake(a, MANAGER, PASSWORDS["a"]).status_code == 200
    assert a.get("/api/test/access").status_code == 200
    assert b.get("/api/test/access").status_code == 403
    assert handshake(b, MANAGER, PASSWORDS["a"]).status_code == 403

    # native: app a's limit (3 a minute) is its own; app b has none
    answers = [a.get("/v1/groups", headers={"Authorization": f"Bearer {key_a}"}) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    for _ in range(5):
        assert b.get("/v1/groups", headers={"Authorization": f"Bearer {key_b}"}).status_code == 200
