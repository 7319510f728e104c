"""The money commands of `brokerplane` (ledger verify, approval thresholds, maintenance) and the
money part of the demo data, run in-process through click's CliRunner on both engines."""

from __future__ import annotations

import json
from datetime import timedelta

from click.testing import CliRunner, Result
from sqlalchemy import text

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.cli.main import main
from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import DecideApproval, SetApprovalThreshold
from brokerplane.core.approval.model import ApprovalQuery
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import Posting, PostLedgerEntry
from tests.unit.fakes import FakeClock


def run(*args: str) -> Result:
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def open_usd_account(runtime: Runtime, admin: Actor) -> int:
    services = runtime.app
    services.create_group(
        CreateGroup("real\\standard", "USD", {"default_leverage": 100, "max_leverage": 500}), admin
    )
    return services.open_account(OpenAccount(group="real\\standard", leverage=100), admin).login


def post(runtime: Runtime, actor: Actor, login: int, operation: str, amount: str) -> Posting:
    cmd = PostLedgerEntry(login=login, operation=operation, amount=amount, reference="ref-1")  # type: ignore[arg-type]  # text the core reads
    return runtime.app.post_ledger_entry(cmd, actor)


def key_actor(runtime: Runtime, secret: str) -> Actor:
    identity = runtime.app.authenticate_key(secret)
    return Actor(
        manager_login=identity.manager.login,
        scopes=identity.scopes,
        key_id=identity.key.id,
        dialect=Dialect.NATIVE,
    )


# --------------------------------------------------------------------------- ledger verify


