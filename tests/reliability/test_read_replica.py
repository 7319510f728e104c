"""A read replica: `brokerplane serve` over a throwaway primary and its streaming standby (made
with `pg_basebackup -R`). Lists, reports and the ledger history come from the standby once it
has caught up, and match the primary's; a caller's own write is in its next read even while
the standby lags; a standby further behind than the bound, or stopped, is not read: the primary
answers (X-Brokerplane-Replica-Lag: primary), never a 5xx and never data older than the bound.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, text

from brokerplane import bootstrap
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.settings import Settings
from tests.e2e.test_money_server import ServerProcess
from tests.pg import _Cluster, _free_port, _start_cluster, _unavailable
from tests.reliability.support import SERVE, SERVER_ENV, wait_until

pytestmark = pytest.mark.postgres

LAG = "x-brokerplane-replica-lag"
MAX_LAG_S = 3.0  # the server's bound (BROKERPLANE_READ_MAX_LAG_S)
GROUP = "replica"
WRITER, READER = 1000, 1001


# ---- the clusters -----------------------------------------------------------------------------


def _standby_of(primary: _Cluster) -> _Cluster:
    """A hot standby of `primary`, streaming from it (pg_basebackup -R)."""
    basebackup = primary.bindir / "pg_basebackup"
    if not basebackup.is_file():
        _unavailable(f"no pg_basebackup next to {primary.bindir / 'initdb'}")
    root = Path(tempfile.mkdtemp(prefix="bp-pg-standby-"))
    if primary.run_as is not None:
        entry = pwd.getpwnam(primary.run_as)
        os.chown(root, entry.pw_uid, entry.pw_gid)
    standby = _Cluster(primary.bindir, root, _free_port(), primary.run_as)
    data = root / "data"
    copied = standby._run(
        str(basebackup),
        "-D",
        str(data),
        "-R",
        "-X",
        "stream",
        "-c",
        "fast",
        "-h",
        "127.0.0.1",
        "-p",
        str(primary.port),
        "-U",
        "postgres",
        "--no-sync",
    )
    if copied.returncode != 0:
        standby.stop()
        raise RuntimeError(f"pg_basebackup failed: {copied.stderr.strip()}")
    _pg_ctl(standby, "start")
    return standby


def _pg_ctl(cluster: _Cluster, action: str) -> None:
    options = " ".join(
        (
            f"-p {cluster.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={cluster.root}",
            "-c fsync=off",
            "-c hot_standby=on",
            "-c max_connections=300",
        )
    )
    args = ["-o", options, "-l", str(cluster.root / "server.log")] if action == "start" else []
    if action == "stop":
        args = ["-m", "immediate"]
    done = cluster._run(
        str(cluster.bindir / "pg_ctl"),
        "-D",
        str(cluster.root / "data"),
        "-w",
        "-t",
        "60",
        *args,
        action,
    )
    assert done.returncode == 0, f"pg_ctl {action}: {done.stderr or done.stdout}"


def _apply_delay(standby: _Cluster, delay: str) -> None:
    """Make the standby apply each commit `delay` after the primary made it ('0' for none).
    A reload takes effect a moment later (on a busy machine, after the next commit): wait
    until a new session sees it, then a little more for the recovery process."""
    engine = create_engine(standby.url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.execute(text(f"ALTER SYSTEM SET recovery_min_apply_delay = '{delay}'"))
            conn.execute(text("SELECT pg_reload_conf()"))

        def seen() -> bool:
            with engine.connect() as conn:
                return conn.execute(text("SHOW recovery_min_apply_delay")).scalar() == delay

        assert wait_until(seen, timeout=30), f"the standby never took {delay}"
        time.sleep(0.3)
    finally:
        engine.dispose()


@dataclass
class Setup:
    primary: _Cluster
    standby: _Cluster
    replicated: ServerProcess  # reads lists and reports from the standby
    direct: ServerProcess  # the same database, without a replica: the primary's answers
    sibling: ServerProcess  # another process reading from the standby (another host, say)
    writer: str  # manager 1000's key (every scope)
    reader: str  # manager 1001's key (reads only; never writes)
    logins: list[int]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    try:
        primary = _start_cluster()
    except (LookupError, RuntimeError, OSError) as err:
        _unavailable(f"no throwaway cluster for the primary: {err}")
    servers: list[ServerProcess] = []
    standby: _Cluster | None = None
    try:
        tmp = tmp_path_factory.mktemp("replica")
        writer, reader, logins = _seed(primary.url, tmp)
        try:
            standby = _standby_of(primary)
        except (RuntimeError, OSError) as err:
            _unavailable(f"no standby: {err}")
        env = {
            **SERVER_ENV,
            "BROKERPLANE_READ_DATABASE_URL": standby.url,
            "BROKERPLANE_READ_MAX_LAG_S": str(MAX_LAG_S),
            "BROKERPLANE_READ_RETRY_S": "0.5",
            "BROKERPLANE_DATA_DIR": str(tmp),
        }
        replicated = ServerProcess(
            primary.url, tmp / "replicated.log", program=SERVE, extra_env=env
        )
        servers.append(replicated)
        direct_env = {**SERVER_ENV, "BROKERPLANE_DATA_DIR": str(tmp)}
        direct = ServerProcess(primary.url, tmp / "direct.log", program=SERVE, extra_env=direct_env)
        servers.append(direct)
        replicated.wait_ready()
        direct.wait_ready()
        # started after the others are up (three at once on a busy machine is slow to start)
        sibling = ServerProcess(primary.url, tmp / "sibling.log", program=SERVE, extra_env=env)
        servers.append(sibling)
        sibling.wait_ready()
        yield Setup(primary, standby, replicated, direct, sibling, writer, reader, logins)
    finally:
        for server in servers:
            server.stop()
        if standby is not None:
            standby.stop()
        primary.stop()


def _seed(url: str, data_dir: Path) -> tuple[str, str, list[int]]:
    admin = system_actor()
    runtime = bootstrap.build(Settings(database_url=url, data_dir=data_dir), migrate_schema=True)
    try:
        services = runtime.app
        services.create_manager(CreateManager(WRITER, "Writer", "Writer!pw123"), admin)
        services.create_manager(CreateManager(READER, "Reader", "Reader!pw123"), admin)
        writer = services.create_api_key(CreateApiKey(WRITER, frozenset(SCOPES)), admin).secret
        scopes = frozenset({"users:read", "reports:read"})
        reader = services.create_api_key(CreateApiKey(READER, scopes), admin).secret
        services.create_group(CreateGroup(GROUP, "USD"), admin)
        logins = []
        for n in range(3):
            login = services.open_account(OpenAccount(group=GROUP, name=f"R {n}"), admin).login
            services.post_ledger_entry(PostLedgerEntry(login, "deposit", "100.00"), admin)
            logins.append(login)
        return writer, reader, logins
    finally:
        runtime.close()


# ---- asking -------------------------------------------------------------------------------------

READS = ("/v1/users?group=replica", "/v1/balances/history?limit=1000", "/v1/reports/exposure")


def _get(server: ServerProcess, key: str, path: str) -> httpx.Response:
    response = httpx.get(server.base + path, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text}"
    return response


def _deposit(setup: Setup, login: int, amount: str) -> int:
    response = httpx.post(
        setup.replicated.base + "/v1/balances/deposit",
        timeout=30,
        headers={"Authorization": f"Bearer {setup.writer}"},
        json={"login": login, "amount": amount},
    )
    assert response.status_code == 200, response.text
    return int(response.json()["operation_id"])


def _lag(response: httpx.Response) -> float | None:
    """The stated lag in seconds; None when the primary answered."""
    value = response.headers[LAG]  # every list or report answer states it
    return None if value == "primary" else float(value)


def _replica_matches(setup: Setup, key: str) -> dict[str, Any] | None:
    """Every read, from the standby (a stated lag within the bound) and equal to the primary's
    answer; None while any of them is not."""
    bodies = {}
    for path in READS:
        served = _get(setup.replicated, key, path)
        lag = _lag(served)
        if lag is None:
            return None
        assert 0 <= lag <= MAX_LAG_S, f"{path}: lag {lag} beyond the bound"
        truth = _get(setup.direct, key, path)
        assert LAG not in truth.headers  # no replica there: nothing to state
        if served.json() != truth.json():
            return None
        bodies[path] = served.json()
    return bodies


def _balance(
    setup: Setup, key: str, login: int, server: ServerProcess | None = None
) -> tuple[Decimal, float | None]:
    answer = _get(server or setup.replicated, key, f"/v1/users?logins={login}")
    (item,) = answer.json()["items"]
    return Decimal(item["balance"]), _lag(answer)


# ---- the tests ----------------------------------------------------------------------------------


def test_reports_read_from_the_replica_match_the_primary_once_it_has_caught_up(
    setup: Setup,
) -> None:
    _deposit(setup, setup.logins[0], "25.00")
    bodies = wait_until(lambda: _replica_matches(setup, setup.reader), timeout=60)
    assert bodies is not None, "the standby never served the primary's answers"
    users = bodies["/v1/users?group=replica"]["items"]
    assert {u["login"]: u["balance"] for u in users}[setup.logins[0]] == "125.00"
    # the writer's own reads match too once the standby has passed its write
    assert wait_until(lambda: _replica_matches(setup, setup.writer), timeout=60) is not None
    # a streamed CSV export reads its pages as it sends them (after its headers): same rows
    export = "/v1/reports/users?group=replica"
    same = wait_until(
        lambda: (
            _get(setup.replicated, setup.reader, export).text
            == _get(setup.direct, setup.reader, export).text
        ),
        timeout=60,
    )
    assert same and str(setup.logins[0]) in _get(setup.replicated, setup.reader, export).text


def test_a_callers_own_write_is_in_its_next_read_while_the_replica_lags(setup: Setup) -> None:
    login = setup.logins[1]
    _apply_delay(setup.standby, "1500ms")  # within the bound: the standby stays usable
    try:
        before, _ = _balance(setup, setup.writer, login)
        seen: list[float | None] = []
        for n in range(5):
            operation = _deposit(setup, login, "1.00")
            balance, lag = _balance(setup, setup.writer, login)
            assert balance == before + n + 1  # the write just acknowledged is there
            history = _get(setup.replicated, setup.writer, f"/v1/balances/history?login={login}")
            assert history.json()["items"][-1]["operation_id"] == operation
            seen.append(lag)
        # Another caller may be served from the standby meanwhile, within the bound.
        _, other = _balance(setup, setup.reader, login)
        assert other is None or 0 <= other <= MAX_LAG_S
        assert seen == [None] * 5  # the standby applies 1.5 s late: the primary answered
    finally:
        _apply_delay(setup.standby, "0")


def test_a_write_through_one_process_is_in_the_same_managers_next_read_on_another(
    setup: Setup,
) -> None:
    """The sibling process never saw the write (the replicated one took it): it still does not
    serve the writer's next list from a standby that has not replayed it."""
    login = setup.logins[1]
    assert wait_until(lambda: _replica_matches(setup, setup.writer), timeout=60) is not None
    _apply_delay(setup.standby, "1500ms")  # within the bound: the standby stays usable
    try:
        before, _ = _balance(setup, setup.writer, login, setup.sibling)
        for n in range(3):
            operation = _deposit(setup, login, "1.00")  # through `replicated`
            balance, lag = _balance(setup, setup.writer, login, setup.sibling)
            assert balance == before + n + 1, f"deposit {n + 1} missing on the sibling"
            assert lag is None  # the standby applies 1.5 s late: the primary answered
            history = _get(setup.sibling, setup.writer, f"/v1/balances/history?login={login}")
            assert history.json()["items"][-1]["operation_id"] == operation

        # Once the standby holds the write, the sibling reads the writer's lists there again.
        def from_the_standby() -> bool:
            balance, lag = _balance(setup, setup.writer, login, setup.sibling)
            return lag is not None and balance == before + 3

        assert wait_until(from_the_standby, timeout=60)
    finally:
        _apply_delay(setup.standby, "0")


