"""What the manager unit tests share: rights, a password, the `manager` fixture, and helpers."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateApiKey, CreateManager, IssuedKey, UpdateManager
from brokerplane.core.access.model import Manager
from brokerplane.core.actor import Actor
from tests.unit.fakes import FakeUowFactory

OPS = frozenset({"users:read", "users:write", "reports:read"})
PASSWORD = "Manag3r!pw"


@pytest.fixture
def manager(services: Application, admin: Actor) -> Manager:
    return services.create_manager(CreateManager(1001, "ops", PASSWORD, rights=OPS), admin)


def _key(
    services: Application, admin: Actor, *scopes: str, login: int = 1001, **kw: object
) -> IssuedKey:
    return services.create_api_key(CreateApiKey(login, frozenset(scopes), **kw), admin)  # type: ignore[arg-type]


def _update(services: Application, admin: Actor, **changes: object) -> Manager:
    return services.update_manager(UpdateManager(1001, **changes), admin)  # type: ignore[arg-type]


def _audit_text(uows: FakeUowFactory) -> str:
    return "\n".join(repr(r) for r in uows.state.audit)


def _stored(uows: FakeUowFactory) -> tuple[dict[int, Manager], int]:
    return dict(uows.state.managers), len(uows.state.audit)
