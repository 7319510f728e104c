"""Traders' passwords by MD5: changepassword, checkpassword (WRONG_PASSWORD on a mismatch),
and a full update carrying a new hashedPassword."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tests.dialects.ctrader.conftest import JSON, MINIMAL, SEED_HASH, CTrader, as_manager, md5
from tests.unit.fakes import FakeClock

NEW = md5("New#Password1")


def bad_bodies(login: int) -> list[dict[str, Any]]:
    """Another trader's login, no hash, a hash of the wrong type, a login that is no number."""
    return [
        {"login": login + 1, "hashedPassword": NEW},
        {"login": login},
        {"hashedPassword": ["x"]},
        {"login": "abc", "hashedPassword": NEW},
    ]


def check(ct: CTrader, login: int, hashed: str) -> int:
    response = ct.post(
        f"/traders/{login}/checkpassword", {"login": login, "hashedPassword": hashed}
    )
    if response.status_code != 204:
        assert ct.error(response, 400) == "WRONG_PASSWORD"
    return response.status_code


def test_the_password_a_trader_was_created_with_checks_and_others_do_not(ct: CTrader) -> None:
    login = ct.create()["login"]
    body = {"login": login, "hashedPassword": SEED_HASH}
    response = ct.post(f"/traders/{login}/checkpassword", body)
    assert response.status_code == 204 and response.content == b""
    assert check(ct, login, NEW) == 400
    # the login in the body is optional; the hash compares without regard to case
    upper = ct.post(f"/traders/{login}/checkpassword/", {"hashedPassword": SEED_HASH.upper()})
    assert upper.status_code == 204


def test_changepassword_makes_the_old_hash_fail_and_the_new_one_pass(ct: CTrader) -> None:
    login = ct.create()["login"]
    response = ct.post(f"/traders/{login}/changepassword", {"login": login, "hashedPassword": NEW})
    assert response.status_code == 204 and response.content == b""
    assert check(ct, login, NEW) == 204
    assert check(ct, login, SEED_HASH) == 400


@pytest.mark.parametrize("method", ["PUT", "POST"])
def test_a_full_update_with_a_new_hashed_password_changes_it(ct: CTrader, method: str) -> None:
    login = ct.create()["login"]
    same = ct.call(method, f"/traders/{login}", json={**MINIMAL, "groupName": "DX_452"})
    assert same.status_code == 204 and check(ct, login, SEED_HASH) == 204
    changed = ct.call(method, f"/traders/{login}", json={**MINIMAL, "hashedPassword": NEW})
    assert changed.status_code == 204
    assert check(ct, login, NEW) == 204 and check(ct, login, SEED_HASH) == 400
    assert ct.trader(login)["groupName"] == "Default"


def test_a_malformed_hash_in_a_full_update_changes_nothing(ct: CTrader) -> None:
    login = ct.create()["login"]
    body = {**MINIMAL, "groupName": "DX_452", "hashedPassword": "not a hash"}
    response = ct.post(f"/traders/{login}", body)
    assert ct.error(response, 400) == "INVALID_REQUEST"
    assert ct.trader(login)["groupName"] == "Default" and check(ct, login, SEED_HASH) == 204


def test_password_calls_refuse_bad_bodies_and_unknown_traders(ct: CTrader) -> None:
    login = ct.create()["login"]
    for call in ("changepassword", "checkpassword"):
        path = f"/traders/{login}/{call}"
        for body in bad_bodies(login):
            assert ct.error(ct.post(path, body), 400) == "INVALID_REQUEST", (call, body)
        garbage = ct.client.post(
            "/v2/webserv" + path, params={"token": ct.token}, content=b"{oops", headers=JSON
        )
        assert ct.error(garbage, 400) == "INVALID_REQUEST"
        unknown = ct.post(f"/traders/987654/{call}", {"hashedPassword": NEW})
        assert ct.error(unknown, 404) == "TRADER_NOT_FOUND"
    malformed = ct.post(f"/traders/{login}/changepassword", {"hashedPassword": "has space"})
    assert ct.error(malformed, 400) == "INVALID_REQUEST"
    assert check(ct, login, SEED_HASH) == 204


def test_a_trader_out_of_reach_is_not_found_for_password_calls(ct: CTrader) -> None:
    other = ct.create(groupName="DX_452")["login"]
    limited = as_manager(ct, 1101, group_mask="Default")
    for call in ("changepassword", "checkpassword"):
        response = limited.post(f"/traders/{other}/{call}", {"hashedPassword": SEED_HASH})
        assert limited.error(response, 404) == "TRADER_NOT_FOUND"
    assert check(ct, other, SEED_HASH) == 204


def test_five_wrong_checks_hold_a_traders_password_back_until_the_lock_ends(
    ct: CTrader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """checkpassword is a password check like a sign-in: the account's lockout counts it,
    and while it is locked even the right hash is answered WRONG_PASSWORD."""
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr(ct.services, "clock", clock)
    login = ct.create()["login"]
    for n in range(5):
        assert check(ct, login, md5(f"guess{n}")) == 400
    assert check(ct, login, SEED_HASH) == 400
    clock.advance(seconds=1)
    assert check(ct, login, SEED_HASH) == 204
    assert check(ct, login, md5("guess")) == 400  # a success started the count again
