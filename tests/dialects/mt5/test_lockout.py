"""The MT5 handshake under the sign-in lockout every dialect shares: wrong answers hold the
manager's login back for a while (even the right password), whatever X-Forwarded-For says."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.api.mt5.auth import password_hash, rand_answer
from brokerplane.bootstrap import Runtime
from brokerplane.core.access import handshake as core_handshake
from brokerplane.core.access.commands import AnswerChallenge, ChallengeAnswered, CreateManager
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.ports import UnitOfWork
from tests.dialects.mt5.conftest import MANAGER, PASSWORD, handshake
from tests.unit.fakes import FakeClock


@pytest.fixture
def client(runtime: Runtime, admin: Actor) -> TestClient:
    runtime.app.create_manager(
        CreateManager(MANAGER, "MT5 Manager", PASSWORD, frozenset(SCOPES)), admin
    )
    return TestClient(create_app(runtime))


def test_after_five_wrong_answers_the_right_password_waits_for_the_lock_to_end(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr(runtime.app, "clock", clock)
    for n in range(5):
        client.headers["X-Forwarded-For"] = f"198.51.100.{n}"  # a new address: no help
        wrong = handshake(client, MANAGER, f"Guess#{n}")
        assert (wrong.status_code, wrong.json()["retcode"]) == (403, "8 Not enough permissions")

    held = handshake(client, MANAGER, PASSWORD)
    assert held.status_code == 403
    assert "try again in 1 s" in held.json()["reason"]
    clock.advance(seconds=1)
    assert handshake(client, MANAGER, PASSWORD).status_code == 200


def test_a_good_handshake_starts_the_count_again(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runtime.app, "clock", FakeClock(datetime.now(UTC)))
    for _ in range(2):
        for _ in range(4):
            assert handshake(client, MANAGER, "Wrong#1").status_code == 403
        assert handshake(client, MANAGER, PASSWORD).status_code == 200


def test_an_unknown_login_is_counted_like_a_known_one(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Guessing at a login that does not exist locks the same way: the answer does not
    tell which logins exist."""
    monkeypatch.setattr(runtime.app, "clock", FakeClock(datetime.now(UTC)))
    for _ in range(5):
        assert handshake(client, 4242, PASSWORD).status_code == 403
    held = handshake(client, 4242, PASSWORD)
    assert "try again in 1 s" in held.json()["reason"]


# A race between connections on the lockout counters (row locks differ per engine).
@pytest.mark.engines("sqlite", "postgres")
def test_forty_parallel_wrong_answers_reach_the_password_at_most_five_times(
    runtime: Runtime, client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However many connections answer at once, the lockout admits its threshold of them to
    the password and refuses the rest: the attempt is counted before the check."""
    monkeypatch.setattr(runtime.app, "clock", FakeClock(datetime.now(UTC)))
    checked: list[int] = []
    real = core_handshake.check_answer

    def counted(uow: UnitOfWork, cmd: AnswerChallenge) -> ChallengeAnswered | None:
        checked.append(cmd.login)
        return real(uow, cmd)

    monkeypatch.setattr(core_handshake, "check_answer", counted)
    conns = [TestClient(client.app, client=("203.0.113.9", 41000 + n)) for n in range(40)]
    rands = []
    hello = {"version": "3470", "agent": "pytest", "login": str(MANAGER), "type": "manager"}
    for conn in conns:
        start = conn.get("/api/auth/start", params=hello)
        rands.append(bytes.fromhex(start.json()["srv_rand"]))
    go = threading.Barrier(40)

    def answer(n: int) -> int:
        go.wait(timeout=30)
        wrong = rand_answer(password_hash(f"Guess#{n}"), rands[n])
        params = {"srv_rand_answer": wrong, "cli_rand": "00" * 16}
        result: int = conns[n].get("/api/auth/answer", params=params).status_code
        return result

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(answer, range(40)))

    assert statuses == [403] * 40
    assert len(checked) == 5
