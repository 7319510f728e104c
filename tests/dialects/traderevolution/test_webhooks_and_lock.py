"""Trading webhook keys (generated with the secret shown once, listed without it, deleted; a
user manages only its own, under both path spellings) and the sign-in lockout, which delays
attempts and never locks a user."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from brokerplane import bootstrap
from brokerplane.api.app import create_app
from brokerplane.core import passwords
from brokerplane.core.access.commands import CreateManager
from brokerplane.core.account.commands import CheckPassword
from brokerplane.core.actor import SCOPES, system_actor
from brokerplane.core.backoffice import webhooks
from brokerplane.core.backoffice.commands import NewAccount, OpenUser
from brokerplane.core.errors import Unauthorized
from brokerplane.settings import Settings
from brokerplane.storage import tables
from tests.dialects.traderevolution.conftest import (
    BASE,
    MANAGER,
    PASSWORD,
    TE,
    USER_PASSWORD,
    make_catalog,
    sign_in,
)
from tests.unit.fakes import FakeClock

SPELLINGS = ("/webhookskeys", "/webhooksKeys")


def _user_token(te: TE, login: str = "jsmith") -> str:
    return str(te.ok(sign_in(te.client, login, USER_PASSWORD))["accessToken"])


@pytest.mark.parametrize("path", SPELLINGS)
def test_a_user_generates_lists_and_deletes_its_own_keys(te: TE, path: str) -> None:
    uid = te.create_user()["id"]
    token = _user_token(te)

    named = te.ok(te.post(path, {"name": "TradingView alerts"}, token=token))
    unnamed = te.ok(te.post(path, token=token))  # no body at all: the name is generated

    assert set(named) == {
        "id",
        "name",
        "apiKey",
        "secretKey",
        "userId",
        "createdAt",
        "expirationDate",
        "lastUsedAt",
    }
    assert (named["name"], named["userId"]) == ("TradingView alerts", uid)
    assert unnamed["name"] and unnamed["name"] != named["name"]
    assert named["apiKey"].startswith("whk_") and len(named["secretKey"]) >= 40
    for spelling in SPELLINGS:
        listed = te.ok(te.get(spelling, token=token))
        assert [k["id"] for k in listed] == [named["id"], unnamed["id"]]
        assert all("secretKey" not in k for k in listed)
    deleted = te.delete(f"{path}/{named['id']}", token=token)
    assert deleted.status_code == 200 and deleted.json()["id"] == named["id"]
    assert [k["id"] for k in te.ok(te.get(path, token=token))] == [unnamed["id"]]
    assert te.error(te.delete(f"{path}/{named['id']}", token=token), 404) == "1.4.0.0"


def test_the_database_keeps_no_secret(te: TE) -> None:
    te.create_user()
    made = te.ok(te.post("/webhookskeys", {}, token=_user_token(te)))

    with te.runtime.storage.engine.connect() as conn:
        [row] = conn.execute(select(tables.webhook_keys)).all()

    assert made["secretKey"] not in str(tuple(row))
    assert row.secret_digest == webhooks.secret_digest(made["secretKey"])


def test_a_user_cannot_see_or_delete_another_users_keys(te: TE) -> None:
    te.create_user("alice")
    te.create_user("bob")
    alice, bob = _user_token(te, "alice"), _user_token(te, "bob")
    key = te.ok(te.post("/webhookskeys", {"name": "mine"}, token=alice))

    assert te.ok(te.get("/webhooksKeys", token=bob)) == []
    assert te.error(te.delete(f"/webhooksKeys/{key['id']}", token=bob), 404) == "1.4.0.0"
    foreign = te.post("/webhookskeys", {"userId": key["userId"]}, token=bob)
    assert te.error(foreign, 400) == "1.0.0.1"
    assert [k["id"] for k in te.ok(te.get("/webhooksKeys", token=alice))] == [key["id"]]


def test_a_users_session_manages_webhook_keys_only(te: TE) -> None:
    uid = te.create_user()["id"]
    token = _user_token(te)

    for method, path in (
        ("GET", "/users"),
        ("GET", f"/users/{uid}"),
        ("GET", "/userGroups"),
        ("PATCH", f"/users/{uid}"),
        ("POST", "/accountOperations"),
    ):
        assert te.error(te.call(method, path, json={}, token=token), 403) == "2.0.2.4", path


def test_a_back_office_user_manages_the_keys_of_users_in_reach(te: TE) -> None:
    alice = te.create_user("alice")["id"]
    bob = te.create_user("bob")["id"]

    made = te.ok(te.post("/webhookskeys", {"userId": alice, "name": "crm"}))
    te.ok(te.post("/webhooksKeys", {"userId": str(bob)}))

    assert made["userId"] == alice
    assert [k["userId"] for k in te.ok(te.get("/webhooksKeys"))] == [alice, bob]
    assert [k["userId"] for k in te.ok(te.get("/webhookskeys", params={"userId": bob}))] == [bob]
    assert te.error(te.post("/webhookskeys", {"name": "x"}), 400) == "1.0.0.1"
    assert te.error(te.post("/webhookskeys", {"userId": 424242}), 404) == "1.4.0.1"
    assert te.delete(f"/webhookskeys/{made['id']}").status_code == 200
    assert [k["userId"] for k in te.ok(te.get("/webhooksKeys"))] == [bob]


def test_bad_key_requests_are_400(te: TE) -> None:
    te.create_user()
    token = _user_token(te)

    bodies: list[Any] = [
        {"name": "x" * 33},
        {"name": ["a"]},
        {"name": "tab\there"},
        {"expirationDate": 1000},
        {"expirationDate": "soon"},
    ]
    for body in bodies:
        assert te.error(te.post("/webhookskeys", body, token=token), 400) == "1.0.0.1", body
    assert te.error(te.post("/webhookskeys", [1], token=token), 400) == "1.0.0.1"
    assert te.error(te.delete("/webhooksKeys/abc", token=token), 400) == "1.0.0.1"
    assert te.error(te.call("PUT", "/webhooksKeys/1", token=token), 405) == "1.4.0.405"
    assert te.ok(te.post("/webhookskeys", {"name": "x" * 32}, token=token))["name"] == "x" * 32


def test_a_key_authenticates_webhooks_while_its_user_is_unlocked(te: TE) -> None:
    uid = te.create_user()["id"]
    made = te.ok(te.post("/webhookskeys", {"userId": uid}))
    services = te.services

    identity = services.authenticate_webhook_key(made["apiKey"])
    body = b'{"symbol": "EURUSD", "side": "buy"}'

    assert identity.user.id == uid and identity.user.password is None
    assert webhooks.verify_secret(identity.key, made["secretKey"])
    assert not webhooks.verify_secret(identity.key, made["secretKey"] + "x")
    signature = webhooks.sign(made["secretKey"], body)
    assert webhooks.verify_signature(identity.key, body, signature)
    assert not webhooks.verify_signature(identity.key, body + b" ", signature)
    assert te.ok(te.get("/webhooksKeys"))[0]["lastUsedAt"] is not None

    assert te.patch(f"/users/{uid}", {"ruleValue": 1}).status_code == 204

    with pytest.raises(Unauthorized):
        services.authenticate_webhook_key(made["apiKey"])
    with pytest.raises(Unauthorized):
        services.authenticate_webhook_key("whk_" + "0" * 32)


def _still(te: TE, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    """The server's clock, stopped at now: the test moves it past a lock, no sleeping."""
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr(te.services, "clock", clock)
    return clock


