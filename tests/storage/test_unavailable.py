"""An unreachable PostgreSQL: the probe says so and every service call raises StorageUnavailable."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from brokerplane import bootstrap
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import ListAccounts, OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import StorageUnavailable
from brokerplane.settings import Settings
from brokerplane.storage.database import Storage


@pytest.fixture
def closed_port_url() -> str:
    """A PostgreSQL URL on 127.0.0.1 at a port nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"postgresql://postgres@127.0.0.1:{port}/brokerplane"


@pytest.fixture
def unreachable(closed_port_url: str, tmp_path: Path) -> Iterator[Runtime]:
    rt = bootstrap.build(Settings(database_url=closed_port_url, data_dir=tmp_path))
    try:
        yield rt
    finally:
        rt.close()


def test_ping_of_an_unreachable_postgres_is_false(closed_port_url: str) -> None:
    storage = Storage(closed_port_url)
    try:
        assert storage.ping() is False
    finally:
        storage.dispose()


CALLS: dict[str, Callable[[Any, Actor], object]] = {
    "read": lambda s, a: s.get_account(100_000, a),
    "list": lambda s, a: s.list_accounts(ListAccounts(), a),
    "write": lambda s, a: s.open_account(OpenAccount(group="real\\standard"), a),
    "authenticate": lambda s, a: s.authenticate_key("bpk_0123456789ab_secret"),
    "verify-audit": lambda s, a: s.verify_audit(),
}


@pytest.mark.parametrize("call", CALLS.values(), ids=CALLS.keys())
def test_services_over_an_unreachable_postgres_raise_storage_unavailable(
    unreachable: Runtime, admin: Actor, call: Callable[[Any, Actor], object]
) -> None:
    with pytest.raises(StorageUnavailable) as caught:
        call(unreachable.app, admin)

    assert caught.value.code == "storage.unavailable"
