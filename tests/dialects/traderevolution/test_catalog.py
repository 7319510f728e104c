"""User groups with their filters and paging, account presets by currency and name, brandings
and plans: listed by anyone who reads users, created by admins only."""

from __future__ import annotations

from typing import Any

from brokerplane.core.access.commands import CreateManager
from brokerplane.core.actor import SCOPES
from tests.dialects.traderevolution.conftest import TE, sign_in


def _names(te: TE, path: str, key: str = "name", **params: Any) -> list[str]:
    return [item[key] for item in te.ok(te.get(path, params=params))]


def test_user_groups_list_every_group_with_branding_plan_and_server(te: TE) -> None:
    groups = te.ok(te.get("/userGroups"))

    assert [g["name"] for g in groups] == ["retail", "vip", "euro"]
    retail = groups[0]
    assert retail == {
        "id": te.ids["retail"],
        "name": "retail",
        "description": "retail clients",
        "currency": "USD",
        "brandingId": te.ids["brand"],
        "planId": te.ids["risk"],
        "serverId": 1,
        "defaultLeverage": 100,
        "maxLeverage": 500,
    }
    assert te.ok(te.get(f"/userGroups/{te.ids['vip']}"))["name"] == "vip"


def test_user_groups_filter_by_branding_name_plan_and_server_and_page(te: TE) -> None:
    assert _names(te, "/userGroups", brandingId=te.ids["brand"]) == ["retail", "vip"]
    assert _names(te, "/userGroups", name="VIP") == ["vip"]
    assert _names(te, "/userGroups", name="vi") == []
    assert _names(te, "/userGroups", planId=te.ids["risk"]) == ["retail"]
    assert _names(te, "/userGroups", serverId=1) == ["retail", "vip", "euro"]
    assert _names(te, "/userGroups", serverId=2) == []
    assert _names(te, "/userGroups", brandingId=99) == []
    assert _names(te, "/userGroups", limit=2) == ["retail", "vip"]
    assert _names(te, "/userGroups", offset=2, limit=1000) == ["euro"]
    for params in ({"limit": 1001}, {"limit": 0}, {"offset": "x"}, {"planId": "1.5"}):
        assert te.error(te.get("/userGroups", params=params), 400) == "1.0.0.1", params


def test_user_groups_are_created_by_admins_in_the_server_currency_by_default(te: TE) -> None:
    made = te.ok(
        te.post(
            "/userGroups",
            {"name": "demo", "brandingId": te.ids["brand"], "planId": str(te.ids["risk"])},
        )
    )

    assert (made["currency"], made["brandingId"], made["planId"]) == (
        "USD",
        te.ids["brand"],
        te.ids["risk"],
    )
    assert te.error(te.post("/userGroups", {"name": "demo"}), 400) == "1.9.0.2"
    assert te.error(te.post("/userGroups", {"name": "x", "brandingId": 99}), 404) == "1.4.0.0"
    assert te.error(te.post("/userGroups", {"name": "x", "planId": 99}), 404) == "1.4.0.0"
    assert te.error(te.post("/userGroups", {"name": "x", "currency": "??"}), 400) == "1.0.0.1"
    assert te.error(te.post("/userGroups", {"brandingId": 1}), 400) == "1.0.0.1"


def test_presets_are_listed_by_currency_and_name(te: TE) -> None:
    made = te.ok(
        te.post(
            "/accountPresets",
            {"presetName": "USD pro", "currency": "usd", "leverage": "200", "swapFree": "false"},
        )
    )

    assert made == {
        "presetId": made["presetId"],
        "presetName": "USD pro",
        "currency": "USD",
        "leverage": 200,
        "accountType": None,
        "swapFree": False,
        "description": "",
    }
    assert _names(te, "/accountPresets", "presetName") == ["EUR netted", "USD pro"]
    assert _names(te, "/accountPresets", "presetName", presetCurrency="EUR") == ["EUR netted"]
    assert _names(te, "/accountPresets", "presetName", currency="usd") == ["USD pro"]
    assert _names(te, "/accountPresets", "presetName", presetName="usd PRO") == ["USD pro"]
    assert (
        _names(te, "/accountPresets", "presetName", presetCurrency="EUR", presetName="USD pro")
        == []
    )
    assert te.error(te.get("/accountPresets", params={"presetCurrency": "978"}), 400) == "1.0.0.1"


