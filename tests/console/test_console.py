"""The console in a real browser: sign-in and lockout, search, an account, money with one post
per form, four eyes across two browsers, reach, CSRF, sign-out, escaping and accessibility."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from playwright.sync_api import Browser, BrowserContext, Page

from tests.console import screenshots
from tests.console.conftest import (
    APPROVER_PASSWORD,
    HOSTILE_NAME,
    LIMITED_PASSWORD,
    VICTIM_PASSWORD,
    Console,
)

WCAG = {"runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}}


def sign_in(page: Page, console: Console, login: int | str, password: str) -> None:
    page.goto(console.url("/console/signin"))
    page.get_by_label("Manager login").fill(str(login))
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def as_manager(page: Page, console: Console) -> None:
    sign_in(page, console, 1000, console.manager_password)
    assert page.url == console.url("/console/")


def accessible(page: Page) -> None:
    """axe-core (shipped in the axe-playwright-python package, not fetched) finds no WCAG 2.1
    A/AA violation on the page."""
    from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

    results = Axe().run(page, options=WCAG)
    found = [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
    ]
    assert found == [], f"{page.url}: {found}"


def shot(page: Page, name: str) -> None:
    """docs/screenshots/<name>.png, written only under BROKERPLANE_SCREENSHOTS (screenshots.py)."""
    if screenshots.wanted(name):
        screenshots.save(name, page.screenshot(full_page=True))


def ledger_rows(page: Page, console: Console, login: int, comment: str) -> int:
    page.goto(console.url(f"/console/accounts/{login}"))
    table = page.locator("section", has=page.get_by_role("heading", name="Ledger (latest first)"))
    return table.locator("tbody tr", has_text=comment).count()


def csrf_of(page: Page) -> str:
    value = page.locator("input[name=csrf]").first.get_attribute("value")
    assert value is not None
    return value


# ---- sign-in ---------------------------------------------------------------------------------


def test_root_leads_to_the_sign_in_page_and_a_manager_signs_in(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    page.goto(console.url("/"))
    assert page.url.startswith(console.url("/console/signin"))
    accessible(page)
    shot(page, "signin")
    sign_in(page, console, 1000, "not the password")
    assert page.get_by_role("alert").inner_text() == "wrong login or password"
    as_manager(page, console)
    assert page.get_by_role("heading", name="Overview", level=1).is_visible()
    assert "Demo Manager (1000)" in page.locator("header").inner_text()


def test_session_cookie_is_httponly_and_samesite_strict(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    as_manager(page, console)
    cookie = next(c for c in context.cookies() if c["name"] == "bp_console")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # no script can read the session


def test_failed_sign_ins_lock_the_manager_in_every_dialect(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    for _ in range(3):  # the test server locks after 3 failures from one address
        sign_in(page, console, 1009, "wrong-Passw0rd")
        assert page.get_by_role("alert").inner_text() == "wrong login or password"
    sign_in(page, console, 1009, VICTIM_PASSWORD)  # the right password, but locked now
    assert page.get_by_role("alert").inner_text().startswith("too many failed sign-ins")
    assert "/signin" in page.url
    # the same lockout guards the manager's sign-in through TraderEvolution's back office
    te = httpx.post(
        console.url("/proftrading/rest/auth/token"),
        json={"login": "1009", "password": VICTIM_PASSWORD},
    )
    assert te.status_code == 401
    assert "too many failed sign-ins" in te.text


def test_no_open_redirect_after_sign_in(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        page.goto(console.url("/console/signin?next=") + httpx.QueryParams({"n": target})["n"])
        page.get_by_label("Manager login").fill("1000")
        page.get_by_label("Password").fill(console.manager_password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        assert page.url == console.url("/console/"), target
        context.clear_cookies()
    page.goto(console.url("/console/signin?next=/console/risk"))
    sign_in_here(page, console)
    assert page.url == console.url("/console/risk")


def sign_in_here(page: Page, console: Console) -> None:
    page.get_by_label("Manager login").fill("1000")
    page.get_by_label("Password").fill(console.manager_password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def test_a_page_asked_for_signed_out_comes_back_after_sign_in(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    page.goto(console.url(f"/console/accounts/{console.demo_logins[0]}"))
    assert "/console/signin" in page.url
    sign_in_here(page, console)
    assert page.url == console.url(f"/console/accounts/{console.demo_logins[0]}")


def test_sign_out_ends_the_session_on_the_server(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    as_manager(page, console)
    cookie = next(c for c in context.cookies() if c["name"] == "bp_console")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert "/console/signin" in page.url
    page.goto(console.url("/console/accounts"))
    assert "/console/signin" in page.url
    # the old cookie, replayed by hand, opens nothing either
    stolen = httpx.get(console.url("/console/accounts"), cookies={"bp_console": cookie["value"]})
    assert stolen.status_code == 303
    assert stolen.headers["location"].startswith("/console/signin")


# ---- accounts and money ------------------------------------------------------------------------


def test_search_and_open_an_account(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    as_manager(page, console)
    main = page.locator("main")
    today = main.locator("section", has=page.get_by_role("heading", name="Today's money (UTC)"))
    assert "USD" in today.locator("tbody").inner_text()  # the seeded deposits
    pending = main.locator("section", has=page.get_by_role("heading", name="Pending approvals"))
    assert pending.locator("p.big").inner_text().isdigit()
    calls = main.locator(
        "section", has=page.get_by_role("heading", name="Margin call and stop-out")
    )
    assert str(console.margin_call_login) in calls.inner_text()
    chart = page.get_by_role("img", name=re.compile("Net exposure by symbol"))
    assert "EURUSD" in (chart.locator("title").text_content() or "")
    recent = main.locator("section", has=page.get_by_role("heading", name="Recent audit events"))
    assert "manager.signed_in" in recent.inner_text()  # this very sign-in
    shot(page, "overview")
    accessible(page)
    page.get_by_role("link", name="Accounts").click()
    page.get_by_label("Group mask").fill("demo-usd")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    rows = page.locator("tbody tr")
    assert rows.filter(has_text="Alice Smith").count() == 1
    assert rows.filter(has_text="Foreign Client").count() == 0  # another group
    with page.expect_download() as download:
        page.get_by_role("link", name="Export this filter as CSV").click()
    exported = Path(download.value.path()).read_text()
    assert exported.splitlines()[0].startswith("login,")
    assert "Alice Smith" in exported and "Foreign Client" not in exported
    page.get_by_label("Group mask").fill("")
    page.get_by_label("Email").fill("bruno@example.com")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert page.locator("tbody tr").count() == 1
    assert "Bruno Rossi" in page.locator("tbody").inner_text()
    page.get_by_label("Email").fill("")
    page.get_by_label("Login").fill(str(console.funded_login))
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    accessible(page)
    page.get_by_role("link", name=str(console.funded_login)).click()
    page.wait_for_load_state()
    assert (
        page.get_by_role("heading", level=1)
        .inner_text()
        .startswith(f"Account {console.funded_login}")
    )
    figures = page.locator("dl.figures").inner_text()
    assert "27000.00" in figures  # three seeded deposits of 9,000
    assert "Margin level" in figures
    positions = page.locator("section", has=page.get_by_role("heading", name="Open positions"))
    held = positions.locator("tbody").first.inner_text()
    assert "EURUSD" in held and "buy" in held and "XAUUSD" in held and "sell" in held
    accessible(page)
    shot(page, "account")
    page.goto(console.url("/console/accounts"))
    shot(page, "accounts")


def test_a_deposit_is_confirmed_and_a_double_submit_posts_once(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    as_manager(page, console)
    login = console.demo_logins[0]
    page.goto(console.url(f"/console/accounts/{login}"))
    page.get_by_label("Operation").select_option("deposit")
    page.get_by_label("Amount (USD)").fill("150.25")
    page.get_by_label("Comment").fill("wire 7781")
    page.get_by_role("button", name="Review", exact=True).click()
    page.wait_for_load_state()
    assert "Deposit of 150.25 USD on account" in page.locator("main").inner_text()
    assert "it is applied at once" in page.locator("main").inner_text()
    accessible(page)
    shot(page, "confirm")
    form: dict[str, str | float | bool] = {}
    for f in ("csrf", "key", "step", "operation", "amount", "comment"):
        value = page.locator(f"input[name={f}]").last.get_attribute("value")
        assert value is not None, f
        form[f] = value
    page.get_by_role("button", name="Confirm deposit").dblclick()
    page.wait_for_load_state()
    outcome = page.locator("#outcome").inner_text()
    assert outcome.startswith("Applied: operation #")
    assert "Balance now 150.25 USD" in outcome
    accessible(page)
    # The same form sent again (a second click that got through, a reload): applied once.
    again = page.request.post(console.url(f"/console/accounts/{login}/money"), form=form)
    assert again.status == 200
    assert "it was applied once" in again.text()
    assert ledger_rows(page, console, login, "wire 7781") == 1
    assert "150.25" in page.locator("dl.figures").inner_text()


def test_a_held_withdrawal_is_approved_by_a_second_manager(
    browser: Browser, console: Console
) -> None:
    first = browser.new_context(viewport={"width": 1280, "height": 900})
    second = browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        page = first.new_page()
        as_manager(page, console)
        login = console.funded_login
        page.goto(console.url(f"/console/accounts/{login}"))
        page.get_by_label("Operation").select_option("withdrawal")
        page.get_by_label("Amount (USD)").fill("12500")
        page.get_by_label("Comment").fill("client asked by phone")
        page.get_by_role("button", name="Review", exact=True).click()
        page.wait_for_load_state()
        warned = page.locator("#will-wait").inner_text()  # said before it is confirmed
        assert "above the approval threshold (USD 10000.00)" in warned
        page.get_by_role("button", name="Confirm withdraw").click()
        page.wait_for_load_state()
        notice = page.locator("#outcome").inner_text()
        assert notice.startswith("Waiting for approval: 12500.00 USD is held as approval #")
        approval_id = re.search(r"#(\d+)", notice).group(1)  # type: ignore[union-attr]
        shot(page, "held")
        assert ledger_rows(page, console, login, "client asked by phone") == 0
        # the requester sees it queued, without buttons, and cannot decide it by hand either
        page.goto(console.url("/console/approvals"))
        row = page.locator("tbody tr", has_text="client asked by phone")
        assert "yours: another manager decides" in row.inner_text()
        forced = page.request.post(
            console.url(f"/console/approvals/{approval_id}"),
            form={"csrf": csrf_of(page), "decision": "approve"},
        )
        assert forced.status == 403
        # the finance approver, in a browser of its own, approves it
        other = second.new_page()
        sign_in(other, console, 1001, APPROVER_PASSWORD)
        other.get_by_role("link", name="Approvals", exact=True).click()
        row = other.locator("tbody tr", has_text="client asked by phone")
        assert "1000" in row.inner_text()  # who asked
        accessible(other)
        shot(other, "approvals")
        row.get_by_label(f"Comment on #{approval_id}").fill("checked with the client")
        row.get_by_role("button", name=f"Approve #{approval_id}").click()
        other.wait_for_load_state()
        assert other.locator("#outcome").inner_text().startswith("Approved: withdrawal of 12500.00")
        accessible(other)
        other.goto(console.url("/console/approvals?state=approved"))
        decided = other.locator("tbody tr", has_text="client asked by phone").inner_text()
        assert "1001" in decided and "checked with the client" in decided  # the history
        # the money moved once, recorded as approved by 1001
        page.goto(console.url(f"/console/accounts/{login}"))
        assert ledger_rows(page, console, login, "client asked by phone") == 1
        section = page.locator(
            "section", has=page.get_by_role("heading", name="Ledger (latest first)")
        )
        ledger = section.locator("tbody tr", has_text="client asked by phone").inner_text()
        assert "-12500.00" in ledger and "1001" in ledger
        assert "14500.00" in page.locator("dl.figures").inner_text()
    finally:
        first.close()
        second.close()


def test_disable_and_enable_an_account(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    as_manager(page, console)
    login = console.demo_logins[1]
    page.goto(console.url(f"/console/accounts/{login}"))
    page.get_by_label("Reason").fill("KYC review")
    page.get_by_role("button", name="Disable the account").click()
    page.wait_for_load_state()
    assert "disabled" in page.locator("main p").first.inner_text()
    assert page.locator("tbody tr", has_text="account.disabled").count() >= 1
    page.get_by_role("button", name="Enable the account").click()
    page.wait_for_load_state()
    assert "enabled" in page.locator("main p").first.inner_text()
    page.get_by_label("Group (same currency)").fill("demoforex")
    page.get_by_role("button", name="Review the move").click()
    page.wait_for_load_state()
    assert "to group demoforex" in page.locator("main p").first.inner_text()  # confirm first
    accessible(page)
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    assert "Group demoforex" in page.locator("main p").first.inner_text()
    page.get_by_label("New password").fill("short")
    page.get_by_role("button", name="Review the password").click()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").is_visible()  # the core's password policy
    page.goto(console.url(f"/console/accounts/{login}"))
    page.get_by_label("New password").fill("N3w!Passw0rd")
    page.get_by_role("button", name="Review the password").click()
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_load_state()
    assert page.locator("#notice").inner_text() == "The main password was changed."


# ---- rules the core keeps -------------------------------------------------------------------


def test_a_manager_limited_to_demo_cannot_see_or_reach_another_group(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    sign_in(page, console, 1002, LIMITED_PASSWORD)
    page.goto(console.url("/console/accounts"))
    listed = page.locator("tbody").inner_text()
    assert "Alice Smith" in listed
    assert "Foreign Client" not in listed
    page.goto(console.url(f"/console/accounts?login={console.foreign_login}"))
    assert page.locator("tbody").inner_text().strip() == "No account matches."
    answer = page.goto(console.url(f"/console/accounts/{console.foreign_login}"))
    assert answer is not None and answer.status == 404
    assert "Foreign Client" not in page.content()
    accessible(page)  # the error page too
    # a money form pointed at it by hand: not found, nothing moves
    page.goto(console.url("/console/accounts"))
    posted = page.request.post(
        console.url(f"/console/accounts/{console.foreign_login}/money"),
        form={
            "csrf": csrf_of(page),
            "key": "k-reach",
            "step": "apply",
            "operation": "deposit",
            "amount": "5",
            "comment": "reach",
        },
    )
    assert posted.status == 404
    # the risk page totals only demo* groups
    page.goto(console.url("/console/risk"))
    assert "real\\standard" not in page.locator("main").inner_text()


def test_a_form_without_the_right_csrf_token_is_refused(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    as_manager(page, console)
    login = console.demo_logins[0]
    page.goto(console.url(f"/console/accounts/{login}"))
    for token in ("", "forged-token"):
        posted = page.request.post(
            console.url(f"/console/accounts/{login}/money"),
            form={
                "csrf": token,
                "key": f"k-csrf-{token}",
                "step": "apply",
                "operation": "deposit",
                "amount": "1",
                "comment": "csrf probe",
            },
        )
        assert posted.status == 403
        assert "security token" in posted.text()
    disabled = page.request.post(
        console.url(f"/console/accounts/{login}/state"), form={"action": "disable"}
    )
    assert disabled.status == 403
    assert ledger_rows(page, console, login, "csrf probe") == 0
    assert "enabled" in page.locator("main p").first.inner_text()


def test_names_are_shown_as_text_never_as_markup(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    as_manager(page, console)
    page.goto(console.url(f"/console/accounts/{console.hostile_login}"))
    assert HOSTILE_NAME in page.get_by_role("heading", level=1).inner_text()
    assert page.locator("main img").count() == 0
    assert "pwned" not in page.title()
    page.goto(console.url("/console/accounts?group=demo-usd"))
    assert page.locator("main img").count() == 0


def test_risk_and_audit_pages(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    as_manager(page, console)
    page.goto(console.url("/console/risk"))
    assert page.locator("body").get_attribute("data-refresh") == "30"
    chart = page.get_by_role("img", name=re.compile("Net exposure by symbol"))
    title = chart.locator("title").text_content()
    assert title is not None and "EURUSD" in title
    assert "XAUUSD" in page.locator("main").inner_text()
    by_group = page.get_by_role("img", name=re.compile("Net exposure by group"))
    group_title = by_group.locator("title").text_content()
    assert group_title is not None and "demo-usd" in group_title
    calls = page.locator(
        "section", has=page.get_by_role("heading", name="Margin call and stop-out")
    )
    row = calls.locator("tbody tr", has_text=str(console.margin_call_login)).inner_text()
    assert "stop out" in row and "demo-usd" in row
    accessible(page)
    shot(page, "risk")
    page.goto(console.url("/console/audit"))
    page.get_by_label("Account").fill(str(console.funded_login))
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert (
        page.locator("tbody tr", has_text="account.opened").count() >= 1
        or page.locator("tbody tr").count() >= 1
    )
    page.get_by_label("Operator id").fill("brokerplane-cli")
    page.get_by_label('Action (prefix ending in ".")').fill("trade.")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    rows = page.locator("tbody tr")
    assert rows.count() == 2  # the two seeded trades of the account, by the CLI's operator
    assert rows.filter(has_text="trade.deal").count() == 2
    page.get_by_role("link", name="Verify the audit chain").click()
    page.wait_for_load_state()
    assert page.locator("#chain").inner_text().startswith("The audit chain is intact")
    accessible(page)
    shot(page, "audit")


def test_every_page_is_reachable_by_keyboard(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    as_manager(page, console)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Overview"
    for _ in range(4):
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Audit"
    page.keyboard.press("Enter")
    page.wait_for_url(console.url("/console/audit"))
    assert page.get_by_role("heading", name="Audit", level=1).is_visible()
