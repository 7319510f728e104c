"""The console's search, export, account attributes, audit search and administration pages over
real HTTP in-process (no browser): what each manager sees obeys its rights, reach and the
personal-data right exactly as the APIs do, changes go through the core and are audited, and
admin pages refuse everyone but an admin of unlimited reach."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient

from brokerplane.core.account.commands import OpenAccount
from brokerplane.core.actor import Actor
from brokerplane.core.audit.model import AuditQuery
from tests.console.desk import CLERK, Desk, csrf, post, sign_in

# Rendering and routing: the SQL behind the pages is tested on both engines in tests/storage.
pytestmark = pytest.mark.engines("sqlite")


def logins_on(page: str) -> set[int]:
    return {int(x) for x in re.findall(r'href="/console/accounts/(\d+)"', page)}


# ---- accounts: search, paging, export -----------------------------------------------------------


def test_accounts_are_searched_by_name_and_white_label_within_reach(desk: Desk) -> None:
    found = desk.admin.get("/console/accounts", params={"name": "smith"})
    assert logins_on(found.text) == {desk.demo["alice"], desk.foreign}
    acme = desk.admin.get("/console/accounts", params={"label": "acme", "name": "ALICE"})
    assert logins_on(acme.text) == {desk.demo["alice"]}
    assert 'value="ALICE"' in acme.text  # the form keeps what was asked
    # the limited manager: the same search, nothing outside demo*
    limited = desk.limited.get("/console/accounts", params={"name": "smith"})
    assert logins_on(limited.text) == {desk.demo["alice"]}
    everything = desk.limited.get("/console/accounts")
    assert logins_on(everything.text) == set(desk.demo.values())
    assert "Foreign" not in everything.text


def test_email_is_searched_and_shown_only_with_personal_data(desk: Desk) -> None:
    found = desk.admin.get("/console/accounts", params={"email": "BRUNO@example.com"})
    assert logins_on(found.text) == {desk.demo["bruno"]}
    assert "bruno@example.com" in found.text
    clerk = desk.clerk.get("/console/accounts")
    assert logins_on(clerk.text) >= set(desk.demo.values())
    assert "@example.com" not in clerk.text and 'name="email"' not in clerk.text
    refused = desk.clerk.get("/console/accounts", params={"email": "bruno@example.com"})
    assert refused.status_code == 403
    assert "personal_data" in refused.text


def test_accounts_page_by_fifty_and_the_next_link_keeps_the_filter(
    desk: Desk, admin: Actor
) -> None:
    s = desk.runtime.app
    s.open_accounts([OpenAccount(group="demo-usd", name=f"Bulk {i:02}") for i in range(55)], admin)
    first = desk.admin.get("/console/accounts", params={"name": "bulk"})
    assert len(logins_on(first.text)) == 50
    next_link = re.search(r'href="(/console/accounts\?[^"]*after=\d+)" rel="next"', first.text)
    assert next_link is not None and "name=bulk" in next_link.group(1)
    second = desk.admin.get(next_link.group(1).replace("&amp;", "&"))
    assert len(logins_on(second.text)) == 5
    assert not logins_on(first.text) & logins_on(second.text)
    assert 'rel="next"' not in second.text


def test_the_csv_export_is_the_current_filter_within_reach(desk: Desk) -> None:
    page = desk.limited.get("/console/accounts", params={"name": "smith"})
    link = re.search(r'href="(/console/accounts\.csv\?[^"]*)"', page.text)
    assert link is not None and "name=smith" in link.group(1)
    exported = desk.limited.get(link.group(1).replace("&amp;", "&"))
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [int(r["login"]) for r in rows] == [desk.demo["alice"]]
    everything = desk.limited.get("/console/accounts.csv")
    logins = {int(r["login"]) for r in csv.DictReader(io.StringIO(everything.text))}
    assert logins == set(desk.demo.values())
    # without personal_data the contact columns are empty; without reports:read no export
    clerk = desk.clerk.get("/console/accounts.csv")
    assert clerk.status_code == 200
    assert "@example.com" not in clerk.text
    assert desk.admin.get("/console/accounts.csv", params={"label": "*a" * 100}).status_code == 400


# ---- the account page: attributes, their edit, the trail ----------------------------------------


def test_attributes_are_edited_through_the_core_and_the_trail_shows_before_and_after(
    desk: Desk,
) -> None:
    login = desk.demo["alice"]
    page = desk.admin.get(f"/console/accounts/{login}")
    assert "Attributes" in page.text and "alice@example.com" in page.text
    assert f'href="/console/accounts/{login}/edit"' in page.text
    form = desk.admin.get(f"/console/accounts/{login}/edit")
    assert 'name="email"' in form.text and 'value="Alice Smith"' in form.text
    answer = post(
        desk.admin,
        f"/console/accounts/{login}/edit",
        {
            "name": "Alice Smith-Jones",
            "city": "Turin",
            "leverage": "200",
            "attributes": "kyc=passed\nrisk = low",
        },
    )
    assert answer.startswith("200") and "Changed: attributes, city, leverage, name." in answer
    acc = desk.runtime.app.get_account(login, Actor(None, frozenset({"admin"})))
    assert (acc.name, acc.city, acc.leverage) == ("Alice Smith-Jones", "Turin", 200)
    assert acc.attributes == {"kyc": "passed", "risk": "low"}
    page = desk.admin.get(f"/console/accounts/{login}")
    trail = page.text.split('id="trail-h"')[1]
    row = next(r for r in trail.split("<tr>") if "account.updated" in r)
    assert "console" in row
    before, after = row.split('<code class="wrap">')[1:3]
    assert "&#34;Alice Smith&#34;" in before and "Smith-Jones" in after
    assert "Turin" in after and "Turin" not in before
    again = post(desk.admin, f"/console/accounts/{login}/edit", {"name": "Alice Smith-Jones"})
    assert "Nothing changed." in again


def test_editing_obeys_rights_reach_and_personal_data(desk: Desk) -> None:
    login = desk.demo["bruno"]
    clerk_form = desk.clerk.get(f"/console/accounts/{login}/edit")
    assert clerk_form.status_code == 200
    assert 'name="email"' not in clerk_form.text and 'name="phone"' not in clerk_form.text
    answer = post(
        desk.clerk,
        f"/console/accounts/{login}/edit",
        {"email": "stolen@example.com", "comment": "checked"},
    )
    assert answer.startswith("200") and "Changed: comment." in answer
    acc = desk.runtime.app.get_account(login, Actor(None, frozenset({"admin"})))
    assert acc.email == "bruno@example.com"  # a field the clerk may not see is not written
    # out of reach: not found, read or write
    assert desk.limited.get(f"/console/accounts/{desk.foreign}/edit").status_code == 404
    refused = post(desk.limited, f"/console/accounts/{desk.foreign}/edit", {"name": "x"})
    assert refused.startswith("404")
    # bad input is a clear refusal
    bad = post(desk.admin, f"/console/accounts/{login}/edit", {"attributes": "no equals sign"})
    assert bad.startswith("400") and "line 1: write name=value" in bad
    bad = post(desk.admin, f"/console/accounts/{login}/edit", {"leverage": "lots"})
    assert bad.startswith("400") and "leverage" in bad


# ---- audit: dialect and time range --------------------------------------------------------------


def test_audit_is_searched_by_dialect_and_time_range(desk: Desk) -> None:
    post(desk.admin, f"/console/accounts/{desk.demo['bruno']}/edit", {"comment": "by console"})
    console = desk.admin.get("/console/audit", params={"dialect": "console"})
    assert console.status_code == 200
    body = console.text.split("<tbody>")[1]
    assert "account.updated" in body and "account.opened" not in body
    assert '<option value="console" selected>' in console.text
    cli = desk.admin.get("/console/audit", params={"dialect": "cli", "action": "account."})
    assert "account.opened" in cli.text and "account.updated" not in cli.text.split("<tbody>")[1]
    now = datetime.now(UTC)
    later = (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    earlier = (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    none = desk.admin.get("/console/audit", params={"from": later})
    assert "No record matches." in none.text
    window = desk.admin.get(
        "/console/audit", params={"from": earlier, "to": later, "dialect": "console"}
    )
    assert "account.updated" in window.text
    assert desk.admin.get("/console/audit", params={"dialect": "smtp"}).status_code == 400
    assert desk.admin.get("/console/audit", params={"from": "yesterday"}).status_code == 400
    # the whole trail spans every group: a manager of limited reach reads none of it
    assert desk.limited.get("/console/audit", params={"dialect": "console"}).status_code == 403
    verified = desk.admin.get("/console/audit", params={"dialect": "console", "verify": "1"})
    assert "The audit chain is intact" in verified.text


# ---- administration -----------------------------------------------------------------------------

ADMIN_PAGES = (
    "/console/admin",
    "/console/admin/manager",
    f"/console/admin/manager?login={CLERK}",
    "/console/admin/group",
    "/console/admin/group?name=demo-usd",
    "/console/admin/symbol?name=EURUSD",
)
ADMIN_FORMS = (
    "/console/admin/manager",
    "/console/admin/group",
    "/console/admin/symbol",
    "/console/admin/keys",
    "/console/admin/managers",
    "/console/admin/thresholds",
)


def test_administration_refuses_non_admins_and_admins_of_limited_reach(desk: Desk) -> None:
    for who in (desk.clerk, desk.limited):
        for path in ADMIN_PAGES:
            answer = who.get(path)
            assert answer.status_code == 403, path
            assert "Foreign" not in answer.text and "real\\standard" not in answer.text
        for path in ADMIN_FORMS:
            form = {
                "action": "update",
                "login": str(CLERK),
                "name": "demo-usd",
                "right": "admin",
                "step": "apply",
                "margin_call": "1",
            }
            assert post(who, path, form).startswith("403"), path
    groups = desk.runtime.app.list_groups(Actor(None, frozenset({"admin"})))
    assert all(g.margin_call != 1 for g in groups)
    for path in ADMIN_PAGES:
        assert desk.admin.get(path).status_code == 200, path


def test_an_admin_adds_a_manager_then_changes_its_rights_and_reach_after_review(
    desk: Desk,
) -> None:
    form = [
        ("action", "create"),
        ("login", "1042"),
        ("name", "Night desk"),
        ("with_password", "1"),
        ("right", "users:read"),
        ("right", "reports:read"),
        ("group_mask", "demo*"),
        ("white_labels", "*"),
        ("key", "add-1042"),
    ]
    review = post(desk.admin, "/console/admin/manager", form)
    assert review.startswith("200") and "Add manager 1042?" in review
    assert "reports:read, users:read" in review
    assert desk.runtime.app.get_manager(1042) is None  # nothing before it is confirmed
    done = post(desk.admin, "/console/admin/manager", [*form, ("step", "apply")])
    assert "Manager 1042 added" in done
    password = done.split('<code id="password">')[1].split("<")[0]
    assert len(password) == 20
    assert password not in desk.admin.get("/console/admin").text  # shown once
    with TestClient(desk.admin.app, follow_redirects=False) as night:
        sign_in(night, 1042, password)
        assert night.get("/console/accounts").status_code == 200
    edit = desk.admin.get("/console/admin/manager", params={"login": "1042"})
    assert 'value="users:read" checked' in edit.text and 'value="admin">' in edit.text
    change = [
        ("action", "update"),
        ("login", "1042"),
        ("name", "Night desk"),
        ("right", "users:read"),
        ("right", "balances:write"),
        ("group_mask", "demo-usd"),
        ("white_labels", "*"),
    ]
    review = post(desk.admin, "/console/admin/manager", change)
    assert "Change manager 1042?" in review
    assert "balances:write, users:read" in review and "demo-usd" in review
    done = post(desk.admin, "/console/admin/manager", [*change, ("step", "apply")])
    assert "Manager 1042 changed" in done
    manager = desk.runtime.app.get_manager(1042)
    assert manager is not None
    assert manager.rights == {"users:read", "balances:write"}
    assert manager.group_mask == "demo-usd"
    trail = desk.runtime.app.query_audit(
        AuditQuery(entity_type="manager", entity_id="1042", limit=10),
        Actor(None, frozenset({"admin"})),
    )
    assert [(r.action, r.dialect) for r in trail if r.action != "manager.signed_in"] == [
        ("manager.created", "console"),
        ("manager.updated", "console"),
    ]
    # a password reset, reviewed, ends the manager's sessions; the new one is shown once
    reset = [("action", "password"), ("login", "1042"), ("key", "reset-1042")]
    assert "Reset the password of manager 1042?" in post(
        desk.admin, "/console/admin/manager", reset
    )
    done = post(desk.admin, "/console/admin/manager", [*reset, ("step", "apply")])
    fresh = done.split('<code id="password">')[1].split("<")[0]
    assert fresh != password and "Manager 1042: password reset" in done
    with TestClient(desk.admin.app, follow_redirects=False) as night:
        sign_in(night, 1042, fresh)
    # a form without its CSRF token changes nothing
    forged = desk.admin.post("/console/admin/manager", data=dict(change))
    assert forged.status_code == 403


def test_an_admin_adds_and_edits_a_group_and_a_symbol_after_review(desk: Desk) -> None:
    new = {
        "action": "create",
        "name": "demo-eur",
        "currency": "EUR",
        "default_leverage": "50",
        "max_leverage": "200",
        "margin_call": "80",
        "stop_out": "40",
        "margin_mode": "MAX",
        "default_account_type": "HEDGED",
        "password_min_length": "8",
        "description": "",
        "broker": "",
        "company": "",
    }
    assert "Add group demo-eur?" in post(desk.admin, "/console/admin/group", new)
    added = desk.admin.post(
        "/console/admin/group", data={**new, "csrf": csrf(desk.admin), "step": "apply"}
    )
    assert added.status_code == 303
    page = desk.admin.get(added.headers["location"])
    assert "Group demo-eur added" in page.text and 'value="80"' in page.text
    change = {"action": "update", "name": "demo-usd", "margin_call": "120", "stop_out": "60"}
    review = post(desk.admin, "/console/admin/group", change)
    assert "Margin call level (%)" in review and "120" in review
    s, root = desk.runtime.app, Actor(None, frozenset({"admin"}))
    assert s.get_group("demo-usd", root).margin_call == 100  # not yet
    post(desk.admin, "/console/admin/group", {**change, "step": "apply"})
    group = s.get_group("demo-usd", root)
    assert (group.margin_call, group.stop_out) == (Decimal(120), Decimal(60))
    same = desk.admin.post(
        "/console/admin/group",
        data={
            "csrf": csrf(desk.admin),
            "action": "update",
            "name": "demo-usd",
            "margin_call": "120.0",
        },
    )
    assert same.headers["location"].endswith("done=unchanged")  # numbers compare by value
    # the core's rules hold: stop-out past its bound is refused with the field named
    refused = post(
        desk.admin,
        "/console/admin/group",
        {"action": "update", "name": "demo-usd", "stop_out": "999999", "step": "apply"},
    )
    assert refused.startswith("400") and "stop_out" in refused
    # a symbol
    review = post(
        desk.admin,
        "/console/admin/symbol",
        {"name": "EURUSD", "trade_mode": "CLOSEONLY", "volume_max": "50"},
    )
    assert "A symbol&#39;s settings apply to every group." in review
    post(
        desk.admin,
        "/console/admin/symbol",
        {"name": "EURUSD", "trade_mode": "CLOSEONLY", "volume_max": "50", "step": "apply"},
    )
    symbol = s.get_symbol("EURUSD", root)
    assert (symbol.trade_mode, symbol.volume_max) == ("CLOSEONLY", Decimal(50))
    assert desk.admin.get("/console/admin/symbol", params={"name": "NOPE"}).status_code == 404


HOSTILE = (
    "",
    " ",
    "-1",
    "1e999999999",
    "NaN",
    "sNaN",
    "9" * 40,
    "１２",
    "\x00",
    "a" * 5000,
    "<script>",
    "*" * 300,
    "demo*,!x",
)


def test_hostile_values_on_the_new_forms_get_a_clear_answer_never_a_crash(desk: Desk) -> None:
    login = desk.demo["bruno"]
    targets = [
        ("/console/admin/group", {"action": "update", "name": "demo-usd"}, "margin_call"),
        ("/console/admin/group", {"action": "update", "name": "demo-usd"}, "max_leverage"),
        ("/console/admin/group", {"action": "create", "currency": "USD"}, "name"),
        ("/console/admin/symbol", {"name": "EURUSD", "step": "apply"}, "volume_step"),
        ("/console/admin/symbol", {"name": "EURUSD", "step": "apply"}, "spread"),
        ("/console/admin/manager", {"action": "update", "login": str(CLERK)}, "group_mask"),
        ("/console/admin/manager", {"action": "create", "step": "apply"}, "login"),
        (f"/console/accounts/{login}/edit", {}, "leverage"),
        (f"/console/accounts/{login}/edit", {}, "attributes"),
    ]
    for path, form, field in targets:
        for value in HOSTILE:
            status = int(post(desk.admin, path, {**form, field: value})[:3])
            assert status in (200, 303, 400, 403, 404, 409), (path, field, value, status)
    for params in (
        {"name": "\x00"},
        {"label": "!" * 255},
        {"group": "*" * 255},
        {"login": "9" * 30},
        {"email": "x" * 300},
    ):
        for path in ("/console/accounts", "/console/accounts.csv"):
            assert desk.admin.get(path, params=params).status_code in (200, 400), (path, params)
    for params in (
        {"from": "9999-99-99"},
        {"to": "x" * 100},
        {"dialect": "\x00"},
        {"manager": "9" * 40},
        {"account": "-5"},
    ):
        assert desk.admin.get("/console/audit", params=params).status_code in (200, 400), params


def test_audit_dates_at_the_ends_of_the_calendar_are_answered_never_a_crash(desk: Desk) -> None:
    # A day as the end means up to its end: the last day there is has no next day to stop at.
    for params in (
        {"to": "9999-12-31"},
        {"from": "0001-01-01", "to": "9999-12-31"},
        {"from": "9999-12-31"},
        {"to": "0001-01-01"},
    ):
        answer = desk.admin.get("/console/audit", params=params)
        assert answer.status_code == 200, (params, answer.status_code)
    every = desk.admin.get("/console/audit").text.count("<tr")
    assert desk.admin.get("/console/audit", params={"to": "9999-12-31"}).text.count("<tr") == every


def test_numbers_written_in_superscripts_are_refused_never_a_crash(desk: Desk) -> None:
    # "²" is a digit to str.isdigit but not to int(): every number a page reads is refused.
    login = desk.demo["bruno"]
    for path, params in (
        ("/console/accounts", {"after": "²"}),
        ("/console/accounts", {"login": "²"}),
        ("/console/accounts/²", {}),
        ("/console/accounts/1²/edit", {}),
        ("/console/audit", {"account": "²"}),
        ("/console/audit", {"after": "¹"}),
        ("/console/admin/manager", {"login": "²"}),
        ("/console/approvals", {"state": "approved", "after": "²"}),
    ):
        status = desk.admin.get(path, params=params).status_code
        assert status in (200, 400, 404), (path, params, status)
    for path, form in (
        ("/console/admin/managers", {"action": "unlock", "login": "²"}),
        ("/console/admin/keys", {"action": "create", "manager": "²"}),
        ("/console/approvals/²", {"decision": "approve"}),
        (f"/console/accounts/{login}/edit", {"leverage": "²"}),
        ("/console/accounts/new", {"group": "demo-usd", "leverage": "²"}),
    ):
        status = int(post(desk.admin, path, form)[:3])
        assert status in (200, 303, 400, 404), (path, form, status)