def test_failed_sign_ins_delay_the_user_for_a_while_and_never_lock_it(
    te: TE, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Anyone may fail to sign in as a user: that holds further attempts back for a second,
    then two, four... (up to 15 minutes), and never changes the user, its webhook keys or
    its accounts' passwords."""
    clock = _still(te, monkeypatch)
    uid = te.create_user()["id"]
    login = te.ok(te.get(f"/users/{uid}"))["accounts"][0]["id"]
    key = te.ok(te.post("/webhookskeys", {"userId": uid}))
    for _ in range(4):
        assert te.error(sign_in(te.client, "jsmith", "Wrong#123456"), 401) == "1.2.0.11"
    assert sign_in(te.client, "jsmith", USER_PASSWORD).status_code == 200  # resets the count
    for _ in range(5):
        assert te.error(sign_in(te.client, "JSMITH", "Wrong#123456"), 401) == "1.2.0.11"

    held = sign_in(te.client, "jsmith", USER_PASSWORD)
    assert te.error(held, 401) == "1.2.0.11"
    assert "try again in 1 s" in held.json()["errorMessage"]
    user = te.ok(te.get(f"/users/{uid}"))
    assert (user["status"], user["statusName"]) == (0, "Unlocked")
    assert te.services.account_usable(login)
    assert te.services.check_password(CheckPassword(login, "main", USER_PASSWORD), te.admin)
    assert te.services.authenticate_webhook_key(key["apiKey"]).user.id == uid

    clock.advance(seconds=1.01)
    assert sign_in(te.client, "jsmith", USER_PASSWORD).status_code == 200


def test_the_lock_doubles_with_each_further_failure_and_ends(
    te: TE, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = _still(te, monkeypatch)
    for _ in range(5):
        sign_in(te.client, MANAGER, "Wrong#123456")
    for wait in (1, 2, 4, 8):
        refused = sign_in(te.client, MANAGER, PASSWORD)
        assert f"try again in {wait} s" in refused.json()["errorMessage"]
        clock.advance(seconds=wait)
        assert te.error(sign_in(te.client, MANAGER, "Wrong#123456"), 401) == "1.2.0.11"
    clock.advance(seconds=16)
    assert sign_in(te.client, MANAGER, PASSWORD).status_code == 200


def test_a_rotating_x_forwarded_for_does_not_escape_the_lock(
    te: TE, monkeypatch: pytest.MonkeyPatch
) -> None:
    _still(te, monkeypatch)
    for n in range(5):
        forwarded = {"X-Forwarded-For": f"198.51.100.{n}", "X-Real-IP": f"203.0.113.{n}"}
        wrong = te.client.post(
            BASE + "/auth/token",
            headers=forwarded,
            json={"login": MANAGER, "password": "Wrong#123456"},
        )
        assert te.error(wrong, 401) == "1.2.0.11"
    right = te.client.post(
        BASE + "/auth/token",
        headers={"X-Forwarded-For": "192.0.2.77"},
        json={"login": MANAGER, "password": PASSWORD},
    )
    assert te.error(right, 401) == "1.2.0.11"
    assert "too many failed sign-ins" in right.json()["errorMessage"]


def test_the_real_user_at_another_address_still_signs_in(
    te: TE, monkeypatch: pytest.MonkeyPatch
) -> None:
    _still(te, monkeypatch)
    te.create_user()
    for _ in range(10):
        sign_in(te.client, "jsmith", "Wrong#123456")
    assert te.error(sign_in(te.client, "jsmith", USER_PASSWORD), 401) == "1.2.0.11"

    elsewhere = TestClient(te.client.app, client=("192.0.2.10", 40000))
    assert sign_in(elsewhere, "jsmith", USER_PASSWORD).status_code == 200


def test_an_unknown_login_costs_the_same_password_hash_work(
    te: TE, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Whether a login exists does not show in the work done (nor in the answer)."""
    te.create_user()
    checks: list[str] = []
    real = passwords.verify_md5

    def counted(verifier: str | None, md5hex: str) -> bool:
        checks.append(md5hex)
        return real(verifier, md5hex)

    monkeypatch.setattr(passwords, "verify_md5", counted)
    answers = {}
    for login in ("jsmith", "nobody", MANAGER, 4242):
        checks.clear()
        answers[login] = te.error(sign_in(te.client, login, "Wrong#123456"), 401)
        assert checks == [passwords.md5_hex("Wrong#123456")], login
    assert set(answers.values()) == {"1.2.0.11"}


def test_the_lockout_thresholds_are_settings(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=database_url, data_dir=tmp_path, lockout_failures=2, lockout_base_delay_s=60
    )
    runtime = bootstrap.build(settings)
    try:
        runtime.app.create_manager(
            CreateManager(1020, "bo", "Backoffice#1020", frozenset(SCOPES)), system_actor()
        )
        with TestClient(create_app(runtime)) as client:
            for _ in range(2):
                assert sign_in(client, 1020, "Wrong#123456").status_code == 401
            held = sign_in(client, 1020, "Backoffice#1020")
            assert held.status_code == 401
            assert "try again in 60 s" in held.json()["errorMessage"]
    finally:
        runtime.close()


def test_thresholds_of_zero_never_lock(database_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=database_url,
        data_dir=tmp_path,
        lockout_failures=0,
        lockout_login_failures=0,
        lockout_address_failures=0,
    )
    runtime = bootstrap.build(settings)
    try:
        with TestClient(create_app(runtime)) as client:
            ids = make_catalog(runtime.app, system_actor())
            runtime.app.open_user_with_accounts(
                OpenUser(
                    "eve",
                    USER_PASSWORD,
                    "eve@example.com",
                    ids["retail"],
                    accounts=(NewAccount("A"),),
                ),
                system_actor(),
            )
            for _ in range(12):
                assert sign_in(client, "eve", "Wrong#123456").status_code == 401
            assert sign_in(client, "eve", USER_PASSWORD).status_code == 200
    finally:
        runtime.close()


def test_a_locked_users_accounts_refuse_their_password_in_every_dialect(te: TE) -> None:
    """MT5's user/check_password and cTrader's checkpassword ask the core the same question:
    while the owner is not Unlocked, the right password does not open the account."""
    uid = te.create_user()["id"]
    login = te.ok(te.get(f"/users/{uid}"))["accounts"][0]["id"]
    right = CheckPassword(login, "main", USER_PASSWORD)
    assert te.services.check_password(right, te.admin)

    for status in (1, 2, 3, 4):
        assert te.patch(f"/users/{uid}", {"ruleValue": status}).status_code == 204
        assert not te.services.check_password(right, te.admin)
    assert te.patch(f"/users/{uid}", {"ruleValue": 0}).status_code == 204
    assert te.services.check_password(right, te.admin)


# A race between connections on the lockout counters (row locks differ per engine).
@pytest.mark.engines("sqlite", "postgres")
def test_forty_parallel_wrong_passwords_reach_the_password_check_at_most_five_times(
    te: TE, monkeypatch: pytest.MonkeyPatch
) -> None:
    _still(te, monkeypatch)
    checks: list[str] = []
    real = passwords.verify_md5

    def counted(verifier: str | None, md5hex: str) -> bool:
        checks.append(md5hex)
        return real(verifier, md5hex)

    monkeypatch.setattr(passwords, "verify_md5", counted)
    go = threading.Barrier(40)

    def guess(n: int) -> int:
        go.wait(timeout=30)
        return sign_in(te.client, MANAGER, f"Guess#{n}").status_code

    with ThreadPoolExecutor(40) as pool:
        statuses = list(pool.map(guess, range(40)))

    assert set(statuses) <= {401, 429}  # 429: TE's own rate limit, past 20 a second
    assert statuses.count(401) >= 20
    assert len(checks) == 5


def test_an_accounts_password_is_locked_apart_from_its_users_sign_in(
    te: TE, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TE user's password is its accounts' too: checking it through an account (MT5's
    user/check_password, cTrader's checkpassword) is counted under the account's lockout."""
    clock = _still(te, monkeypatch)
    uid = te.create_user()["id"]
    login = te.ok(te.get(f"/users/{uid}"))["accounts"][0]["id"]
    for n in range(5):
        assert not te.services.check_password(CheckPassword(login, "main", f"Guess#{n}"), te.admin)
    right = CheckPassword(login, "main", USER_PASSWORD)
    assert not te.services.check_password(right, te.admin)
    clock.advance(seconds=1)
    assert te.services.check_password(right, te.admin)
