"""Helpers the dialects' four-eyes tests share: native keys for the requesting manager and for
a second manager (1001, with balances:approve), and the native approval decision."""

from __future__ import annotations

import httpx
from fastapi.testclient import TestClient

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES, Actor

SECOND = 1001


def native_key(services: Application, admin: Actor, manager_login: int) -> dict[str, str]:
    """Authorization headers of a native key of `manager_login` with every right it holds."""
    manager = services.get_manager(manager_login)
    assert manager is not None
    scopes = frozenset(manager.rights) & frozenset(SCOPES)
    secret = services.create_api_key(CreateApiKey(manager_login, scopes), admin).secret
    return {"Authorization": f"Bearer {secret}"}


def second_manager(services: Application, admin: Actor) -> dict[str, str]:
    """Manager 1001, who may approve, and its native key's headers."""
    rights = frozenset({"balances:approve", "balances:write", "reports:read", "users:read"})
    services.create_manager(CreateManager(SECOND, "Second Manager", "Manager#1001", rights), admin)
    return native_key(services, admin, SECOND)


def approve(client: TestClient, approval_id: int, headers: dict[str, str]) -> httpx.Response:
    result: httpx.Response = client.post(
        f"/v1/approvals/{approval_id}/approve", headers=headers, json={}
    )
    return result
