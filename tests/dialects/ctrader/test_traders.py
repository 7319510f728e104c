"""Traders: create (seed 001 and 003 bodies, leniency, required fields), read (JSON and XML),
list, full and partial update, delete, and the same trader read through the native API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from brokerplane.core.access.commands import CreateApiKey
from brokerplane.core.actor import SCOPES
from brokerplane.core.ledger.model import LedgerQuery
from tests.dialects.ctrader.conftest import MANAGER, MINIMAL, SEED_HASH, CTrader, as_manager

# Seed 003's create response (4.1), every key of it.
SEED_003_KEYS = {
    "login",
    "groupName",
    "depositCurrency",
    "accessRights",
    "brokerName",
    "balance",
    "bonus",
    "nonWithdrawableBonus",
    "leverageInCents",
    "contactDetails",
    "registrationTimestamp",
    "lastUpdateTimestamp",
    "equity",
    "usedMargin",
    "freeMargin",
    "accountType",
    "limitedRisk",
    "sendOwnStatement",
    "swapFree",
    "totalMarginCalculationType",
    "isLimitedRisk",
    "moneyDigits",
}
# Keys the Rust connector's TraderModel requires (spec §3.2).
STRICT_KEYS = {
    "introducingBroker",
    "introducingBrokerCommissionRate",
    "pocketCommissionRate",
    "pocketMarkupRate",
    "defaultIntroducingBrokerCommissionRate",
    "defaultPocketCommissionRate",
    "defaultPocketMarkupRate",
    "defaultRebateRate",
    "defaultSplitRevenue",
    "splitRevenue",
    "limitedRisk",
    "frenchRisk",
    "isLimitedRisk",
    "defaultIbCommissionsType",
    "ibCommissionsType",
    "cashEquity",
    "sendStatementToBroker",
    "limitedRiskMarginCalculationStrategy",
}
SEED_001_BODY = {
    "accessRights": "FULL_ACCESS",
    "accountType": "HEDGED",
    "balance": 0,
    "brokerName": "BESTBROKER",
    "contactDetails": {
        "address": "Moon",
        "city": "Lake",
        "countryId": 8,
        "documentId": "0123",
        "email": "president@bestbroker.com",
        "phone": "+50987654321",
        "state": "RE",
        "zipCode": "5500",
        "introducingBroker1": "CoolPartner",
        "introducingBroker2": "AnotherCoolPartner",
    },
    "depositCurrency": "EUR",
    "description": "coolDescription",
    "groupName": "Default",
    "hashedPassword": SEED_HASH,
    "isLimitedRisk": False,
    "lastName": "President",
    "leverageInCents": 1000,
    "maxLeverage": 100000,
    "name": "Best",
    "sendOwnStatement": True,
    "sendStatementToBroker": True,
    "totalMarginCalculationType": "MAX",
}


def test_seed_003_minimal_create_answers_201_with_the_seed_shape(ct: CTrader) -> None:
    before = datetime.now(UTC)
    trader = ct.create()
    assert set(trader) >= SEED_003_KEYS | STRICT_KEYS
    assert trader["groupName"] == "Default" and trader["depositCurrency"] == "EUR"
    assert trader["brokerName"] == "BESTBROKER" and trader["accessRights"] == "FULL_ACCESS"
    assert trader["balance"] == trader["bonus"] == trader["nonWithdrawableBonus"] == 0
    assert trader["equity"] == trader["usedMargin"] == trader["freeMargin"] == 0
    assert trader["leverageInCents"] == 10000 and trader["moneyDigits"] == 2
    assert trader["contactDetails"] == {} and trader["totalMarginCalculationType"] == "MAX"
    assert trader["isLimitedRisk"] is False and trader["swapFree"] is False
    registered = trader["registrationTimestamp"]
    assert isinstance(registered, int) and registered >= int(before.timestamp() * 1000) - 1000
    assert ct.create()["login"] == trader["login"] + 1


def test_seed_001_full_create_echoes_every_field(ct: CTrader) -> None:
    response = ct.post("/traders", SEED_001_BODY)
    assert response.status_code == 201, response.text
    trader = response.json()
    for key in (
        "accessRights",
        "accountType",
        "brokerName",
        "depositCurrency",
        "description",
        "groupName",
        "isLimitedRisk",
        "lastName",
        "leverageInCents",
        "maxLeverage",
        "name",
        "sendOwnStatement",
        "sendStatementToBroker",
        "totalMarginCalculationType",
        "contactDetails",
    ):
        assert trader[key] == SEED_001_BODY[key], key
    assert ct.trader(trader["login"]) == trader


def test_create_is_lenient_with_strings_and_unknown_keys(ct: CTrader) -> None:
    trader = ct.create(
        leverageInCents="20000",
        swapFree="true",
        sendOwnStatement="1",
        accessRights="no_trading",
        enabled=True,
        ranks=[{"id": 1}],
        contactDetails={"countryId": "826", "nonsense": "x"},
    )
    assert trader["leverageInCents"] == 20000 and trader["swapFree"] is True
    assert trader["sendOwnStatement"] is True and trader["accessRights"] == "NO_TRADING"
    assert trader["contactDetails"] == {"countryId": 826}


def test_a_balance_on_create_is_a_deposit_in_minor_units(ct: CTrader) -> None:
    trader = ct.create(balance="1234512")
    assert trader["balance"] == 1234512 and trader["equity"] == 1234512
    entries = ct.services.list_ledger(LedgerQuery(login=trader["login"]), ct.admin)
    assert [(e.kind, e.amount, e.dialect) for e in entries] == [("deposit", 1234512, "ctrader")]


def test_create_names_every_missing_required_field(ct: CTrader) -> None:
    body = {k: v for k, v in MINIMAL.items() if k not in ("groupName", "hashedPassword")}
    response = ct.post("/traders", body)
    assert ct.error(response, 400) == "INVALID_REQUEST"
    description = response.json()["error"]["description"]
    assert "groupName" in description and "hashedPassword" in description


def test_create_refuses_unknown_groups_and_bad_values(ct: CTrader) -> None:
    assert ct.error(ct.post("/traders", {**MINIMAL, "groupName": "Nope"}), 404) == (
        "TRADER_GROUP_NOT_FOUND"
    )
    assert ct.error(ct.post("/traders", {**MINIMAL, "accessRights": "ALL"}), 400) == (
        "INVALID_REQUEST"
    )
    assert ct.error(ct.post("/traders", {**MINIMAL, "leverageInCents": 150}), 400) == (
        "WRONG_LEVERAGE"
    )
    assert ct.error(ct.post("/traders", {**MINIMAL, "balance": "lots"}), 400) == "INVALID_REQUEST"


def test_an_unknown_trader_is_trader_not_found(ct: CTrader) -> None:
    assert ct.error(ct.get("/traders/424242"), 404) == "TRADER_NOT_FOUND"


def test_a_trader_reads_as_xml_for_clients_accepting_anything(ct: CTrader) -> None:
    login = ct.create()["login"]
    response = ct.get(f"/traders/{login}/", headers={"accept": "*/*"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/xml")
    assert f"<login>{login}</login>" in response.text
    assert "<groupName>Default</groupName>" in response.text


def _window() -> dict[str, str]:
    now = datetime.now(UTC)
    fmt = "%Y-%m-%dT%H:%M:%S.000"
    return {
        "from": (now - timedelta(hours=1)).strftime(fmt),
        "to": (now + timedelta(hours=1)).strftime(fmt),
    }


def test_list_by_registration_window_group_and_fields(ct: CTrader) -> None:
    first = ct.create()["login"]
    second = ct.create(groupName="DX_452")["login"]
    body = ct.get("/traders/", params=_window()).json()
    assert [t["login"] for t in body["trader"]] == [first, second]
    assert body["hasMore"] is False
    group_id = next(
        g["id"] for g in ct.get("/tradergroups").json()["traderGroup"] if g["name"] == "DX_452"
    )
    only = ct.get(
        "/traders", params={**_window(), "groupId": str(group_id), "fields": "login,balance"}
    ).json()
    assert only == {"trader": [{"login": second, "balance": 0}], "hasMore": False}
    past = {"from": "2018-01-01T12:12:12.000", "to": "2018-01-02T12:12:12.000"}
    assert ct.get("/traders", params=past).json() == {"trader": [], "hasMore": False}


def test_list_errors(ct: CTrader) -> None:
    assert ct.error(ct.get("/traders", params={"from": "2018-01-01T00:00:00.000"}), 400) == (
        "INVALID_REQUEST"
    )
    assert ct.error(ct.get("/traders", params={**_window(), "groupId": "987654"}), 404) == (
        "TRADER_GROUP_NOT_FOUND"
    )
    bad = {"from": "2018-01-01TCET12:00:00.000", "to": "2018-01-02T00:00:00.000"}
    assert ct.error(ct.get("/traders", params=bad), 400) == "INVALID_REQUEST"
    huge = {"from": "9" * 20, "to": "2018-01-02T00:00:00.000"}
    assert ct.error(ct.get("/traders", params=huge), 400) == "INVALID_REQUEST"


def test_list_answers_repeated_trader_elements_in_xml(ct: CTrader) -> None:
    ct.create()
    ct.create()
    response = ct.get("/traders", params=_window(), headers={"Accept": "*/*"})
    assert response.text.count("<trader>") == 2 and "<hasMore>false</hasMore>" in response.text


def test_seed_003_full_update_by_post_moves_the_group_and_resets_omitted_fields(
    ct: CTrader,
) -> None:
    login = ct.create(description="vip", swapFree=True, accessRights="NO_TRADING")["login"]
    body = {**MINIMAL, "groupName": "DX_452", "accessRights": "FULL_ACCESS"}
    response = ct.post(f"/traders/{login}", body)
    assert response.status_code == 204 and response.content == b""
    trader = ct.trader(login)
    assert trader["groupName"] == "DX_452" and trader["accessRights"] == "FULL_ACCESS"
    assert trader["description"] == "" and trader["swapFree"] is False
    put = ct.call("PUT", f"/traders/{login}", json={**body, "leverageInCents": 5000})
    assert put.status_code == 204 and ct.trader(login)["leverageInCents"] == 5000


def test_a_full_update_by_a_manager_without_personal_data_keeps_the_contact_details(
    ct: CTrader,
) -> None:
    contact = {
        "email": "ann@example.com",
        "phone": "+44 20 7946 0000",
        "address": "1 High St",
        "city": "London",
        "zipCode": "EC1A",
    }
    login = ct.create(contactDetails=contact, description="vip")["login"]
    plain = as_manager(ct, 2101, rights=frozenset(SCOPES) - {"admin", "personal_data"})
    seen = plain.trader(login)
    assert "email" not in seen.get("contactDetails", {})  # it reads them blank

    omitted = plain.post(f"/traders/{login}", {**MINIMAL, "groupName": "DX_452"})
    sent_back = plain.call(
        "PUT",
        f"/traders/{login}",
        json={**MINIMAL, "groupName": "DX_452", "contactDetails": seen.get("contactDetails", {})},
    )

    assert omitted.status_code == sent_back.status_code == 204, omitted.text
    trader = ct.trader(login)
    assert trader["groupName"] == "DX_452" and trader["description"] == ""
    assert {k: trader["contactDetails"].get(k) for k in contact} == contact


def test_seed_003_partners_are_set_on_create_and_on_update(ct: CTrader) -> None:
    partners = {"introducingBroker1": "GreatPartner", "introducingBroker2": "BestPartner"}
    login = ct.create(contactDetails=partners)["login"]
    assert ct.trader(login)["contactDetails"] == partners
    newer = {"introducingBroker1": "GreatestPartner", "introducingBroker2": "SuperPartner"}
    ct.post(f"/traders/{login}", {**MINIMAL, "groupName": "DX_452", "contactDetails": newer})
    assert ct.trader(login)["contactDetails"] == newer


def test_full_update_needs_group_and_leverage_and_keeps_the_currency(ct: CTrader) -> None:
    login = ct.create()["login"]
    assert ct.error(ct.call("PUT", f"/traders/{login}", json={"name": "x"}), 400) == (
        "INVALID_REQUEST"
    )
    usd = ct.post(f"/traders/{login}", {**MINIMAL, "depositCurrency": "USD"})
    assert ct.error(usd, 400) == "DEPOSIT_CURRENCY_NOT_ALLOWED"


def test_patch_changes_only_what_it_names(ct: CTrader) -> None:
    login = ct.create(name="Best", lastName="President", description="keep me")["login"]
    response = ct.call(
        "PATCH",
        f"/traders/{login}",
        json={"accessRights": "CLOSE_ONLY", "contactDetails": {"city": "Lake"}, "lastName": "Vice"},
    )
    assert response.status_code == 204
    trader = ct.trader(login)
    assert trader["accessRights"] == "CLOSE_ONLY" and trader["description"] == "keep me"
    assert trader["name"] == "Best" and trader["lastName"] == "Vice"
    assert trader["contactDetails"] == {"city": "Lake"}
    assert ct.error(ct.call("PATCH", f"/traders/{login}", json={"bogus": 1}), 400) == (
        "INVALID_REQUEST"
    )
    assert ct.error(ct.call("PATCH", "/traders/424242", json={"name": "x"}), 404) == (
        "TRADER_NOT_FOUND"
    )


def test_delete_answers_204_and_the_trader_is_gone(ct: CTrader) -> None:
    login = ct.create()["login"]
    response = ct.call("DELETE", f"/traders/{login}")
    assert response.status_code == 204
    assert ct.error(ct.get(f"/traders/{login}"), 404) == "TRADER_NOT_FOUND"
    assert ct.error(ct.call("DELETE", f"/traders/{login}"), 404) == "TRADER_NOT_FOUND"


def test_a_trader_created_here_reads_the_same_through_the_native_api(ct: CTrader) -> None:
    trader = ct.create(balance="1234512", name="Best", lastName="President", leverageInCents=20000)
    issued = ct.services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), ct.admin)
    native = ct.client.get(
        f"/v1/users/{trader['login']}", headers={"Authorization": f"Bearer {issued.secret}"}
    )
    assert native.status_code == 200, native.text
    user = native.json()
    assert user["login"] == trader["login"] and user["group"] == "Default"
    assert user["leverage"] == 200 and user["currency"] == "EUR"
    assert user["name"] == "Best President" and user["last_name"] == "President"
    assert (user["balance"], user["credit"], user["bonus"]) == ("12345.12", "0.00", "0.00")
    assert user["first_name"] == "Best" and user["broker"] == "BESTBROKER"
