"""Several `brokerplane serve` processes over one database, as several hosts (or `serve
--workers`) run them: nothing one process knows is missed by another. Money races across
processes still give exactly the right count; a revoked key, a disabled manager, a new password
and a sign-in lockout hold in every process from the next request; a rate limit is one
allowance, not one per process; a refresh token and a signed webhook sent to both at once are
used once; a process killed mid-load loses and doubles nothing; and
`serve --workers 2` replaces a killed worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager, UpdateManager
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.backoffice import webhooks
from brokerplane.core.backoffice.commands import NewAccount, OpenUser
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.core.trading.commands import QuoteInput
from tests.dialects.traderevolution.conftest import make_catalog
from tests.e2e.transport_support import ServerProcess
from tests.reliability.support import (
    SERVE,
    SERVER_ENV,
    Load,
    check,
    seed,
    server_errors,
    tally,
    wait_until,
)

MANAGER, PASSWORD = 1000, "Sev3ral!procs"
TE_TOKEN = "/proftrading/rest/auth/token"
LIMIT = 12  # native requests per key a minute in these servers
ENV = {
    "BROKERPLANE_RATE_LIMIT_PER_MINUTE": str(LIMIT),
    "BROKERPLANE_TE_RATE_LIMIT_PER_SECOND": "0",
    "BROKERPLANE_LOCKOUT_BASE_DELAY_S": "600",  # a lock outlasts the test
    "BROKERPLANE_DIALECTS": "native,traderevolution",
}

pytestmark = pytest.mark.engines("postgres")

Start = Callable[..., list[ServerProcess]]


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Start]:
    """start(url, count, env): `count` servers on the database, started together, all ready."""
    started: list[ServerProcess] = []

    def run(url: str, count: int = 2, env: dict[str, str] | None = None) -> list[ServerProcess]:
        made = [
            ServerProcess(
                url,
                tmp_path / f"server-{len(started) + n}.log",
                program=SERVE,
                extra_env=ENV if env is None else env,
            )
            for n in range(count)
        ]
        started.extend(made)
        for server in made:
            server.wait_ready()
        return made

    yield run
    for server in started:
        server.stop()


def _key(runtime: Runtime, admin: Actor, login: int = MANAGER) -> str:
    return runtime.app.create_api_key(CreateApiKey(login, frozenset(SCOPES)), admin).secret


def _manager(runtime: Runtime, admin: Actor, login: int = MANAGER) -> None:
    runtime.app.create_manager(CreateManager(login, f"Manager {login}", PASSWORD), admin)


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def _fifty_over_withdrawals_split_across_them_take_exactly_the_balance(
    runtime: Runtime, admin: Actor, a: ServerProcess, b: ServerProcess
) -> None:
    keys = [_key(runtime, admin) for _ in range(5)]  # 10 requests each: under the rate limit
    runtime.app.create_group(CreateGroup("procs", "USD"), admin)
    login = runtime.app.open_account(OpenAccount(group="procs", name="Race"), admin).login
    runtime.app.post_ledger_entry(PostLedgerEntry(login, "deposit", "10.00"), admin)

    def withdraw(n: int) -> httpx.Response:
        server = (a, b)[n % 2]
        headers = {**_auth(keys[n % 5]), "x-request-id": f"over-{n}"}
        body = {"login": login, "amount": "0.70", "reference": f"over-{n}"}
        return httpx.post(
            server.base + "/v1/balances/withdraw", json=body, headers=headers, timeout=60
        )

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(withdraw, range(50)))

    codes = [r.json().get("code") if r.status_code != 200 else 200 for r in answers]
    assert codes.count(200) == 14, codes  # 14 x 0.70 = 9.80 of the 10.00
    assert codes.count("ledger.insufficient_funds") == 36, codes
    assert runtime.app.get_account(login, admin).balance == 20  # cents left
    served = {(a, b)[n % 2].port for n, r in enumerate(answers) if r.status_code == 200}
    assert len(served) == 2  # both processes took some


def test_two_processes_over_one_database_answer_as_one_server(
    runtime: Runtime, admin: Actor, database_url: str, start: Start
) -> None:
    """One pair of processes (starting servers is the slow part): a money race split across
    them, then revocation, a new password, a disabled manager, a lockout, a rate limit and a
    quote, each learnt by one and held by the other on its next request."""
    _manager(runtime, admin)
    _manager(runtime, admin, 1001)
    a, b = start(database_url)
    _fifty_over_withdrawals_split_across_them_take_exactly_the_balance(runtime, admin, a, b)
    _revocation_a_new_password_and_a_disabled_manager(runtime, admin, a, b)
    _a_lockout_earned_on_one_holds_on_the_other(a, b)
    _a_keys_rate_limit_is_one_allowance(_key(runtime, admin), a, b)
    _a_quote_fed_to_one_is_read_by_the_other(runtime, admin, _key(runtime, admin), a, b)
    _refresh_tokens_and_webhooks_sent_to_both_are_used_once(runtime, admin, a, b)


def _refresh_tokens_and_webhooks_sent_to_both_are_used_once(
    runtime: Runtime, admin: Actor, a: ServerProcess, b: ServerProcess
) -> None:
    """Each refresh token, and each signed trading webhook id, sent several times at once to
    both processes: one session per token and one position per webhook id, whichever process
    each copy reached; the other copies are refused (tokens) or answered as replays."""
    services = runtime.app
    services.create_manager(CreateManager(1002, "Backoffice", PASSWORD, frozenset(SCOPES)), admin)
    ids = make_catalog(services, admin)
    made = services.open_user_with_accounts(
        OpenUser(
            "procs",
            "Trader#2024x",
            "procs@example.com",
            ids["retail"],
            accounts=(NewAccount("main"),),
        ),
        admin,
    )
    login = made.accounts[0].login
    services.post_ledger_entry(PostLedgerEntry(login, "deposit", "100000.00"), admin)
    fx = {
        "currency_base": "GBP",
        "currency_profit": "USD",
        "currency_margin": "GBP",
        "digits": 5,
        "contract_size": "100000",
    }
    services.create_symbol(CreateSymbol("GBPUSD", fx), admin)
    services.set_quotes([QuoteInput("GBPUSD", "1.25000", "1.25020")], admin)
    hook = services.create_webhook_key(webhooks.CreateWebhookKey(made.user.id), admin)
    hooks, tokens, copies = 4, 4, 6
    now_ms = int(time.time() * 1000)
    bodies = [
        json.dumps(
            {"symbol": "GBPUSD", "side": "buy", "volume": 0.01, "id": f"p-{n}", "timestamp": now_ms}
        ).encode()
        for n in range(hooks)
    ]

    def webhook(i: int) -> httpx.Response:
        raw = bodies[i % hooks]
        headers = {
            "X-Api-Key": hook.key.api_key,
            "Content-Type": "application/json",
            "X-Signature": webhooks.sign(hook.secret, raw),
        }
        server = (a, b)[(i // hooks) % 2]  # every id reaches both processes
        return httpx.post(
            server.base + "/proftrading/rest/webhooks/orders",
            content=raw,
            headers=headers,
            timeout=120,
        )

    refresh_tokens = []
    for n in range(tokens):
        signed = httpx.post(
            (a, b)[n % 2].base + TE_TOKEN, json={"login": "1002", "password": PASSWORD}, timeout=60
        )
        assert signed.status_code == 200, signed.text
        refresh_tokens.append(signed.json()["refreshToken"])

    def refresh(i: int) -> httpx.Response:
        token = refresh_tokens[i % tokens]
        return httpx.get(
            (a, b)[(i // tokens) % 2].base + "/proftrading/rest/auth/token/refresh",
            headers={"token": token},
            timeout=120,
        )

    with ThreadPoolExecutor(max_workers=hooks * copies) as pool:
        hooked = list(pool.map(webhook, range(hooks * copies)))
        refreshed = list(pool.map(refresh, range(tokens * copies)))
    assert all(r.status_code < 500 for r in hooked + refreshed)
    firsts = [
        r for r in hooked if r.status_code == 200 and r.headers.get("idempotent-replay") != "true"
    ]
    assert len(firsts) == hooks, [(r.status_code, dict(r.headers)) for r in hooked]
    assert len(services.list_positions(admin, logins=[login])) == hooks
    assert sum(r.status_code == 200 for r in refreshed) == tokens, [r.text for r in refreshed]
    assert all(r.status_code == 401 for r in refreshed if r.status_code != 200)


def _a_quote_fed_to_one_is_read_by_the_other(
    runtime: Runtime, admin: Actor, key: str, a: ServerProcess, b: ServerProcess
) -> None:
    """Quotes are stored, not cached: the next read anywhere sees the acknowledged one."""
    runtime.app.create_symbol(CreateSymbol("EURUSD"), admin)
    for bid, ask in (("1.10000", "1.10020"), ("1.20000", "1.20020")):
        quote = {"symbol": "EURUSD", "bid": bid, "ask": ask}
        fed = httpx.put(a.base + "/v1/quotes", json={"quotes": [quote]}, headers=_auth(key))
        assert fed.status_code == 200, fed.text
        read = httpx.get(b.base + "/v1/quotes?symbol=EURUSD", headers=_auth(key), timeout=30)
        assert read.json()["items"] == fed.json()["items"]


def _revocation_a_new_password_and_a_disabled_manager(
    runtime: Runtime, admin: Actor, a: ServerProcess, b: ServerProcess
) -> None:
    admin_key, other = _key(runtime, admin), _key(runtime, admin, 1001)
    issued = runtime.app.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), admin)
    revoked = issued.secret
    for server in (a, b):
        for key in (revoked, other):
            assert httpx.get(server.base + "/v1/groups", headers=_auth(key)).status_code == 200
    gone = httpx.delete(f"{a.base}/v1/keys/{issued.key.id}", headers=_auth(admin_key))
    assert gone.status_code == 200, gone.text
    # The very next request on the other process is refused.
    assert httpx.get(b.base + "/v1/groups", headers=_auth(revoked)).status_code == 401

    # A TraderEvolution session opened on one process; the password changed elsewhere (here,
    # a third process): the session ends on both.
    signed = httpx.post(b.base + TE_TOKEN, json={"login": "1001", "password": PASSWORD})
    assert signed.status_code == 200, signed.text
    bearer = {
        "Authorization": f"Bearer {signed.json()['accessToken']}",
        "accept": "application/json",
    }
    assert httpx.get(a.base + "/proftrading/rest/users", headers=bearer).status_code == 200
    runtime.app.update_manager(UpdateManager(1001, password="N3w!password"), admin)
    for server in (a, b):
        assert httpx.get(server.base + "/proftrading/rest/users", headers=bearer).status_code == 401

    runtime.app.update_manager(UpdateManager(1001, enabled=False), admin)
    for server in (a, b):
        assert httpx.get(server.base + "/v1/groups", headers=_auth(other)).status_code == 401


def _a_lockout_earned_on_one_holds_on_the_other(a: ServerProcess, b: ServerProcess) -> None:
    wrong = {"login": str(MANAGER), "password": "not-the-password"}
    for _ in range(5):  # BROKERPLANE_LOCKOUT_FAILURES
        assert httpx.post(a.base + TE_TOKEN, json=wrong, timeout=30).status_code == 401
    right = {"login": str(MANAGER), "password": PASSWORD}
    refused = httpx.post(b.base + TE_TOKEN, json=right, timeout=30)
    assert refused.status_code == 401
    assert "locked" in refused.text.lower() or "too many" in refused.text.lower(), refused.text


def _a_keys_rate_limit_is_one_allowance(key: str, a: ServerProcess, b: ServerProcess) -> None:
    answers = [
        httpx.get((a, b)[n % 2].base + "/v1/groups", headers=_auth(key), timeout=30)
        for n in range(2 * LIMIT)
    ]
    ok = [n for n, r in enumerate(answers) if r.status_code == 200]
    limited = [n for n, r in enumerate(answers) if r.status_code == 429]
    # Each process counting alone would let all 24 through (12 each). One shared allowance
    # lets 12 through, and a few more as it refills (one every 5 s) on a slow machine.
    assert len(ok) + len(limited) == 2 * LIMIT
    assert LIMIT <= len(ok) < 2 * LIMIT - 4, [r.status_code for r in answers]
    assert {n % 2 for n in limited} == {0, 1}  # both processes refuse
    assert all(int(answers[n].headers["retry-after"]) >= 1 for n in limited)


class _Either:
    """The load's server address: the live servers in turn (a killed one is taken out)."""

    def __init__(self, servers: list[ServerProcess]) -> None:
        self.live = list(servers)
        self.turn = 0

    @property
    def base(self) -> str:
        self.turn += 1
        return self.live[self.turn % len(self.live)].base


