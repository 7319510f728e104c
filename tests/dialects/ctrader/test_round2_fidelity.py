"""cTrader fidelity, round 2, at the wire: externalId a reference (retries safe through the
Idempotency-Key header), one group-currency rule on create and move, TraderTO's maxLeverage,
contact fields sent as "" kept, and the native API refusing what cTrader allows."""

from __future__ import annotations

from typing import Any

from brokerplane.core.access.commands import CreateApiKey
from brokerplane.core.actor import SCOPES
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.model import LedgerQuery
from tests.dialects.ctrader.conftest import CTrader

START = {"preciseAmount": "1000", "type": "DEPOSIT", "externalId": "Starting balance"}


def _deposit(ct: CTrader, login: int, body: dict[str, Any], **headers: str) -> Any:
    return ct.call(
        "POST",
        f"/traders/{login}/changebalance",
        json={"login": login, **body},
        headers={"Accept": "application/json", **headers},
    )


def test_two_traders_with_the_same_external_id_both_get_their_deposit(ct: CTrader) -> None:
    first, second = ct.create()["login"], ct.create()["login"]
    for login in (first, second):
        response = _deposit(ct, login, START)
        assert response.status_code == 200, response.text
        assert set(response.json()) == {"balanceHistoryId"}
    for login in (first, second):
        assert ct.trader(login)["balance"] == 100000
    # the same externalId on one trader twice: two deposits, as cTrader applies them
    assert _deposit(ct, first, START).status_code == 200
    assert ct.trader(first)["balance"] == 200000
    refs = [e.reference for e in ct.services.iter_ledger(LedgerQuery(login=first), ct.admin)]
    assert refs == ["Starting balance", "Starting balance"]


def test_a_retry_with_the_idempotency_key_deposits_once(ct: CTrader) -> None:
    login = ct.create()["login"]
    first = _deposit(ct, login, START, **{"Idempotency-Key": "pay-77"})
    again = _deposit(ct, login, START, **{"Idempotency-Key": "pay-77"})
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replay") == "true"
    assert ct.trader(login)["balance"] == 100000
    other = _deposit(ct, login, {**START, "preciseAmount": "5"}, **{"Idempotency-Key": "pay-77"})
    assert other.status_code == 409
    assert set(other.json()) == {"error"}  # cTrader's error shape, not the native problem
    assert ct.trader(login)["balance"] == 100000


def test_a_usd_trader_in_an_eur_group_moves_to_another_eur_group(ct: CTrader) -> None:
    usd = ct.create(depositCurrency="USD")  # Default is an EUR group
    assert (usd["depositCurrency"], usd["groupName"]) == ("USD", "Default")
    login = usd["login"]
    patched = ct.call("PATCH", f"/traders/{login}", json={"groupName": "DX_452"})
    assert patched.status_code == 204, patched.text
    assert (ct.trader(login)["groupName"], ct.trader(login)["depositCurrency"]) == ("DX_452", "USD")
    # the full update (GET, set groupName, PUT back) moves it as well, currency kept
    trader = ct.trader(login)
    trader["groupName"] = "usd\\standard"
    put = ct.call("PUT", f"/traders/{login}", json=trader)
    assert put.status_code == 204, put.text
    assert ct.trader(login)["groupName"] == "usd\\standard"
    # changing the trader's own currency stays refused
    bad = ct.call("PATCH", f"/traders/{login}", json={"depositCurrency": "EUR"})
    assert ct.error(bad, 400) == "DEPOSIT_CURRENCY_NOT_ALLOWED"
    unknown = ct.call("PATCH", f"/traders/{login}", json={"groupName": "nope"})
    assert ct.error(unknown, 404) == "TRADER_GROUP_NOT_FOUND"


def test_the_native_api_keeps_a_group_in_its_own_currency(ct: CTrader) -> None:
    """MT4-style planes give a group one currency: the same core rule, the other answer."""
    login = ct.create()["login"]  # EUR in Default
    ct.services.create_group(CreateGroup("native-usd", "USD"), ct.admin)
    key = ct.services.create_api_key(CreateApiKey(1007, frozenset(SCOPES)), ct.admin).secret
    moved = ct.client.patch(
        f"/v1/users/{login}",
        json={"group": "native-usd"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert moved.status_code == 400
    assert moved.json()["code"] == "validation.currency_mismatch"
    assert ct.trader(login)["groupName"] == "Default"


def test_trader_json_always_has_max_leverage(ct: CTrader) -> None:
    plain = ct.create()
    assert plain["maxLeverage"] == 50000  # the group's cap (500) x 100, as leverageInCents
    assert ct.trader(plain["login"])["maxLeverage"] == 50000
    capped = ct.create(maxLeverage=20000)
    assert ct.trader(capped["login"])["maxLeverage"] == 20000
    listed = ct.get(
        "/traders", params={"from": "2000-01-01T00:00:00.000", "to": "2100-01-01T00:00:00.000"}
    ).json()
    assert all("maxLeverage" in t for t in listed["trader"])


def test_contact_fields_sent_empty_read_back_as_sent(ct: CTrader) -> None:
    created = ct.create(contactDetails={"phone": "", "city": "Lake", "email": ""})
    login = created["login"]
    assert created["contactDetails"] == {"phone": "", "city": "Lake", "email": ""}
    assert ct.trader(login)["contactDetails"] == {"phone": "", "city": "Lake", "email": ""}
    patched = ct.call(
        "PATCH", f"/traders/{login}", json={"contactDetails": {"phone": "+44 1", "address": ""}}
    )
    assert patched.status_code == 204, patched.text
    assert ct.trader(login)["contactDetails"] == {
        "phone": "+44 1",
        "city": "Lake",
        "email": "",
        "address": "",
    }
    # a field never sent stays out; a minimal create has an empty contactDetails
    assert ct.create()["contactDetails"] == {}
