"""Request ids over the fakes: claim, replay, conflicts, leases, expiry, and the write it guards."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any, TypeVar

import pytest

from brokerplane.application import answers
from brokerplane.application.app import Application
from brokerplane.application.idempotency import IdempotentRequest, Replay
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.errors import (
    AlreadyApplied,
    InsufficientFunds,
    RequestInFlight,
    ValidationError,
)
from brokerplane.core.group.model import Group
from brokerplane.core.idempotency import Claim, IdempotencyRecord, StoredResponse, claim
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ports import UnitOfWork
from tests.unit.fakes import FakeClock, FakeUowFactory

T = TypeVar("T")

SCOPE = "manager:1001"
RETENTION = timedelta(days=30)
LEASE = timedelta(seconds=60)
DONE = StoredResponse(200, '{"operation_id": 17}', "17")


def _in_tx(uows: FakeUowFactory, fn: Callable[[UnitOfWork], T]) -> T:
    with uows() as uow:
        result = fn(uow)
        uow.commit()
        return result


def _claim(
    uows: FakeUowFactory,
    clock: FakeClock,
    key: str = "req-1",
    fingerprint: str = "fp-a",
    scope: str = SCOPE,
) -> Claim | StoredResponse:
    return _in_tx(
        uows,
        lambda u: claim(
            u.idempotency, scope, key, fingerprint, clock(), retention=RETENTION, lease=LEASE
        ),
    )


def _held(uows: FakeUowFactory, clock: FakeClock, **kw: str) -> Claim:
    result = _claim(uows, clock, **kw)
    assert isinstance(result, Claim)
    return result


def _complete(
    uows: FakeUowFactory, clock: FakeClock, held: Claim, response: StoredResponse = DONE
) -> bool:
    return _in_tx(uows, lambda u: u.idempotency.complete(held, response, clock()))


def _release(uows: FakeUowFactory, held: Claim) -> None:
    _in_tx(uows, lambda u: u.idempotency.release(held))


def _record(uows: FakeUowFactory, key: str = "req-1", scope: str = SCOPE) -> IdempotencyRecord:
    return uows.state.idempotency[(scope, key)]


# --- claim -----------------------------------------------------------------------------------


def test_the_first_use_of_a_request_id_claims_it_under_a_lease(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    held = _held(uows, clock)

    assert (held.scope, held.key, held.fingerprint) == (SCOPE, "req-1", "fp-a")
    assert len(held.token) == 32
    rec = _record(uows)
    assert (rec.state, rec.fingerprint, rec.token, rec.status, rec.body) == (
        "pending",
        "fp-a",
        held.token,
        None,
        None,
    )
    assert (rec.created_at, rec.lease_until, rec.expires_at) == (
        clock.now,
        clock.now + LEASE,
        clock.now + RETENTION,
    )


def test_each_claim_gets_its_own_token(uows: FakeUowFactory, clock: FakeClock) -> None:
    first = _held(uows, clock, key="a")
    second = _held(uows, clock, key="b")

    assert first.token != second.token


def test_completing_a_claim_remembers_the_response(uows: FakeUowFactory, clock: FakeClock) -> None:
    held = _held(uows, clock)
    clock.advance(seconds=2)

    assert _complete(uows, clock, held) is True

    rec = _record(uows)
    assert (rec.state, rec.status, rec.body, rec.operation_id, rec.completed_at) == (
        "done",
        200,
        DONE.body,
        "17",
        clock.now,
    )


def test_a_repeat_with_the_same_payload_replays_the_stored_response(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    _complete(uows, clock, _held(uows, clock))
    clock.advance(days=29)

    assert _claim(uows, clock) == DONE
    assert _record(uows).state == "done"


def test_a_repeat_with_a_different_payload_is_already_applied_naming_the_operation(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    _complete(uows, clock, _held(uows, clock))
    before = replace(_record(uows))

    with pytest.raises(AlreadyApplied) as caught:
        _claim(uows, clock, fingerprint="fp-b")

    err = caught.value
    assert err.code == "request.already_applied"
    assert err.context == {"key": "req-1", "operation_id": "17", "original_status": 200}
    assert "operation 17" in err.detail and "nothing was applied" in err.detail
    assert _record(uows) == before


def test_already_applied_without_an_operation_names_none(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    _complete(uows, clock, _held(uows, clock), StoredResponse(201, "{}"))

    with pytest.raises(AlreadyApplied) as caught:
        _claim(uows, clock, fingerprint="fp-b")

    assert caught.value.context["operation_id"] is None
    assert "operation" not in caught.value.detail


@pytest.mark.parametrize(
    ("elapsed", "retry_after"),
    [
        (timedelta(0), 5),
        (timedelta(seconds=55), 5),
        (timedelta(seconds=57), 3),
        (timedelta(seconds=58, milliseconds=500), 2),
        (timedelta(seconds=59, microseconds=999999), 1),
    ],
)
def test_a_repeat_while_the_first_runs_is_in_flight_with_a_short_retry_after(
    uows: FakeUowFactory, clock: FakeClock, elapsed: timedelta, retry_after: int
) -> None:
    held = _held(uows, clock)
    clock.now += elapsed

    with pytest.raises(RequestInFlight) as caught:
        _claim(uows, clock)

    assert caught.value.code == "request.in_flight"
    assert caught.value.context == {"key": "req-1", "retry_after": retry_after}
    assert _record(uows).token == held.token


def test_a_different_payload_while_the_first_runs_is_in_flight_too(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    _held(uows, clock)

    with pytest.raises(RequestInFlight):
        _claim(uows, clock, fingerprint="fp-b")


def test_a_claim_whose_lease_ran_out_is_taken_over(uows: FakeUowFactory, clock: FakeClock) -> None:
    original = _held(uows, clock)
    clock.advance(seconds=60)

    taker = _held(uows, clock, fingerprint="fp-b")

    assert taker.token != original.token
    rec = _record(uows)
    assert (rec.token, rec.fingerprint, rec.state) == (taker.token, "fp-b", "pending")
    assert (rec.created_at, rec.lease_until) == (clock.now, clock.now + LEASE)


def test_the_late_original_cannot_complete_or_release_a_claim_taken_over(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    original = _held(uows, clock)
    clock.advance(seconds=61)
    taker = _held(uows, clock)

    assert _complete(uows, clock, original) is False
    _release(uows, original)
    assert _record(uows).token == taker.token
    assert _record(uows).state == "pending"

    assert _complete(uows, clock, taker, StoredResponse(202, "taker")) is True
    assert _claim(uows, clock) == StoredResponse(202, "taker")


def test_a_claim_cannot_be_completed_twice(uows: FakeUowFactory, clock: FakeClock) -> None:
    held = _held(uows, clock)
    _complete(uows, clock, held)

    assert _complete(uows, clock, held, StoredResponse(500, "again")) is False
    assert _record(uows).body == DONE.body


def test_a_record_past_its_retention_is_replaced_by_a_new_claim(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    _complete(uows, clock, _held(uows, clock))
    clock.advance(days=30)

    fresh = _claim(uows, clock, fingerprint="fp-b")

    assert isinstance(fresh, Claim)
    rec = _record(uows)
    assert (rec.state, rec.fingerprint, rec.status, rec.body, rec.token) == (
        "pending",
        "fp-b",
        None,
        None,
        fresh.token,
    )
    assert rec.expires_at == clock.now + RETENTION


def test_a_released_key_may_be_used_again_for_anything(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    held = _held(uows, clock)

    _release(uows, held)

    assert uows.state.idempotency == {}
    assert isinstance(_claim(uows, clock, fingerprint="fp-b"), Claim)


def test_releasing_a_completed_claim_keeps_its_response(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    held = _held(uows, clock)
    _complete(uows, clock, held)

    _release(uows, held)

    assert _claim(uows, clock) == DONE


def test_request_ids_are_scoped_per_manager(uows: FakeUowFactory, clock: FakeClock) -> None:
    _complete(uows, clock, _held(uows, clock))

    other = _claim(uows, clock, fingerprint="fp-b", scope="manager:1002")

    assert isinstance(other, Claim)
    assert _claim(uows, clock) == DONE


def test_a_concurrent_insert_of_the_same_key_is_judged_not_overwritten(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    winner = _held(uows, clock)

    class RacingStore:
        """Answers the first look-up as if the winner's insert were not yet visible."""

        def __init__(self, inner: Any) -> None:
            self.inner, self.looked = inner, False

        def get(self, scope: str, key: str, *, for_update: bool = False) -> Any:
            if not self.looked:
                self.looked = True
                return None
            return self.inner.get(scope, key, for_update=for_update)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    with uows() as uow, pytest.raises(RequestInFlight):
        claim(
            RacingStore(uow.idempotency),
            SCOPE,
            "req-1",
            "fp-b",
            clock(),
            retention=RETENTION,
            lease=LEASE,
        )

    assert _record(uows).token == winner.token