def _metric(server: ServerProcess, key: str, name: str) -> float:
    """The sum of a metric's samples on one server's /metrics."""
    text = httpx.get(server.base + "/metrics", headers=_auth(key), timeout=30).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def test_two_processes_group_committing_the_same_accounts_lose_and_double_nothing(
    database_url: str, tmp_path: Path, start: Start
) -> None:
    """Deposits and withdrawals on four accounts through two processes, each batching what it
    receives into shared transactions: their batches lock the accounts in different orders,
    and a batch PostgreSQL aborts for a deadlock runs again command by command, so every client
    gets its own answer the first time (no 5xx). Then one process is SIGKILLed mid-load and the
    other keeps serving. Every acknowledged operation is in the ledger once."""
    seeded = seed(database_url, tmp_path, 4, 500_00)
    a, b = start(database_url, env=SERVER_ENV)
    either = _Either([a, b])
    with Load("procs", either, seeded, 16) as load:  # type: ignore[arg-type]
        assert load.wait_for_progress(100), "the two processes made no progress"
        with load._lock:
            before_the_kill = Counter(load.answers)
        batches = [
            _metric(s, seeded.key, "brokerplane_group_commit_batch_size_count") for s in (a, b)
        ]
        b.kill()
        either.live = [a]
        assert load.wait_for_progress(20), "the survivor made no progress"
    findings = check(load, database_url, tmp_path)

    refused = "400 ValidationError ledger.insufficient_funds"  # a withdrawal beyond the balance
    assert set(before_the_kill) <= {"200", refused}, before_the_kill
    assert all(n > 0 for n in batches)  # both processes committed money, in their own batches
    assert server_errors(load.answers) == {}, tally(load.answers)
    assert findings.unsettled == []
    assert (findings.duplicates, findings.lost, findings.strays) == (0, 0, [])
    assert findings.found == findings.applied > 0
    assert findings.wrong_balances == {}
    assert findings.clean, findings.verify


