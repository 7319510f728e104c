"""What the account rule tests share: a good password, a group with a login range, opening."""

from __future__ import annotations

from typing import Any

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group

GOOD_PASSWORD = "1Ar#pqkj"  # seed 002's example: four character types, 8 characters


def _ranged_group(services: Application, admin: Actor, low: int, high: int) -> Group:
    settings = {"login_range_from": low, "login_range_to": high}
    return services.create_group(CreateGroup("real\\ranged", "USD", settings), admin)


def _open(services: Application, admin: Actor, group: str = "real\\standard", **kw: Any) -> Account:
    return services.open_account(OpenAccount(group=group, **kw), admin)
