"""Races through a real server socket, on both engines: many requests for one thing at one moment,
each on a connection of its own, get exactly the right outcomes. (The same races straight on the
services are in tests/storage; these add HTTP, the idempotency layer and the server's threads.)"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.model import LedgerQuery
from tests.e2e.test_money_server import _serving
from tests.reliability.support import engine_of, label, money, seed, size
from tests.storage.test_money_concurrency import _in_threads, assert_unbroken_chain

RACERS = size(16, 64)


def fire(base: str, requests: list[tuple[str, str, Any]]) -> list[httpx.Response]:
    """Send (API key, path, JSON body) POSTs all at once, each on a connection of its own."""

    def send(i: int) -> httpx.Response:
        key, path, body = requests[i]
        auth = {"Authorization": f"Bearer {key}"}
        with httpx.Client(base_url=base, timeout=120, headers=auth) as http:
            return http.post(path, json=body)

    return _in_threads(send, workers=len(requests))


def outcomes(answers: list[httpx.Response]) -> Counter[str]:
    return Counter(label(a) for a in answers)


def test_concurrent_withdrawals_on_one_account_never_overdraw(
    database_url: str,
    tmp_path: Path,
    runtime: Runtime,
    admin: Actor,
    summary: Callable[[str], None],
) -> None:
    balance, amount = size((10_00, 3_00), (20_00, 75))
    fits = balance // amount
    seeded = seed(database_url, tmp_path, 1, balance)
    (login,) = seeded.funded
    withdrawal = (seeded.key, "/v1/balances/withdraw", {"login": login, "amount": money(amount)})

    with _serving(runtime) as base:
        answers = fire(base, [withdrawal] * RACERS)

    seen = outcomes(answers)
    left = runtime.app.get_account(login, admin).balance
    summary(
        f"race withdrawals {engine_of(database_url)}: {RACERS} withdrawals of {money(amount)} "
        f"from {money(balance)} at once, answers {dict(seen)}, left {money(left)}"
    )
    refused = "400 ValidationError ledger.insufficient_funds"
    assert seen == {"200": fits, refused: RACERS - fits}
    assert left == balance % amount
    after = sorted(int(a.json()["balance"].replace(".", "")) for a in answers if a.is_success)
    assert after == [left + n * amount for n in range(fits)]
    assert_unbroken_chain(list(runtime.app.iter_ledger(LedgerQuery(login=login), admin)))
    assert runtime.app.verify_ledger() == []


def test_concurrent_opens_in_a_small_login_range_fill_it_and_no_more(
    database_url: str,
    tmp_path: Path,
    runtime: Runtime,
    admin: Actor,
    summary: Callable[[str], None],
) -> None:
    capacity = size(5, 20)
    seeded = seed(database_url, tmp_path, 0, 0)
    limits = {"login_range_from": 7000, "login_range_to": 7000 + capacity - 1}
    runtime.app.create_group(CreateGroup("race\\small", "USD", limits), admin)
    opens = [
        (seeded.key, "/v1/users", {"group": "race\\small", "name": f"Racer {i}", "leverage": 100})
        for i in range(RACERS)
    ]

    with _serving(runtime) as base:
        answers = fire(base, opens)

    seen = outcomes(answers)
    logins = sorted(a.json()["login"] for a in answers if a.status_code == 201)
    summary(
        f"race logins {engine_of(database_url)}: {RACERS} opens at once into a range of "
        f"{capacity}, answers {dict(seen)}, logins {logins}"
    )
    exhausted = "409 Conflict account.login_range_exhausted"
    assert seen[exhausted] == RACERS - capacity
    assert sum(seen.values()) - seen[exhausted] == len(logins)
    assert logins == list(range(7000, 7000 + capacity))
    assert runtime.app.verify_audit().ok


def test_one_pending_approval_decided_by_many_managers_at_once_applies_once(
    database_url: str,
    tmp_path: Path,
    runtime: Runtime,
    admin: Actor,
    summary: Callable[[str], None],
) -> None:
    services = runtime.app
    seeded = seed(database_url, tmp_path, 1, 1_00)
    (login,) = seeded.funded
    services.set_approval_threshold(SetApprovalThreshold("USD", "100"), admin)
    approvers = []
    for n in range(RACERS):
        services.create_manager(CreateManager(2000 + n, f"Approver {n}"), admin)
        scopes = frozenset({"balances:approve"})
        approvers.append(services.create_api_key(CreateApiKey(2000 + n, scopes), admin).secret)

    with _serving(runtime) as base:
        held = fire(
            base, [(seeded.key, "/v1/balances/deposit", {"login": login, "amount": "500.00"})]
        )[0]
        assert held.status_code == 202, held.text
        approval = held.json()["approval_id"]
        paths = [
            f"/v1/approvals/{approval}/{'reject' if i % 3 == 0 else 'approve'}"
            for i in range(RACERS)
        ]
        answers = fire(
            base, [(key, path, None) for key, path in zip(approvers, paths, strict=True)]
        )

    seen = outcomes(answers)
    final = services.get_approval(approval, admin)
    deposits = list(services.iter_ledger(LedgerQuery(login=login), admin))[1:]
    balance = services.get_account(login, admin).balance
    summary(
        f"race approvals {engine_of(database_url)}: {RACERS} managers decided approval "
        f"{approval} at once, answers {dict(seen)}, final state {final.state}, deposits "
        f"applied {len(deposits)}, balance {money(balance)}"
    )
    winners = [a for a in answers if a.status_code == 200]
    assert len(winners) == 1
    assert seen["409 Conflict approval.not_pending"] == RACERS - 1
    assert winners[0].json()["state"] == final.state
    if final.state == "approved":
        assert [(e.amount, e.approval_id) for e in deposits] == [(500_00, approval)]
        assert balance == 501_00
    else:
        assert (final.state, deposits, balance) == ("rejected", [], 1_00)
    assert services.verify_ledger() == []
    assert services.verify_audit().ok
