"""Settings that reach past a manager's accounts through the native API: an admin limited to
`demo*` may not change a currency's approval threshold, quotes or symbols (they apply to
accounts it cannot see) and changes only groups within its reach; an admin of unlimited reach
still does all of it."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.actor import SCOPES
from brokerplane.core.group.commands import CreateGroup
from tests.dialects.native.conftest import Api

# Translation: these refusals are core rules (Actor.reaches_group and unlimited_reach in
# Python; no listing filtered in SQL is read), so SQLite only (tests/conftest.py).

NARROW = 1003  # every right, admin included, reach demo*
LABELLED = 1004  # every right, admin included, groups *, white label "acme" only


@pytest.fixture
def narrow(api: Api) -> str:
    services = api.runtime.app
    services.create_manager(
        CreateManager(NARROW, "Demo admin", "Dem0!admin-pw", group_mask="demo*"), api.admin
    )
    return services.create_api_key(CreateApiKey(NARROW, frozenset(SCOPES)), api.admin).secret


@pytest.fixture
def labelled(api: Api) -> str:
    services = api.runtime.app
    services.create_manager(
        CreateManager(LABELLED, "Acme admin", "Acm3!admin-pw", white_labels="acme"), api.admin
    )
    services.create_group(CreateGroup("acme\\usd", "USD", {"broker": "acme"}), api.admin)
    return services.create_api_key(CreateApiKey(LABELLED, frozenset(SCOPES)), api.admin).secret


def _refused(response: Any) -> None:
    assert response.status_code == 403, response.text
    body = response.json()
    assert (body["title"], body["code"]) == ("PermissionDenied", "auth.reach_too_narrow")
    assert "unlimited reach" in body["detail"]


def _thresholds(api: Api) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = api.get("/v1/approval-thresholds").json()["items"]
    return items


def test_a_limited_admin_cannot_change_a_currency_threshold_so_big_withdrawals_stay_held(
    api: Api, narrow: str
) -> None:
    assert (
        api.put("/v1/approval-thresholds", {"currency": "USD", "amount": "1000"}).status_code == 200
    )
    raise_it = {"currency": "USD", "amount": "1000000"}

    _refused(api.put("/v1/approval-thresholds", raise_it, key=narrow))
    _refused(api.put("/v1/approval-thresholds", {"currency": "USD", "amount": None}, key=narrow))

    assert [(t["currency"], t["amount"]) for t in _thresholds(api)] == [("USD", "1000.00")]
    account = api.open(group="real\\standard")
    held = api.post("/v1/balances/deposit", {"login": account["login"], "amount": "50000"})
    assert held.status_code == 202, held.text


def test_a_limited_admin_sets_a_threshold_only_for_a_group_within_reach(
    api: Api, narrow: str
) -> None:
    inside = api.put("/v1/approval-thresholds", {"group": "demo\\vip", "amount": "500"}, key=narrow)
    outside = api.put(
        "/v1/approval-thresholds", {"group": "real\\standard", "amount": "500"}, key=narrow
    )

    assert inside.status_code == 200, inside.text
    assert outside.status_code == 404 and outside.json()["code"] == "group.not_found"
    assert [t["group"] for t in _thresholds(api)] == ["demo\\vip"]


def test_a_limited_admin_cannot_set_quotes(api: Api, narrow: str) -> None:
    api.put("/v1/quotes", {"quotes": [{"symbol": "EURUSD", "bid": "1.1", "ask": "1.1002"}]})

    _refused(
        api.put(
            "/v1/quotes", {"quotes": [{"symbol": "EURUSD", "bid": "0.5", "ask": "0.6"}]}, key=narrow
        )
    )

    [held] = api.get("/v1/quotes").json()["items"]
    assert (held["bid"], held["ask"]) == ("1.10000", "1.10020")


def test_a_limited_admin_cannot_create_change_or_disable_symbols(api: Api, narrow: str) -> None:
    _refused(api.post("/v1/symbols", {"name": "USDJPY"}, key=narrow))
    _refused(api.patch("/v1/symbols/EURUSD", {"trade_mode": "DISABLED"}, key=narrow))
    _refused(api.patch("/v1/symbols/EURUSD", {"contract_size": "1"}, key=narrow))

    assert api.get("/v1/symbols/EURUSD").json()["trade_mode"] == "FULL"
    assert api.get("/v1/symbols/USDJPY").status_code == 404


def test_a_limited_admin_changes_only_groups_within_reach(api: Api, narrow: str) -> None:
    created = api.post("/v1/groups", {"name": "demo\\new", "currency": "USD"}, key=narrow)
    changed = api.patch("/v1/groups/demo%5Cvip", {"max_leverage": 200}, key=narrow)

    assert created.status_code == 201, created.text
    assert changed.status_code == 200 and changed.json()["max_leverage"] == 200
    _refused(api.post("/v1/groups", {"name": "real\\new", "currency": "USD"}, key=narrow))
    _refused(api.patch("/v1/groups/demo%5Cnew", {"name": "real\\moved"}, key=narrow))
    hidden = api.patch("/v1/groups/real%5Cstandard", {"max_leverage": 1}, key=narrow)
    unknown = api.patch("/v1/groups/nope", {"max_leverage": 1}, key=narrow)
    assert hidden.status_code == unknown.status_code == 404
    assert hidden.json()["code"] == unknown.json()["code"] == "group.not_found"
    assert api.get("/v1/groups/real%5Cstandard").json()["max_leverage"] != 1
    assert api.get("/v1/groups/real%5Cnew").status_code == 404


def test_a_white_label_admin_changes_no_group_as_other_labels_accounts_may_be_in_it(
    api: Api, labelled: str
) -> None:
    _refused(api.patch("/v1/groups/acme%5Cusd", {"max_leverage": 1}, key=labelled))
    _refused(api.patch("/v1/groups/demo-usd", {"max_leverage": 1}, key=labelled))
    _refused(api.post("/v1/groups", {"name": "other", "currency": "USD"}, key=labelled))
    _refused(api.put("/v1/approval-thresholds", {"group": "demo-usd", "amount": "1"}, key=labelled))
    assert api.get("/v1/groups/demo-usd").json()["max_leverage"] == 500
    assert api.get("/v1/groups/acme%5Cusd").json()["max_leverage"] != 1


def test_an_admin_of_unlimited_reach_still_changes_every_global_setting(api: Api) -> None:
    writes = [
        api.put("/v1/approval-thresholds", {"currency": "USD", "amount": "1000"}),
        api.put("/v1/approval-thresholds", {"group": "real\\standard", "amount": "10"}),
        api.put("/v1/quotes", {"quotes": [{"symbol": "EURUSD", "bid": "1.1", "ask": "1.2"}]}),
        api.post("/v1/symbols", {"name": "USDJPY", "digits": 3}),
        api.patch("/v1/symbols/EURUSD", {"trade_mode": "DISABLED"}),
        api.post("/v1/groups", {"name": "real\\new", "currency": "USD"}),
        api.patch("/v1/groups/real%5Cstandard", {"max_leverage": 200}),
    ]

    assert [w.status_code for w in writes] == [200, 200, 200, 201, 200, 201, 200]


def test_a_limited_admin_may_lower_its_groups_threshold_but_not_raise_or_remove_it(
    api: Api, narrow: str
) -> None:
    put = "/v1/approval-thresholds"
    assert api.put(put, {"currency": "USD", "amount": "10000"}).status_code == 200
    account = api.open(login=910077, group="demo-usd")

    raised = api.put(
        put, {"currency": "USD", "group": "demo-usd", "amount": "99999999"}, key=narrow
    )
    lowered = api.put(put, {"currency": "USD", "group": "demo-usd", "amount": "5000"}, key=narrow)
    removed = api.put(put, {"currency": "USD", "group": "demo-usd", "amount": None}, key=narrow)
    back_up = api.put(put, {"currency": "USD", "group": "demo-usd", "amount": "9000"}, key=narrow)

    for refused in (raised, removed, back_up):
        assert refused.status_code == 403, refused.text
        assert "weakens four eyes" in refused.json()["detail"]
    assert lowered.status_code == 200, lowered.text
    assert [(t["group"], t["amount"]) for t in _thresholds(api)] == [
        (None, "10000.00"),
        ("demo-usd", "5000.00"),
    ]
    deposit = {"login": account["login"], "amount": "50000"}
    assert api.post("/v1/balances/deposit", deposit, key=narrow).status_code == 202
    # an admin of unlimited reach still raises and removes it
    assert (
        api.put(put, {"currency": "USD", "group": "demo-usd", "amount": "9000"}).status_code == 200
    )
    assert api.put(put, {"currency": "USD", "group": "demo-usd", "amount": None}).status_code == 200
