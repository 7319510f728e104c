"""Two-factor sign-in in a real browser: a manager enrols from the Security page (the secret read
off the page, codes computed here as an authenticator app would), signs out, and then needs a
code after the password; a wrong code is refused, a recovery code works once, wrong codes lock
the manager out as wrong passwords do, and an administrator's reset lets the password alone in
again. The pages pass the accessibility checks."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from brokerplane.core.access import totp
from tests.console.conftest import APPROVER_PASSWORD, VICTIM_PASSWORD, Console
from tests.console.test_console import accessible, shot, sign_in


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    ctx = browser.new_context(viewport={"width": 1280, "height": 900})
    yield ctx
    ctx.close()


def code_now(secret: bytes, ahead: int = 0) -> str:
    """The code an authenticator app shows (`ahead` steps later: each code is accepted once,
    so a sign-in right after the enrolment uses the next step's, which the server accepts
    one step early)."""
    return totp.code_at_step(secret, totp.step_at(time.time()) + ahead)


def enrol(
    page: Page, console: Console, password: str, screenshot: bool = False
) -> tuple[bytes, list[str]]:
    """From the signed-in manager's Security page (its password asked again): the secret and
    the recovery codes."""
    page.get_by_role("link", name="Security", exact=True).click()
    page.wait_for_load_state()
    assert "is off" in page.locator("#totp-state").inner_text()
    accessible(page)
    page.locator("#password-start").fill("not-the-password")
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").inner_text() == "wrong password"
    assert page.locator("#totp-secret").count() == 0
    page.locator("#password-start").fill(password)
    page.get_by_role("button", name="Set up two-factor sign-in").click()
    page.wait_for_load_state()
    assert page.get_by_role("img", name="QR code of the two-factor secret").is_visible()
    accessible(page)
    if screenshot:  # for docs/console.md
        shot(page, "security")
    text = page.locator("#totp-secret").inner_text().strip()
    secret = base64.b32decode(text + "=" * (-len(text) % 8))
    page.get_by_label("Code from the app").fill("000000" if code_now(secret) != "000000" else "1")
    page.locator("#password-confirm").fill(password)
    page.get_by_role("button", name="Switch on").click()
    page.wait_for_load_state()
    assert "does not match" in page.get_by_role("alert").inner_text()
    page.get_by_label("Code from the app").fill(code_now(secret))
    page.locator("#password-confirm").fill(password)
    page.get_by_role("button", name="Switch on").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "Two-factor sign-in is on."
    codes = [c.strip() for c in page.locator("#recovery-codes code").all_inner_texts()]
    assert len(codes) == 10
    assert "is on" in page.locator("#totp-state").inner_text()
    accessible(page)
    page.reload()  # the recovery codes are shown once
    assert page.locator("#recovery-codes").count() == 0
    assert "10 unused recovery codes left" in page.locator("#totp-state").inner_text()
    return secret, codes


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_load_state()
    assert "/console/signin" in page.url


def enter_code(page: Page, code: str) -> None:
    page.get_by_label("Code").fill(code)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()


def test_enrol_then_sign_in_with_a_code_and_a_recovery_code_once(
    context: BrowserContext, console: Console, browser: Browser
) -> None:
    page = context.new_page()
    sign_in(page, console, 1001, APPROVER_PASSWORD)
    assert page.url == console.url("/console/")
    secret, codes = enrol(page, console, APPROVER_PASSWORD, screenshot=True)
    sign_out(page)

    # the password alone gives no session, only the code step, bound to this browser
    sign_in(page, console, 1001, APPROVER_PASSWORD)
    assert page.url.startswith(console.url("/console/signin/code"))
    assert page.get_by_role("heading", name="Two-factor sign-in").is_visible()
    accessible(page)
    names = {c["name"]: c for c in context.cookies()}
    assert "bp_console" not in names
    waiting = names["bp_console_2fa"]
    assert waiting["httpOnly"] is True and waiting["sameSite"] == "Strict"
    no_session = httpx.get(console.url("/console/"), cookies={"bp_console_2fa": waiting["value"]})
    assert no_session.status_code == 303 and "/console/signin" in no_session.headers["location"]
    other = browser.new_context()
    try:  # another browser, without the cookie, has no code step to answer
        elsewhere = other.new_page()
        elsewhere.goto(console.url("/console/signin/code"))
        assert elsewhere.url.startswith(console.url("/console/signin"))
        assert "/code" not in elsewhere.url
    finally:
        other.close()

    wrong = "123456" if code_now(secret, 1) != "123456" else "654321"
    enter_code(page, wrong)
    assert page.get_by_role("alert").inner_text() == "wrong code"
    enter_code(page, code_now(secret, 1))
    assert page.url == console.url("/console/")
    assert "(1001)" in page.locator("header").inner_text()
    sign_out(page)

    # a recovery code works once
    sign_in(page, console, 1001, APPROVER_PASSWORD)
    enter_code(page, codes[0])
    assert page.url == console.url("/console/")
    page.goto(console.url("/console/security"))
    assert "9 unused recovery codes left" in page.locator("#totp-state").inner_text()
    sign_out(page)
    sign_in(page, console, 1001, APPROVER_PASSWORD)
    enter_code(page, codes[0])
    assert page.get_by_role("alert").inner_text() == "wrong code"
    enter_code(page, codes[1])
    assert page.url == console.url("/console/")

    # turning it off needs a proof of the second factor: the password is none, a code is
    page.goto(console.url("/console/security"))
    page.locator("#proof-disable").fill(APPROVER_PASSWORD)
    page.get_by_role("button", name="Turn two-factor sign-in off").click()
    page.wait_for_load_state()
    assert page.get_by_role("alert").inner_text() == "wrong code"
    page.locator("#proof-disable").fill(codes[2])
    page.get_by_role("button", name="Turn two-factor sign-in off").click()
    page.wait_for_load_state()
    assert page.get_by_role("status").inner_text() == "Two-factor sign-in is off."
    sign_out(page)
    sign_in(page, console, 1001, APPROVER_PASSWORD)
    assert page.url == console.url("/console/")


def test_wrong_codes_lock_the_manager_out_until_an_administrator_steps_in(
    context: BrowserContext, console: Console, browser: Browser
) -> None:
    page = context.new_page()
    sign_in(page, console, 1009, VICTIM_PASSWORD)
    secret, _ = enrol(page, console, VICTIM_PASSWORD)
    sign_out(page)
    sign_in(page, console, 1009, VICTIM_PASSWORD)
    right = code_now(secret, 1)
    wrong = "000000" if right != "000000" else "111111"
    for _ in range(3):  # the test server locks after 3 failures from one address
        enter_code(page, wrong)
        assert page.get_by_role("alert").inner_text() == "wrong code"
    enter_code(page, right)  # the right code, but locked now
    assert page.get_by_role("alert").inner_text().startswith("too many failed sign-ins")
    sign_in(page, console, 1009, VICTIM_PASSWORD)  # and the password with it: one lockout
    assert page.get_by_role("alert").inner_text().startswith("too many failed sign-ins")

    # an administrator resets the second factor and clears the lock: the password alone works
    admin = browser.new_context()
    try:
        desk = admin.new_page()
        sign_in(desk, console, 1000, console.manager_password)
        desk.goto(console.url("/console/admin"))
        desk.get_by_role("button", name="Reset two-factor of 1009").click()
        desk.wait_for_load_state()
        assert "Manager 1009: two-factor sign-in reset" in desk.locator("main").inner_text()
        desk.get_by_role("button", name="Unlock 1009").click()
        desk.wait_for_load_state()
        desk.goto(console.url("/console/audit?action=manager.second_factor_reset"))
        assert "1009" in desk.locator("main table").first.inner_text()
    finally:
        admin.close()
    sign_in(page, console, 1009, VICTIM_PASSWORD)
    assert page.url == console.url("/console/")