def test_a_replica_further_behind_than_the_bound_is_not_read(setup: Setup) -> None:
    login = setup.logins[2]
    _apply_delay(setup.standby, "1h")  # the standby stops applying new commits
    try:
        before, _ = _balance(setup, setup.reader, login)
        _deposit(setup, login, "7.00")
        stated: list[float | None] = []

        def fresh() -> bool:
            balance, lag = _balance(setup, setup.reader, login)
            stated.append(lag)
            if lag is not None:  # the standby answered: never beyond the bound
                assert 0 <= lag <= MAX_LAG_S, f"lag {lag} beyond the bound"
            return lag is None and balance == before + 7

        # Once the standby's last applied commit is older than the bound, the primary answers.
        assert wait_until(fresh, timeout=60, every=0.05), f"stated lags: {stated}"
    finally:
        _apply_delay(setup.standby, "0")


def test_a_stopped_replica_sends_reads_to_the_primary_and_is_used_again_once_back(
    setup: Setup,
) -> None:
    assert wait_until(lambda: _replica_matches(setup, setup.reader), timeout=60) is not None
    _pg_ctl(setup.standby, "stop")
    try:
        _deposit(setup, setup.logins[0], "3.00")  # the primary moves on without the standby
        for path in READS:
            served = _get(setup.replicated, setup.reader, path)  # 200, never a 5xx
            assert served.headers[LAG] == "primary"
            assert served.json() == _get(setup.direct, setup.reader, path).json()
        ready = httpx.get(setup.replicated.base + "/ready", timeout=30)
        assert ready.status_code == 200  # the primary is what readiness is about
        metrics = _get(setup.replicated, setup.writer, "/metrics").text
        assert "brokerplane_replica_up 0" in metrics.splitlines()
        assert 'brokerplane_replica_reads_total{served_by="primary"}' in metrics
    finally:
        with contextlib.suppress(AssertionError):
            _pg_ctl(setup.standby, "start")
    # back: it catches up, and serves again
    assert wait_until(lambda: _replica_matches(setup, setup.reader), timeout=60) is not None
    lines = _get(setup.replicated, setup.writer, "/metrics").text.splitlines()
    assert "brokerplane_replica_up 1" in lines
    (lag,) = [line for line in lines if line.startswith("brokerplane_replica_lag_seconds ")]
    assert 0 <= float(lag.split()[1]) <= MAX_LAG_S
