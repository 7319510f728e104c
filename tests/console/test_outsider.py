"""The console attacked from outside, over real HTTP in-process (no browser): reach by URL and by
hand-made forms, markup in every field a page shows, cross-site forms, open redirects after
sign-in and huge or malformed input. Each answer is a clear refusal, never a leak or a crash."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.console.pages import safe_next
from brokerplane.core.access.commands import CreateApiKey, UpdateManager
from brokerplane.core.account.commands import OpenAccount, UpdateAccount
from brokerplane.core.actor import Actor
from brokerplane.core.approval.commands import SetApprovalThreshold
from brokerplane.core.group.commands import UpdateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.symbol.commands import UpdateSymbol
from tests.console.desk import LIMITED, PASSWORD, Desk, csrf, post

pytestmark = pytest.mark.engines("sqlite")

ROOT = Actor(None, frozenset({"admin"}))
MARKUP = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'"


def form_post(client: TestClient, path: str, body: str | bytes) -> int:
    answer = client.post(
        path, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    status: int = answer.status_code
    return status


def test_a_limited_manager_reaches_no_foreign_account_by_url_or_form(desk: Desk) -> None:
    s, foreign = desk.runtime.app, desk.foreign
    s.set_approval_threshold(SetApprovalThreshold("USD", "100"), ROOT)
    held = s.post_ledger_entry(PostLedgerEntry(foreign, "deposit", "500", "held"), ROOT)
    assert held.approval is not None
    lim = desk.limited
    for path in (f"/console/accounts/{foreign}", f"/console/accounts/{foreign}/edit"):
        assert lim.get(path).status_code == 404, path
    forms = [
        (f"/console/accounts/{foreign}/edit", {"name": "pwned"}),
        (f"/console/accounts/{foreign}/state", {"action": "disable"}),
        (f"/console/accounts/{foreign}/state", {"action": "move", "group": "demo-usd"}),
        (
            f"/console/accounts/{foreign}/state",
            {"action": "move", "group": "demo-usd", "key": "k2", "step": "apply"},
        ),
        (f"/console/accounts/{foreign}/state", {"action": "password", "password": "Xx1!xxxxxx"}),
        (
            f"/console/accounts/{foreign}/state",
            {"action": "password", "password": "Xx1!xxxxxx", "key": "k3", "step": "apply"},
        ),
        (
            f"/console/accounts/{foreign}/money",
            {"operation": "deposit", "amount": "1", "key": "k1", "step": "apply"},
        ),
        (f"/console/approvals/{held.approval.id}", {"decision": "approve"}),
    ]
    for path, form in forms:
        assert post(lim, path, form).startswith("404"), path
    # moving a reachable account into a foreign group is refused, and it stays
    bruno = desk.demo["bruno"]
    moved = post(
        lim,
        f"/console/accounts/{bruno}/state",
        {"action": "move", "group": "real\\standard", "key": "k4", "step": "apply"},
    )
    assert moved[:3] in ("403", "404")
    assert s.get_account(bruno, ROOT).group == "demo-usd"
    account = s.get_account(foreign, ROOT)
    assert (account.name, account.enabled, account.group) == (
        "Foreign Smith",
        True,
        "real\\standard",
    )
    assert s.get_approval(held.approval.id, ROOT).state == "pending"
    # lists, search, export, overview, risk and approvals show nothing foreign
    for path in (
        "/console/",
        "/console/accounts?" + urlencode({"login": foreign}),
        "/console/accounts?name=Smith",
        "/console/accounts.csv?name=Smith",
        "/console/risk",
        "/console/approvals",
    ):
        page = lim.get(path)
        assert page.status_code == 200, path
        assert f"/console/accounts/{foreign}" not in page.text, path
        assert "Foreign Smith" not in page.text and f"{foreign}," not in page.text, path


def test_markup_in_any_field_is_shown_as_text(desk: Desk) -> None:
    s, alice = desk.runtime.app, desk.demo["alice"]
    s.update_account(
        UpdateAccount(alice, {"name": MARKUP, "comment": MARKUP, "attributes": {"note": MARKUP}}),
        ROOT,
    )
    s.post_ledger_entry(PostLedgerEntry(alice, "deposit", "5", MARKUP), ROOT)
    s.set_approval_threshold(SetApprovalThreshold("USD", "100"), ROOT)
    s.post_ledger_entry(PostLedgerEntry(alice, "deposit", "500", MARKUP), ROOT)
    s.update_manager(UpdateManager(1003, name=MARKUP[:120]), ROOT)
    s.create_api_key(CreateApiKey(1003, frozenset({"users:read"}), MARKUP), ROOT)
    s.update_group(UpdateGroup("demo-usd", {"description": MARKUP, "company": MARKUP}), ROOT)
    s.update_symbol(UpdateSymbol("EURUSD", {"description": MARKUP}), ROOT)
    pages = [
        "/console/",
        "/console/accounts",
        f"/console/accounts/{alice}",
        f"/console/accounts/{alice}/edit",
        "/console/approvals",
        "/console/risk",
        "/console/audit",
        "/console/admin",
        "/console/admin/manager?login=1003",
        "/console/admin/group?name=demo-usd",
        "/console/admin/symbol?name=EURUSD",
        "/console/accounts?" + urlencode({"name": MARKUP}),
        "/console/audit?" + urlencode({"action": MARKUP, "operator": MARKUP}),
        "/console/admin/group?" + urlencode({"name": MARKUP}),
        "/console/nowhere/" + MARKUP,
    ]
    for path in pages:
        page = desk.admin.get(path)
        assert page.status_code in (200, 400, 404), (path, page.status_code)
        assert "<script>" not in page.text and "<img src=x" not in page.text, path
        assert "script-src 'self'" in page.headers["content-security-policy"], path
    assert "&lt;script&gt;" in desk.admin.get(f"/console/accounts/{alice}").text
    # a review page echoes what was posted as text, in attributes too
    review = post(
        desk.admin, "/console/admin/group", {"action": "create", "name": MARKUP, "currency": "USD"}
    )
    assert "<script>" not in review and 'value="' + MARKUP not in review


def test_a_token_from_another_session_or_none_is_refused(desk: Desk) -> None:
    bruno = desk.demo["bruno"]
    theirs = csrf(desk.clerk)  # another manager's valid token
    for token in (theirs, "", "x" * 5000):
        body = urlencode({"csrf": token, "action": "disable"})
        assert form_post(desk.admin, f"/console/accounts/{bruno}/state", body) == 403
    # the form's token sent another way than the urlencoded body is not taken
    parts = {"csrf": (None, csrf(desk.admin)), "action": (None, "disable")}
    sent = desk.admin.post(f"/console/accounts/{bruno}/state", files=parts)
    assert sent.status_code in (403, 415)
    assert desk.admin.get(f"/console/accounts/{bruno}/state").status_code == 405
    assert desk.runtime.app.get_account(bruno, ROOT).enabled
    # GET pages change nothing, whatever they are given
    desk.admin.get(f"/console/accounts/{bruno}", params={"action": "disable", "step": "apply"})
    assert desk.runtime.app.get_account(bruno, ROOT).enabled


@pytest.mark.parametrize(
    "given",
    [
        "/console/../..//evil.example",
        "/console/%2F%2Fevil.example",
        "/console/\t//evil.example",
        "/console/\u2028",
        "https:/console",
        " /console/",
        "/\\evil.example",
        "/console/" + "a" * 600,
        "javascript:alert(1)//console/",
    ],
)
def test_after_sign_in_no_way_off_this_server(desk: Desk, given: str) -> None:
    kept = safe_next(given)
    assert kept.startswith("/console") and not kept.startswith("//")
    with TestClient(desk.admin.app, follow_redirects=False) as it:
        page = it.get("/console/signin", params={"next": given})
        token = page.text.split('name="csrf" value="')[1].split('"')[0]
        answer = it.post(
            "/console/signin",
            data={"csrf": token, "login": str(LIMITED), "password": PASSWORD, "next": given},
        )
        assert answer.status_code == 303
        where = answer.headers["location"]
        assert where.startswith("/console") and "\n" not in where and "\t" not in where
        assert ".." not in where and "//" not in where


def test_huge_and_malformed_input_gets_a_clear_answer(desk: Desk) -> None:
    bruno, admin = desk.demo["bruno"], desk.admin
    path = f"/console/accounts/{bruno}/edit"
    token = csrf(admin)
    big = urlencode({"csrf": token, "comment": "x" * 20_000})
    answer = admin.post(
        path, content=big, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 413 and "too large" in answer.text
    many = urlencode([("csrf", token)] + [(f"f{i}", "1") for i in range(100)])
    answer = admin.post(
        path, content=many, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert answer.status_code == 400 and "too many fields" in answer.text
    for body in (b"csrf=" + token.encode() + b"&comment=\xff\xfe", b"%%%\x00&&=="):
        assert form_post(admin, path, body) in (400, 403)
    assert desk.runtime.app.get_account(bruno, ROOT).comment == ""
    # a body past the server's limit is refused before it is read
    huge = admin.post(
        path,
        content=b"a" * (3 << 20),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert huge.status_code == 413
    # long query values are cut or refused, never a crash
    for path, params in (
        ("/console/accounts", {"name": "a" * 10_000}),
        ("/console/audit", {"operator": "o" * 10_000}),
        ("/console/approvals", {"state": "s" * 10_000}),
        ("/console/admin/symbol", {"name": "S" * 10_000}),
    ):
        assert admin.get(path, params=params).status_code in (200, 400, 404), path
    # a huge or odd cookie is no session
    for cookie in ("x" * 8000, "1.a.b", "%C3%A9.a.b.c", "1..."):
        with TestClient(admin.app, follow_redirects=False) as it:
            it.cookies.set("bp_console", cookie)
            assert it.get("/console/accounts").status_code == 303


def test_the_csv_export_writes_no_formula_and_no_header_from_input(desk: Desk) -> None:
    s = desk.runtime.app
    hostile = OpenAccount(
        group="demo-usd", name='=HYPERLINK("http://x")', profile={"comment": "@SUM(1)\r\n=1+1"}
    )
    login = s.open_account(hostile, ROOT).login
    answer = desk.admin.get(
        "/console/accounts.csv", params={"login": str(login), "name": "\r\nX-Evil: 1"}
    )
    assert answer.status_code == 200
    assert "x-evil" not in answer.headers
    assert answer.headers["content-disposition"] == 'attachment; filename="accounts.csv"'
    answer = desk.admin.get("/console/accounts.csv", params={"login": str(login)})
    assert "'=HYPERLINK" in answer.text and "'@SUM(1)" in answer.text