def test_purge_forgets_only_records_past_their_retention(
    uows: FakeUowFactory, clock: FakeClock
) -> None:
    _complete(uows, clock, _held(uows, clock, key="old-done"))
    _held(uows, clock, key="old-pending")
    clock.advance(days=1)
    _complete(uows, clock, _held(uows, clock, key="young"))
    clock.advance(days=29)

    purged = _in_tx(uows, lambda u: u.idempotency.purge(clock()))

    assert purged == 2
    assert list(uows.state.idempotency) == [(SCOPE, "young")]


def test_maintenance_purges_expired_request_ids(
    services: Application, uows: FakeUowFactory, clock: FakeClock
) -> None:
    services.claim_request(SCOPE, "a", "fp")
    services.claim_request(SCOPE, "b", "fp")
    clock.advance(days=30)
    services.claim_request(SCOPE, "c", "fp")

    assert services.run_maintenance() == (2, 0)
    assert services.run_maintenance() == (0, 0)
    assert list(uows.state.idempotency) == [(SCOPE, "c")]


@pytest.mark.parametrize("key", ["", "k" * 128, "line\nbreak", "tab\there", "nul\x00", "\x7f"])
def test_a_request_id_must_be_1_to_127_printable_characters(
    uows: FakeUowFactory, clock: FakeClock, key: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        _claim(uows, clock, key=key)

    assert [f.field for f in caught.value.fields] == ["x-request-id"]
    assert uows.state.idempotency == {}


@pytest.mark.parametrize("key", ["k" * 127, "a", "550e8400-e29b-41d4-a716-446655440000", "ü ß"])
def test_a_request_id_of_printable_characters_is_accepted(
    uows: FakeUowFactory, clock: FakeClock, key: str
) -> None:
    assert isinstance(_claim(uows, clock, key=key), Claim)


# --- the write a claim guards ----------------------------------------------------------------


TELLER = Actor(manager_login=1001, scopes=frozenset({"balances:write"}), request_id="req-1")


def _request(
    key: str = "req-1", fingerprint: str = "fp-a", *, first: bool = False
) -> IdempotentRequest:
    """A request id as a dialect hands it in; `first`: claimed before the command."""
    return IdempotentRequest(SCOPE, key, fingerprint, claim_first=first)


@pytest.fixture
def account(services: Application, admin: Actor, usd_group: Group) -> Account:
    return services.open_account(OpenAccount(group="real\\standard"), admin)


def _deposit(account: Account, amount: str = "10") -> PostLedgerEntry:
    return PostLedgerEntry(account.login, "deposit", amount)


def test_a_write_stores_its_result_in_the_same_commit_as_the_change(
    services: Application, account: Account, uows: FakeUowFactory
) -> None:
    commits = uows.commits

    posting = services.run(_deposit(account), TELLER, _request())

    assert uows.commits == commits + 1  # claim, change and answer: one transaction
    rec = _record(uows)
    assert (rec.state, rec.status, rec.operation_id) == ("done", None, None)
    assert answers.load(rec.body or "") == posting  # the result as data, no dialect's words
    assert [e.id for e in uows.state.ledger] == [posting.operation_id]  # type: ignore[union-attr]


def test_a_replayed_write_returns_the_stored_result_and_applies_nothing(
    services: Application, admin: Actor, account: Account, uows: FakeUowFactory
) -> None:
    posting = services.run(_deposit(account), TELLER, _request())

    replay = services.run(_deposit(account), TELLER, _request())

    assert replay == Replay(posting)
    assert services.get_account(account.login, admin).balance == 1000
    with pytest.raises(AlreadyApplied) as caught:
        services.run(_deposit(account, "11"), TELLER, _request(fingerprint="fp-b"))
    assert caught.value.earlier == Replay(posting)  # for the dialect to name the operation
    assert services.get_account(account.login, admin).balance == 1000


def test_a_record_stored_before_answers_were_data_replays_as_it_was_sent(
    services: Application, account: Account, uows: FakeUowFactory, clock: FakeClock
) -> None:
    held = _held(uows, clock)
    old = StoredResponse(200, '{"operation_id":17}', "17")  # a dialect's rendered answer
    _in_tx(uows, lambda u: u.idempotency.complete(held, old, clock()))

    replay = services.run(_deposit(account), TELLER, _request())

    assert isinstance(replay, Replay) and replay.response == old  # sent as it is, no result
    assert uows.state.ledger == []
    with pytest.raises(AlreadyApplied) as caught:
        services.run(_deposit(account), TELLER, _request(fingerprint="fp-b"))
    assert caught.value.context["operation_id"] == "17"
    assert caught.value.context["original_status"] == 200


@pytest.mark.parametrize("first", [False, True])
def test_a_write_that_fails_stores_nothing_and_frees_the_key(
    services: Application, account: Account, uows: FakeUowFactory, first: bool
) -> None:
    withdrawal = PostLedgerEntry(account.login, "withdrawal", "10")

    with pytest.raises(InsufficientFunds):
        services.run(withdrawal, TELLER, _request(first=first))

    assert uows.state.ledger == []
    assert uows.state.idempotency == {}  # rolled back with the command, or let go after it
    assert isinstance(services.claim_request(SCOPE, "req-1", "fp-b"), Claim)


def test_a_write_whose_commit_fails_stores_neither_change_nor_answer(
    services: Application, account: Account, uows: FakeUowFactory
) -> None:
    uows.fail_next_commit = OSError("disk full")

    with pytest.raises(OSError):
        services.run(_deposit(account), TELLER, _request(first=True))

    assert uows.state.ledger == []
    assert uows.state.accounts[account.login].balance == 0
    assert uows.state.idempotency == {}  # the claim let go: a retry applies it


def test_a_write_whose_claim_was_taken_over_applies_nothing(
    services: Application, admin: Actor, account: Account, uows: FakeUowFactory, clock: FakeClock
) -> None:
    taken: list[Claim] = []

    def late(actor: Actor) -> Posting:  # the lease runs out and another request claims it
        clock.advance(seconds=61)
        taken.append(_claimed(services))
        return services.post_ledger_entry(_deposit(account), actor)

    with pytest.raises(RequestInFlight):
        services.run_call(late, TELLER, _request(first=True))

    assert uows.state.ledger == []
    assert services.get_account(account.login, admin).balance == 0
    assert _record(uows).token == taken[0].token  # the taker's claim stands


def _claimed(services: Application, key: str = "req-1", fingerprint: str = "fp-a") -> Claim:
    held = services.claim_request(SCOPE, key, fingerprint)
    assert isinstance(held, Claim)
    return held


def test_a_write_without_a_claim_stores_nothing(
    services: Application, account: Account, uows: FakeUowFactory
) -> None:
    actor = Actor(manager_login=1001, scopes=frozenset({"balances:write"}), request_id="req-9")

    services.post_ledger_entry(PostLedgerEntry(account.login, "deposit", "10"), actor)

    assert uows.state.idempotency == {}
