"""What the reliability scenarios share: their sizes, `brokerplane serve` on a port that stays
put across kills, a client load that retries each money operation under its own request id until
it is acknowledged, and the check of the ledger against what was acknowledged.

Sizes are small in `make test` and full in `make soak` (BROKERPLANE_SOAK=1).
"""

from __future__ import annotations

import os
import random
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from brokerplane import bootstrap
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.settings import Settings
from tests.e2e.test_money_server import ServerProcess

T = TypeVar("T")

SOAK = os.environ.get("BROKERPLANE_SOAK", "").strip().lower() in ("1", "true", "yes", "on")


def size(small: T, full: T) -> T:
    """The figure for this run: `full` under `make soak`, `small` otherwise."""
    return full if SOAK else small


# ---- the server -------------------------------------------------------------------------------

# How long a claimed request id stays "in flight" before a retry may take it over
# (BROKERPLANE_IDEMPOTENCY_LEASE_S). The default is a minute, so that a slow request is never
# taken over; a killed server leaves claims behind, and a minute per kill would make the
# scenarios wait rather than work. The takeover path is the same whatever the length.
LEASE_S = 2
SERVE = (sys.executable, "-m", "brokerplane.cli.main")  # `brokerplane serve`, as installed
SERVER_ENV = {
    "BROKERPLANE_RATE_LIMIT_PER_MINUTE": "0",  # the load is one key, flat out
    "BROKERPLANE_IDEMPOTENCY_LEASE_S": str(LEASE_S),
    "BROKERPLANE_TE_RATE_LIMIT_PER_SECOND": "0",  # TraderEvolution's per-collection limit too
}
MANAGER, PASSWORD = 1000, "Reliab1lity!pw"
# Load between a restart (once the new server has answered some of it) and the next kill, at
# random. Each server is killed among requests in flight however long this is: `make test`
# keeps it short, as every moment of it is both cores flat out; `make soak` lets each run longer.
KILL_PAUSE_S = size((0.1, 0.8), (0.5, 4.0))
GROUP = "reliability"