def test_ledger_verify_passes_after_money_has_moved(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    login = open_usd_account(runtime, admin)
    for operation, amount in (
        ("deposit", "250.00"),
        ("withdrawal", "40.00"),
        ("credit", "100"),
        ("credit", "-30"),
        ("bonus", "15.50"),
        ("correction", "-0.01"),
        ("charge", "2.00"),
    ):
        post(runtime, admin, login, operation, amount)
    result = run("ledger", "verify", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "ledger OK: 1 account checked, 7 entries tied to their audit records"
    )


def test_ledger_verify_names_the_account_whose_cached_balance_was_edited(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    login = open_usd_account(runtime, admin)
    post(runtime, admin, login, "deposit", "100.00")
    with runtime.storage.engine.begin() as conn:  # tampering, behind the services' back
        conn.execute(
            text("UPDATE accounts SET balance = balance + 1 WHERE login = :login"), {"login": login}
        )
    result = run("ledger", "verify", "--database-url", database_url)
    assert result.exit_code == 1
    assert f"account {login} balance: cached 100.01 USD, ledger sum 100.00 USD" in result.stderr
    assert "1 of 1 accounts checked do not match" in result.stderr
    assert result.stdout == ""


# --------------------------------------------------------------------------- audit verify


def test_audit_verify_names_the_money_record_that_was_edited(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    login = open_usd_account(runtime, admin)
    post(runtime, admin, login, "deposit", "100.00")
    assert run("audit", "verify", "--database-url", database_url).exit_code == 0
    [posted] = runtime.app.query_audit(AuditQuery(action="ledger.entry_posted"), admin)
    with runtime.storage.engine.begin() as conn:
        conn.execute(
            text("UPDATE audit_records SET operator_id = 'someone else' WHERE id = :id"),
            {"id": posted.id},
        )
    result = run("audit", "verify", "--database-url", database_url)
    assert result.exit_code == 1
    assert f"audit chain broken at record {posted.id}" in result.stderr


# --------------------------------------------------------------------------- thresholds


def test_thresholds_set_list_and_remove_through_the_command_line(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    open_usd_account(runtime, admin)
    db = ("--database-url", database_url)
    assert run("approvals", "thresholds", "list", *db, "--json").stdout.strip() == '{"items": []}'
    made = run("approvals", "thresholds", "set", *db, "--currency", "usd", "--amount", "10000")
    assert made.exit_code == 0, made.output
    assert "USD operations above 10000.00 in every group" in made.stdout
    group = run(
        "approvals",
        "thresholds",
        "set",
        *db,
        "--currency",
        "USD",
        "--amount",
        "2500.5",
        "--group",
        "real\\standard",
    )
    assert group.exit_code == 0, group.output
    listed = json.loads(run("approvals", "thresholds", "list", *db, "--json").stdout)
    assert sorted(listed["items"], key=lambda t: t["group"] or "") == [
        {"currency": "USD", "group": None, "amount": "10000.00"},
        {"currency": "USD", "group": "real\\standard", "amount": "2500.50"},
    ]
    table = run("approvals", "thresholds", "list", *db)
    assert "10000.00" in table.stdout and "real\\standard" in table.stdout
    removed = run(
        "approvals", "thresholds", "remove", *db, "--currency", "USD", "--group", "real\\standard"
    )
    assert removed.exit_code == 0
    assert "removed" in removed.stdout
    again = run(
        "approvals", "thresholds", "remove", *db, "--currency", "USD", "--group", "real\\standard"
    )
    assert "nothing to remove" in again.stdout
    left = runtime.app.list_approval_thresholds(admin)
    assert [(t.currency, t.group, t.amount) for t in left] == [("USD", None, 1_000_000)]


def test_a_threshold_set_from_the_command_line_holds_larger_deposits(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    login = open_usd_account(runtime, admin)
    db = ("--database-url", database_url)
    assert (
        run("approvals", "thresholds", "set", *db, "--currency", "USD", "--amount", "500").exit_code
        == 0
    )
    assert post(runtime, admin, login, "deposit", "500.00").status == "applied"
    held = post(runtime, admin, login, "deposit", "500.01")
    assert held.status == "pending_approval"
    assert runtime.app.get_account(login, admin).balance == 50_000


def test_a_threshold_finer_than_the_currency_is_refused_with_one_line(database_url: str) -> None:
    result = run(
        "approvals",
        "thresholds",
        "set",
        "--database-url",
        database_url,
        "--currency",
        "USD",
        "--amount",
        "10.001",
    )
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: validation.amount:")
    assert "Traceback" not in result.output


# --------------------------------------------------------------------------- maintenance


def test_maintenance_expires_overdue_approvals_and_purges_old_request_ids(
    runtime: Runtime, admin: Actor, database_url: str
) -> None:
    login = open_usd_account(runtime, admin)
    runtime.app.set_approval_threshold(SetApprovalThreshold("USD", "100"), admin)
    # The same services with a clock 40 days back: the approval and the request id are old.
    past = FakeClock(runtime.app.clock() - timedelta(days=40))
    then = Application(runtime.storage.uow, runtime.app.config, past)
    held = then.post_ledger_entry(PostLedgerEntry(login, "deposit", "150.00"), admin)
    then.claim_request("manager:1000", "req-old", "fingerprint")

    result = run("maintenance", "run", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == (
        "maintenance: 1 expired request id purged, 1 overdue approval expired, "
        "1 event past the retention purged"  # the held deposit's approval.requested
    )
    assert held.approval is not None
    assert runtime.app.get_approval(held.approval.id, admin).state == "expired"
    assert runtime.app.get_account(login, admin).balance == 0
    quiet = run("maintenance", "run", "--database-url", database_url)
    assert quiet.stdout.strip() == (
        "maintenance: 0 expired request ids purged, 0 overdue approvals expired, "
        "0 events past the retention purged"
    )


# --------------------------------------------------------------------------- demo


def test_demo_loads_the_usd_threshold_and_a_second_manager_who_approves(
    runtime: Runtime, database_url: str, admin: Actor
) -> None:
    result = run("demo", "--json", "--database-url", database_url)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["approval_thresholds"] == [
        {"currency": "USD", "group": None, "amount": "10000.00"}
    ]
    assert payload["approver"]["login"] == 1001
    approver = key_actor(runtime, payload["approver_key"])
    assert approver.manager_login == 1001
    assert approver.scopes == {"users:read", "balances:write", "balances:approve", "reports:read"}
    manager = key_actor(runtime, payload["admin_key"])

    login = runtime.app.open_account(OpenAccount(group="demo-usd", leverage=100), manager).login
    assert post(runtime, manager, login, "deposit", "10000.00").status == "applied"
    held = post(runtime, manager, login, "deposit", "10000.01")
    assert held.status == "pending_approval" and held.approval is not None
    pending = runtime.app.list_approvals(ApprovalQuery(state="pending"), approver)
    assert [a.id for a in pending] == [held.approval.id]
    decided = runtime.app.decide_approval(DecideApproval(held.approval.id, True), approver)
    assert decided.approval.state == "approved"
    assert runtime.app.get_account(login, admin).balance == 2_000_001


def test_demo_prints_the_approver_key_once_beside_the_admin_key(
    runtime: Runtime, database_url: str
) -> None:
    shown = run("demo", "--database-url", database_url)
    assert shown.exit_code == 0, shown.output
    exports = dict(
        line.removeprefix("export ").split("=", 1)
        for line in shown.stdout.splitlines()
        if line.startswith("export ")
    )
    assert set(exports) == {"KEY", "APPROVER_KEY"}
    assert key_actor(runtime, exports["APPROVER_KEY"]).manager_login == 1001
    assert key_actor(runtime, exports["KEY"]).manager_login == 1000
    assert "USD operations above 10000.00" in shown.stdout
    again = run("demo", "--database-url", database_url)
    assert exports["APPROVER_KEY"] not in again.stdout
    assert "--manager 1001" in again.stdout
