"""cID links and white-label moves under /cid and /v2/cid: seed 003's and seed 001's link, the
changeCtidTraderAccount move, their errors, and the lock after wrong password hashes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.dialects.ctrader.cid_support import call, classic, empty, link, sso
from tests.dialects.ctrader.conftest import CID_PREFIXES, SEED_HASH, CTrader, md5
from tests.unit.fakes import FakeClock

# ---- link -----------------------------------------------------------------------------------


@pytest.mark.parametrize("prefix", CID_PREFIXES)
def test_seed_003_link_answers_the_ctid_trader_account_id(ct: CTrader, prefix: str) -> None:
    user_id = classic(ct, "test@emailone.com")["userId"]
    login = ct.create(brokerName="BESTBROKER_UK", depositCurrency="EUR")["login"]
    body = {
        "traderLogin": login,
        "traderPasswordHash": SEED_HASH,
        "userId": user_id,
        "returnAccountDetails": True,
    }

    response = call(ct, "POST", "/ctid/link", body, prefix=prefix)

    assert response.status_code == 200, response.text
    assert set(response.json()) == {"ctidTraderAccountId"}
    link_id = response.json()["ctidTraderAccountId"]
    assert isinstance(link_id, int) and link_id > 0
    assert ct.services.get_account(login, ct.admin).user_id == user_id
    # Linking again to the same user: the same link.
    again = call(ct, "POST", "/ctid/link/", body, prefix=prefix)
    assert again.status_code == 200 and again.json() == {"ctidTraderAccountId": link_id}


def test_seed_001_link_body_and_the_empty_answer_without_account_details(ct: CTrader) -> None:
    user_id = sso(ct, "president@bestbroker.com")
    logins = [ct.create(hashedPassword=md5("Secret#1"))["login"] for _ in range(4)]
    seed_001 = {
        "environmentName": "demo",
        "brokerName": "BESTBROKER",
        "traderPasswordHash": md5("Secret#1").upper(),
        "kycNotPassed": True,
    }
    for login, details in zip(logins, (False, "false", None, "0"), strict=True):
        extra = {} if details is None else {"returnAccountDetails": details}
        empty(link(ct, login, user_id, **seed_001, **extra))
        assert ct.services.get_account(login, ct.admin).user_id == user_id
    response = link(ct, logins[0], str(user_id), **seed_001, returnAccountDetails="true")
    assert response.status_code == 200 and set(response.json()) == {"ctidTraderAccountId"}


def test_link_with_numeric_strings(ct: CTrader) -> None:
    user_id = classic(ct, "s@example.com")["userId"]
    login = ct.create()["login"]
    response = link(ct, str(login), f"{user_id}", returnAccountDetails="TRUE")
    assert response.status_code == 200 and "ctidTraderAccountId" in response.json()


def test_link_errors(ct: CTrader) -> None:
    owner = classic(ct, "owner@example.com")["userId"]
    other = classic(ct, "other@example.com")["userId"]
    login = ct.create()["login"]
    assert ct.error(link(ct, 424242, owner), 404) == "TRADER_NOT_FOUND"
    assert ct.error(link(ct, login, 999_999), 404) == "CH_USER_NOT_FOUND"
    # past a signed 64-bit number no id can be: the request is invalid
    assert ct.error(link(ct, login, 10**19), 400) == "INVALID_REQUEST"
    assert ct.error(link(ct, 10**19, owner), 400) == "INVALID_REQUEST"
    wrong = link(ct, login, owner, traderPasswordHash=md5("guess"))
    assert ct.error(wrong, 400) == "WRONG_PASSWORD"
    assert ct.error(link(ct, login, owner, brokerName="OTHERBROKER"), 400) == "INVALID_REQUEST"
    assert ct.services.get_account(login, ct.admin).user_id is None  # nothing was linked

    empty(link(ct, login, owner))
    taken = link(ct, login, other)
    assert ct.error(taken, 400) == "CH_TRADER_ACCOUNT_ALREADY_LINKED"
    assert ct.services.get_account(login, ct.admin).user_id == owner

    for bad in (
        {"userId": "abc"},
        {"traderLogin": 1.5},
        {"returnAccountDetails": "maybe"},
        {"traderPasswordHash": ["x"]},
    ):
        assert ct.error(link(ct, login, owner, **bad), 400) == "INVALID_REQUEST", bad
    missing = call(ct, "POST", "/ctid/link", {"userId": owner})
    assert ct.error(missing, 400) == "INVALID_REQUEST"
    description = missing.json()["error"]["description"]
    assert "traderLogin" in description and "traderPasswordHash" in description


# ---- white-label move -----------------------------------------------------------------------


@pytest.mark.parametrize("prefix", CID_PREFIXES)
def test_seed_003_change_ctid_trader_account_moves_the_white_label(
    ct: CTrader, prefix: str
) -> None:
    login = ct.create()["login"]
    body = {"environmentName": "live", "brokerName": "BESTBROKER_UK", "traderLogin": login}
    empty(call(ct, "POST", "/ctid/changeCtidTraderAccount", body, prefix=prefix), 204)
    assert ct.trader(login)["brokerName"] == "BESTBROKER_UK"
    # Again (idempotent), with the trailing slash and a numeric string.
    again = {**body, "traderLogin": str(login)}
    empty(call(ct, "POST", "/ctid/changeCtidTraderAccount/", again, prefix=prefix), 204)
    assert ct.trader(login)["brokerName"] == "BESTBROKER_UK"


def test_change_ctid_trader_account_errors(ct: CTrader) -> None:
    login = ct.create()["login"]
    path = "/ctid/changeCtidTraderAccount"
    unknown = call(ct, "POST", path, {"brokerName": "X", "traderLogin": 424242})
    assert ct.error(unknown, 404) == "TRADER_NOT_FOUND"
    missing = call(ct, "POST", path, {"traderLogin": login})
    assert ct.error(missing, 400) == "INVALID_REQUEST"
    assert "brokerName" in missing.json()["error"]["description"]
    long_name = call(ct, "POST", path, {"traderLogin": login, "brokerName": "B" * 300})
    assert ct.error(long_name, 400) == "INVALID_REQUEST"
    assert ct.trader(login)["brokerName"] == "BESTBROKER"


def test_five_wrong_password_hashes_hold_the_link_back_until_the_lock_ends(
    ct: CTrader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linking proves the trader's password: the account's lockout counts each proof."""
    clock = FakeClock(datetime.now(UTC))
    monkeypatch.setattr(ct.services, "clock", clock)
    owner = classic(ct, "owner@example.com")["userId"]
    login = ct.create()["login"]
    for n in range(5):
        guess = link(ct, login, owner, traderPasswordHash=md5(f"guess{n}"))
        assert ct.error(guess, 400) == "WRONG_PASSWORD"
    assert ct.error(link(ct, login, owner), 400) == "WRONG_PASSWORD"
    assert ct.services.get_account(login, ct.admin).user_id is None
    clock.advance(seconds=1)
    empty(link(ct, login, owner))
    assert ct.services.get_account(login, ct.admin).user_id == owner
