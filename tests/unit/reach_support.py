"""What the reach unit tests share: four accounts in two groups and two white labels, managers
limited to some of them, the `world` fixture that builds it, and helpers."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.errors import CoreError
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.kinds import Dialect
from tests.unit.fakes import FakeUowFactory

# Four accounts: in demo\usd under BESTBROKER, in demo\vip under BESTBROKER, in demo\usd under
# OTHERBROKER, and in real\standard under OTHERBROKER.
BEST, VIP, OTHER, REAL = 200_001, 200_002, 200_003, 200_004
EVERY = frozenset({BEST, VIP, OTHER, REAL})
MISSING = 299_999
WORKER = frozenset(SCOPES) - {"admin"}

DEMO = Actor(2001, WORKER, group_mask="demo\\*", dialect=Dialect.NATIVE)
BRAND = Actor(2002, WORKER, white_labels="BESTBROKER", dialect=Dialect.NATIVE)
NOVIP = Actor(2003, WORKER, group_mask="demo\\*,!demo\\vip", dialect=Dialect.NATIVE)
# What each limited manager reaches of the four accounts.
LIMITS = [
    pytest.param(DEMO, frozenset({BEST, VIP, OTHER}), id="demo-groups"),
    pytest.param(BRAND, frozenset({BEST, VIP}), id="white-label"),
    pytest.param(NOVIP, frozenset({BEST, OTHER}), id="demo-less-vip"),
]
# An unlimited manager that asks for money to move (so another may approve it).
REQUESTER = Actor(1001, WORKER, dialect=Dialect.NATIVE)

CONTACT = {
    "email": "ann@example.com",
    "phone": "+44 20 7946 0000",
    "address": "1 High Street",
    "city": "London",
    "state": "LDN",
    "zip_code": "EC1BEST 1BB",
    "id_document": "P1234567",
    "bank_account": "GB00BANK0001",
    "mqid": "ABCD1234",
}


@dataclass
class World:
    services: Application
    uows: FakeUowFactory
    admin: Actor

    def stored(self) -> tuple[dict[int, Account], int, int, int]:
        """What the database holds that a refused command must leave alone."""
        s = self.uows.state
        return copy.deepcopy(s.accounts), len(s.audit), len(s.ledger), len(s.approvals)


@pytest.fixture
def world(services: Application, uows: FakeUowFactory, admin: Actor) -> World:
    for name, broker in (
        ("demo\\usd", "BESTBROKER"),
        ("demo\\vip", "BESTBROKER"),
        ("real\\standard", "OTHERBROKER"),
    ):
        services.create_group(CreateGroup(name, "USD", {"broker": broker}), admin)
    accounts: list[tuple[int, str, dict[str, Any]]] = [
        (BEST, "demo\\usd", {}),
        (VIP, "demo\\vip", {}),
        (OTHER, "demo\\usd", {"broker": "OTHERBROKER"}),
        (REAL, "real\\standard", {}),
    ]
    for login, group, extra in accounts:
        profile: dict[str, Any] = {**CONTACT, "comment": f"account {login}", **extra}
        services.open_account(
            OpenAccount(group=group, login=login, name=f"Client {login}", profile=profile), admin
        )
    return World(services, uows, admin)


def _refusal(expected: type[CoreError], call: Callable[..., object], *args: object) -> CoreError:
    with pytest.raises(expected) as caught:
        call(*args)
    return caught.value


def _shape(err: CoreError, subject: object) -> tuple[object, ...]:
    """An error with the subject (login, group name, approval id) masked out."""
    text = str(subject)
    context = {k: ("<subject>" if str(v) == text else v) for k, v in err.context.items()}
    return (
        type(err),
        err.code,
        err.title,
        err.detail.replace(text, "<subject>"),
        context,
        err.fields,
    )


def _logins(accounts: list[Account]) -> set[int]:
    return {a.login for a in accounts}
