"""A live brokerplane for the client's tests: `brokerplane demo --json` then `brokerplane serve`
in processes of their own (as a CRM developer starts one), on a fresh SQLite database.

Set BROKERPLANE_CLIENT_TEST_SERVER (a base URL) with BROKERPLANE_CLIENT_TEST_ADMIN_KEY and
BROKERPLANE_CLIENT_TEST_APPROVER_KEY (the demo admin and approver keys it printed when it
loaded the demo data) to run the same tests against a server you started with the demo data,
e.g. `make serve`: they only add accounts, money and keys of their own and filter on them.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from brokerplane.client import Retry
from tests.e2e.test_money_server import SERVE, ServerProcess

# Retries without waits: the tests count attempts, not seconds.
FAST = Retry(attempts=4, backoff=0.0, max_backoff=0.0, max_retry_after=0.0)


@dataclass(frozen=True)
class Live:
    base: str
    admin_key: str  # manager 1000, every scope
    approver_key: str  # manager 1001: users:read, balances:write, balances:approve, reports:read
    group: str = "demo-usd"  # USD; operations above 10000.00 are held for approval


def _demo(url: str, data_dir: Path) -> dict[str, str]:
    done = subprocess.run(
        [*SERVE, "demo", "--json", "--database-url", url, "--data-dir", str(data_dir)],
        capture_output=True,
        check=False,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "BROKERPLANE_DATA_DIR": str(data_dir)},
    )
    assert done.returncode == 0, done.stderr
    loaded: dict[str, str] = json.loads(done.stdout)
    return loaded


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    external = os.environ.get("BROKERPLANE_CLIENT_TEST_SERVER")
    if external:
        yield Live(
            external.rstrip("/"),
            os.environ["BROKERPLANE_CLIENT_TEST_ADMIN_KEY"],
            os.environ["BROKERPLANE_CLIENT_TEST_APPROVER_KEY"],
        )
        return
    root = tmp_path_factory.mktemp("client-server")
    url = f"sqlite:///{(root / 'brokerplane.db').as_posix()}"
    secrets = _demo(url, root)
    server = ServerProcess(
        url,
        root / "server.log",
        program=SERVE,
        extra_env={
            "BROKERPLANE_DATA_DIR": str(root),
            "BROKERPLANE_RATE_LIMIT_PER_MINUTE": "0",
            # the webhook tests' receivers listen on loopback
            "BROKERPLANE_WEBHOOK_ALLOW_PRIVATE": "true",
            "BROKERPLANE_WEBHOOK_BACKOFF_S": "0.05",
        },
    )
    try:
        server.wait_ready()
        yield Live(server.base, secrets["admin_key"], secrets["approver_key"])
    finally:
        server.stop()