def test_bad_presets_are_refused(te: TE) -> None:
    bodies: list[dict[str, Any]] = [
        {},
        {"presetName": ""},
        {"presetName": "x", "leverage": 0},
        {"presetName": "x", "leverage": "lots"},
        {"presetName": "x", "accountType": "CASH"},
        {"presetName": "x", "currency": "$$$"},
        {"presetName": "x", "swapFree": "maybe"},
        {"presetName": "x" * 64},
    ]
    for body in bodies:
        assert te.error(te.post("/accountPresets", body), 400) == "1.0.0.1", body
    assert te.error(te.post("/accountPresets", {"presetName": "EUR NETTED"}), 400) == "1.9.0.0"


def test_brandings_and_plans_are_created_by_admins_and_listed(te: TE) -> None:
    brand = te.ok(te.post("/brandings", {"name": "SECOND", "description": "another brand"}))
    plan = te.ok(te.post("/plans", {"name": "Swap free", "type": "swap"}))

    assert _names(te, "/brandings") == ["BESTBRAND", "SECOND"]
    assert te.ok(te.get(f"/brandings/{brand['id']}")) == brand
    assert [(p["name"], p["type"]) for p in te.ok(te.get("/plans"))] == [
        ("Standard risk", "risk"),
        ("Swap free", "swap"),
    ]
    assert _names(te, "/plans", type="swap") == ["Swap free"]
    assert plan["id"] == 2
    assert te.error(te.post("/brandings", {"name": "bestbrand"}), 400) == "1.9.0.0"
    for body in ({}, {"name": "a*b"}, {"name": "a,b"}, {"name": "!a"}, {"name": "x" * 64}):
        assert te.error(te.post("/brandings", body), 400) == "1.0.0.1", body
    assert te.error(te.post("/plans", {"name": "P", "type": "lottery"}), 400) == "1.0.0.1"
    assert te.error(te.get("/brandings/99"), 404) == "1.4.0.0"


def test_configuration_needs_admin_and_reading_it_needs_users_read(te: TE) -> None:
    rights = frozenset(SCOPES) - {"admin"}
    te.services.create_manager(CreateManager(1013, "desk", "DeskUser#1013", rights), te.admin)
    token = te.ok(sign_in(te.client, 1013, "DeskUser#1013"))["accessToken"]

    writes: list[tuple[str, dict[str, Any]]] = [
        ("/brandings", {"name": "B"}),
        ("/plans", {"name": "P"}),
        ("/accountPresets", {"presetName": "P"}),
        ("/userGroups", {"name": "G"}),
    ]
    for path, body in writes:
        assert te.error(te.post(path, body, token=token), 403) == "2.0.2.4", path
    assert len(te.ok(te.get("/brandings", token=token))) == 1
    te.services.create_manager(CreateManager(1014, "none", "NoRight#1014", frozenset()), te.admin)
    none = te.ok(sign_in(te.client, 1014, "NoRight#1014"))["accessToken"]
    for path in ("/brandings", "/plans", "/accountPresets", "/userGroups", "/users"):
        assert te.error(te.get(path, token=none), 403) == "2.0.2.4", path


def test_a_manager_of_some_white_labels_sees_only_their_brandings(te: TE) -> None:
    te.ok(te.post("/brandings", {"name": "OTHER"}))
    te.services.create_manager(
        CreateManager(
            1015, "brand desk", "BrandDesk#1015", frozenset(SCOPES), white_labels="OTHER"
        ),
        te.admin,
    )
    token = te.ok(sign_in(te.client, 1015, "BrandDesk#1015"))["accessToken"]

    assert [b["name"] for b in te.ok(te.get("/brandings", token=token))] == ["OTHER"]
    assert te.error(te.get(f"/brandings/{te.ids['brand']}", token=token), 404) == "1.4.0.0"


def test_an_admin_of_limited_reach_cannot_configure_the_server_and_an_unlimited_one_can(
    te: TE,
) -> None:
    te.services.create_manager(
        CreateManager(1016, "demo admin", "DemoAdmin#1016", frozenset(SCOPES), group_mask="demo*"),
        te.admin,
    )
    token = te.ok(sign_in(te.client, 1016, "DemoAdmin#1016"))["accessToken"]
    writes: list[tuple[str, dict[str, Any]]] = [
        ("/brandings", {"name": "B2"}),
        ("/plans", {"name": "P2"}),
        ("/accountPresets", {"presetName": "P2"}),
        ("/userGroups", {"name": "demo-g2"}),
    ]

    for path, body in writes:
        assert te.error(te.post(path, body, token=token), 403) == "2.0.2.4", path
    for path, body in writes:
        assert te.post(path, body).status_code in (200, 201), path
