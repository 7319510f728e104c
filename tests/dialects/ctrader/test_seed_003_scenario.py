"""Seed 003 ("use cases") run as written, one flow: traders, a group move, KYC gating, money,
partners, a cTID user with a linked account, a white-label move and attributes of all three
kinds; then the same trader read through the native API and MT5 with the same figures."""

from __future__ import annotations

from typing import Any

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES
from tests.dialects.ctrader.conftest import MANAGER, MINIMAL, PASSWORD, SEED_HASH, CTrader, md5
from tests.dialects.mt5.conftest import Mt5, handshake

# The response of seed 003's minimal create, less what the server assigns.
SEED_MINIMAL_ANSWER = {
    "groupName": "Default",
    "depositCurrency": "EUR",
    "accessRights": "FULL_ACCESS",
    "brokerName": "BESTBROKER",
    "balance": 0,
    "bonus": 0,
    "nonWithdrawableBonus": 0,
    "leverageInCents": 10000,
    "contactDetails": {},
    "equity": 0,
    "usedMargin": 0,
    "freeMargin": 0,
    "accountType": "HEDGED",
    "limitedRisk": False,
    "sendOwnStatement": False,
    "swapFree": False,
    "totalMarginCalculationType": "MAX",
    "isLimitedRisk": False,
    "moneyDigits": 2,
}


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def _money(ct: CTrader, login: int, call: str, amount: float, kind: str) -> Any:
    body = {"login": login, "preciseAmount": amount, "type": kind}
    return _ok(ct.post(f"/traders/{login}/{call}", body))


def _cid(ct: CTrader, path: str, body: dict[str, Any]) -> Any:
    return ct.client.post(
        "/v2/cid" + path,
        params={"token": ct.token},
        json=body,
        headers={"Accept": "application/json"},
    )


def test_seed_003_use_cases_end_to_end(ct: CTrader) -> None:
    # Two traders with the minimum of parameters; logins follow each other.
    first = ct.create()
    second = ct.create()
    for trader in (first, second):
        assert {k: trader[k] for k in SEED_MINIMAL_ANSWER} == SEED_MINIMAL_ANSWER
        assert trader["registrationTimestamp"] > 1_600_000_000_000  # milliseconds
    assert second["login"] > first["login"]
    login = second["login"]

    # Full update by POST: the group becomes DX_452 (204), and reads back so.
    moved = {**MINIMAL, "groupName": "DX_452"}
    assert ct.post(f"/traders/{login}", moved).status_code == 204
    assert ct.trader(login)["groupName"] == "DX_452"

    # KYC: NO_TRADING until the check passes, then FULL_ACCESS.
    kyc = ct.create(accessRights="NO_TRADING")
    assert kyc["accessRights"] == "NO_TRADING"
    passed = {**MINIMAL, "accessRights": "FULL_ACCESS", "groupName": "DX_452"}
    assert ct.post(f"/traders/{kyc['login']}", passed).status_code == 204
    assert ct.trader(kyc["login"])["accessRights"] == "FULL_ACCESS"

    # Deposit 123.45 -> 12345; withdraw 111.11 ("WITHDRAWAL", the seed's spelling) -> 1234.
    deposit = _money(ct, login, "changebalance", 123.45, "DEPOSIT")
    assert set(deposit) == {"balanceHistoryId"} and isinstance(deposit["balanceHistoryId"], int)
    assert ct.trader(login)["balance"] == 12345
    withdrawal = _money(ct, login, "changebalance", 111.11, "WITHDRAWAL")
    assert withdrawal["balanceHistoryId"] > deposit["balanceHistoryId"]
    assert ct.trader(login)["balance"] == 1234

    # Bonus in 123.45 -> 12345 (read with the seed's trailing slash); bonus out. The seed's own
    # example withdraws 123.45 and shows 1234, which no arithmetic gives: 111.11 does.
    bonus_in = _money(ct, login, "changebonus", 123.45, "DEPOSIT")
    assert set(bonus_in) == {"bonusHistoryId"}
    assert _ok(ct.get(f"/traders/{login}/"))["bonus"] == 12345
    bonus_out = _money(ct, login, "changebonus", 111.11, "WITHDRAW")
    assert bonus_out["bonusHistoryId"] > bonus_in["bonusHistoryId"]
    assert ct.trader(login)["bonus"] == 1234

    # Partners on create, then new partners by a full update.
    partners = {"introducingBroker1": "GreatPartner", "introducingBroker2": "BestPartner"}
    partnered = ct.create(contactDetails=partners)
    assert ct.trader(partnered["login"])["contactDetails"] == partners
    newer = {"introducingBroker1": "GreatestPartner", "introducingBroker2": "SuperPartner"}
    body = {**MINIMAL, "contactDetails": newer, "groupName": "DX_452"}
    assert ct.post(f"/traders/{partnered['login']}", body).status_code == 204
    assert ct.trader(partnered["login"])["contactDetails"] == newer

    # A cTID user with minimal parameters.
    user = _ok(_cid(ct, "/ctid/create", {"email": "test@emailone.com"}))
    assert user["nickname"] == f"ctid{user['userId']}"
    assert (user["email"], user["status"]) == ("test@emailone.com", "CTID_NEW")
    assert user["utcCreateTimestamp"] > 1_600_000_000_000

    # Another account under another white label and currency, linked to that user.
    uk = ct.create(brokerName="BESTBROKER_UK", depositCurrency="USD")
    assert (uk["brokerName"], uk["depositCurrency"], uk["moneyDigits"]) == (
        "BESTBROKER_UK",
        "USD",
        2,
    )
    linking = {
        "traderLogin": uk["login"],
        "traderPasswordHash": SEED_HASH,
        "userId": user["userId"],
        "returnAccountDetails": True,
    }
    link = _ok(_cid(ct, "/ctid/link", linking))
    assert set(link) == {"ctidTraderAccountId"} and isinstance(link["ctidTraderAccountId"], int)
    assert ct.services.get_account(uk["login"], ct.admin).user_id == user["userId"]

    # A white-label move: no output, the trader's brokerName changes.
    move = {"environmentName": "live", "brokerName": "BESTBROKER_UK", "traderLogin": kyc["login"]}
    assert _cid(ct, "/ctid/changeCtidTraderAccount", move).status_code in (200, 204)
    assert ct.trader(kyc["login"])["brokerName"] == "BESTBROKER_UK"

    _attributes_of_all_three_kinds(ct, [first["login"], login, kyc["login"]])
    _same_figures_through_native_and_mt5(ct, login)


