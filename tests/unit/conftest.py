"""Unit-test fixtures: the application layer over in-memory fakes, with a clock standing still."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.core.actor import Actor
from brokerplane.core.config import CoreConfig
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from tests.unit.fakes import FakeClock, FakeUowFactory

SERVER_RANGE = (100_000, 100_999)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def uows() -> FakeUowFactory:
    return FakeUowFactory()


@pytest.fixture
def config() -> CoreConfig:
    return CoreConfig(
        login_range_from=SERVER_RANGE[0], login_range_to=SERVER_RANGE[1], server_currency="USD"
    )


@pytest.fixture
def services(uows: FakeUowFactory, config: CoreConfig, clock: FakeClock) -> Application:
    return Application(uows, config, clock)


@pytest.fixture
def usd_group(services: Application, admin: Actor) -> Group:
    """`real\\standard` in USD: leverage 1:100 by default, at most 1:500, no login range."""
    settings = {"default_leverage": 100, "max_leverage": 500}
    return services.create_group(CreateGroup("real\\standard", "USD", settings), admin)
