"""The ledger, approvals and request ids in the database, on SQLite and PostgreSQL alike:
entries come back as posted, queries filter, the cached figures are checked against the
entries, and edits made behind the services' back are reported."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.account.model import Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, SetApprovalThreshold
from brokerplane.core.approval.model import Approval, ApprovalThreshold
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import InsufficientFunds
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.group.model import Group
from brokerplane.core.idempotency import Claim, IdempotencyRecord, StoredResponse
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from brokerplane.core.ledger.model import KINDS, FigureMismatch, LedgerEntry, LedgerQuery
from brokerplane.storage import tables as t
from tests.unit.fakes import FakeClock

REQUESTER = Actor(manager_login=1000, scopes=frozenset({"balances:write", "reports:read"}),
                  key_id="a" * 32, operator_id="crm-worker-ü", request_id="req-1",
                  dialect=Dialect.NATIVE, ip="192.0.2.7")  # fmt: skip
APPROVER = Actor(
    manager_login=1001,
    scopes=frozenset({"balances:approve"}),
    operator_id="second-pair-of-eyes",
    dialect=Dialect.NATIVE,
)


def _open(services: Application, admin: Actor, group: str = "real\\standard") -> Account:
    return services.open_account(OpenAccount(group=group, name="Ledger Test"), admin)


def _post(services: Application, actor: Actor, login: int, operation: str, amount: object,
          reference: str = "", comment: str = "") -> Posting:  # fmt: skip
    cmd = PostLedgerEntry(login, operation, amount, comment=comment, reference=reference)  # type: ignore[arg-type]  # text the core reads
    return services.post_ledger_entry(cmd, actor)


def _entry(posting: Posting) -> LedgerEntry:
    assert posting.entry is not None, posting
    return posting.entry


def _entries(services: Application, admin: Actor, **query: object) -> list[LedgerEntry]:
    return list(services.iter_ledger(LedgerQuery(**query), admin))  # type: ignore[arg-type]


def _sql(runtime: Runtime, statement: str) -> None:
    with runtime.storage.engine.begin() as conn:
        conn.execute(text(statement))


def _figures(services: Application, admin: Actor, login: int) -> tuple[int, int, int]:
    acc = services.get_account(login, admin)
    return acc.balance, acc.credit, acc.bonus


def _busy_day(services: Application, admin: Actor, clock: FakeClock, logins: list[int]) -> int:
    """Every kind of operation on every account, refusals included; the entries applied."""
    applied = 0
    for n, login in enumerate(logins):
        for operation, amount in [
            ("deposit", "1000.00"), ("withdrawal", "120.55"), ("credit", "300"),
            ("credit", "-100.01"), ("bonus", "50"), ("bonus", "-0.01"), ("correction", "-3.33"),
            ("correction", "7"), ("charge", "0.99"), ("deposit", f"{n + 1}.0{n % 10}"),
        ]:  # fmt: skip
            clock.advance(seconds=1)
            _post(services, admin, login, operation, amount, reference=f"{login}-{applied}")
            applied += 1
        with pytest.raises(InsufficientFunds):
            _post(services, admin, login, "withdrawal", "999999")
        with pytest.raises(InsufficientFunds):
            _post(services, admin, login, "bonus", "-1000")
    return applied


# ---- entries -------------------------------------------------------------------------------


def test_an_entry_comes_back_with_every_field_and_its_time_in_utc(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    login = _open(services, admin).login
    first = _entry(_post(services, REQUESTER, login, "deposit", "1234.56", reference="wire-ü-1",
                         comment="Überweisung «März»"))  # fmt: skip
    clock.advance(minutes=5, microseconds=1)
    second = _entry(_post(services, REQUESTER, login, "withdrawal", "0.56"))

    stored = _entries(services, admin, login=login)

    assert stored == [first, second]
    assert 0 < first.id < second.id
    assert (first.login, first.kind, first.amount, first.balance_after, first.credit_after,
            first.bonus_after, first.currency, first.currency_digits) == (
        login, "deposit", 123456, 123456, 0, 0, "USD", 2)  # fmt: skip
    assert (first.comment, first.reference) == ("Überweisung «März»", "wire-ü-1")
    assert (first.manager_login, first.key_id, first.operator_id, first.request_id,
            first.dialect, first.approval_id, first.approved_by) == (
        1000, "a" * 32, "crm-worker-ü", "req-1", "native", None, None)  # fmt: skip
    assert (second.kind, second.amount, second.balance_after) == ("withdrawal", -56, 123400)
    for entry in stored:
        assert entry.at.utcoffset() == timedelta(0)
    assert stored[1].at - stored[0].at == timedelta(minutes=5, microseconds=1)
    assert stored[1].at == clock.now


def test_an_entry_posted_under_a_clock_in_another_zone_is_stored_as_the_same_instant(
    runtime: Runtime, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    elsewhere = FakeClock(clock.now.astimezone(timezone(timedelta(hours=-5, minutes=-30))))
    services = Application(runtime.storage.uow, runtime.app.config, elsewhere)
    login = _open(services, admin).login

    entry = _entry(_post(services, admin, login, "deposit", "1"))

    (stored,) = _entries(services, admin, login=login)
    assert stored.at == entry.at == clock.now
    assert stored.at.utcoffset() == timedelta(0)


def test_an_approved_entry_names_the_approval_the_requester_and_the_approver(
    services: Application, admin: Actor, usd_group: Group
) -> None:
    login = _open(services, admin).login
    services.set_approval_threshold(SetApprovalThreshold("USD", "100"), admin)
    held = _post(services, REQUESTER, login, "deposit", "100.01")
    assert held.approval is not None

    decision = services.decide_approval(DecideApproval(held.approval.id, True, "ok"), APPROVER)

    (entry,) = _entries(services, admin, login=login)
    assert decision.posting is not None and decision.posting.entry == entry
    assert (entry.approval_id, entry.approved_by, entry.manager_login, entry.key_id,
            entry.operator_id, entry.request_id, entry.dialect) == (
        held.approval.id, 1001, 1000, "a" * 32, "crm-worker-ü", "req-1", "native")  # fmt: skip


def test_ledger_queries_filter_by_login_kind_time_reference_and_page_on_both_engines(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    a, b = _open(services, admin).login, _open(services, admin).login
    start = clock.now
    plan = [(a, "deposit", "100", "r1"), (a, "withdrawal", "10", "r2"),
            (b, "deposit", "50", "r1"), (a, "credit", "20", ""), (a, "bonus", "5", "r3"),
            (b, "correction", "-1", "r1")]  # fmt: skip
    made = []
    for login, operation, amount, reference in plan:
        made.append(_entry(_post(services, admin, login, operation, amount, reference)))
        clock.advance(hours=1)
    dep_a, wd_a, dep_b, cr_a, bo_a, co_b = made

    assert _entries(services, admin) == made
    assert _entries(services, admin, login=a) == [dep_a, wd_a, cr_a, bo_a]
    assert _entries(services, admin, login=b) == [dep_b, co_b]
    assert _entries(services, admin, kinds=("deposit",)) == [dep_a, dep_b]
    assert _entries(services, admin, kinds=("deposit", "credit_in"), login=a) == [dep_a, cr_a]
    assert _entries(services, admin, kinds=("credit_out", "bonus_out")) == []
    window = {"time_from": start + timedelta(hours=1), "time_to": start + timedelta(hours=3)}
    assert _entries(services, admin, **window) == [wd_a, dep_b]  # from inclusive, to exclusive
    shifted = timezone(timedelta(hours=3))
    assert _entries(
        services,
        admin,
        time_from=(start + timedelta(hours=4)).astimezone(shifted),
    ) == [bo_a, co_b]
    assert _entries(services, admin, reference="r1") == [dep_a, dep_b, co_b]
    assert _entries(services, admin, reference="r1", login=b) == [dep_b, co_b]
    assert _entries(services, admin, reference="nope") == []
    assert _entries(services, admin, after_id=dep_b.id) == [cr_a, bo_a, co_b]
    assert services.list_ledger(LedgerQuery(after_id=wd_a.id, limit=2), admin) == [dep_b, cr_a]
    pages, after = [], None
    while page := services.list_ledger(LedgerQuery(login=a, after_id=after, limit=1), admin):
        pages.append(page)
        after = page[-1].id
    assert [p[0] for p in pages] == [dep_a, wd_a, cr_a, bo_a]


# ---- cached figures against the entries ------------------------------------------------------


def test_no_account_differs_from_its_entries_after_many_operations(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    logins = [_open(services, admin).login for _ in range(4)]

    applied = _busy_day(services, admin, clock, logins)

    assert services.verify_ledger() == []
    entries = _entries(services, admin)
    assert len(entries) == applied
    for login in logins:
        sums = dict.fromkeys(("balance", "credit", "bonus"), 0)
        for e in entries:
            if e.login == login:
                sums[KINDS[e.kind][0]] += e.amount
        assert _figures(services, admin, login) == (sums["balance"], sums["credit"], sums["bonus"])


def test_a_balance_edited_with_sql_is_reported_with_its_login_and_figure(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock, runtime: Runtime
) -> None:
    logins = [_open(services, admin).login for _ in range(3)]
    _busy_day(services, admin, clock, logins)
    victim = logins[1]
    balance, credit, _bonus = _figures(services, admin, victim)

    _sql(runtime, f"UPDATE accounts SET balance = balance + 100000 WHERE login = {victim}")

    assert services.verify_ledger() == [
        FigureMismatch(victim, "balance", balance + 100000, balance, "USD", 2)
    ]
    _sql(runtime, f"UPDATE accounts SET credit = 0 WHERE login = {logins[2]}")
    credit_2 = _figures(services, admin, logins[2])[1]
    mismatches = services.verify_ledger()
    assert [(m.login, m.figure) for m in mismatches] == [(victim, "balance"), (logins[2], "credit")]
    assert (mismatches[1].cached, mismatches[1].ledger) == (credit_2, credit)


def test_a_ledger_entry_deleted_with_sql_is_reported_with_its_login_and_figure(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock, runtime: Runtime
) -> None:
    logins = [_open(services, admin).login for _ in range(3)]
    _busy_day(services, admin, clock, logins)
    bonus_out = _entries(services, admin, login=logins[0], kinds=("bonus_out",))[0]
    bonus = _figures(services, admin, logins[0])[2]

    _sql(runtime, f"DELETE FROM ledger_entries WHERE id = {bonus_out.id}")

    assert services.verify_ledger() == [
        FigureMismatch(logins[0], "bonus", bonus, bonus + 1, "USD", 2)
    ]
    _sql(runtime, f"DELETE FROM ledger_entries WHERE login = {logins[2]}")
    gone = [(m.login, m.figure, m.ledger) for m in services.verify_ledger()]
    assert gone == [(logins[0], "bonus", bonus + 1), (logins[2], "balance", 0),
                    (logins[2], "credit", 0), (logins[2], "bonus", 0)]  # fmt: skip


def test_an_account_given_money_with_sql_and_no_entries_is_reported(
    services: Application, admin: Actor, usd_group: Group, runtime: Runtime
) -> None:
    untouched = _open(services, admin).login
    _open(services, admin)

    _sql(runtime, f"UPDATE accounts SET bonus = 1 WHERE login = {untouched}")

    assert services.verify_ledger() == [FigureMismatch(untouched, "bonus", 1, 0, "USD", 2)]


# ---- the audit chain -----------------------------------------------------------------------


def test_the_audit_chain_verifies_after_many_money_operations(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    logins = [_open(services, admin).login for _ in range(3)]

    applied = _busy_day(services, admin, clock, logins)

    report = services.verify_audit()
    assert report.ok, report
    assert report.records == 1 + len(logins) + applied  # the group, the openings, the entries
    posted = services.query_audit(AuditQuery(action="ledger.entry_posted", limit=1000), admin)
    entries = _entries(services, admin)
    assert [r.after["entry"] for r in posted if r.after] == [e.snapshot() for e in entries]
    first = posted[0]
    assert (first.entity_type, first.entity_id) == ("account", str(entries[0].login))
    assert first.before == {"balance": 0, "credit": 0, "bonus": 0}


def test_a_ledger_audit_record_edited_with_sql_breaks_the_chain_there(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock, runtime: Runtime
) -> None:
    logins = [_open(services, admin).login for _ in range(2)]
    _busy_day(services, admin, clock, logins)
    posted = services.query_audit(AuditQuery(action="ledger.entry_posted", limit=1000), admin)
    target = posted[len(posted) // 2]
    with runtime.storage.engine.begin() as conn:
        row = t.audit_records.c.id == target.id
        after = conn.execute(select(t.audit_records.c.after).where(row)).scalar_one()
        after["entry"]["amount"] += 1
        conn.execute(t.audit_records.update().where(row).values(after=after))

    report = services.verify_audit()

    assert (report.ok, report.first_bad_id) == (False, target.id)


# ---- approvals and thresholds ----------------------------------------------------------------


def test_an_approval_comes_back_with_every_field_before_and_after_its_decision(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    login = _open(services, admin).login
    services.set_approval_threshold(SetApprovalThreshold("USD", "500"), admin)
    held = _post(
        services, REQUESTER, login, "deposit", "500.01", reference="big-1", comment="large wire"
    )
    approval = held.approval
    assert approval is not None and held.status == "pending_approval"

    assert services.get_approval(approval.id, admin) == approval
    assert (approval.login, approval.kind, approval.amount, approval.currency,
            approval.currency_digits, approval.comment, approval.reference, approval.state,
            approval.requested_by, approval.requested_key, approval.requested_operator,
            approval.request_id, approval.dialect, approval.requested_at,
            approval.expires_at) == (
        login, "deposit", 50001, "USD", 2, "large wire", "big-1", "pending", 1000, "a" * 32,
        "crm-worker-ü", "req-1", "native", clock.now, clock.now + timedelta(hours=72))  # fmt: skip
    assert _entries(services, admin, login=login) == []

    clock.advance(hours=1)
    decision = services.decide_approval(DecideApproval(approval.id, True, "checked ✓"), APPROVER)

    stored = services.get_approval(approval.id, admin)
    assert stored == decision.approval
    assert (stored.state, stored.decided_by, stored.decided_operator, stored.decided_at,
            stored.decision_comment) == (
        "approved", 1001, "second-pair-of-eyes", clock.now, "checked ✓")  # fmt: skip
    (entry,) = _entries(services, admin, login=login)
    assert stored.entry_id == entry.id
    assert stored.requested_at.utcoffset() == timedelta(0)


def test_thresholds_round_trip_and_a_group_override_wins_over_the_currency_default(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock
) -> None:
    services.create_group(CreateGroup("demo\\usd", "USD"), admin)
    services.set_approval_threshold(SetApprovalThreshold("USD", "1000"), admin)
    services.set_approval_threshold(SetApprovalThreshold("EUR", "10.5"), admin)
    override = services.set_approval_threshold(
        SetApprovalThreshold("USD", "50", group="real\\standard"), admin
    )

    assert services.list_approval_thresholds(admin) == [
        ApprovalThreshold("EUR", 1050, 2, 0, None, clock.now),
        ApprovalThreshold("USD", 100000, 2, 0, None, clock.now),
        ApprovalThreshold("USD", 5000, 2, usd_group.id, "real\\standard", clock.now),
    ]
    assert override == services.list_approval_thresholds(admin)[2]
    standard, demo = _open(services, admin).login, _open(services, admin, "demo\\usd").login
    assert _post(services, admin, standard, "deposit", "50.01").status == "pending_approval"
    assert _post(services, admin, demo, "deposit", "50.01").status == "applied"
    assert _post(services, admin, demo, "deposit", "1000.01").status == "pending_approval"

    clock.advance(minutes=1)
    services.set_approval_threshold(
        SetApprovalThreshold("USD", "75", group="real\\standard"), admin
    )
    services.set_approval_threshold(SetApprovalThreshold("EUR", None), admin)
    assert services.list_approval_thresholds(admin) == [
        ApprovalThreshold("USD", 100000, 2, 0, None, clock.now - timedelta(minutes=1)),
        ApprovalThreshold("USD", 7500, 2, usd_group.id, "real\\standard", clock.now),
    ]
    assert _post(services, admin, standard, "deposit", "75").status == "applied"


def _held(services: Application, login: int) -> Approval:
    approval = _post(services, REQUESTER, login, "deposit", "1").approval
    assert approval is not None
    return approval


def test_due_lists_only_pending_approvals_whose_expiry_has_come(
    services: Application, admin: Actor, usd_group: Group, clock: FakeClock, runtime: Runtime
) -> None:
    login = _open(services, admin).login
    services.set_approval_threshold(SetApprovalThreshold("USD", "0"), admin)  # hold everything
    start = clock.now
    first, approved, rejected = (_held(services, login) for _ in range(3))
    services.decide_approval(DecideApproval(approved.id, True), APPROVER)
    services.decide_approval(DecideApproval(rejected.id, False), APPROVER)
    clock.advance(hours=24)
    later = _held(services, login)

    def due(at: datetime) -> list[int]:
        with runtime.storage.uow(write=False) as uow:
            return [a.id for a in uow.approvals.due(at)]

    assert due(start + timedelta(hours=72) - timedelta(microseconds=1)) == []
    assert due(start + timedelta(hours=72)) == [first.id]  # the expiry instant itself is due
    assert due(start + timedelta(hours=100)) == [first.id, later.id]
    clock.advance(hours=48)  # 72 hours after the start
    assert services.run_maintenance() == (0, 1)
    assert services.get_approval(first.id, admin).state == "expired"
    assert services.get_approval(later.id, admin).state == "pending"
    assert due(clock.now) == []


# ---- the request-id store ------------------------------------------------------------------

NOW = datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)


def _record(key: str, *, expires_in: timedelta = timedelta(days=30)) -> IdempotencyRecord:
    return IdempotencyRecord(
        scope="manager:1000", key=key, fingerprint="f" * 64, token=secrets.token_hex(16),
        created_at=NOW, lease_until=NOW + timedelta(seconds=60), expires_at=NOW + expires_in,
    )  # fmt: skip


def _claim(record: IdempotencyRecord, token: str | None = None) -> Claim:
    return Claim(record.scope, record.key, record.fingerprint, token or record.token)


def test_inserting_a_request_id_twice_keeps_the_first_and_the_transaction_usable(
    runtime: Runtime,
) -> None:
    first, again = _record("k-1"), _record("k-1")
    with runtime.storage.uow() as uow:
        assert uow.idempotency.insert(first) is True
        uow.commit()

    with runtime.storage.uow() as uow:
        assert uow.idempotency.insert(again) is False
        assert uow.idempotency.insert(_record("k-2")) is True  # still usable after the refusal
        uow.commit()

    with runtime.storage.uow(write=False) as uow:
        assert uow.idempotency.get("manager:1000", "k-1") == first
        assert uow.idempotency.get("manager:1000", "k-2") is not None
        assert uow.idempotency.get("manager:1001", "k-1") is None  # keys are per scope


def test_completing_with_a_wrong_token_does_nothing_and_the_right_one_stores_the_response(
    runtime: Runtime,
) -> None:
    record = _record("k-1")
    with runtime.storage.uow() as uow:
        uow.idempotency.insert(record)
        uow.commit()
    response = StoredResponse(200, '{"operation_id":7,"note":"ü"}', "7")
    done_at = NOW + timedelta(seconds=2)

    with runtime.storage.uow() as uow:
        assert uow.idempotency.complete(_claim(record, "0" * 32), response, done_at) is False
        uow.idempotency.release(_claim(record, "0" * 32))  # nor does releasing
        uow.commit()
    with runtime.storage.uow(write=False) as uow:
        assert uow.idempotency.get("manager:1000", "k-1") == record  # still pending, unchanged

    with runtime.storage.uow() as uow:
        assert uow.idempotency.complete(_claim(record), response, done_at) is True
        uow.commit()
    with runtime.storage.uow() as uow:
        assert uow.idempotency.complete(_claim(record), response, done_at) is False  # done
        uow.idempotency.release(_claim(record))  # a done record is not released
        uow.commit()

    with runtime.storage.uow(write=False) as uow:
        stored = uow.idempotency.get("manager:1000", "k-1")
    assert stored is not None
    assert (stored.state, stored.status, stored.body, stored.operation_id, stored.completed_at) == (
        "done", 200, '{"operation_id":7,"note":"ü"}', "7", done_at)  # fmt: skip


def test_releasing_with_the_right_token_forgets_a_pending_request_id(runtime: Runtime) -> None:
    record = _record("k-1")
    with runtime.storage.uow() as uow:
        uow.idempotency.insert(record)
        uow.commit()

    with runtime.storage.uow() as uow:
        uow.idempotency.release(_claim(record))
        uow.commit()

    with runtime.storage.uow(write=False) as uow:
        assert uow.idempotency.get("manager:1000", "k-1") is None


def test_purge_deletes_only_request_ids_past_their_retention(runtime: Runtime) -> None:
    with runtime.storage.uow() as uow:
        for key, hours in [("old", 1), ("edge", 2), ("young", 3), ("fresh", 24 * 30)]:
            uow.idempotency.insert(_record(key, expires_in=timedelta(hours=hours)))
        uow.commit()

    with runtime.storage.uow() as uow:
        assert uow.idempotency.purge(NOW + timedelta(hours=2)) == 2
        uow.commit()

    with runtime.storage.uow(write=False) as uow:
        left = [
            k
            for k in ("old", "edge", "young", "fresh")
            if uow.idempotency.get("manager:1000", k) is not None
        ]
    assert left == ["young", "fresh"]