def _children(pid: int) -> set[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return set()
    return {int(p) for p in text.split()}


@pytest.mark.engines("sqlite", "postgres")
def test_serve_with_two_workers_serves_and_replaces_a_killed_worker(
    runtime: Runtime, admin: Actor, database_url: str, start: Start
) -> None:
    _manager(runtime, admin)
    key = _key(runtime, admin)
    runtime.app.create_group(CreateGroup("procs", "USD"), admin)
    login = runtime.app.open_account(OpenAccount(group="procs", name="Workers"), admin).login
    (server,) = start(database_url, 1, {**SERVER_ENV, "BROKERPLANE_WORKERS": "2"})
    workers = wait_until(lambda: len(_children(server.proc.pid)) == 2, timeout=60)
    assert workers, server.log.read_text()
    first = _children(server.proc.pid)

    def deposit(n: int) -> int:
        headers = {**_auth(key), "x-request-id": f"w-{n}"}
        body = {"login": login, "amount": "1.00", "reference": f"w-{n}"}
        for _ in range(100):
            try:
                r = httpx.post(
                    server.base + "/v1/balances/deposit", json=body, headers=headers, timeout=60
                )
            except httpx.TransportError:  # cut by the kill: the same request id again
                time.sleep(0.2)
                continue
            if r.status_code in (409, 503):
                time.sleep(0.2)
                continue
            return r.status_code
        return 0

    with ThreadPoolExecutor(max_workers=8) as pool:
        futures = [pool.submit(deposit, n) for n in range(40)]
        assert wait_until(lambda: sum(f.done() for f in futures) >= 10, timeout=120)
        victim = min(first)
        os.kill(victim, signal.SIGKILL)  # mid-load
        codes = [f.result() for f in futures]
    assert codes == [200] * 40
    replaced = wait_until(lambda: len(_children(server.proc.pid) - first) == 1, timeout=60)
    assert replaced, server.log.read_text()
    assert _children(server.proc.pid) & first == first - {victim}
    assert "was killed by SIGKILL; starting another" in server.log.read_text()
    with ThreadPoolExecutor(max_workers=8) as pool:  # the new worker serves too
        assert list(pool.map(deposit, range(40, 60))) == [200] * 20
    assert runtime.app.get_account(login, admin).balance == 60_00

    server.proc.terminate()  # a graceful stop of every worker
    assert server.proc.wait(timeout=60) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in _children(server.proc.pid) | first)


@pytest.mark.engines("sqlite")
def test_workers_over_an_in_memory_database_are_refused_in_one_line(tmp_path: Path) -> None:
    done = subprocess.run(  # the port is never bound: the database is refused first
        [
            *SERVE,
            "serve",
            "--workers",
            "2",
            "--port",
            "8",
            "--data-dir",
            str(tmp_path),
            "--database-url",
            "sqlite:///:memory:",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "an in-memory SQLite database is one per process" in done.stdout + done.stderr
    assert not (tmp_path / "audit.key").exists()  # refused before anything was written
