"""Money writes claim their request id inside the command's own transaction, on SQLite and
PostgreSQL: the claim is as durable as the posting (no lazy commit), a refused posting takes
its claim with it, and a repeat in the same group replays the first answer."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event

from brokerplane.application import answers
from brokerplane.application.app import Application
from brokerplane.application.idempotency import IdempotentRequest, Replay
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.errors import AlreadyApplied, InsufficientFunds, RequestInFlight
from brokerplane.core.group.model import Group
from brokerplane.core.idempotency import Claim, StoredResponse
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.core.ports import UnitOfWork

MANAGER = Actor(manager_login=1000, scopes=frozenset({"balances:write"}), dialect=Dialect.NATIVE)


def _post(
    services: Application, cmd: PostLedgerEntry, key: str, fingerprint: str = "same"
) -> Posting | Replay[Posting]:
    """A keyed posting as the dialects run it: the id claimed in the command's transaction."""
    request = IdempotentRequest("manager:1000", key, fingerprint)
    return services.run(cmd, replace(MANAGER, request_id=key), request)


def _account(services: Application, admin: Actor, group: Group, deposit: str) -> int:
    login = services.open_account(OpenAccount(group=group.name), admin).login
    services.post_ledger_entry(PostLedgerEntry(login, "deposit", deposit), admin)
    return login


def test_the_claim_commits_durably_with_the_posting_and_repeats_replay(
    runtime: Runtime, services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _account(services, admin, usd_group, "1.00")
    sent: list[str] = []

    def seen(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        sent.append(statement)

    engine = runtime.storage.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        posted = _post(services, PostLedgerEntry(login, "deposit", "2.00"), "k1")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    assert isinstance(posted, Posting) and posted.status == "applied"
    assert any("INSERT INTO idempotency_records" in s for s in sent)
    # A lazy commit here would make the posting's own commit lazy: never inside a command.
    assert not any("synchronous_commit" in s for s in sent)

    assert _post(services, PostLedgerEntry(login, "deposit", "2.00"), "k1") == Replay(posted)
    with pytest.raises(AlreadyApplied):
        _post(services, PostLedgerEntry(login, "deposit", "9.00"), "k1", "another request")
    assert services.get_account(login, admin).balance == 300
    stored = services.claim_request("manager:1000", "k1", "same")
    assert isinstance(stored, StoredResponse) and answers.load(stored.body) == posted


def test_a_refused_posting_takes_its_claim_with_it(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _account(services, admin, usd_group, "1.00")
    with pytest.raises(InsufficientFunds):
        _post(services, PostLedgerEntry(login, "withdrawal", "5.00"), "k2")
    # Nothing remembered: the same id serves the next request, with no release needed.
    posted = _post(services, PostLedgerEntry(login, "deposit", "5.00"), "k2")
    assert isinstance(posted, Posting) and posted.balance == 600
    assert isinstance(services.claim_request("manager:1000", "k3", "x"), Claim)


def test_an_id_held_in_flight_elsewhere_is_refused_until_released(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _account(services, admin, usd_group, "1.00")
    held = services.claim_request("manager:1000", "k4", "same")  # another process's claim
    assert isinstance(held, Claim)
    with pytest.raises(RequestInFlight):
        _post(services, PostLedgerEntry(login, "deposit", "1.00"), "k4")
    services.release_request(held)
    _post(services, PostLedgerEntry(login, "deposit", "1.00"), "k4")
    assert services.get_account(login, admin).balance == 200


class Gate:
    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def __call__(self, uow: UnitOfWork) -> None:
        self.entered.set()
        assert self.open.wait(20)


def test_one_id_twice_in_one_group_applies_once_and_replays_once(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _account(services, admin, usd_group, "1.00")
    gc = services.group_commit
    assert gc is not None
    cmd = PostLedgerEntry(login, "deposit", "4.00")
    call: Callable[[], Posting | Replay[Posting]] = lambda: _post(services, cmd, "k5")  # noqa: E731
    gate = Gate()
    with ThreadPoolExecutor(3) as pool:
        first = pool.submit(gc.run, gate)
        assert gate.entered.wait(20)
        futures: list[Future[Posting | Replay[Posting]]] = [pool.submit(call), pool.submit(call)]
        deadline = time.monotonic() + 20
        while gc.waiting < 2:
            assert time.monotonic() < deadline
            time.sleep(0.005)
        gate.open.set()
        first.result(20)
        outcomes = [f.exception(20) or f.result() for f in futures]
    postings = [o for o in outcomes if isinstance(o, Posting)]
    replays = [o for o in outcomes if isinstance(o, Replay)]
    assert len(postings) == 1 and len(replays) == 1, outcomes
    assert replays[0] == Replay(postings[0])
    entries = list(services.iter_ledger(LedgerQuery(login=login), admin))
    assert [(e.amount, e.request_id) for e in entries] == [(100, None), (400, "k5")]
    assert services.get_account(login, admin).balance == 500
    assert services.verify_ledger() == []
    assert services.verify_audit().ok
