"""The console in a real browser, continued: the offline API documentation, administration
(keys, rights, groups), opening and funding an account, attributes, and the audit by dialect."""

from __future__ import annotations

import re
from decimal import Decimal

import httpx
from playwright.sync_api import BrowserContext, Route

from tests.console.conftest import LIMITED_PASSWORD, Console
from tests.console.test_console import accessible, as_manager, csrf_of, shot, sign_in

# ---- API documentation ----------------------------------------------------------------------


def test_api_docs_work_offline_and_declare_the_key_scheme(
    context: BrowserContext, console: Console
) -> None:
    outside: list[str] = []

    def local_only(route: Route) -> None:
        if route.request.url.startswith(console.base):
            route.continue_()
        else:  # nothing may come from elsewhere (a CDN, fonts)
            outside.append(route.request.url)
            route.abort()

    page = context.new_page()
    page.route("**/*", local_only)
    page.goto(console.url("/docs"))
    page.get_by_role("button", name="Authorize").wait_for()
    assert page.locator(".info .title").inner_text().startswith("brokerplane")
    assert page.locator(".opblock-summary-path", has_text="/v1/balances/deposit").count() >= 1
    page.goto(console.url("/redoc"))
    page.get_by_role("heading", name=re.compile("^brokerplane")).first.wait_for()
    assert outside == []
    schema = httpx.get(console.url("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    deposit = schema["paths"]["/v1/balances/deposit"]["post"]
    assert deposit["security"] == [{"bearerAuth": []}]


# ---- administration ---------------------------------------------------------------------------


def test_an_admin_creates_and_revokes_a_key_whose_secret_is_shown_once(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    as_manager(page, console)
    page.get_by_role("link", name="Admin").click()
    page.wait_for_load_state()
    assert page.locator("tbody tr", has_text="Demo desk").count() == 1  # manager 1002
    page.get_by_label("For manager").select_option("1001")
    page.get_by_label("Name").fill("reconciliation worker")
    page.get_by_label("users:read").check()
    page.get_by_role("button", name="Create the key").click()
    page.wait_for_load_state()
    secret = page.locator("#secret").inner_text()
    key_id = page.locator("#notice").inner_text().split()[1]
    assert secret.startswith("bpk_")
    accessible(page)
    mine = httpx.get(console.url("/v1/keys"), headers={"Authorization": f"Bearer {secret}"})
    assert mine.status_code == 200
    page.goto(console.url("/console/admin"))
    assert secret not in page.content()  # shown once
    page.get_by_role("button", name=f"Revoke {key_id}").click()
    page.wait_for_load_state()
    assert page.locator("#notice").inner_text() == f"Key {key_id} revoked"
    shot(page, "admin")
    # the sign-in lockout of manager 1009 (locked by another test or not) is cleared here
    page.get_by_role("button", name="Unlock 1009").click()
    page.wait_for_load_state()
    assert page.locator("#notice").inner_text().startswith("Manager 1009 unlocked")
    page.get_by_label("Group (empty: every group)").fill("demo-usd")
    page.get_by_label("Hold operations above (empty: remove)").fill("5000")
    page.get_by_role("button", name="Set the threshold").click()
    page.wait_for_load_state()
    assert page.locator("#notice").inner_text() == "USD threshold for demo-usd: above 5000"
    row = page.locator("tbody tr", has_text="demo-usd").filter(has_text="5000.00")
    assert row.count() == 1
    page.get_by_label("Group (empty: every group)").fill("demo-usd")
    page.get_by_role("button", name="Set the threshold").click()  # no amount: removed
    page.wait_for_load_state()
    assert page.locator("#notice").inner_text() == "USD threshold for demo-usd: removed"
    gone = httpx.get(console.url("/v1/keys"), headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401


def test_administration_is_for_admins_of_unlimited_reach(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    sign_in(page, console, 1002, LIMITED_PASSWORD)  # admin right, but limited to demo*
    assert page.get_by_role("link", name="Admin").count() == 0
    answer = page.goto(console.url("/console/admin"))
    assert answer is not None and answer.status == 403
    assert "unlimited reach" in page.get_by_role("alert").inner_text()


def test_open_an_account_then_fund_it(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    sign_in(page, console, 1002, LIMITED_PASSWORD)  # limited to demo*
    page.goto(console.url("/console/accounts"))
    page.get_by_role("link", name="Open an account").click()
    page.wait_for_load_state()
    groups = page.get_by_label("Group", exact=True).locator("option").all_inner_texts()
    assert "demo-usd (USD)" in groups
    assert not any(g.startswith("real") for g in groups)  # only groups within reach
    accessible(page)
    page.get_by_label("Group", exact=True).select_option("demo-usd")
    page.get_by_label("Name", exact=True).fill("Opened In Console")
    page.get_by_label("Email").fill("opened@example.com")
    page.get_by_role("button", name="Open the account").click()
    page.wait_for_load_state()
    heading = page.get_by_role("heading", level=1).inner_text()
    assert heading.startswith("Account ") and heading.endswith("Opened In Console")
    assert "Group demo-usd" in page.locator("main p").first.inner_text()
    page.get_by_label("Amount (USD)").fill("500")
    page.get_by_role("button", name="Review", exact=True).click()
    page.get_by_role("button", name="Confirm deposit").click()
    page.wait_for_load_state()
    assert "Balance now 500.00 USD" in page.locator("#outcome").inner_text()
    # a group out of reach, posted by hand: refused as not found
    page.goto(console.url("/console/accounts/new"))
    refused = page.request.post(
        console.url("/console/accounts/new"),
        form={"csrf": csrf_of(page), "group": "real\\standard", "name": "Sneaky"},
    )
    assert refused.status == 404


# ---- search by name, attributes, administration of a group, audit by dialect ----------------


def test_search_by_name_then_edit_the_attributes(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    sign_in(page, console, 1002, LIMITED_PASSWORD)  # limited to demo*
    page.goto(console.url("/console/accounts"))
    page.get_by_label("Name contains").fill("smith")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    rows = page.locator("tbody tr")
    assert rows.count() == 1 and "Alice Smith" in rows.inner_text()
    accessible(page)
    rows.get_by_role("link").click()
    page.wait_for_load_state()
    attributes = page.locator("section", has=page.get_by_role("heading", name="Attributes"))
    assert "alice@example.com" in attributes.inner_text()
    page.get_by_role("link", name="Edit the attributes").click()
    page.wait_for_load_state()
    accessible(page)
    page.get_by_label("City").fill("Lyon")
    page.get_by_label("Custom attributes (one name=value a line)").fill("kyc=passed")
    page.get_by_role("button", name="Save the attributes").click()
    page.wait_for_load_state()
    assert page.locator("#notice").inner_text() == "Changed: attributes, city."
    assert "Lyon" in attributes.inner_text() and "passed" in attributes.inner_text()
    trail = page.locator("section", has=page.get_by_role("heading", name=re.compile("^Audit")))
    assert "Lyon" in trail.locator("tbody tr").first.inner_text()


def test_an_admin_changes_a_group_after_reviewing_it(
    context: BrowserContext, console: Console
) -> None:
    page = context.new_page()
    as_manager(page, console)
    page.goto(console.url("/console/admin"))
    page.get_by_role("link", name="Edit manager 1002").click()
    page.wait_for_load_state()
    assert page.get_by_label("Groups (mask: demo*,!demo-vip)").input_value() == "demo*"
    accessible(page)
    page.goto(console.url("/console/admin/manager"))  # a new manager's form
    accessible(page)
    page.goto(console.url("/console/admin/group"))  # a new group's form
    accessible(page)
    pages = (
        "/console/admin/symbol",
        "/console/admin/symbol?name=EURUSD",
        "/console/admin/group?name=demo-usd",
    )
    for path in pages:  # a new symbol's form, a symbol's page, a group's page
        page.goto(console.url(path))
        accessible(page)
    page.goto(console.url("/console/admin"))
    page.get_by_role("link", name="Edit symbol EURUSD").click()
    page.wait_for_load_state()
    accessible(page)
    page.goto(console.url("/console/admin"))
    page.get_by_role("link", name="Edit group real\\standard").click()
    page.wait_for_load_state()
    accessible(page)
    page.get_by_label("Stop-out level (%)").fill("30")
    page.get_by_label("Maximum leverage").fill("300")
    page.get_by_role("button", name="Review the change").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", level=1).inner_text() == "Change group real\\standard?"
    review = page.locator("tbody").inner_text()
    assert "Stop-out level (%)\t50\t30" in review and "Maximum leverage" in review
    accessible(page)
    page.get_by_role("button", name="Apply the change").click()
    page.wait_for_load_state()
    assert page.locator("#notice").inner_text() == "Group real\\standard changed"
    assert page.get_by_label("Stop-out level (%)").input_value() == "30"
    got = httpx.get(
        console.url("/v1/groups/real%5Cstandard"),
        headers={"Authorization": f"Bearer {console.admin_key}"},
    )
    assert Decimal(got.json()["stop_out"]) == 30


def test_audit_search_by_dialect(context: BrowserContext, console: Console) -> None:
    page = context.new_page()
    as_manager(page, console)
    page.goto(console.url("/console/audit"))
    page.get_by_label("Dialect").select_option("cli")
    page.get_by_label('Action (prefix ending in ".")').fill("account.")
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()
    assert "dialect=cli" in page.url
    rows = page.locator("tbody tr")
    assert rows.count() >= 5  # the seeded accounts, opened by the CLI's operator
    vias = rows.locator("td:nth-child(6)").all_inner_texts()
    assert set(vias) == {"cli"}
    accessible(page)
