"""Database outage: brokerplane serves a throwaway PostgreSQL cluster under load; the cluster is
stopped mid-load and started again on the same port. Meanwhile brokerplane answers 503
ManagerOffline (cTrader: DATASTORE_IS_NOT_AVAILABLE), never a 500; afterwards it recovers by
itself, without a restart, and nothing acknowledged is lost or doubled."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from tests.pg import _Cluster, _start_cluster, _unavailable
from tests.reliability.support import (
    MANAGER,
    PASSWORD,
    Load,
    Served,
    check,
    seed,
    server_errors,
    size,
    tally,
    wait_until,
)

pytestmark = pytest.mark.postgres

CLIENTS = size(8, 32)
ACCOUNTS = size(4, 8)
# How each outage stops the cluster (pg_ctl stop -m ...), and how long the cluster stays down:
# until the load has been answered offline once per client, then DOWN_S more (none in
# `make test`: what the outage proves is the offline answers and the recovery, not its length).
OUTAGES = size(("immediate",), ("fast", "immediate", "fast", "immediate"))
DOWN_S = size(0.0, 15.0)
OFFLINE = "503 ManagerOffline storage.unavailable"


@pytest.fixture
def cluster() -> Iterator[_Cluster]:
    """A PostgreSQL cluster of this test's own, which it may stop and start."""
    try:
        started = _start_cluster()
    except (LookupError, RuntimeError, OSError) as err:
        _unavailable(f"no throwaway cluster for the outage: {err}")
    try:
        yield started
    finally:
        started.stop()


def pg_ctl(cluster: _Cluster, *args: str) -> None:
    data = str(cluster.root / "data")
    done = cluster._run(str(cluster.bindir / "pg_ctl"), "-D", data, "-w", "-t", "60", *args)
    assert done.returncode == 0, f"pg_ctl {' '.join(args)}: {done.stderr or done.stdout}"


def offline_answers(served: Served, key: str, token: str, login: int) -> dict[str, str] | None:
    """Ask the native API and cTrader about an account: their answers while both say the
    database is offline, else None."""
    auth, json = {"Authorization": f"Bearer {key}"}, {"Accept": "application/json"}
    native = httpx.get(f"{served.base}/v1/users/{login}", headers=auth, timeout=30)
    ctrader = httpx.get(
        f"{served.base}/v2/webserv/traders/{login}",
        params={"token": token},
        headers=json,
        timeout=30,
    )
    if native.status_code != 503 or ctrader.status_code != 503:
        return None
    return {
        "native": f"{native.json()['title']} {native.headers.get('Retry-After')}",
        "ctrader": ctrader.json()["error"]["errorCode"],
    }


def _knocked(load: Load, answers: int) -> bool:
    """Whether the load has been answered offline `answers` times."""
    return load.answers[OFFLINE] >= answers


def test_a_database_outage_is_answered_offline_and_recovered_from_without_loss(
    cluster: _Cluster,
    tmp_path: Path,
    serve: Callable[[str], Served],
    summary: Callable[[str], None],
) -> None:
    seeded = seed(cluster.url, tmp_path, ACCOUNTS, 500_00, migrate=True)
    served = serve(cluster.url)
    login = next(iter(seeded.funded))
    hashed = hashlib.md5(PASSWORD.encode()).hexdigest()
    token = httpx.post(
        f"{served.base}/v2/webserv/managers/token",
        timeout=30,
        json={"login": MANAGER, "hashedPassword": hashed},
        headers={"Accept": "application/json"},
    ).json()["webservToken"]
    offline: list[dict[str, str] | None] = []
    recovered: list[bool] = []
    with Load("outage", served, seeded, CLIENTS) as load:
        for mode in OUTAGES:
            assert load.wait_for_progress(CLIENTS), "no progress before the outage"
            pg_ctl(cluster, "stop", "-m", mode)
            offline.append(wait_until(lambda: offline_answers(served, seeded.key, token, login)))
            # the load keeps knocking meanwhile, and is told the database is offline
            assert wait_until(partial(_knocked, load, load.answers[OFFLINE] + CLIENTS))
            time.sleep(DOWN_S)
            pg_ctl(cluster, "restart", "-l", str(cluster.root / "server.log"))  # same options
            recovered.append(load.wait_for_progress(CLIENTS))
    ready = httpx.get(served.base + "/ready", timeout=30)
    findings = check(load, cluster.url, tmp_path)
    extra = (
        f"; {len(OUTAGES)} outages, answered offline {offline}, recovered {recovered}; "
        f"answers: {tally(load.answers)}"
    )
    summary(findings.line("outage postgresql", extra))

    assert offline == [
        {"native": "ManagerOffline 5", "ctrader": "DATASTORE_IS_NOT_AVAILABLE"}
    ] * len(OUTAGES)
    assert load.answers[OFFLINE] > 0
    assert server_errors(load.answers) == {}
    assert recovered == [True] * len(OUTAGES)
    assert ready.status_code == 200, ready.text
    assert len(served.processes) == 1 and served.processes[0].proc.poll() is None  # no restart
    assert findings.unsettled == []
    assert (findings.duplicates, findings.lost, findings.strays) == (0, 0, [])
    assert findings.wrong_balances == {}
    assert findings.clean, findings.verify
