"""Personal data over the fakes: what a manager without `personal_data` reads of a contact, and
that admin rights neither widen reach nor lack personal data within it."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import pytest

from brokerplane.core.account.commands import ListAccounts, OpenAccount, UpdateAccount
from brokerplane.core.account.model import PERSONAL_FIELDS, Account
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.audit.model import AuditQuery
from brokerplane.core.errors import AccountNotFound, GroupNotFound, MissingScope, PermissionDenied
from brokerplane.core.kinds import Dialect
from brokerplane.core.ledger.commands import PostLedgerEntry
from tests.unit import reach_support
from tests.unit.reach_support import BEST, CONTACT, EVERY, NOVIP, OTHER, REAL, VIP, World, _logins

# The reach tests' fixtures (tests/unit/reach_support.py).
world = reach_support.world


# --- personal data ---------------------------------------------------------------------------

PLAIN = Actor(1010, frozenset({"users:read", "users:write", "reports:read"}))
PERSONAL = Actor(1011, frozenset({"users:read", "users:write", "reports:read", "personal_data"}))


def _without_contacts(acc: Account) -> dict[str, Any]:
    return {k: v for k, v in asdict(acc).items() if k not in PERSONAL_FIELDS}


def test_without_personal_data_contact_fields_read_back_empty_and_nothing_else_changes(
    world: World,
) -> None:
    full = world.services.get_account(BEST, PERSONAL)

    seen = world.services.get_account(BEST, PLAIN)

    assert {f: getattr(full, f) for f in PERSONAL_FIELDS} == CONTACT
    assert {f: getattr(seen, f) for f in PERSONAL_FIELDS} == dict.fromkeys(CONTACT, "")
    assert _without_contacts(seen) == _without_contacts(full)
    assert (seen.name, seen.comment, seen.group) == (
        f"Client {BEST}",
        f"account {BEST}",
        "demo\\usd",
    )
    assert world.uows.state.accounts[BEST].email == CONTACT["email"]  # only the reading is blank


def test_without_personal_data_lists_and_reports_blank_contact_fields(world: World) -> None:
    for accounts in (
        world.services.list_accounts(ListAccounts(), PLAIN),
        list(world.services.iter_accounts(ListAccounts(), PLAIN)),
    ):
        assert len(accounts) == len(EVERY)
        assert all(getattr(a, f) == "" for a in accounts for f in PERSONAL_FIELDS)
    listed = world.services.list_accounts(ListAccounts(), PERSONAL)
    assert all(a.email == CONTACT["email"] for a in listed)


def test_without_personal_data_history_and_audit_snapshots_blank_contact_fields(
    world: World,
) -> None:
    services = world.services
    services.update_account(
        UpdateAccount(BEST, {"email": "new@example.com", "comment": "c"}), world.admin
    )
    reporter = Actor(1012, frozenset({"users:read", "reports:read"}))

    history = services.account_history(BEST, reporter)
    trail = services.query_audit(AuditQuery(entity_type="account", entity_id=str(BEST)), reporter)

    for records in (history, trail):
        assert [r.action for r in records] == ["account.opened", "account.updated"]
        opened, updated = records
        assert opened.before is None and opened.after is not None
        assert all(opened.after[f] == "" for f in PERSONAL_FIELDS)
        assert updated.before is not None and updated.after is not None
        assert (updated.before["email"], updated.after["email"]) == ("", "")
        assert (updated.before["comment"], updated.after["comment"]) == (f"account {BEST}", "c")
        assert updated.after["name"] == f"Client {BEST}"
    told = services.account_history(BEST, PERSONAL)[1]
    assert told.after is not None and told.after["email"] == "new@example.com"
    stored = next(r for r in world.uows.state.audit if r.action == "account.updated")
    assert stored.after is not None and stored.after["email"] == "new@example.com"
    assert services.verify_audit().ok


def test_filtering_accounts_by_email_needs_personal_data(world: World) -> None:
    with pytest.raises(MissingScope, match="personal_data"):
        world.services.list_accounts(ListAccounts(email=CONTACT["email"]), PLAIN)
    with pytest.raises(MissingScope, match="personal_data"):
        list(world.services.iter_accounts(ListAccounts(email=CONTACT["email"]), PLAIN))

    found = world.services.list_accounts(ListAccounts(email="ANN@example.com"), PERSONAL)
    assert _logins(found) == EVERY


def test_a_limited_manager_with_personal_data_finds_by_email_only_within_reach(
    world: World,
) -> None:
    found = world.services.list_accounts(ListAccounts(email=CONTACT["email"]), NOVIP)

    assert _logins(found) == {BEST, OTHER}


def test_a_writer_without_personal_data_stores_contacts_it_then_reads_back_empty(
    world: World,
) -> None:
    services = world.services

    opened = services.open_account(
        OpenAccount("demo\\usd", login=200_200, profile={"email": "bo@example.com"}), PLAIN
    )
    updated = services.update_account(UpdateAccount(200_200, {"phone": "+1 555 0100"}), PLAIN)

    assert (opened.email, updated.email, updated.phone) == ("", "", "")
    stored = world.uows.state.accounts[200_200]
    assert (stored.email, stored.phone) == ("bo@example.com", "+1 555 0100")


# --- a manager with admin but limited reach --------------------------------------------------

LIMITED_ADMIN = Actor(2020, frozenset({"admin"}), group_mask="demo\\*", dialect=Dialect.NATIVE)


def test_admin_rights_do_not_widen_reach(world: World) -> None:
    services = world.services
    before = world.stored()

    assert _logins(services.list_accounts(ListAccounts(), LIMITED_ADMIN)) == {BEST, VIP, OTHER}
    with pytest.raises(AccountNotFound):
        services.get_account(REAL, LIMITED_ADMIN)
    with pytest.raises(AccountNotFound):
        services.update_account(UpdateAccount(REAL, {"comment": "x"}), LIMITED_ADMIN)
    with pytest.raises(AccountNotFound):
        services.post_ledger_entry(PostLedgerEntry(REAL, "deposit", "1"), LIMITED_ADMIN)
    with pytest.raises(GroupNotFound):
        services.open_account(OpenAccount("real\\standard"), LIMITED_ADMIN)
    with pytest.raises(GroupNotFound):
        services.get_group("real\\standard", LIMITED_ADMIN)
    with pytest.raises(GroupNotFound):
        services.set_approval_threshold(
            SetApprovalThreshold("USD", "10", "real\\standard"), LIMITED_ADMIN
        )
    with pytest.raises(PermissionDenied):
        services.query_audit(AuditQuery(), LIMITED_ADMIN)

    assert world.stored() == before


def test_admin_rights_include_personal_data_within_reach(world: World) -> None:
    acc = world.services.get_account(BEST, LIMITED_ADMIN)

    assert {f: getattr(acc, f) for f in PERSONAL_FIELDS} == CONTACT
    found = world.services.list_accounts(ListAccounts(email=CONTACT["email"]), LIMITED_ADMIN)
    assert _logins(found) == {BEST, VIP, OTHER}
