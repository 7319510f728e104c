"""Attributes of traders, trader groups and managers over HTTP: seed 003's calls and shapes
(list by ids, paging, upsert with partial authorisation, delete by names and all, the null
error), the filters, the limits of spec §3.9, and bad input refused with nothing changed."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from brokerplane.core.access.commands import CreateApiKey
from brokerplane.core.actor import SCOPES
from tests.dialects.ctrader.conftest import MANAGER, CTrader, as_manager

# Seed 003's curl sends no Accept header and reads JSON back.
CURL: dict[str, str] = {}
RESULT_KEYS = {"traderId", "attributes", "utcLastUpdateTimestamp"}


def put(ct: CTrader, sets: Any, path: str = "/traders/attributes") -> httpx.Response:
    return ct.call("PUT", path, json={"attributeSets": sets}, headers=CURL)


def listed(ct: CTrader, body: Any, path: str = "/traders/attributes/list") -> dict[str, Any]:
    response = ct.post(path, body, headers=CURL)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    result: dict[str, Any] = response.json()
    return result


def attrs(**values: str) -> list[dict[str, str]]:
    return [{"name": n, "value": v} for n, v in values.items()]


PATHS = {"trader": "/traders", "traderGroup": "/tradergroups", "manager": "/managers"}


def by_id(ct: CTrader, kind: str, ids: list[int]) -> dict[int, dict[str, str]]:
    """What `ct` reads of `kind` (trader, traderGroup, manager): id -> {name: value}."""
    body = listed(ct, {f"{kind}Ids": ids}, PATHS[kind] + "/attributes/list")
    return {
        r[f"{kind}Id"]: {a["name"]: a["value"] for a in r["attributes"]} for r in body["results"]
    }


def traders_attrs(ct: CTrader, *logins: int) -> dict[int, dict[str, str]]:
    return by_id(ct, "trader", list(logins))


def test_seed_003_upsert_then_list_by_ids_in_the_seed_shape(ct: CTrader) -> None:
    first, second, bare = (ct.create()["login"] for _ in range(3))
    before = int(time.time() * 1000)
    response = put(
        ct,
        [
            {"traderId": first, "attributes": attrs(prefixLabel="VIP", colorCode="FF0000")},
            {"traderId": second, "attributes": attrs(colorCode="00FF00")},
        ],
    )
    assert response.status_code == 200 and response.json() == {}
    body = listed(ct, {"traderIds": [first, second, bare]})
    assert set(body) == {"results"}  # no next page when listing by ids
    assert [set(r) for r in body["results"]] == [RESULT_KEYS, RESULT_KEYS]
    one, two = body["results"]
    assert one["traderId"] == first and one["attributes"] == attrs(
        colorCode="FF0000", prefixLabel="VIP"
    )
    assert two == {
        "traderId": second,
        "attributes": attrs(colorCode="00FF00"),
        "utcLastUpdateTimestamp": two["utcLastUpdateTimestamp"],
    }
    assert before - 1000 <= one["utcLastUpdateTimestamp"] <= int(time.time() * 1000) + 1000
    # an upsert changes the named values and keeps the others
    assert (
        put(ct, [{"traderId": second, "attributes": attrs(colorCode="0000FF", x="1")}]).json() == {}
    )
    assert traders_attrs(ct, second) == {second: {"colorCode": "0000FF", "x": "1"}}


def test_seed_003_pages_through_all_traders_with_attributes(ct: CTrader) -> None:
    logins = [ct.create()["login"] for _ in range(5)]
    put(
        ct,
        [
            {"traderId": login, "attributes": attrs(colorCode=f"{i}")}
            for i, login in enumerate(logins)
            if i != 2
        ],
    )
    with_attrs = [login for i, login in enumerate(logins) if i != 2]
    page = listed(ct, {"limit": 2})
    assert [r["traderId"] for r in page["results"]] == with_attrs[:2]
    assert page["nextPageAfterTraderId"] == with_attrs[1]
    page = listed(ct, {"limit": 2, "pageAfterTraderId": page["nextPageAfterTraderId"]})
    assert [r["traderId"] for r in page["results"]] == with_attrs[2:]
    assert "nextPageAfterTraderId" not in page  # the page ended at the last one
    assert listed(ct, {"limit": 2, "pageAfterTraderId": with_attrs[-1]}) == {"results": []}
    # no ids (or an empty list) and no limit: every trader with attributes, one page
    assert [r["traderId"] for r in listed(ct, {"traderIds": []})["results"]] == with_attrs
    assert [r["traderId"] for r in listed(ct, {})["results"]] == with_attrs


@pytest.mark.parametrize(
    ("name_key", "since_key"), [("nameContains", "utcUpdatedSince"), ("name", "since")]
)
def test_the_name_and_since_filters(ct: CTrader, name_key: str, since_key: str) -> None:
    first, second = ct.create()["login"], ct.create()["login"]
    put(
        ct,
        [
            {"traderId": first, "attributes": attrs(colorCode="F", prefixLabel="VIP")},
            {"traderId": second, "attributes": attrs(theme="dark")},
        ],
    )
    body = listed(ct, {"traderIds": [first, second], name_key: "COLOR"})
    assert [(r["traderId"], r["attributes"]) for r in body["results"]] == [
        (first, attrs(colorCode="F"))
    ]
    stamp = body["results"][0]["utcLastUpdateTimestamp"]
    assert len(listed(ct, {since_key: stamp})["results"]) == 2
    assert listed(ct, {since_key: stamp + 60_000}) == {"results": []}
    assert listed(ct, {since_key: "2018-01-01T12:12:12.000", name_key: "the"})["results"] == [
        {"traderId": second, "attributes": attrs(theme="dark"), "utcLastUpdateTimestamp": stamp}
    ]


def test_seed_003_upsert_skips_traders_out_of_reach_and_fails_when_none_is_left(
    ct: CTrader,
) -> None:
    mine, other = ct.create()["login"], ct.create(groupName="DX_452")["login"]
    limited = as_manager(ct, 1101, group_mask="Default")
    both = [
        {"traderId": mine, "attributes": attrs(prefixLabel="VIP")},
        {"traderId": other, "attributes": attrs(colorCode="0000FF")},
    ]
    response = put(limited, both)
    assert response.status_code == 200 and response.json() == {}
    assert traders_attrs(ct, mine, other) == {mine: {"prefixLabel": "VIP"}}
    # the limited manager does not see the other trader's attributes, nor its absence
    put(ct, [{"traderId": other, "attributes": attrs(colorCode="1")}])
    assert [r["traderId"] for r in listed(limited, {"traderIds": [mine, other]})["results"]] == [
        mine
    ]
    assert [r["traderId"] for r in listed(limited, {})["results"]] == [mine]
    refused = put(limited, [{"traderId": other, "attributes": attrs(colorCode="2")}])
    assert limited.error(refused, 403) == "NOT_ENOUGH_RIGHTS"
    gone = limited.call("DELETE", "/traders/attributes", json={"traderIds": [other]})
    assert limited.error(gone, 403) == "NOT_ENOUGH_RIGHTS"
    assert traders_attrs(ct, other) == {other: {"colorCode": "1"}}
    # the super-admin naming only a trader that does not exist learns just that
    missing = put(ct, [{"traderId": 9_999_999, "attributes": attrs(a="b")}])
    assert ct.error(missing, 404) == "TRADER_NOT_FOUND"


def test_seed_003_delete_by_names_and_all(ct: CTrader) -> None:
    first, second = ct.create()["login"], ct.create()["login"]
    put(
        ct,
        [
            {"traderId": first, "attributes": attrs(colorCode="F", prefixLabel="VIP")},
            {"traderId": second, "attributes": attrs(colorCode="0", theme="x")},
        ],
    )
    response = ct.call(
        "DELETE",
        "/traders/attributes",
        headers=CURL,
        json={"traderIds": [first, second], "names": ["colorCode"]},
    )
    assert response.status_code == 200 and response.json() == {}
    assert traders_attrs(ct, first, second) == {
        first: {"prefixLabel": "VIP"},
        second: {"theme": "x"},
    }
    response = ct.call(
        "DELETE", "/traders/attributes", json={"traderIds": [first, second], "names": []}
    )
    assert response.status_code == 200 and response.json() == {}
    assert listed(ct, {"traderIds": [first, second]}) == {"results": []}
    put(ct, [{"traderId": first, "attributes": attrs(a="1", b="2")}])
    assert ct.call("DELETE", "/traders/attributes/", json={"traderIds": [first]}).json() == {}
    assert listed(ct, {}) == {"results": []}


def test_seed_003_a_null_value_is_400_and_nothing_changes(ct: CTrader) -> None:
    login = ct.create()["login"]
    put(ct, [{"traderId": login, "attributes": attrs(colorCode="FF0000")}])
    values = [{"name": "other", "value": "x"}, {"name": "colorCode", "value": None}]
    response = put(ct, [{"traderId": login, "attributes": values}])
    assert ct.error(response, 400) == "INVALID_REQUEST"
    assert "attributeSets[0].attributes[1].value" in response.json()["error"]["description"]
    assert traders_attrs(ct, login) == {login: {"colorCode": "FF0000"}}


def test_seed_003_trader_group_attributes(ct: CTrader) -> None:
    groups = {g["name"]: g["id"] for g in ct.get("/tradergroups").json()["traderGroup"]}
    default, dx = groups["Default"], groups["DX_452"]
    path = "/tradergroups/attributes"
    response = put(
        ct,
        [
            {
                "traderGroupId": default,
                "attributes": attrs(groupColorCode="FF0000", groupTag="Premium"),
            },
            {"traderGroupId": dx, "attributes": attrs(groupColorCode="00FF00")},
        ],
        path,
    )
    assert response.status_code == 200 and response.json() == {}
    body = listed(ct, {"traderGroupIds": [default, dx]}, path + "/list")
    assert [set(r) for r in body["results"]] == [
        {"traderGroupId", "attributes", "utcLastUpdateTimestamp"}
    ] * 2
    assert body["results"][0]["attributes"] == attrs(groupColorCode="FF0000", groupTag="Premium")
    # a manager whose reach is group Default writes only there
    limited = as_manager(ct, 1101, group_mask="Default")
    put(
        limited,
        [
            {"traderGroupId": default, "attributes": attrs(groupTag="Gold")},
            {"traderGroupId": dx, "attributes": attrs(groupTag="Gold")},
        ],
        path,
    )
    assert by_id(ct, "traderGroup", [default, dx]) == {
        default: {"groupColorCode": "FF0000", "groupTag": "Gold"},
        dx: {"groupColorCode": "00FF00"},
    }
    deleted = ct.call(
        "DELETE", path, json={"traderGroupIds": [default, dx], "names": ["groupColorCode"]}
    )
    assert deleted.json() == {}
    assert by_id(ct, "traderGroup", [default, dx]) == {default: {"groupTag": "Gold"}}
    # groups have no "all" listing and no paging
    no_ids = ct.post(path + "/list", {})
    assert ct.error(no_ids, 400) == "INVALID_REQUEST"
    assert "traderGroupIds" in no_ids.json()["error"]["description"]


def test_seed_003_manager_attributes_own_for_regular_managers_any_for_super_admins(
    ct: CTrader,
) -> None:
    regular = as_manager(ct, 1101)
    path = "/managers/attributes"
    sets = [
        {"managerId": 1101, "attributes": attrs(theme="dark", language="en")},
        {"managerId": MANAGER, "attributes": attrs(theme="light")},
    ]
    own = put(regular, sets, path)
    assert own.status_code == 200 and own.json() == {}
    assert by_id(regular, "manager", [1101]) == {1101: {"language": "en", "theme": "dark"}}
    assert (
        regular.error(put(regular, [{"managerId": MANAGER, "attributes": attrs(a="b")}], path), 403)
        == "NOT_ENOUGH_RIGHTS"
    )
    other = regular.post(path + "/list", {"managerIds": [MANAGER]})
    assert regular.error(other, 403) == "NOT_ENOUGH_RIGHTS"
    # the super-admin (admin right, unlimited reach) reads and writes anyone's
    assert put(ct, [{"managerId": MANAGER, "attributes": attrs(theme="light")}], path).json() == {}
    body = listed(ct, {"managerIds": [1101, MANAGER]}, path + "/list")
    assert [(r["managerId"], r["attributes"]) for r in body["results"]] == [
        (MANAGER, attrs(theme="light")),
        (1101, attrs(language="en", theme="dark")),
    ]
    deleted = ct.call("DELETE", path, json={"managerIds": [1101, MANAGER], "names": ["theme"]})
    assert deleted.status_code == 200
    assert by_id(ct, "manager", [1101, MANAGER]) == {1101: {"language": "en"}}
    assert regular.error(regular.call("DELETE", path, json={"managerIds": [MANAGER]}), 403) == (
        "NOT_ENOUGH_RIGHTS"
    )


def test_the_largest_names_values_and_batches_are_accepted(ct: CTrader) -> None:
    login = ct.create()["login"]
    many = [{"name": f"n{i:03d}", "value": "v" * 512} for i in range(99)]
    many.append({"name": "é" * 64, "value": "ü" * 512})
    assert put(ct, [{"traderId": login, "attributes": many}]).status_code == 200
    stored = traders_attrs(ct, login)[login]
    assert len(stored) == 100 and stored["é" * 64] == "ü" * 512
    ids = [login, *range(1, 10_000)]  # 10 000 ids, the most one call names
    assert [r["traderId"] for r in listed(ct, {"traderIds": ids})["results"]] == [login]
    assert (
        ct.call(
            "DELETE",
            "/traders/attributes",
            json={"traderIds": [login], "names": [f"n{i:03d}" for i in range(100)]},
        ).json()
        == {}
    )
    assert traders_attrs(ct, login) == {login: {"é" * 64: "ü" * 512}}


ONE = {"name": "colorCode", "value": "FF0000"}
BAD_UPSERTS: dict[str, Any] = {
    "name 65 chars": [{"traderId": "LOGIN", "attributes": [{"name": "n" * 65, "value": "v"}]}],
    "empty name": [{"traderId": "LOGIN", "attributes": [{"name": "", "value": "v"}]}],
    "value 513 chars": [{"traderId": "LOGIN", "attributes": [{"name": "n", "value": "v" * 513}]}],
    "empty value": [{"traderId": "LOGIN", "attributes": [{"name": "n", "value": ""}]}],
    "number value": [{"traderId": "LOGIN", "attributes": [{"name": "n", "value": 5}]}],
    "null name": [{"traderId": "LOGIN", "attributes": [{"name": None, "value": "v"}]}],
    "no value key": [{"traderId": "LOGIN", "attributes": [{"name": "n"}]}],
    "no attributes": [{"traderId": "LOGIN", "attributes": []}],
    "101 attributes": [
        {"traderId": "LOGIN", "attributes": [{"name": f"n{i}", "value": "v"} for i in range(101)]}
    ],
    "101 sets": [{"traderId": "LOGIN", "attributes": [ONE]}] * 101,
    "no sets": [],
    "id not a number": [{"traderId": "abc", "attributes": [ONE]}],
    "id zero": [{"traderId": 0, "attributes": [ONE]}],
    "no id": [{"attributes": [ONE]}],
    "set not an object": ["LOGIN"],
    "attributes not a list": [{"traderId": "LOGIN", "attributes": ONE}],
    "sets not a list": {"traderId": "LOGIN", "attributes": [ONE]},
}


def _with_login(value: Any, login: int) -> Any:
    if value == "LOGIN":
        return login
    if isinstance(value, list):
        return [_with_login(v, login) for v in value]
    if isinstance(value, dict):
        return {k: _with_login(v, login) for k, v in value.items()}
    return value


def test_bad_upserts_are_400_and_change_nothing(ct: CTrader) -> None:
    login = ct.create()["login"]
    put(ct, [{"traderId": login, "attributes": attrs(colorCode="000000")}])
    for case, sets in BAD_UPSERTS.items():
        response = put(ct, _with_login(sets, login))
        assert response.status_code == 400, case
        assert ct.error(response, 400) == "INVALID_REQUEST", case
        assert response.headers["content-type"].startswith("application/json"), case
    assert traders_attrs(ct, login) == {login: {"colorCode": "000000"}}


LIST = "/traders/attributes/list"
BAD_READS_AND_DELETES: list[tuple[str, str, Any, str]] = [
    ("POST", LIST, {"traderIds": list(range(1, 10_002))}, "traderIds"),
    ("POST", LIST, {"traderIds": [1, "x"]}, "traderIds[1]"),
    ("POST", LIST, {"traderIds": 5}, "traderIds"),
    ("POST", LIST, {"limit": 0}, "limit"),
    ("POST", LIST, {"limit": 10_001}, "limit"),
    ("POST", LIST, {"limit": "many"}, "limit"),
    ("POST", LIST, {"pageAfterTraderId": -1}, "pageAfterTraderId"),
    ("POST", LIST, {"traderIds": [1], "limit": 5}, "limit"),
    ("POST", LIST, {"nameContains": "n" * 65}, "nameContains"),
    ("POST", LIST, {"nameContains": 7}, "nameContains"),
    ("POST", LIST, {"nameContains": "a", "name": "b"}, "nameContains"),
    ("POST", LIST, {"utcUpdatedSince": "soon"}, "utcUpdatedSince"),
    ("POST", LIST, {"utcUpdatedSince": -5}, "utcUpdatedSince"),
    ("POST", LIST, {"utcUpdatedSince": 10**30}, "utcUpdatedSince"),
    ("POST", "/managers/attributes/list", {"managerIds": []}, "managerIds"),
    ("DELETE", "/traders/attributes", {"names": ["colorCode"]}, "traderIds"),
    ("DELETE", "/traders/attributes", {"traderIds": ["LOGIN"], "names": "colorCode"}, "names"),
    ("DELETE", "/traders/attributes", {"traderIds": ["LOGIN"], "names": [""]}, "names[0]"),
    (
        "DELETE",
        "/traders/attributes",
        {"traderIds": ["LOGIN"], "names": [f"n{i}" for i in range(101)]},
        "names",
    ),
]


def test_bad_lists_and_deletes_are_400_naming_the_field_in_the_callers_words(
    ct: CTrader,
) -> None:
    login = ct.create()["login"]
    put(ct, [{"traderId": login, "attributes": attrs(colorCode="000000")}])
    for method, path, body, named in BAD_READS_AND_DELETES:
        response = ct.call(method, path, json=_with_login(body, login), headers=CURL)
        assert response.status_code == 400, (body, response.text)
        assert ct.error(response, 400) == "INVALID_REQUEST"
        assert named in response.json()["error"]["description"], (body, response.text)
    assert traders_attrs(ct, login) == {login: {"colorCode": "000000"}}


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe", b'"text"'])
def test_garbage_bodies_are_400_in_the_error_body(ct: CTrader, raw: bytes) -> None:
    content_type = {"Content-Type": "application/json"}
    for method, path in [
        ("PUT", "/traders/attributes"),
        ("DELETE", "/managers/attributes"),
        ("POST", "/tradergroups/attributes/list"),
    ]:
        response = ct.client.request(
            method,
            "/v2/webserv" + path,
            params={"token": ct.token},
            content=raw,
            headers=content_type,
        )
        assert ct.error(response, 400) == "INVALID_REQUEST"


def test_xml_is_answered_to_clients_asking_for_xml_only(ct: CTrader) -> None:
    login = ct.create()["login"]
    put(ct, [{"traderId": login, "attributes": attrs(colorCode="FF0000")}])
    xml = {"Accept": "application/xml"}
    response = ct.post("/traders/attributes/list", {"traderIds": [login]}, headers=xml)
    assert response.headers["content-type"].startswith("application/xml")
    assert f"<traderId>{login}</traderId>" in response.text
    assert "<name>colorCode</name><value>FF0000</value>" in response.text
    refused = ct.call("PUT", "/traders/attributes", json={"attributeSets": 5}, headers=xml)
    assert refused.status_code == 400 and "<errorCode>INVALID_REQUEST</errorCode>" in refused.text
    # and a missing token is the usual 401, in JSON for a client like seed 003's curl
    anonymous = ct.client.post("/v2/webserv/traders/attributes/list", json={})
    assert ct.error(anonymous, 401) == "CH_CLIENT_AUTH_FAILURE"


def test_a_traders_attributes_are_the_native_accounts_attributes(ct: CTrader) -> None:
    login = ct.create()["login"]
    key = ct.services.create_api_key(CreateApiKey(MANAGER, frozenset(SCOPES)), ct.admin).secret
    native = {"Authorization": f"Bearer {key}"}

    patched = ct.client.patch(
        f"/v1/users/{login}", headers=native, json={"attributes": {"kyc": "passed", "desk": "ldn"}}
    )
    assert patched.status_code == 200, patched.text
    listed = ct.post("/traders/attributes/list", {"traderIds": [login]}).json()["results"]
    assert listed[0]["attributes"] == [
        {"name": "desk", "value": "ldn"},
        {"name": "kyc", "value": "passed"},
    ]

    expired = [{"name": "kyc", "value": "expired"}]
    put = {"attributeSets": [{"traderId": login, "attributes": expired}]}
    assert ct.call("PUT", "/traders/attributes", json=put).json() == {}
    read = ct.client.get(f"/v1/users/{login}", headers=native).json()
    assert read["attributes"] == {"desk": "ldn", "kyc": "expired"}

    empty = ct.client.patch(f"/v1/users/{login}", headers=native, json={"attributes": {"kyc": ""}})
    assert empty.status_code == 400
    assert [e["field"] for e in empty.json()["errors"]] == ["attributes.kyc"]
    assert ct.client.get(f"/v1/users/{login}", headers=native).json()["attributes"] == {
        "desk": "ldn",
        "kyc": "expired",
    }
