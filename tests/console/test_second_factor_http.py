"""The console's second factor over HTTP, in-process: a session of the TraderEvolution back
office (the same password, no code) is not a console session, so it cannot be made into a
console cookie around the code step; the waiting sign-in's cookie is bound to its browser and
opens nothing by itself."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from brokerplane.api.app import create_app
from brokerplane.bootstrap import Runtime
from brokerplane.core.access import totp
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES, Actor

PASSWORD = "Manag3r!pw"
TE_TOKEN = "/proftrading/rest/auth/token"


@pytest.fixture
def client(runtime: Runtime, admin: Actor) -> Iterator[TestClient]:
    runtime.app.create_manager(CreateManager(1000, "Manager", PASSWORD, frozenset(SCOPES)), admin)
    with TestClient(create_app(runtime), follow_redirects=False) as c:
        yield c


def _csrf(text: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found is not None
    return found[1]


def sign_in(client: TestClient) -> str:
    """The password step; the answer's location."""
    csrf = _csrf(client.get("/console/signin").text)
    answer = client.post(
        "/console/signin", data={"csrf": csrf, "login": "1000", "password": PASSWORD}
    )
    assert answer.status_code == 303
    return str(answer.headers["location"])


def enrol(client: TestClient) -> bytes:
    assert sign_in(client) == "/console/"
    csrf = _csrf(client.get("/console/security").text)
    client.post("/console/security", data={"csrf": csrf, "action": "start", "password": PASSWORD})
    page = client.get("/console/security").text
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert found is not None
    secret = base64.b32decode(found[1] + "=" * (-len(found[1]) % 8))
    code = totp.code_at(secret, time.time())
    form = {"csrf": csrf, "action": "confirm", "code": code, "password": PASSWORD}
    done = client.post("/console/security", data=form)
    assert "Two-factor sign-in is on." in done.text
    client.cookies.clear()
    return secret


def test_a_back_office_session_from_the_password_alone_is_no_console_session(
    client: TestClient,
) -> None:
    enrol(client)
    assert sign_in(client).startswith("/console/signin/code")
    te = client.post(TE_TOKEN, json={"login": "1000", "password": PASSWORD}).json()
    client.cookies.clear()
    forged = f"9999999999999.{te['accessToken']}.{te['refreshToken']}.made-up-csrf"
    client.cookies.set("bp_console", forged)
    answer = client.get("/console/")
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/console/signin")


def test_the_waiting_sign_in_opens_no_page_and_is_no_session(client: TestClient) -> None:
    enrol(client)
    assert sign_in(client).startswith("/console/signin/code")
    waiting = client.cookies.get("bp_console_2fa")
    assert waiting
    assert client.get("/console/").status_code == 303
    client.cookies.clear()
    client.cookies.set("bp_console", f"9999999999999.{waiting}.{waiting}.x")
    assert client.get("/console/").status_code == 303


def test_a_session_alone_cannot_enrol_an_authenticator(client: TestClient) -> None:
    """Someone holding a stolen console cookie, without the password, draws no secret and
    switches on none (the storage tests count the wrong passwords on the sign-in lockout)."""
    assert sign_in(client) == "/console/"
    csrf = _csrf(client.get("/console/security").text)
    for password in ("", "not-the-password"):
        form = {"csrf": csrf, "action": "start", "password": password}
        answer = client.post("/console/security", data=form)
        assert answer.status_code == 401
        assert "wrong password" in answer.text and 'id="totp-secret"' not in answer.text
    assert 'id="totp-secret"' not in client.get("/console/security").text
    answer = client.post(
        "/console/security", data={"csrf": csrf, "action": "start", "password": PASSWORD}
    )
    assert answer.status_code == 303
    page = client.get("/console/security").text
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert found is not None
    secret = base64.b32decode(found[1] + "=" * (-len(found[1]) % 8))
    form = {"csrf": csrf, "action": "confirm", "code": totp.code_at(secret, time.time())}
    refused = client.post("/console/security", data={**form, "password": "guess"})
    assert refused.status_code == 401 and "wrong password" in refused.text
    assert 'id="totp-secret"' in client.get("/console/security").text  # still waiting
    done = client.post("/console/security", data={**form, "password": PASSWORD})
    assert "Two-factor sign-in is on." in done.text


def test_five_wrong_first_codes_discard_the_new_secret(client: TestClient) -> None:
    assert sign_in(client) == "/console/"
    csrf = _csrf(client.get("/console/security").text)
    client.post("/console/security", data={"csrf": csrf, "action": "start", "password": PASSWORD})
    page = client.get("/console/security").text
    found = re.search(r'id="totp-secret">([A-Z2-7]+)<', page)
    assert found is not None
    secret = base64.b32decode(found[1] + "=" * (-len(found[1]) % 8))
    right = totp.code_at(secret, time.time())
    wrong = "000000" if right != "000000" else "111111"
    form = {"csrf": csrf, "action": "confirm", "password": PASSWORD}
    for _ in range(4):
        answer = client.post("/console/security", data={**form, "code": wrong})
        assert answer.status_code == 400 and "does not match" in answer.text
    answer = client.post("/console/security", data={**form, "code": wrong})
    assert answer.status_code == 409 and "discarded" in answer.text
    assert 'id="totp-secret"' not in answer.text
    answer = client.post("/console/security", data={**form, "code": right})
    assert answer.status_code == 409 and "start again" in answer.text
