"""What the attribute unit tests share: four accounts in two groups and two white labels, the
actors, the `world` fixture that builds them, and upsert and list helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pytest

from brokerplane.application.app import Application
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.attribute.commands import (
    AttributeValue,
    EntityAttributes,
    ListAttributes,
    SetAttributes,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.kinds import Dialect

# Accounts: two in demo\usd under BESTBROKER, one in demo\usd under OTHERBROKER, one in
# real\std under BESTBROKER.
BEST, BEST2, OTHER, REAL = 300_001, 300_002, 300_003, 300_004
MISSING = 399_999
WORKER = frozenset(SCOPES) - {"admin"}
REGULAR, SECOND = 2001, 2002  # managers without admin
DEMO = Actor(REGULAR, WORKER, group_mask="demo\\*", dialect=Dialect.CTRADER)
BRAND = Actor(SECOND, WORKER, white_labels="BESTBROKER", dialect=Dialect.CTRADER)
READER = Actor(REGULAR, frozenset({"users:read"}), dialect=Dialect.CTRADER)
SUPER = Actor(1000, frozenset(SCOPES), dialect=Dialect.CTRADER)


@dataclass
class World:
    services: Application
    admin: Actor
    demo_group: int
    real_group: int


def build_world(services: Application, admin: Actor) -> World:
    """Two groups, four accounts, three managers: the same data for fakes and databases."""
    demo = services.create_group(CreateGroup("demo\\usd", "USD", {"broker": "BESTBROKER"}), admin)
    real = services.create_group(CreateGroup("real\\std", "USD", {"broker": "BESTBROKER"}), admin)
    accounts = [
        (BEST, demo, "BESTBROKER"),
        (BEST2, demo, "BESTBROKER"),
        (OTHER, demo, "OTHERBROKER"),
        (REAL, real, "BESTBROKER"),
    ]
    for login, group, broker in accounts:
        services.open_account(
            OpenAccount(group=group.name, login=login, profile={"broker": broker}), admin
        )
    for manager in (SUPER.manager_login, REGULAR, SECOND):
        assert manager is not None
        rights = frozenset(SCOPES) if manager == SUPER.manager_login else WORKER
        services.create_manager(CreateManager(manager, name=f"m{manager}", rights=rights), admin)
    return World(services, admin, demo.id, real.id)


def put(kind: str, *sets: tuple[int, Mapping[str, str | None]]) -> SetAttributes:
    return SetAttributes(
        kind,
        tuple(
            EntityAttributes(i, tuple(AttributeValue(n, v) for n, v in attrs.items()))
            for i, attrs in sets
        ),
    )


def listed(services: Application, actor: Actor, kind: str, *ids: int) -> dict[int, dict[str, str]]:
    page = services.list_attributes(ListAttributes(kind, ids=ids), actor)
    return {s.entity_id: s.as_dict() for s in page.sets}


@pytest.fixture
def world(services: Application, admin: Actor) -> World:
    return build_world(services, admin)
