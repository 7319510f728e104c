"""Storage-test fixtures: the application layer over a Runtime's storage, with a still clock."""

from __future__ import annotations

import pytest

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from tests.unit.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(runtime: Runtime, clock: FakeClock) -> Application:
    """The runtime's services, their clock replaced by one the test moves."""
    return Application(runtime.storage.uow, runtime.app.config, clock)


@pytest.fixture
def usd_group(services: Application, admin: Actor) -> Group:
    """`real\\standard` in USD: leverage 1:100 by default, at most 1:500, no login range."""
    settings = {"default_leverage": 100, "max_leverage": 500}
    return services.create_group(CreateGroup("real\\standard", "USD", settings), admin)