def _steady_port() -> int:
    """A free port below the ephemeral range, so no outgoing connection takes it between a
    kill and the restart."""
    for _ in range(200):
        port = random.randint(20_000, 32_000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port between 20000 and 32000")


class Served:
    """One database served by one `brokerplane serve` process at a time, always on one port:
    clients keep their address across kills and restarts."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.port = _steady_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self._logs = logs
        self.processes: list[ServerProcess] = []
        self.kills = 0

    def start(self) -> None:
        log = self._logs / f"server-{len(self.processes)}.log"
        server = ServerProcess(self.url, log, port=self.port, program=SERVE, extra_env=SERVER_ENV)
        self.processes.append(server)
        server.wait_ready()

    def kill(self) -> None:
        """SIGKILL the running server."""
        self.processes[-1].kill()
        self.kills += 1

    def close(self) -> None:
        for server in self.processes:
            server.stop()


# ---- the data ---------------------------------------------------------------------------------


@dataclass
class Seeded:
    key: str
    funded: dict[int, int]  # login -> opening balance in cents


def seed(url: str, data_dir: Path, accounts: int, cents: int, *, migrate: bool = False) -> Seeded:
    """Manager 1000 (with a password, for cTrader) and an all-scopes key; `accounts` USD
    accounts with `cents` each."""
    admin = system_actor()
    settings = Settings(database_url=url, data_dir=data_dir)
    runtime = bootstrap.build(settings, migrate_schema=migrate)
    try:
        services = runtime.app
        services.create_manager(CreateManager(MANAGER, "Reliability", PASSWORD), admin)
        key = services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), admin).secret
        services.create_group(CreateGroup(GROUP, "USD"), admin)
        funded = {}
        for n in range(accounts):
            login = services.open_account(OpenAccount(group=GROUP, name=f"Load {n}"), admin).login
            services.post_ledger_entry(PostLedgerEntry(login, "deposit", money(cents)), admin)
            funded[login] = cents
        return Seeded(key, funded)
    finally:
        runtime.close()


def engine_of(url: str) -> str:
    return url.split(":", 1)[0].split("+", 1)[0]


def money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


# ---- the load ---------------------------------------------------------------------------------

PATHS = {"deposit": "/v1/balances/deposit", "withdrawal": "/v1/balances/withdraw"}
SIGN = {"deposit": 1, "withdrawal": -1}
SETTLE_S = 600.0  # how long one operation is retried before the client gives up on it


@dataclass
class Operation:
    request_id: str
    login: int
    kind: str  # deposit or withdrawal
    cents: int
    outcome: str = ""  # applied, refused (insufficient funds), or what went wrong
    operation_id: int | None = None


def label(response: httpx.Response) -> str:
    """What an answer was, for the tally: `200`, `200 replayed`, `409 Conflict request.in_flight`,
    `503 ManagerOffline storage.unavailable`..."""
    if response.is_success:
        replayed = response.headers.get("Idempotent-Replay") == "true"
        return f"{response.status_code}{' replayed' if replayed else ''}"
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} (not JSON)"
    if not isinstance(body, dict):
        return f"{response.status_code} (not a problem)"
    return f"{response.status_code} {body.get('title')} {body.get('code')}"


class Load:
    """`clients` threads sending deposits and withdrawals to `served.base`, each operation with
    a request id of its own, retried with that id on any failure until it is acknowledged."""

    def __init__(self, name: str, served: Served, seeded: Seeded, clients: int) -> None:
        self.name = name
        self.served = served
        self.seeded = seeded
        self.operations: list[Operation] = []
        self.answers: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)
        ]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.finish()

    def finish(self) -> None:
        """No new operations; wait for the ones under way to be acknowledged."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=SETTLE_S + 60)

    def acknowledged(self) -> int:
        with self._lock:
            return sum(1 for op in self.operations if op.outcome)

    def wait_for_progress(self, more: int = 1, timeout: float = 180) -> bool:
        """Poll until `more` operations beyond the current count are acknowledged."""
        target = self.acknowledged() + more
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.acknowledged() >= target:
                return True
            time.sleep(0.05)
        return False

    def _note(self, what: str) -> None:
        with self._lock:
            self.answers[what] += 1

    def _client(self, n: int) -> None:
        rng = random.Random(f"{self.name}-{n}")
        logins = list(self.seeded.funded)
        headers = {"Authorization": f"Bearer {self.seeded.key}"}
        timeout = httpx.Timeout(60, connect=5)
        with httpx.Client(headers=headers, timeout=timeout) as http:
            count = 0
            while not self._stop.is_set():
                kind = rng.choice(("deposit", "withdrawal"))
                op = Operation(
                    f"{self.name}-{n}-{count}", rng.choice(logins), kind, rng.randint(1_00, 100_00)
                )
                count += 1
                with self._lock:
                    self.operations.append(op)
                self._settle(http, op)

    def _settle(self, http: httpx.Client, op: Operation) -> None:
        body = {"login": op.login, "amount": money(op.cents), "reference": op.request_id}
        headers = {"x-request-id": op.request_id}
        deadline = time.monotonic() + SETTLE_S
        while time.monotonic() < deadline:
            try:
                response = http.post(self.served.base + PATHS[op.kind], json=body, headers=headers)
            except httpx.TransportError as err:  # refused while restarting, cut by a kill...
                self._note(f"transport {type(err).__name__}")
                time.sleep(0.25)
                continue
            what = label(response)
            self._note(what)
            if response.status_code == 200:
                op.operation_id = int(response.json()["operation_id"])
                op.outcome = "applied"
                return
            if "ledger.insufficient_funds" in what:
                op.outcome = "refused"
                return
            if response.status_code in (409, 503) or response.status_code >= 500:
                time.sleep(0.2)  # in flight, offline, or broken: the same id again
                continue
            op.outcome = f"unexpected {what}"
            return
        op.outcome = "gave up"


# ---- the check --------------------------------------------------------------------------------


@dataclass
class Findings:
    sent: int
    applied: int
    refused: int
    found: int
    duplicates: int
    lost: int
    strays: list[str]  # entries of request ids refused, never acknowledged, or unknown
    unsettled: list[str]  # operations with an outcome other than applied or refused
    wrong_balances: dict[int, tuple[int, int]]  # login -> (expected, actual)
    verify: dict[str, str] = field(default_factory=dict)  # CLI check -> its last line

    @property
    def acknowledged(self) -> int:
        return self.applied + self.refused

    @property
    def clean(self) -> bool:
        broken = self.duplicates or self.lost or self.strays or self.unsettled
        verified = all(v.startswith("OK") for v in self.verify.values())
        return verified and not (broken or self.wrong_balances)

    def line(self, name: str, extra: str = "") -> str:
        verify = ", ".join(f"{k} verify {v}" for k, v in self.verify.items())
        return (
            f"{name}: sent {self.sent}, acknowledged {self.acknowledged} ({self.applied} "
            f"applied, {self.refused} refused), found {self.found}, duplicates "
            f"{self.duplicates}, lost {self.lost}, strays {len(self.strays)}, wrong balances "
            f"{len(self.wrong_balances)}; {verify}{extra}"
        )


def check(load: Load, url: str, data_dir: Path) -> Findings:
    """Compare the ledger with what the load was told, then run the CLI's checks."""
    ops = {op.request_id: op for op in load.operations}
    admin = system_actor()
    runtime = bootstrap.build(Settings(database_url=url, data_dir=data_dir))
    try:
        entries = [
            e
            for login in load.seeded.funded
            for e in runtime.app.iter_ledger(LedgerQuery(login=login), admin)
            if e.request_id
        ]
        balances = {
            login: runtime.app.get_account(login, admin).balance for login in load.seeded.funded
        }
    finally:
        runtime.close()
    seen = Counter(e.request_id for e in entries)
    applied = [op for op in ops.values() if op.outcome == "applied"]
    refused = [op for op in ops.values() if op.outcome == "refused"]
    strays = [
        f"{e.request_id} (entry {e.id})"
        for e in entries
        if e.request_id not in ops
        or ops[e.request_id].outcome != "applied"
        or ops[e.request_id].operation_id != e.id
        or e.amount != SIGN[ops[e.request_id].kind] * ops[e.request_id].cents
    ]
    expected = dict(load.seeded.funded)
    for op in applied:
        expected[op.login] += SIGN[op.kind] * op.cents
    return Findings(
        sent=len(ops),
        applied=len(applied),
        refused=len(refused),
        found=sum(1 for op in applied if seen[op.request_id]),
        duplicates=sum(n - 1 for n in seen.values() if n > 1),
        lost=sum(1 for op in applied if not seen[op.request_id]),
        strays=strays,
        unsettled=[
            f"{op.request_id}: {op.outcome}"
            for op in ops.values()
            if op.outcome not in ("applied", "refused")
        ],
        wrong_balances={
            login: (cents, balances[login])
            for login, cents in expected.items()
            if balances[login] != cents
        },
        verify={what: cli_check(what, url) for what in ("ledger", "audit")},
    )


def cli_check(what: str, url: str) -> str:
    """`brokerplane <what> verify` on the database: `OK (...)`, or `FAILED (...)`."""
    done = subprocess.run(
        [sys.executable, "-m", "brokerplane.cli.main", what, "verify", "--database-url", url],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = (done.stdout + done.stderr).strip().splitlines() or ["(no output)"]
    return f"{'OK' if done.returncode == 0 else 'FAILED'} ({lines[-1]})"


def tally(answers: Counter[str]) -> str:
    return ", ".join(f"{what} x{n}" for what, n in answers.most_common())


def server_errors(answers: Counter[str]) -> dict[str, int]:
    """Answers no client should ever get: 5xx other than 503 ManagerOffline."""
    return {
        what: n
        for what, n in answers.items()
        if what[:1] == "5" and not what.startswith("503 ManagerOffline")
    }


def wait_until(probe: Callable[[], Any], timeout: float = 180, every: float = 0.1) -> Any:
    """Poll `probe` until it returns something truthy (returned) or the time is up (None)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(every)
    return None
