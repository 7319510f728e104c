"""Groups and symbols through the native API: reads for CRMs, writes for admins."""

from __future__ import annotations

from tests.dialects.native.conftest import Api


def test_groups_list_with_templates_and_a_name_mask(api: Api) -> None:
    items = api.get("/v1/groups").json()["items"]
    names = [g["name"] for g in items]
    assert names == sorted(names) and {"demo-usd", "demo-eur", "demo\\vip"} <= set(names)
    usd = next(g for g in items if g["name"] == "demo-usd")
    assert usd["currency"] == "USD" and usd["max_leverage"] == 500
    assert usd["margin_mode"] == "MAX" and usd["password_min_length"] == 8
    masked = [
        g["name"]
        for g in api.get("/v1/groups", params={"name": "demo*,!demo\\vip"}).json()["items"]
    ]
    assert masked == ["demo-eur", "demo-usd"]


def test_a_group_with_a_backslash_is_read_by_its_encoded_name(api: Api) -> None:
    response = api.get("/v1/groups/demo%5Cvip")
    assert response.status_code == 200
    assert response.json()["name"] == "demo\\vip"
    assert response.json()["password_min_length"] == 10


def test_an_unknown_group_is_404(api: Api) -> None:
    assert api.get("/v1/groups/nope").status_code == 404


def test_admins_create_groups_with_every_template_setting(api: Api) -> None:
    body = {
        "name": "real\\pro",
        "currency": "eur",
        "default_leverage": 30,
        "max_leverage": 100,
        "margin_mode": "net",
        "password_min_length": 12,
        "login_range_from": 70000,
        "login_range_to": 70999,
        "margin_call": "80",
        "stop_out": 40.5,
        "attributes": {"tier": "pro"},
    }
    response = api.post("/v1/groups", body)
    assert response.status_code == 201, response.text
    group = response.json()
    assert (group["currency"], group["currency_digits"], group["margin_mode"]) == ("EUR", 2, "NET")
    assert (group["margin_call"], group["stop_out"]) == ("80", "40.5")
    account = api.open(group="real\\pro", leverage=30)
    assert account["login"] == 70000 and account["currency"] == "EUR"


def test_bad_group_settings_are_400_naming_each_field(api: Api) -> None:
    body = {
        "name": "bad",
        "currency": "USD",
        "margin_mode": "HALF",
        "password_min_length": 4,
        "default_leverage": 900,
        "max_leverage": 100,
    }
    response = api.post("/v1/groups", body)
    assert response.status_code == 400
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"margin_mode", "password_min_length", "default_leverage"} <= fields


def test_a_duplicate_group_is_409(api: Api) -> None:
    assert api.post("/v1/groups", {"name": "demo-usd", "currency": "USD"}).status_code == 409


def test_admins_update_a_group_and_the_change_applies_to_new_checks(api: Api) -> None:
    response = api.patch(
        "/v1/groups/demo-eur", {"default_leverage": 30, "max_leverage": 50, "margin_call": "90"}
    )
    assert response.status_code == 200 and response.json()["max_leverage"] == 50
    refused = api.post("/v1/users", {"name": "L", "group": "demo-eur", "leverage": 60})
    assert refused.status_code == 400 and refused.json()["errors"][0]["field"] == "leverage"


def test_a_group_with_accounts_keeps_its_currency(api: Api) -> None:
    api.open()
    response = api.patch("/v1/groups/demo-usd", {"currency": "EUR"})
    assert response.status_code == 400
    assert api.get("/v1/groups/demo-usd").json()["currency"] == "USD"


def test_a_maximum_below_the_default_leverage_is_refused(api: Api) -> None:
    response = api.patch("/v1/groups/demo-eur", {"max_leverage": 50})
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "default_leverage"


def test_group_update_refuses_unknown_and_read_only_fields(api: Api) -> None:
    response = api.patch("/v1/groups/demo-usd", {"id": 9, "colour": "red"})
    assert response.status_code == 400
    assert {e["field"] for e in response.json()["errors"]} == {"id", "colour"}


def test_symbols_list_read_and_mask(api: Api) -> None:
    items = api.get("/v1/symbols").json()["items"]
    assert [s["name"] for s in items] == ["EURUSD", "XAUUSD"]
    gold = api.get("/v1/symbols/XAUUSD").json()
    assert (gold["digits"], gold["contract_size"], gold["currency_base"]) == (2, "100", "XAU")
    forex = api.get("/v1/symbols", params={"name": "Forex\\*"}).json()["items"]
    assert [s["name"] for s in forex] == ["EURUSD"]
    assert api.get("/v1/symbols/NOPE").status_code == 404


def test_admins_create_and_update_symbols(api: Api) -> None:
    created = api.post(
        "/v1/symbols",
        {"name": "USDJPY", "digits": 3, "path": "Forex\\USDJPY", "trade_mode": "closeonly"},
    )
    assert created.status_code == 201, created.text
    assert (created.json()["currency_profit"], created.json()["trade_mode"]) == ("JPY", "CLOSEONLY")
    updated = api.patch("/v1/symbols/USDJPY", {"trade_mode": "FULL", "volume_max": "50"})
    assert updated.status_code == 200
    assert (updated.json()["trade_mode"], updated.json()["volume_max"]) == ("FULL", "50")


def test_bad_symbol_settings_are_400(api: Api) -> None:
    for body in (
        {"name": "BAD1", "contract_size": 0},
        {"name": "BAD2", "trade_mode": "YOLO"},
        {"name": "BAD3", "contract_size": "lots"},
        {"name": ""},
    ):
        assert api.post("/v1/symbols", body).status_code == 400, body
    assert api.post("/v1/symbols", {"name": "EURUSD"}).status_code == 409
    assert api.patch("/v1/symbols/EURUSD", {"digits": -1}).status_code == 400


def test_symbol_numbers_out_of_bounds_are_400_and_leave_the_symbol_as_it_was(api: Api) -> None:
    before = api.get("/v1/symbols/EURUSD").json()
    for body in (
        {"contract_size": "1e999999"},
        {"contract_size": "1000000001"},
        {"contract_size": "0.000000001"},
        {"volume_max": "1e30"},
        {"volume_step": "1e-999999"},
        {"volume_min": "-1"},
    ):
        response = api.patch("/v1/symbols/EURUSD", body)
        assert response.status_code == 400, (body, response.text)
        assert response.json()["errors"][0]["field"] == next(iter(body))
    assert api.get("/v1/symbols/EURUSD").json() == before
    created = api.post("/v1/symbols", {"name": "BIG1", "contract_size": "1e999999"})
    assert created.status_code == 400 and api.get("/v1/symbols/BIG1").status_code == 404
    largest = api.patch("/v1/symbols/EURUSD", {"contract_size": "999999999.12345678"})
    assert largest.status_code == 200, largest.text


def test_an_unknown_setting_is_refused_even_when_null(api: Api) -> None:
    # A null declared field means "the default"; a null unknown one is still not a setting.
    symbol = api.post("/v1/symbols", {"name": "NUL1", "digits": None, "": None})
    assert symbol.status_code == 400, symbol.text
    assert symbol.json()["errors"] == [{"field": "", "message": "is not a symbol setting"}]
    group = api.post("/v1/groups", {"name": "nul-g", "currency": "USD", "bogus": None})
    assert group.status_code == 400, group.text
    assert group.json()["errors"][0]["field"] == "bogus"
    assert api.get("/v1/symbols/NUL1").status_code == 404
    assert api.get("/v1/groups/nul-g").status_code == 404
    assert api.post("/v1/symbols", {"name": "NUL2", "digits": None}).status_code == 201
