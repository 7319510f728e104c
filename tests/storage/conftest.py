"""Storage-test fixtures: the real Services over a Runtime's storage, with a still clock."""

from __future__ import annotations

import pytest

from brokerplane.application.services import Services
from brokerplane.bootstrap import Runtime
from brokerplane.core.actor import Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from tests.unit.fakes import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def services(runtime: Runtime, clock: FakeClock) -> Services:
    """The runtime's services, their clock replaced by one the test moves."""
    return Services(runtime.storage.uow, runtime.services.config, clock)


@pytest.fixture
def usd_group(services: Services, admin: Actor) -> Group:
    """`real\\standard` in USD: leverage 1:100 by default, at most 1:500, no login range."""
    settings = {"default_leverage": 100, "max_leverage": 500}
    return services.create_group(CreateGroup("real\\standard", "USD", settings), admin)
