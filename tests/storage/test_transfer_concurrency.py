"""Transfers under concurrency, on SQLite and PostgreSQL: transfers racing over one pair of
accounts in both directions never deadlock, never overdraw, never lose a leg, and one request
id raced from many threads moves the money once; `ledger verify` ties every leg to its one
record."""

from __future__ import annotations

from dataclasses import replace

from brokerplane.application.app import Application
from brokerplane.application.idempotency import IdempotentRequest
from brokerplane.core.actor import Actor
from brokerplane.core.errors import AlreadyApplied, InsufficientFunds, RequestInFlight
from brokerplane.core.group.model import Group
from brokerplane.core.ledger.commands import Transfer, TransferFunds
from brokerplane.core.ledger.model import LedgerQuery
from tests.storage.test_money_concurrency import MANAGER, _funded, _in_threads


def _try(services: Application, cmd: TransferFunds, actor: Actor = MANAGER) -> Transfer | None:
    try:
        return services.transfer_funds(cmd, actor)
    except InsufficientFunds:
        return None


def _balance(services: Application, admin: Actor, login: int) -> int:
    return services.get_account(login, admin).balance


def test_transfers_crossing_one_pair_both_ways_keep_the_total_and_never_overdraw(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    a = _funded(services, admin, "5.00")
    b = _funded(services, admin, "1.00")

    def work(i: int) -> Transfer | None:
        src, dst = (a, b) if i % 2 == 0 else (b, a)
        return _try(services, TransferFunds(src, dst, "2.00"))

    results = _in_threads(work, workers=16)

    done = [r for r in results if r is not None]
    assert done  # some went through; the rest were refused, not deadlocked
    assert _balance(services, admin, a) + _balance(services, admin, b) == 600
    assert min(_balance(services, admin, a), _balance(services, admin, b)) >= 0
    entries = list(services.iter_ledger(LedgerQuery(), admin))
    legs = [e for e in entries if e.comment.startswith("transfer")]
    assert len(legs) == 2 * len(done)
    report = services.audit_ledger()
    assert report.ok, report
    assert services.verify_audit().ok


def test_one_transfer_request_id_raced_from_many_threads_moves_money_once(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    a = _funded(services, admin, "10.00")
    b = _funded(services, admin, "0.01")
    cmd = TransferFunds(a, b, "3.00", reference="tr-dup")

    request = IdempotentRequest("manager:1000", "tr-42", "same-transfer", claim_first=True)

    def keyed(i: int) -> object:
        try:
            return services.run(cmd, replace(MANAGER, request_id="tr-42"), request)
        except (RequestInFlight, AlreadyApplied) as err:
            return err

    results = _in_threads(keyed, workers=16)

    assert sum(isinstance(r, Transfer) for r in results) == 1
    assert _balance(services, admin, a) == 700 and _balance(services, admin, b) == 301
    assert services.audit_ledger().ok