def _attributes_of_all_three_kinds(ct: CTrader, logins: list[int]) -> None:
    a, b, c = logins
    put = {
        "attributeSets": [
            {
                "traderId": a,
                "attributes": [
                    {"name": "colorCode", "value": "FF0000"},
                    {"name": "prefixLabel", "value": "VIP"},
                ],
            },
            {"traderId": b, "attributes": [{"name": "colorCode", "value": "00FF00"}]},
            {"traderId": c, "attributes": [{"name": "colorCode", "value": "0000FF"}]},
        ]
    }
    assert _ok(ct.call("PUT", "/traders/attributes", json=put)) == {}

    # By ids: only those with attributes, each with its values and a millisecond time.
    listed = _ok(ct.post("/traders/attributes/list", {"traderIds": [a, b]}))
    assert [r["traderId"] for r in listed["results"]] == [a, b]
    assert listed["results"][0]["attributes"] == [
        {"name": "colorCode", "value": "FF0000"},
        {"name": "prefixLabel", "value": "VIP"},
    ]
    assert listed["results"][0]["utcLastUpdateTimestamp"] > 1_600_000_000_000
    assert "nextPageAfterTraderId" not in listed

    # All traders in pages of 2, passing nextPageAfterTraderId back, until an empty page.
    page = _ok(ct.post("/traders/attributes/list", {"limit": 2, "pageAfterTraderId": 0}))
    assert [r["traderId"] for r in page["results"]] == [a, b]
    after = page["nextPageAfterTraderId"]
    page = _ok(ct.post("/traders/attributes/list", {"limit": 2, "pageAfterTraderId": after}))
    assert [r["traderId"] for r in page["results"]] == [c]
    assert "nextPageAfterTraderId" not in page
    empty = _ok(ct.post("/traders/attributes/list", {"limit": 2, "pageAfterTraderId": c}))
    assert empty == {"results": []}

    # A null value is not a deletion: 400, nothing changed.
    null = {
        "attributeSets": [{"traderId": a, "attributes": [{"name": "colorCode", "value": None}]}]
    }
    assert ct.error(ct.call("PUT", "/traders/attributes", json=null), 400) == "INVALID_REQUEST"
    # Delete one name, then all.
    gone = {"traderIds": [a, b], "names": ["colorCode"]}
    assert _ok(ct.call("DELETE", "/traders/attributes", json=gone)) == {}
    left = _ok(ct.post("/traders/attributes/list", {"traderIds": [a, b]}))["results"]
    assert left == [
        {
            "traderId": a,
            "attributes": [{"name": "prefixLabel", "value": "VIP"}],
            "utcLastUpdateTimestamp": left[0]["utcLastUpdateTimestamp"],
        }
    ]
    assert _ok(ct.call("DELETE", "/traders/attributes", json={"traderIds": [a], "names": []})) == {}
    assert _ok(ct.post("/traders/attributes/list", {"traderIds": [a]})) == {"results": []}

    # Trader groups, by ids only.
    groups = {g["name"]: g["id"] for g in _ok(ct.get("/tradergroups"))["traderGroup"]}
    default, dx = groups["Default"], groups["DX_452"]
    group_put = {
        "attributeSets": [
            {
                "traderGroupId": default,
                "attributes": [
                    {"name": "groupColorCode", "value": "FFAA00"},
                    {"name": "groupTag", "value": "Premium"},
                ],
            },
        ]
    }
    assert _ok(ct.call("PUT", "/tradergroups/attributes", json=group_put)) == {}
    group_list = _ok(ct.post("/tradergroups/attributes/list", {"traderGroupIds": [default, dx]}))
    assert [r["traderGroupId"] for r in group_list["results"]] == [default]
    group_gone = {"traderGroupIds": [default, dx], "names": ["groupColorCode"]}
    assert _ok(ct.call("DELETE", "/tradergroups/attributes", json=group_gone)) == {}
    group_list = _ok(ct.post("/tradergroups/attributes/list", {"traderGroupIds": [default]}))
    assert group_list["results"][0]["attributes"] == [{"name": "groupTag", "value": "Premium"}]

    # Managers: a super-admin sets anyone's; a regular manager only its own.
    ct.services.create_manager(
        CreateManager(1008, "Desk", "Manager#1008", frozenset({"users:read", "users:write"})),
        ct.admin,
    )
    manager_put = {
        "attributeSets": [
            {
                "managerId": MANAGER,
                "attributes": [
                    {"name": "theme", "value": "dark"},
                    {"name": "language", "value": "en"},
                ],
            },
            {"managerId": 1008, "attributes": [{"name": "theme", "value": "light"}]},
        ]
    }
    assert _ok(ct.call("PUT", "/managers/attributes", json=manager_put)) == {}
    desk = ct.client.post(
        "/v2/webserv/managers/token",
        headers={"Accept": "application/json"},
        json={"login": 1008, "hashedPassword": md5("Manager#1008")},
    )
    desk_token = _ok(desk)["webservToken"]
    own = ct.call(
        "POST", "/managers/attributes/list", json={"managerIds": [1008, MANAGER]}, token=desk_token
    )
    assert [r["managerId"] for r in _ok(own)["results"]] == [1008]
    theirs = ct.call(
        "POST", "/managers/attributes/list", json={"managerIds": [MANAGER]}, token=desk_token
    )
    assert ct.error(theirs, 403) == "NOT_ENOUGH_RIGHTS"
    both = _ok(ct.post("/managers/attributes/list", {"managerIds": [MANAGER, 1008]}))
    assert [r["managerId"] for r in both["results"]] == [MANAGER, 1008]


def _same_figures_through_native_and_mt5(ct: CTrader, login: int) -> None:
    """Balance 12.34 and bonus 12.34 EUR, in DX_452: the same account in every dialect."""
    trader = ct.trader(login)
    assert (trader["balance"], trader["bonus"], trader["groupName"]) == (1234, 1234, "DX_452")
    key = ct.services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), ct.admin).secret
    native = _ok(ct.client.get(f"/v1/users/{login}", headers={"Authorization": f"Bearer {key}"}))
    assert (native["balance"], native["bonus"], native["currency"], native["group"]) == (
        "12.34",
        "12.34",
        "EUR",
        "DX_452",
    )
    assert handshake(ct.client, MANAGER, PASSWORD).status_code == 200
    mt5 = Mt5(ct.client, ct.runtime, ct.admin, MANAGER)
    user = mt5.ok(mt5.get("user/get", login=login))
    # MT5 has no bonus figure: its Balance includes the bonus, as the MT5 dialect documents.
    assert (user["Group"], user["Balance"], user["Leverage"]) == ("DX_452", "24.68", "100")
