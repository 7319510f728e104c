"""One change, one event, whatever the dialect: an MT5 trade/balance deposit, a cTrader
changebalance, a TraderEvolution account operation and a native deposit each produce the same
`ledger.entry_posted` in the native feed (GET /v1/events), in commit order, and a refused one
(in any dialect) produces none."""

from __future__ import annotations

from typing import Any

from brokerplane.core.access.commands import CreateApiKey
from brokerplane.core.account.commands import OpenAccount
from tests.dialects.ctrader.conftest import CTrader
from tests.dialects.ctrader.conftest import ct as ct
from tests.dialects.mt5.conftest import Mt5
from tests.dialects.mt5.conftest import mt5 as mt5
from tests.dialects.traderevolution.conftest import MANAGER, TE
from tests.dialects.traderevolution.conftest import te as te


def _feed(mt5: Mt5, key: str, **params: Any) -> dict[str, Any]:
    response = mt5.client.get(
        "/v1/events", params=params, headers={"Authorization": f"Bearer {key}"}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_deposit_from_each_dialect_is_the_same_event(mt5: Mt5, ct: CTrader) -> None:
    services = mt5.services
    acc = services.open_account(OpenAccount(group="demoforex", name="Feed Test"), mt5.admin)
    key = services.create_api_key(
        CreateApiKey(1005, frozenset({"reports:read", "balances:write"})), mt5.admin
    ).secret
    start = _feed(mt5, key)["head"]

    answer = mt5.client.get(
        "/api/trade/balance",
        params={"login": acc.login, "type": 2, "balance": "100", "comment": "card"},
    )
    assert answer.json()["retcode"] == "0 Done", answer.text
    assert (
        ct.post(
            f"/traders/{acc.login}/changebalance",
            {"login": acc.login, "preciseAmount": 100, "type": "DEPOSIT", "comment": "card"},
        ).status_code
        == 200
    )
    native = mt5.client.post(
        "/v1/balances/deposit",
        json={"login": acc.login, "amount": "100.00", "comment": "card"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert native.status_code == 200, native.text
    # refused (more than the balance): no event
    refused = mt5.client.post(
        "/v1/balances/withdraw",
        json={"login": acc.login, "amount": "1000.00"},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert refused.status_code == 400, refused.text
    # ... nor in MT5's words, nor in cTrader's
    answer = mt5.client.get(
        "/api/trade/balance",
        params={"login": acc.login, "type": 2, "balance": "-1000", "comment": "too much"},
    )
    assert answer.json()["retcode"] != "0 Done", answer.text
    too_much = ct.post(
        f"/traders/{acc.login}/changebalance",
        {"login": acc.login, "preciseAmount": 1000, "type": "WITHDRAW", "comment": "too much"},
    )
    assert too_much.status_code >= 400, too_much.text

    page = _feed(mt5, key, after=start, types="ledger.entry_posted")
    items = page["items"]
    assert [i["dialect"] for i in items] == ["mt5", "ctrader", "native"]
    assert [i["data"]["balance"] for i in items] == ["100.00", "200.00", "300.00"]
    assert [i["id"] for i in items] == sorted(i["id"] for i in items)
    same = [
        {
            k: v
            for k, v in i["data"].items()
            if k not in ("operation_id", "balance", "time", "manager_login")
        }
        for i in items
    ]
    assert (
        same[0]
        == same[1]
        == same[2]
        == {
            "login": acc.login,
            "kind": "deposit",
            "amount": "100.00",
            "credit": "0.00",
            "bonus": "0.00",
            "currency": "USD",
            "comment": "card",
            "reference": "",
            "approval_id": None,
        }
    )
    for item in items:
        assert item["type"] == "ledger.entry_posted" and item["login"] == acc.login
        assert item["group"] == "demoforex" and item["white_label"] == ""
        assert item["actor"]["manager_login"] in (1005, 1007)
    assert page["next"] == page["head"] and page["more"] is False


def test_a_traderevolution_operation_is_the_same_event_as_a_native_deposit(te: TE) -> None:
    """TraderEvolution's accountOperations deposit and a native deposit: the same
    ledger.entry_posted (dialect apart); a refused operation (more than the balance) none."""
    services = te.services
    account = int(te.create_user("feedte")["accounts"][0]["id"])
    key = services.create_api_key(
        CreateApiKey(MANAGER, frozenset({"reports:read", "balances:write"})), te.admin
    ).secret
    headers = {"Authorization": f"Bearer {key}"}
    start = te.client.get("/v1/events", headers=headers).json()["head"]
    body = {"accountId": account, "amount": "100", "operationTypeId": 2, "comment": "card"}
    te.ok(te.post("/accountOperations", body))
    refused = te.post("/accountOperations", {**body, "amount": "-1000", "operationTypeId": 3})
    assert refused.status_code >= 400, refused.text
    native = te.client.post(
        "/v1/balances/deposit",
        headers=headers,
        json={"login": account, "amount": "100.00", "comment": "card"},
    )
    assert native.status_code == 200, native.text

    page = te.client.get(
        "/v1/events", headers=headers, params={"after": start, "types": "ledger.entry_posted"}
    ).json()
    items = page["items"]
    assert [i["dialect"] for i in items] == ["traderevolution", "native"]
    assert [i["data"]["balance"] for i in items] == ["100.00", "200.00"]
    same = [
        {
            k: v
            for k, v in i["data"].items()
            if k not in ("operation_id", "balance", "time", "manager_login")
        }
        for i in items
    ]
    assert same[0] == same[1], same
    assert same[0]["kind"] == "deposit" and same[0]["amount"] == "100.00"
    assert all(i["login"] == account and i["actor"]["manager_login"] == MANAGER for i in items)


def test_account_changes_in_mt5_and_ctrader_words_are_one_event_each(mt5: Mt5, ct: CTrader) -> None:
    """user/add, user/update and user/delete in MT5's words, a trader made and updated in
    cTrader's: each change one account event naming its dialect; a refused one none."""
    services = mt5.services
    key = services.create_api_key(CreateApiKey(1005, frozenset({"reports:read"})), mt5.admin).secret
    start = _feed(mt5, key)["head"]
    login = int(mt5.add_user()["Login"])
    mt5.ok(mt5.post("user/update", {"login": login, "comment": "vip soon"}, {}))
    refused = mt5.post("user/update", {"login": 999_999_999, "comment": "nobody"}, {})
    assert refused.status_code != 200 or refused.json()["retcode"] != "0 Done", refused.text
    mt5.ok(mt5.get("user/delete", login=login))
    trader = ct.create()
    update = {
        "accessRights": "NO_TRADING",
        "accountType": "HEDGED",
        "balance": "00",
        "brokerName": "BESTBROKER",
        "depositCurrency": "EUR",
        "groupName": "Default",
        "leverageInCents": 10000,
    }
    assert ct.post(f"/traders/{trader['login']}", update).status_code == 204

    items = _feed(mt5, key, after=start, types="account.")["items"]
    assert [(i["type"], i["login"], i["dialect"]) for i in items] == [
        ("account.opened", login, "mt5"),
        ("account.updated", login, "mt5"),
        ("account.deleted", login, "mt5"),
        ("account.opened", trader["login"], "ctrader"),
        ("account.updated", trader["login"], "ctrader"),
    ]
    assert items[1]["data"]["comment"] == "vip soon"
