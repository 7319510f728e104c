"""GET /audit: the hash-chained trail of every write, with its filters and paging."""

from __future__ import annotations

from typing import Any

import pytest

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from tests.dialects.native.conftest import Api

LOGIN = 910024


def _audit(api: Api, key: str | None = None, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/v1/audit", key=key, params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def _deposit(api: Api, amount: str, key: str | None = None, **headers: str) -> dict[str, Any]:
    response = api.post(
        "/v1/balances/deposit", {"login": LOGIN, "amount": amount}, key=key, headers=headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def account(api: Api) -> int:
    return int(api.open(login=LOGIN)["login"])


def test_a_posted_entry_is_audited_with_figures_before_and_after_and_who(
    api: Api, account: int
) -> None:
    _deposit(api, "100")
    _deposit(api, "100")
    api.post("/v1/balances/credit", {"login": LOGIN, "amount": "30"})
    posted = _deposit(api, "12.34", **{"x-operator-id": "ops-7", "x-request-id": "req-77"})
    records = _audit(api, action="ledger.entry_posted", request_id="req-77")
    assert len(records) == 1
    rec = records[0]
    assert (rec["entity_type"], rec["entity_id"]) == ("account", str(LOGIN))
    assert (rec["manager_login"], rec["operator_id"], rec["request_id"], rec["dialect"]) == (
        1000,
        "ops-7",
        "req-77",
        "native",
    )
    assert rec["key_id"] and rec["hash"] and rec["at"].endswith("Z")
    assert rec["before"] == {"balance": 20000, "credit": 3000, "bonus": 0}
    after = rec["after"]
    assert {k: after[k] for k in ("balance", "credit", "bonus")} == {
        "balance": 21234,
        "credit": 3000,
        "bonus": 0,
    }
    entry = after["entry"]
    assert (entry["id"], entry["kind"], entry["amount"], entry["balance_after"]) == (
        posted["operation_id"],
        "deposit",
        1234,
        21234,
    )
    assert entry["currency"] == "USD"


def test_a_refused_operation_leaves_no_ledger_record(api: Api, account: int) -> None:
    before = _audit(api)
    response = api.post("/v1/balances/withdraw", {"login": LOGIN, "amount": "1"})
    assert response.status_code == 400
    assert _audit(api) == before


def test_filter_by_entity_type_and_id(api: Api, account: int) -> None:
    other = api.open(login=910025)["login"]
    _deposit(api, "1")
    api.post("/v1/balances/deposit", {"login": other, "amount": "2"})
    mine = _audit(api, entity_type="account", entity_id=str(LOGIN))
    assert [r["action"] for r in mine] == ["account.opened", "ledger.entry_posted"]
    groups = _audit(api, entity_type="group")
    assert [r["entity_id"] for r in groups] == [
        "demo-usd",
        "demo-eur",
        "demo\\vip",
        "real\\standard",
    ]
    assert [r["action"] for r in _audit(api, entity_type="group", entity_id="demo-eur")] == [
        "group.created"
    ]


def test_filter_by_exact_action_and_by_prefix(api: Api, account: int) -> None:
    _deposit(api, "1")
    api.patch(f"/v1/users/{LOGIN}", {"leverage": 50})
    assert [r["action"] for r in _audit(api, action="ledger.entry_posted")] == [
        "ledger.entry_posted"
    ]
    assert _audit(api, action="ledger.entry") == []  # exact, not a prefix
    accounts = [r["action"] for r in _audit(api, action="account.")]
    assert accounts == ["account.opened", "account.updated"]
    assert {r["action"].split(".")[0] for r in _audit(api, action="group.")} == {"group"}


def test_filter_by_manager(api: Api, account: int) -> None:
    services = api.runtime.app
    services.create_manager(CreateManager(2000, "Other", "Oth3r!pwd"), api.admin)
    other = services.create_api_key(CreateApiKey(2000, frozenset({"balances:write"})), api.admin)
    _deposit(api, "1")
    _deposit(api, "2", key=other.secret)
    theirs = _audit(api, manager=2000)
    assert [(r["action"], r["after"]["entry"]["amount"]) for r in theirs] == [
        ("ledger.entry_posted", 200)
    ]
    mine = _audit(api, manager=1000, action="ledger.")
    assert [r["after"]["entry"]["amount"] for r in mine] == [100]


def test_filter_by_request_id_and_operator_id(api: Api, account: int) -> None:
    _deposit(api, "1", **{"x-operator-id": "alice", "x-request-id": "r-1"})
    _deposit(api, "2", **{"x-operator-id": "bob", "x-request-id": "r-2"})
    _deposit(api, "3", **{"x-operator-id": "alice", "x-request-id": "r-3"})
    by_operator = _audit(api, operator_id="alice")
    assert [r["request_id"] for r in by_operator] == ["r-1", "r-3"]
    by_request = _audit(api, request_id="r-2")
    assert [(r["operator_id"], r["after"]["entry"]["amount"]) for r in by_request] == [("bob", 200)]
    assert _audit(api, operator_id="carol") == []


def test_filter_by_time_range_with_an_exclusive_end(api: Api, account: int) -> None:
    for amount in ("1", "2", "3"):
        _deposit(api, amount)
    ledger = _audit(api, action="ledger.")
    times = [r["at"] for r in ledger]
    assert len(set(times)) == 3

    def amounts(**params: str) -> list[int]:
        found = _audit(api, action="ledger.", **params)
        return [r["after"]["entry"]["amount"] for r in found]

    assert amounts(**{"from": times[1]}) == [200, 300]
    assert amounts(to=times[1]) == [100]
    assert amounts(**{"from": times[1], "to": times[2]}) == [200]


def test_cursor_paging_gives_every_record_exactly_once_in_order(api: Api, account: int) -> None:
    for n in range(1, 6):
        _deposit(api, str(n))
    everything = [r["id"] for r in _audit(api, limit=1000)]
    assert everything == sorted(everything) and len(everything) > 7
    seen: list[int] = []
    params: dict[str, Any] = {"limit": 3}
    while True:
        page = api.get("/v1/audit", params=params).json()
        assert len(page["items"]) <= 3
        seen += [r["id"] for r in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {"limit": 3, "cursor": page["next_cursor"]}
    assert seen == everything
    ledger_pages: list[int] = []
    params = {"limit": 2, "action": "ledger."}
    while True:
        page = api.get("/v1/audit", params=params).json()
        ledger_pages += [r["after"]["entry"]["amount"] for r in page["items"]]
        if page["next_cursor"] is None:
            break
        params = {**params, "cursor": page["next_cursor"]}
    assert ledger_pages == [100, 200, 300, 400, 500]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"cursor": "bogus"}, "cursor"),
        ({"cursor": "ZW50cnk6MQ"}, "cursor"),
        ({"from": "soon"}, "from"),
    ],  # an entry cursor
)
def test_bad_audit_queries_are_400_naming_the_parameter(
    api: Api, params: dict[str, Any], field: str
) -> None:
    response = api.get("/v1/audit", params=params)
    assert response.status_code == 400, response.text
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("scopes", "status"),
    [
        (("reports:read",), 200),
        (("admin",), 200),
        (("balances:write", "balances:approve", "users:read", "users:write"), 403),
    ],
)
def test_reading_the_audit_needs_reports_read(
    api: Api, scopes: tuple[str, ...], status: int
) -> None:
    response = api.get("/v1/audit", key=api.key(*scopes))
    assert response.status_code == status
    if status == 403:
        assert response.json()["title"] == "PermissionDenied"


def test_the_mt4_manager_alias_serves_the_same_audit(api: Api, account: int) -> None:
    _deposit(api, "1")
    v1 = api.get("/v1/audit", params={"action": "ledger."}).json()
    mt4 = api.get("/mt4/manager/audit", params={"action": "ledger."}).json()
    assert v1 == mt4 and len(v1["items"]) == 1
