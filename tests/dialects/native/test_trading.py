"""Native trading over real HTTP on both engines: quotes, market orders, positions, deals, the
trade state of an account, exposure and margin calls, and every kind of bad input."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import pytest

from brokerplane.core.access.commands import CreateApiKey, CreateManager
from brokerplane.core.account.model import RIGHT_ENABLED, RIGHT_TRADE_DISABLED
from tests.dialects.native.conftest import Api

LOGIN = 910024
PROBLEM_JSON = "application/problem+json"


def _quote(api: Api, symbol: str, bid: str, ask: str, **extra: Any) -> Any:
    body = {"quotes": [{"symbol": symbol, "bid": bid, "ask": ask, **extra}]}
    return api.put("/v1/quotes", body, key=api.feed_key())


def _order(api: Api, volume: Any = "1", side: str = "buy", login: int = LOGIN, **kw: Any) -> Any:
    body = {"login": login, "symbol": "EURUSD", "side": side, "volume": volume}
    return api.post("/v1/positions", {**body, **kw.pop("body", {})}, **kw)


def _ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def _problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    return body


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture
def account(api: Api) -> int:
    """A funded USD account (leverage 100) with EURUSD and XAUUSD quoted."""
    api.open(login=LOGIN)
    _ok(api.post("/v1/balances/deposit", {"login": LOGIN, "amount": "10000"}))
    _ok(_quote(api, "EURUSD", "1.10000", "1.10020"))
    _ok(_quote(api, "XAUUSD", "2000.00", "2000.50"))
    return LOGIN


# ---- quotes ---------------------------------------------------------------------------------


def test_quotes_batch_is_rounded_timed_and_read_back(api: Api) -> None:
    body = {
        "quotes": [
            {"symbol": "EURUSD", "bid": "1.123456", "ask": 1.1235, "time": "2026-01-02T10:00:00Z"},
            {"symbol": "XAUUSD", "bid": 2000, "ask": "2000.5", "time": 1767348000000},
        ]
    }
    stored = _ok(api.put("/v1/quotes", body))
    assert stored == {"items": [
        {"symbol": "EURUSD", "bid": "1.12346", "ask": "1.12350", "time": "2026-01-02T10:00:00Z"},
        {"symbol": "XAUUSD", "bid": "2000.00", "ask": "2000.50", "time": "2026-01-02T10:00:00Z"},
    ]}  # fmt: skip
    assert _ok(api.get("/v1/quotes")) == stored
    assert _ok(api.get("/mt4/manager/quotes?symbol=XAUUSD"))["items"] == stored["items"][1:]
    # An older quote leaves the held one.
    _quote(api, "EURUSD", "1.0", "1.0", time="2026-01-02T09:59:59Z")
    assert _ok(api.get("/v1/quotes?symbol=EURUSD"))["items"][0]["bid"] == "1.12346"


def test_bad_quotes_store_nothing(api: Api) -> None:
    good = {"symbol": "EURUSD", "bid": "1.1", "ask": "1.2"}
    batch = {"quotes": [good, {"symbol": "NOPE", "bid": "1", "ask": "2"}]}
    _problem(api.put("/v1/quotes", batch), 404, "symbol.not_found")
    _problem(_quote(api, "EURUSD", "1.2", "1.1"), 400, "validation.invalid")
    _problem(_quote(api, "EURUSD", "-1", "1.1"), 400, "validation.invalid")
    _problem(_quote(api, "EURUSD", "abc", "1.1"), 400, "validation.invalid")
    for huge_or_tiny in ("1e999999", "1e-999999", "1000000001", "0.000001"):
        refused = _problem(_quote(api, "EURUSD", huge_or_tiny, "1.1"), 400, "validation.invalid")
        assert refused["errors"][0]["field"] == "quotes[0].bid"
    bad_time = _problem(
        _quote(api, "EURUSD", "1.1", "1.2", time="yesterday"), 400, "validation.invalid"
    )
    assert bad_time["errors"][0]["field"] == "quotes[0].time"
    for digits_only_to_isdigit in ("²", "17²"):  # str.isdigit takes superscripts, int() not
        refused = _problem(
            _quote(api, "EURUSD", "1.1", "1.2", time=digits_only_to_isdigit),
            400,
            "validation.invalid",
        )
        assert refused["errors"][0]["field"] == "quotes[0].time"
    _problem(api.put("/v1/quotes", {"quotes": []}), 400, "validation.invalid")
    _problem(api.put("/v1/quotes", {"quotes": [{**good, "extra": 1}]}), 400, "validation.invalid")
    reader = api.key("users:read")
    _problem(api.put("/v1/quotes", {"quotes": [good]}, key=reader), 403, "auth.missing_scope")
    assert _ok(api.get("/v1/quotes", key=reader)) == {"items": []}


# ---- orders ---------------------------------------------------------------------------------


def test_open_answers_the_deal_the_position_and_the_account_figures(api: Api, account: int) -> None:
    body = _ok(_order(api, "1", body={"comment": "first"}), 201)
    deal, position = body["deal"], body["position"]
    assert deal == {
        "id": deal["id"],
        "login": LOGIN,
        "position_id": position["id"],
        "symbol": "EURUSD",
        "side": "buy",
        "entry": "in",
        "volume": "1.00",
        "price": "1.10020",
        "price_position": "1.10020",
        "profit": "0.00",
        "currency": "USD",
        "rate_profit": "1",
        "comment": "first",
        "time": deal["time"],
        "position_opened_at": deal["time"],
        "manager_login": 1000,
    }
    assert position == {
        "id": position["id"],
        "login": LOGIN,
        "symbol": "EURUSD",
        "side": "buy",
        "volume": "1.00",
        "price_open": "1.10020",
        "price_current": "1.10000",
        "profit": "-20.00",
        "margin": "1100.10",
        "currency": "USD",
        "contract_size": "100000",
        "comment": "first",
        "opened_at": deal["time"],
        "updated_at": deal["time"],
    }
    # margin: 1 lot x 100000 x mid 1.1001 / leverage 100
    assert body["account"] == {
        "login": LOGIN,
        "currency": "USD",
        "leverage": 100,
        "balance": "10000.00",
        "credit": "0.00",
        "bonus": "0.00",
        "profit": "-20.00",
        "equity": "9980.00",
        "margin": "1100.10",
        "free_margin": "8879.90",
        "margin_level": "907.19",
    }
    assert _ok(api.get(f"/v1/users/{LOGIN}/trade-state")) == body["account"]
    assert _ok(api.get(f"/v1/positions/{position['id']}")) == position
    assert _ok(api.get(f"/v1/deals/{deal['id']}")) == deal


def test_a_manager_cannot_trade_against_a_quote_it_set_itself(api: Api, account: int) -> None:
    opened = _ok(_order(api, "1"), 201)["position"]  # at the feed's quote
    own = {"quotes": [{"symbol": "EURUSD", "bid": "1.50000", "ask": "1.50000"}]}
    _ok(api.put("/v1/quotes", own))  # the admin key also holds quotes:write

    refused_close = api.post(f"/v1/positions/{opened['id']}/close")
    refused_open = _order(api, "10")

    for refused in (refused_close, refused_open):
        body = _problem(refused, 403, "trade.self_quoted")
        assert body["title"] == "PermissionDenied" and "EURUSD" in body["detail"]
    assert _ok(api.get(f"/v1/users/{LOGIN}"))["balance"] == "10000.00"
    assert len(_ok(api.get(f"/v1/positions?login={LOGIN}"))["items"]) == 1
    # once the feed quotes the symbol again, the manager trades as before
    _ok(_quote(api, "EURUSD", "1.10000", "1.10020"))
    assert api.post(f"/v1/positions/{opened['id']}/close").status_code == 200


def _dealer_key(api: Api, login: int, *scopes: str) -> str:
    """A key for manager `login`, minted by the admin key of manager 1000 over HTTP."""
    services = api.runtime.app
    if services.get_manager(login) is None:
        services.create_manager(CreateManager(login, f"Dealer {login}", "Deal3r!pw"), api.admin)
    minted = api.post("/v1/keys", {"manager_login": login, "scopes": list(scopes)})
    return str(_ok(minted, 201)["key"])


def test_a_manager_cannot_trade_against_quotes_set_with_a_key_it_minted_for_another(
    api: Api, account: int
) -> None:
    opened = _ok(_order(api, "1"), 201)["position"]  # at the feed's quote
    dealer = _dealer_key(api, 2010, "quotes:write")
    own = {"quotes": [{"symbol": "EURUSD", "bid": "1.30000", "ask": "1.30000"}]}
    _ok(api.put("/v1/quotes", own, key=dealer))

    refused_close = api.post(f"/v1/positions/{opened['id']}/close")  # 1000's own key
    refused_open = _order(api, "10")

    for refused in (refused_close, refused_open):
        _problem(refused, 403, "trade.self_quoted")
    assert _ok(api.get(f"/v1/users/{LOGIN}"))["balance"] == "10000.00"
    assert len(_ok(api.get(f"/v1/positions?login={LOGIN}"))["items"]) == 1


def test_a_manager_trades_against_quotes_set_by_a_manager_behind_none_of_its_keys(
    api: Api, account: int
) -> None:
    opened = _ok(_order(api, "1"), 201)["position"]
    services = api.runtime.app
    services.create_manager(CreateManager(2011, "Dealer 2011", "Deal3r!pw"), api.admin)
    dealer = services.create_api_key(CreateApiKey(2011, frozenset({"quotes:write"})), api.admin)
    own = {"quotes": [{"symbol": "EURUSD", "bid": "1.10500", "ask": "1.10520"}]}
    _ok(api.put("/v1/quotes", own, key=dealer.secret))

    closed = _ok(api.post(f"/v1/positions/{opened['id']}/close"))

    assert closed["deal"]["profit"] == "480.00" and closed["account"]["balance"] == "10480.00"


def test_partial_and_full_close_realise_profit_into_the_balance(api: Api, account: int) -> None:
    opened = _ok(_order(api, "1"), 201)["position"]
    _ok(_quote(api, "EURUSD", "1.10520", "1.10540"))
    assert _ok(api.get(f"/v1/positions/{opened['id']}"))["profit"] == "500.00"
    part = _ok(api.post(f"/v1/positions/{opened['id']}/close", {"volume": "0.4"}))
    assert part["deal"]["entry"] == "out" and part["deal"]["side"] == "sell"
    assert part["deal"]["profit"] == "200.00" and part["deal"]["volume"] == "0.40"
    assert part["position"]["volume"] == "0.60"
    assert part["account"]["balance"] == "10200.00"
    rest = _ok(api.post(f"/v1/positions/{opened['id']}/close"))
    assert rest["position"] is None and rest["deal"]["profit"] == "300.00"
    assert rest["account"] == {
        **rest["account"],
        "balance": "10500.00",
        "margin": "0.00",
        "profit": "0.00",
        "margin_level": "0.00",
    }
    assert _ok(api.get("/v1/positions")) == {"items": [], "next_cursor": None}
    deals = _ok(api.get(f"/v1/deals?login={LOGIN}"))["items"]
    assert [(d["entry"], d["profit"]) for d in deals] == [
        ("in", "0.00"),
        ("out", "200.00"),
        ("out", "300.00"),
    ]
    trades = _ok(api.get(f"/v1/balances/history?login={LOGIN}&kind=trade"))["items"]
    assert [t["operation_id"] for t in trades] == [d["id"] for d in deals]
    _problem(api.post(f"/v1/positions/{opened['id']}/close"), 404, "trade.position_not_found")


def test_a_netted_account_nets_orders_into_one_position(api: Api, account: int) -> None:
    api.open(login=LOGIN + 1, account_type="NETTED")
    _ok(api.post("/v1/balances/deposit", {"login": LOGIN + 1, "amount": "10000"}))
    first = _ok(_order(api, "1", login=LOGIN + 1), 201)
    closed = _ok(_order(api, "1", side="sell", login=LOGIN + 1), 201)
    assert closed["position"] is None and closed["deal"]["entry"] == "out"
    assert closed["deal"]["position_id"] == first["position"]["id"]
    assert closed["deal"]["profit"] == "-20.00"


def test_the_same_request_id_opens_and_closes_once(api: Api, account: int) -> None:
    first = _order(api, "0.5", headers={"x-request-id": "order-1"})
    again = _order(api, "0.5", headers={"x-request-id": "order-1"})
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replay"] == "true" and again.json() == first.json()
    _problem(
        _order(api, "0.6", headers={"x-request-id": "order-1"}), 409, "request.already_applied"
    )
    positions = _ok(api.get("/v1/positions"))["items"]
    assert [p["volume"] for p in positions] == ["0.50"]
    pid = positions[0]["id"]
    close = [
        api.post(
            f"/v1/positions/{pid}/close", {"volume": "0.1"}, headers={"Idempotency-Key": "close-1"}
        )
        for _ in range(2)
    ]
    assert close[0].json() == close[1].json() and close[1].headers["Idempotent-Replay"] == "true"
    assert _ok(api.get(f"/v1/positions/{pid}"))["volume"] == "0.40"
    assert len(_ok(api.get("/v1/deals"))["items"]) == 2


@pytest.mark.parametrize(
    ("volume", "field_message"),
    [
        ("0", "positive"),
        ("-1", "positive"),
        ("abc", "decimal"),
        ("0.015", "multiple"),
        ("1000", "between"),
        ("0.00001", "decimals"),
        ("1e999999", "between"),
        ("1e-999999", "decimals"),
    ],
)
def test_bad_volumes_are_refused_and_nothing_executes(
    api: Api, account: int, volume: str, field_message: str
) -> None:
    body = _problem(_order(api, volume), 400, "trade.invalid_volume")
    assert body["errors"][0]["field"] == "volume"
    assert field_message in body["errors"][0]["message"]
    assert _ok(api.get("/v1/deals"))["items"] == []


def test_bad_orders_get_clear_errors_and_execute_nothing(api: Api, account: int) -> None:
    _problem(_order(api, body={"symbol": "NOPE"}), 404, "symbol.not_found")
    _problem(_order(api, login=999999), 404, "account.not_found")
    _problem(_order(api, side="hold"), 400, "validation.invalid")
    _problem(_order(api, volume=None), 400, "validation.invalid")
    _problem(_order(api, volume=True), 400, "validation.invalid")
    _problem(_order(api, body={"login": "x"}), 400, "validation.invalid")
    _problem(api.post("/v1/positions", [1, 2]), 400, "validation.invalid")
    api.post("/v1/symbols", {"name": "GBPUSD"})
    body = _problem(_order(api, body={"symbol": "GBPUSD"}), 409, "trade.no_quote")
    assert body["detail"] == "no quote for GBPUSD"
    margin = _problem(_order(api, "50"), 400, "ledger.insufficient_funds")
    assert margin["figure"] == "free_margin"
    reader = api.key("users:read", "reports:read")
    _problem(_order(api, key=reader), 403, "auth.missing_scope")
    api.patch(f"/v1/users/{LOGIN}", {"rights": RIGHT_ENABLED | RIGHT_TRADE_DISABLED})
    disabled = _problem(_order(api), 403, "trade.disabled")
    assert "TRADE_DISABLED" in disabled["detail"]
    api.patch(f"/v1/users/{LOGIN}", {"rights": RIGHT_ENABLED, "access_rights": "NO_TRADING"})
    assert "NO_TRADING" in _problem(_order(api), 403, "trade.disabled")["detail"]
    assert _ok(api.get("/v1/deals"))["items"] == []
    assert _ok(api.get(f"/v1/users/{LOGIN}"))["balance"] == "10000.00"


def test_unknown_and_garbage_ids(api: Api, account: int) -> None:
    _problem(api.get("/v1/positions/424242"), 404, "trade.position_not_found")
    _problem(api.post("/v1/positions/424242/close"), 404, "trade.position_not_found")
    _problem(api.get("/v1/deals/424242"), 404, "trade.deal_not_found")
    for path in (
        "/v1/positions/abc",
        "/v1/deals/-1",
        "/v1/positions/99999999999999999999",
        "/v1/deals/0",
    ):
        _problem(api.get(path), 400, "validation.invalid")
    _problem(api.post("/v1/positions/1/close", {"volume": "x"}), 404, "trade.position_not_found")
    pid = _ok(_order(api, "0.1"), 201)["position"]["id"]
    _problem(api.post(f"/v1/positions/{pid}/close", {"volume": "0.2"}), 400, "trade.invalid_volume")
    _problem(api.post(f"/v1/positions/{pid}/close", {"volume": "0"}), 400, "trade.invalid_volume")
    _problem(api.get("/v1/positions?cursor=garbage"), 400, "validation.invalid")
    _problem(api.get("/v1/positions?limit=0"), 400, "validation.invalid")
    _problem(api.get("/v1/positions?login=abc"), 400, "validation.invalid")
    _problem(api.get("/v1/deals?from=someday"), 400, "validation.invalid")
    _problem(api.get("/v1/users/999999/trade-state"), 404, "account.not_found")


# ---- reads ----------------------------------------------------------------------------------


def test_position_and_deal_lists_filter_and_page(api: Api, account: int) -> None:
    api.open(login=LOGIN + 1, group="demo\\vip")
    _ok(api.post("/v1/balances/deposit", {"login": LOGIN + 1, "amount": "50000"}))
    ids = [_ok(_order(api, "0.1"), 201)["position"]["id"] for _ in range(3)]
    gold = _ok(_order(api, "0.1", body={"symbol": "XAUUSD", "login": LOGIN + 1}), 201)
    first = _ok(api.get("/v1/positions?limit=2"))
    rest = _ok(api.get(f"/v1/positions?limit=2&cursor={first['next_cursor']}"))
    assert [p["id"] for p in first["items"] + rest["items"]] == [*ids, gold["position"]["id"]]
    end = _ok(api.get(f"/v1/positions?limit=2&cursor={rest['next_cursor']}"))
    assert end == {"items": [], "next_cursor": None}
    only_vip = _ok(api.get("/v1/positions", params={"group": "demo\\*"}))["items"]
    assert [p["symbol"] for p in only_vip] == ["XAUUSD"]
    assert [p["login"] for p in _ok(api.get("/v1/positions?symbol=XAUUSD"))["items"]] == [LOGIN + 1]
    assert len(_ok(api.get(f"/v1/positions?login={LOGIN},{LOGIN + 1}"))["items"]) == 4
    deals = _ok(api.get("/v1/deals?limit=3"))
    more = _ok(api.get(f"/v1/deals?limit=3&cursor={deals['next_cursor']}"))
    assert len(deals["items"]) == 3 and len(more["items"]) == 1
    by_position = _ok(api.get(f"/v1/deals?position={ids[0]}"))["items"]
    assert [d["position_id"] for d in by_position] == [ids[0]]
    assert _ok(api.get("/v1/deals?from=2999-01-01"))["items"] == []
    reports = api.key("reports:read")
    assert len(_ok(api.get("/v1/positions", key=reports))["items"]) == 4
    _problem(api.get("/v1/positions", key=api.key("balances:write")), 403, "auth.missing_scope")


def test_exposure_json_and_csv_add_up(api: Api, account: int) -> None:
    api.open(login=LOGIN + 1, group="demo\\vip")
    _ok(api.post("/v1/balances/deposit", {"login": LOGIN + 1, "amount": "50000"}))
    _ok(_order(api, "1"), 201)
    _ok(_order(api, "0.3", side="sell"), 201)
    _ok(_order(api, "2", login=LOGIN + 1), 201)
    _ok(_order(api, "0.5", body={"symbol": "XAUUSD", "login": LOGIN + 1}), 201)
    report = _ok(api.get("/v1/reports/exposure"))
    assert report["currency"] == "USD"
    assert [(x["symbol"], x["group"]) for x in report["lines"]] == [
        ("EURUSD", "demo-usd"),
        ("EURUSD", "demo\\vip"),
        ("XAUUSD", "demo\\vip"),
    ]
    eur = report["symbols"][0]
    assert eur == {
        "symbol": "EURUSD",
        "group": "*",
        "accounts": 2,
        "positions": 3,
        "buy_lots": "3.00",
        "sell_lots": "0.30",
        "net_lots": "2.70",
        "gross_lots": "3.30",
        # 2.7 lots x 100000 x mid 1.1001; buys lose the spread 3 x 20, the sell 0.3 x 20
        "net_notional": "297027.00",
        "gross_notional": "363033.00",
        "client_profit": "-66.00",
    }
    total = report["total"]
    assert total["accounts"] == 2 and total["positions"] == 4
    rows = _rows(api.get("/v1/reports/exposure", headers={"Accept": "text/csv"}).text)
    lines = [r for r in rows if r["level"] == "line"]
    assert len(lines) == 3
    for column in (
        "positions",
        "buy_lots",
        "sell_lots",
        "net_notional",
        "gross_notional",
        "client_profit",
    ):
        assert sum(Decimal(r[column]) for r in lines) == Decimal(str(total[column])), column
    (csv_total,) = [r for r in rows if r["level"] == "total"]
    assert csv_total["gross_notional"] == total["gross_notional"]
    assert csv_total["currency"] == "USD"
    vip = _ok(api.get("/v1/reports/exposure", params={"group": "demo\\*", "symbol": "EUR*"}))
    assert [(x["symbol"], x["group"]) for x in vip["lines"]] == [("EURUSD", "demo\\vip")]
    csv_text = api.get("/mt4/manager/reports/exposure?format=csv&symbol=NONE").text
    assert [r["level"] for r in _rows(csv_text)] == ["total"]
    in_eur = _ok(api.get("/v1/reports/exposure?currency=eur"))
    assert in_eur["currency"] == "EUR"
    assert Decimal(in_eur["symbols"][0]["net_notional"]) == Decimal("270000.00")  # 2.7 lots EUR
    _problem(api.get("/v1/reports/exposure?currency=JPY"), 409, "trade.no_quote")
    _problem(api.get("/v1/reports/exposure?currency=U$D"), 400, "validation.invalid")
    _problem(api.get("/v1/reports/exposure?format=xml"), 400, "validation.invalid")
    _problem(api.get("/v1/reports/exposure", key=api.key("users:read")), 403, "auth.missing_scope")


def test_margin_calls_list_accounts_below_their_level(api: Api, account: int) -> None:
    _ok(_order(api, "8"), 201)  # margin 8801 on an equity of about 10000
    assert _ok(api.get("/v1/reports/margin-calls")) == {"items": []}
    _ok(_quote(api, "EURUSD", "1.09000", "1.09020"))  # equity 10000 - 8160 = 1840
    (call,) = _ok(api.get("/v1/reports/margin-calls"))["items"]
    state = _ok(api.get(f"/v1/users/{LOGIN}/trade-state"))
    assert call == {
        "login": LOGIN,
        "group": "demo-usd",
        "currency": "USD",
        "balance": "10000.00",
        "credit": "0.00",
        "equity": state["equity"],
        "margin": state["margin"],
        "free_margin": state["free_margin"],
        "margin_level": state["margin_level"],
        "margin_call": "100.00",
        "stop_out": "50.00",
        "state": "stop_out",
    }
    rows = _rows(api.get("/v1/reports/margin-calls?format=csv").text)
    assert rows == [{k: str(v) for k, v in call.items()}]
    _problem(
        api.get("/v1/reports/margin-calls", key=api.key("users:read")), 403, "auth.missing_scope"
    )


def test_openapi_documents_every_trading_route_with_its_errors(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    paths = spec["paths"]
    routes = (
        ("/v1/quotes", "put"),
        ("/v1/quotes", "get"),
        ("/v1/positions", "post"),
        ("/v1/positions", "get"),
        ("/v1/positions/{position_id}", "get"),
        ("/v1/positions/{position_id}/close", "post"),
        ("/v1/deals", "get"),
        ("/v1/deals/{deal_id}", "get"),
        ("/v1/users/{login}/trade-state", "get"),
        ("/v1/reports/exposure", "get"),
        ("/v1/reports/margin-calls", "get"),
    )
    for path, method in routes:
        assert method in paths[path], (path, method)
        assert "200" in paths[path][method]["responses"] or path == "/v1/positions"
    order = paths["/v1/positions"]["post"]["responses"]
    assert {"201", "400", "401", "403", "404", "409", "429", "503"} <= set(order)
    assert "text/csv" in paths["/v1/reports/exposure"]["get"]["responses"]["200"]["content"]
