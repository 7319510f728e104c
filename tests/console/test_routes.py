"""Every console route, signed out: pages send the browser to sign in (coming back after), forms
are refused, and no route answers with data; the session cookie and headers are as documented.
In-process over HTTP (no browser), on both engines."""

from __future__ import annotations

import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Mount, Route

from brokerplane import bootstrap
from brokerplane.api.app import create_app
from brokerplane.api.console.pages import safe_next
from brokerplane.bootstrap import Runtime
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import system_actor
from brokerplane.settings import Settings
from tests.conftest import SQLITE_FILE

PASSWORD = "Manag3r!pw"
PUBLIC = {
    ("GET", "/signin"),
    ("POST", "/signin"),
    ("POST", "/signout"),
    ("GET", "/signin/code"),
    ("POST", "/signin/code"),
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One migrated database per engine for the whole module (every test here that touches
    the database uses it, so nothing else empties it meanwhile): the tests only sign manager
    1000 in and read pages, each with a client and cookies of its own."""
    if request.param == "sqlite":
        target = tmp_path_factory.mktemp("console-routes") / SQLITE_FILE
        shutil.copyfile(request.getfixturevalue("_sqlite_template"), target)
        return f"sqlite:///{target.as_posix()}"
    schema = request.getfixturevalue("_postgres_schema")
    schema.reset()
    return str(schema.url)


@pytest.fixture(scope="module")
def runtime(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    data_dir = tmp_path_factory.mktemp("console-routes-data")
    rt = bootstrap.build(Settings(database_url=database_url, data_dir=data_dir))
    try:
        yield rt
    finally:
        rt.close()


@pytest.fixture(scope="module")
def app(runtime: Runtime) -> FastAPI:
    runtime.app.create_manager(CreateManager(1000, "Manager", PASSWORD), system_actor())
    return create_app(runtime)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as c:
        yield c


def console_routes(client: TestClient) -> list[tuple[str, str]]:
    app = client.app
    mount = next(r for r in app.routes if isinstance(r, Mount) and r.path == "/console")  # type: ignore[attr-defined]
    found = []
    for route in mount.routes:
        if isinstance(route, Route):
            for method in sorted(route.methods or ()):
                if method != "HEAD":
                    found.append((method, route.path))
    return found


def _concrete(path: str) -> str:
    return path.replace("{login}", "100000").replace("{approval_id}", "1")


def test_every_console_route_needs_a_session(client: TestClient) -> None:
    routes = console_routes(client)
    assert len(routes) >= 12
    for method, path in routes:
        if (method, path) in PUBLIC:
            continue
        url = "/console" + _concrete(path)
        if method == "GET":
            answer = client.get(url)
            assert answer.status_code == 303, url
            assert answer.headers["location"].startswith("/console/signin?next=%2Fconsole"), url
        else:
            answer = client.post(url, data={"csrf": "x", "operation": "deposit", "amount": "1"})
            assert answer.status_code == 303, url
            assert answer.headers["location"] == "/console/signin", url


def _signed_in(client: TestClient) -> str:
    page = client.get("/console/signin")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    form = {"csrf": csrf, "login": "1000", "password": PASSWORD, "next": "/console/"}
    answer = client.post("/console/signin", data=form)
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert isinstance(cookie, str)
    return cookie


def test_sign_in_sets_a_strict_httponly_cookie_and_pages_carry_a_strict_policy(
    client: TestClient,
) -> None:
    cookie = _signed_in(client)
    assert cookie.startswith("bp_console=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    page = client.get("/console/accounts")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["x-frame-options"] == "DENY"
    assert page.headers["cache-control"] == "no-store"


def test_the_sign_in_form_needs_its_own_token(client: TestClient) -> None:
    """Login CSRF: a page elsewhere cannot sign the browser in as someone else."""
    answer = client.post("/console/signin", data={"login": "1000", "password": PASSWORD})
    assert answer.status_code == 403
    assert "bp_console=" not in answer.headers.get("set-cookie", "")


def test_a_session_cookie_planted_before_sign_in_is_never_kept(client: TestClient) -> None:
    client.cookies.set("bp_console", "1.planted.planted.planted")
    assert client.get("/console/accounts").status_code == 303  # not a session
    cookie = _signed_in(client)
    assert "planted" not in cookie


def _raw_get(port: int, path: str, cookie: bytes) -> bytes:
    """A GET with the cookie header's bytes as given (a test client re-encodes them)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        conn.sendall(
            b"GET "
            + path.encode()
            + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: "
            + cookie
            + b"\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    return answer.split(b"\r\n", 1)[0]


def test_a_malformed_session_cookie_is_no_session_never_a_crash(runtime: Runtime) -> None:
    """A cookie's issue time that only looks like digits (a superscript reads as a digit to
    str.isdigit, not to int) is no session: sign in again, never a server error."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_app(runtime), host="127.0.0.1", port=port, log_level="critical")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        for issued in (b"\xb2", b"1\xb9\xb2", b"9" * 400):
            cookie = b"bp_console=" + issued + b".access.refresh.csrf"
            assert _raw_get(port, "/console/accounts", cookie) == b"HTTP/1.1 303 See Other"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("/console/risk", "/console/risk"),
        ("/console/accounts?group=demo*", "/console/accounts?group=demo*"),
        ("//evil.example/console", "/console/"),
        ("https://evil.example/console", "/console/"),
        ("/console\\@evil.example", "/console/"),
        ("/consolex", "/console/"),
        ("/console/\r\nSet-Cookie: x=1", "/console/"),
        (None, "/console/"),
    ],
)
def test_after_sign_in_only_a_path_on_this_server(given: str | None, kept: str) -> None:
    assert safe_next(given) == kept


def test_under_tls_the_cookies_are_host_only_and_secure(app: FastAPI) -> None:
    with TestClient(app, base_url="https://testserver", follow_redirects=False) as client:
        form_page = client.get("/console/signin")
        assert form_page.headers["set-cookie"].startswith("__Host-bp_console_signin=")
        assert "Secure" in form_page.headers["set-cookie"]
        csrf = form_page.text.split('name="csrf" value="')[1].split('"')[0]
        form = {"csrf": csrf, "login": "1000", "password": PASSWORD}
        answer = client.post("/console/signin", data=form)
        assert answer.status_code == 303
        cookies = answer.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("__Host-bp_console="))
        assert "Secure" in session and "HttpOnly" in session and "Path=/" in session
        assert "Domain" not in session
        assert client.get("/console/accounts").status_code == 200


def test_the_root_and_the_bare_console_path_lead_to_the_console(client: TestClient) -> None:
    for path in ("/", "/console"):
        answer = client.get(path)
        assert answer.status_code == 307, path
        assert answer.headers["location"] == "/console/", path
    missing = client.get("/console/no-such-page")
    assert missing.status_code == 404
    assert "There is no such page in the console." in missing.text


def test_the_code_step_without_a_waiting_sign_in_asks_for_the_password(
    client: TestClient,
) -> None:
    answer = client.get("/console/signin/code")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/signin"
    client.cookies.set("bp_console_2fa", "made-up")
    page = client.get("/console/signin/code")
    assert page.status_code == 200  # the form; the token itself is checked when it is sent
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    forged = client.post("/console/signin/code", data={"csrf": csrf[1], "code": "123456"})
    assert forged.status_code == 401
    assert "sign in again with your password" in forged.text
    assert "bp_console=" not in forged.headers.get("set-cookie", "")
