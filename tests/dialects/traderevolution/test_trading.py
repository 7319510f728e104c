"""Trading through TraderEvolution: webhooks placed with a user's webhook key (signed, or with
the secret for TradingView), which trade only that user's accounts and execute nothing on any
refusal; replays; the back office's positions list and accounts' real figures."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from brokerplane.api.traderevolution.wire import Throttle
from brokerplane.core.account.commands import DisableAccount
from brokerplane.core.backoffice import webhooks
from brokerplane.core.backoffice.model import REPLAY_WINDOW
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.core.trading.commands import QuoteInput
from brokerplane.core.trading.model import DealQuery
from brokerplane.settings import MIN_RETENTION, Settings
from brokerplane.storage import tables
from tests.dialects.traderevolution.conftest import BASE, TE, USER_PASSWORD, sign_in

FX = {
    "currency_base": "EUR",
    "currency_profit": "USD",
    "currency_margin": "EUR",
    "digits": 5,
    "contract_size": "100000",
}
ORDERS = "/webhooks/orders"


class Trader:
    """A TE user with a funded account and a webhook key."""

    def __init__(self, te: TE, login: str, deposit: str = "10000") -> None:
        made = te.create_user(login)
        self.user_id: int = made["id"]
        self.account: int = made["accounts"][0]["id"]
        te.ok(
            te.post(
                "/accountOperations",
                {"accountId": self.account, "amount": deposit, "operationTypeId": 2},
            )
        )
        key = te.ok(te.post("/webhookskeys", {"userId": self.user_id, "name": login}))
        self.key_id: int = key["id"]
        self.api_key: str = key["apiKey"]
        self.secret: str = key["secretKey"]


@pytest.fixture
def market(te: TE) -> TE:
    """EURUSD quoted at 1.10000/1.10020; GBPUSD exists without a quote."""
    te.services.create_symbol(CreateSymbol("EURUSD", FX), te.admin)
    te.services.create_symbol(CreateSymbol("GBPUSD", {**FX, "currency_base": "GBP"}), te.admin)
    quote(te, "1.10000", "1.10020")
    return te


def quote(te: TE, bid: str, ask: str) -> None:
    te.services.set_quotes([QuoteInput("EURUSD", bid, ask)], te.admin)


def fresh(body: dict[str, Any]) -> dict[str, Any]:
    """The body with an id of its own and the current time, as every webhook must carry."""
    return {"id": uuid.uuid4().hex, "timestamp": int(time.time() * 1000), **body}


def send(
    te: TE,
    trader: Trader,
    body: Any,
    *,
    path: str = ORDERS,
    signed: bool = True,
    headers: dict[str, str] | None = None,
    stamp: bool = True,
) -> httpx.Response:
    """POST a webhook with the key in X-Api-Key and, when `signed`, the body's signature; a
    dict body gets an id and a timestamp unless it has them (or `stamp` is False)."""
    if isinstance(body, dict) and stamp:
        body = fresh(body)
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {"X-Api-Key": trader.api_key, "Content-Type": "application/json"}
    if signed:
        sent["X-Signature"] = webhooks.sign(trader.secret, raw)
    sent.update(headers or {})
    result: httpx.Response = te.client.post(BASE + path, content=raw, headers=sent)
    return result


def deals_of(te: TE, login: int) -> list[Any]:
    return te.services.list_deals(DealQuery(login=login), te.admin)


def test_a_signed_webhook_opens_a_position_named_after_its_key(market: TE) -> None:
    te = market
    alice = Trader(te, "alice")

    done = te.ok(
        send(
            te,
            alice,
            {
                "symbol": "EURUSD",
                "side": "buy",
                "volume": 0.1,
                "accountId": alice.account,
                "comment": "tv alert",
            },
        )
    )

    (deal,) = done["deals"]
    (position,) = done["positions"]
    assert set(done) == {"accountId", "webhookKeyId", "deals", "positions", "account"}
    assert (done["accountId"], done["webhookKeyId"]) == (alice.account, alice.key_id)
    assert {
        k: deal[k]
        for k in (
            "accountId",
            "positionId",
            "symbol",
            "side",
            "entry",
            "quantity",
            "price",
            "profit",
            "comment",
        )
    } == {
        "accountId": alice.account,
        "positionId": position["id"],
        "symbol": "EURUSD",
        "side": "buy",
        "entry": "in",
        "quantity": 0.1,
        "price": 1.1002,
        "profit": 0,
        "comment": "tv alert",
    }
    state = te.services.get_trade_state(alice.account, te.admin)
    assert done["account"]["equity"] == float(state.equity) == 9998.0
    assert done["account"]["usedMargin"] == float(state.margin) > 0
    assert done["account"]["freeMargin"] == float(state.margin_free)
    (entry,) = te.services.list_ledger(LedgerQuery(login=alice.account, kinds=("trade",)), te.admin)
    assert entry.id == deal["id"]
    assert entry.operator_id == f"webhook key {alice.key_id} of user {alice.user_id}"
    assert (entry.dialect, entry.manager_login) == ("traderevolution", None)
    listed = te.ok(te.get("/positions", params={"accountId": alice.account}))
    assert [p["id"] for p in listed] == [position["id"]]


def test_tradingview_sends_the_secret_and_closes_by_symbol(market: TE) -> None:
    te = market
    bob = Trader(te, "bob")
    alert = {"apiKey": bob.api_key, "secret": bob.secret, "symbol": "EURUSD"}
    timenow = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")  # {{timenow}}

    for n, volume in enumerate(("0.2", 0.3)):  # {{strategy.order.contracts}} quoted or not
        body = {**alert, "action": "BUY", "volume": volume, "id": f"tv-{n}", "timestamp": timenow}
        opened = te.client.post(BASE + "/webhook", json=body)
        assert opened.status_code == 200, opened.text
    quote(te, "1.10520", "1.10540")
    closed = te.ok(te.client.post(BASE + "/webhook", json=fresh({**alert, "action": "Close"})))

    assert [(d["entry"], d["side"], d["quantity"]) for d in closed["deals"]] == [
        ("out", "sell", 0.2),
        ("out", "sell", 0.3),
    ]
    # 0.5 lot bought at 1.10020, sold at 1.10520: 0.00500 x 50000 = 250.00
    assert sum(Decimal(str(d["profit"])) for d in closed["deals"]) == Decimal("250")
    assert closed["positions"] == []
    assert closed["account"]["balance"] == 10250 and closed["account"]["usedMargin"] == 0
    assert te.ok(te.get("/positions", params={"userId": bob.user_id})) == []
    nothing = te.client.post(BASE + "/webhook", json=fresh({**alert, "action": "close"}))
    assert te.error(nothing, 404) == "1.4.0.0"


def test_refused_webhooks_execute_nothing(market: TE) -> None:
    te = market
    alice, mallory = Trader(te, "alice"), Trader(te, "mallory")
    order = {"symbol": "EURUSD", "side": "buy", "volume": "0.1"}
    raw = json.dumps(fresh(order)).encode()
    cases: list[tuple[httpx.Response, int, str]] = [
        (
            send(te, alice, raw, headers={"X-Signature": webhooks.sign(alice.secret, raw + b" ")}),
            401,
            "1.2.0.1",
        ),
        (
            send(te, alice, raw, headers={"X-Signature": webhooks.sign(mallory.secret, raw)}),
            401,
            "1.2.0.1",
        ),
        (send(te, alice, raw, signed=False), 401, "1.2.0.1"),
        (send(te, alice, {**order, "secret": mallory.secret}, signed=False), 401, "1.2.0.1"),
        (send(te, alice, raw, headers={"X-Api-Key": "whk_" + "0" * 32}), 401, "1.2.0.1"),
        (te.client.post(BASE + ORDERS, content=raw), 401, "1.2.0.1"),
        (send(te, alice, {**order, "accountId": mallory.account}), 404, "1.4.0.2"),
        (send(te, alice, {**order, "accountId": 99999999}), 404, "1.4.0.2"),
        (send(te, alice, {**order, "symbol": "NOPE"}), 404, "1.4.0.4"),
        (send(te, alice, {**order, "volume": 0}), 400, "1.0.4.1"),
        (send(te, alice, {**order, "volume": "-0.1"}), 400, "1.0.4.1"),
        (send(te, alice, {**order, "volume": "lots"}), 400, "1.0.4.1"),
        (send(te, alice, {"symbol": "EURUSD", "side": "buy"}), 400, "1.0.4.1"),
        (send(te, alice, {**order, "side": "hold"}), 400, "1.0.0.1"),
        (send(te, alice, {"side": "buy", "volume": 1}), 400, "1.0.0.1"),
        (send(te, alice, {**order, "symbol": ["EURUSD"]}), 400, "1.0.0.1"),
        (send(te, alice, {**order, "accountId": "first"}), 400, "1.0.0.1"),
        (send(te, alice, {**order, "symbol": "GBPUSD"}), 400, "2.4.0.1"),
        (send(te, alice, {**order, "volume": 100}), 400, "2.3.0.1"),
        (send(te, alice, b"{not json"), 400, "1.0.0.1"),
        (send(te, alice, b"[1, 2]"), 400, "1.0.0.1"),
    ]
    te.services.disable_account(DisableAccount(alice.account), te.admin)
    cases.append((send(te, alice, order), 403, "2.4.0.2"))

    for n, (response, status, code) in enumerate(cases):
        assert te.error(response, status) == code, n
    for trader in (alice, mallory):
        assert deals_of(te, trader.account) == []
        assert te.ok(te.get(f"/accounts/{trader.account}"))["balance"] == 10000


@pytest.mark.parametrize("status", [1, 2, 3, 4])
def test_a_locked_users_key_places_nothing(market: TE, status: int) -> None:
    te = market
    carol = Trader(te, "carol")
    order = {"symbol": "EURUSD", "side": "sell", "volume": 1}

    assert te.patch(f"/users/{carol.user_id}", {"ruleValue": status}).status_code == 204
    refused = send(te, carol, order)
    assert te.error(refused, 401) == "1.2.0.1"
    assert "locked" in refused.json()["errorMessage"]
    assert deals_of(te, carol.account) == []

    assert te.patch(f"/users/{carol.user_id}", {"ruleValue": 0}).status_code == 204
    assert te.ok(send(te, carol, order))["deals"][0]["side"] == "sell"


def test_an_expired_or_deleted_key_places_nothing(market: TE) -> None:
    te = market
    dave = Trader(te, "dave")
    order = {"symbol": "EURUSD", "side": "buy", "volume": 1}
    past = datetime.now(UTC) - timedelta(minutes=1)
    with te.runtime.storage.engine.begin() as conn:
        conn.execute(update(tables.webhook_keys).values(expires_at=past))

    expired = send(te, dave, order)
    assert te.error(expired, 401) == "1.2.0.1" and "expired" in expired.json()["errorMessage"]

    fresh = te.ok(te.post("/webhookskeys", {"userId": dave.user_id}))
    dave.api_key, dave.secret = fresh["apiKey"], fresh["secretKey"]
    assert te.delete(f"/webhookskeys/{fresh['id']}").status_code == 200
    assert te.error(send(te, dave, order), 401) == "1.2.0.1"
    assert deals_of(te, dave.account) == []


def test_an_order_id_applies_once_and_an_old_timestamp_is_refused(market: TE) -> None:
    te = market
    erin = Trader(te, "erin")
    now_ms = int(time.time() * 1000)
    order = {"symbol": "EURUSD", "side": "buy", "volume": 0.5, "id": "alert-1", "timestamp": now_ms}

    first = send(te, erin, order)
    again = send(te, erin, order)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replay") == "true"
    assert again.json() == first.json()
    assert len(deals_of(te, erin.account)) == 1
    reused = send(te, erin, {**order, "volume": 1})
    assert te.error(reused, 400) == "1.9.0.8"

    by_header = {"symbol": "EURUSD", "side": "sell", "volume": 0.1, "timestamp": now_ms}
    headers = {"X-Request-Id": "tv-42"}
    assert te.error(send(te, erin, by_header, headers=headers, stamp=False), 400) == "1.0.0.1"
    assert len(deals_of(te, erin.account)) == 1

    retried = {"symbol": "GBPUSD", "side": "buy", "volume": 0.1, "id": "alert-3"}
    assert te.error(send(te, erin, retried), 400) == "2.4.0.1"  # no quote: the id is free again
    te.services.set_quotes([QuoteInput("GBPUSD", "1.25000", "1.25020")], te.admin)
    assert send(te, erin, retried).status_code == 200
    (entry,) = te.services.list_ledger(LedgerQuery(login=erin.account, kinds=("trade",)), te.admin)[
        -1:
    ]
    assert entry.request_id == "alert-3"
    assert len(deals_of(te, erin.account)) == 2

    stale = {**order, "id": "alert-2", "timestamp": now_ms - 10 * 60 * 1000}
    assert te.error(send(te, erin, stale), 401) == "1.2.0.1"
    assert te.error(send(te, erin, {**stale, "timestamp": "soon"}), 400) == "1.0.0.1"
    assert len(deals_of(te, erin.account)) == 2


def test_one_signed_body_sent_three_times_opens_one_position(market: TE) -> None:
    """Whatever unsigned header comes with it (a new X-Request-Id each time), a signed body is
    one order: with its own id and time it opens one position, without them none."""
    te = market
    frank = Trader(te, "frank")
    now_ms = int(time.time() * 1000)
    bare = json.dumps({"symbol": "EURUSD", "side": "buy", "volume": 0.1}).encode()
    stamped = json.dumps(
        {"symbol": "EURUSD", "side": "buy", "volume": 0.1, "id": "sig-1", "timestamp": now_ms}
    ).encode()

    bare_answers = [send(te, frank, bare, headers={"X-Request-Id": f"new-{n}"}) for n in range(3)]
    answers = [send(te, frank, stamped, headers={"X-Request-Id": f"other-{n}"}) for n in range(3)]

    assert [te.error(a, 400) for a in bare_answers] == ["1.0.0.1"] * 3
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers.get("Idempotent-Replay") for a in answers] == [None, "true", "true"]
    assert len(deals_of(te, frank.account)) == 1
    assert len(te.ok(te.get("/positions", params={"accountId": frank.account}))) == 1


def test_a_webhook_without_its_time_or_with_an_old_one_places_nothing(market: TE) -> None:
    te = market
    gina = Trader(te, "gina")
    order = {"symbol": "EURUSD", "side": "buy", "volume": 0.1}
    old = datetime.now(UTC) - timedelta(minutes=6)

    untimed = send(te, gina, {**order, "id": "t-1"}, stamp=False)
    stale = send(te, gina, {**order, "id": "t-2", "timestamp": int(old.timestamp() * 1000)})
    stale_iso = send(te, gina, {**order, "id": "t-3", "timestamp": old.isoformat()})
    secret_form = te.client.post(
        BASE + "/webhook",
        json={**order, "apiKey": gina.api_key, "secret": gina.secret, "id": "t-4"},
    )

    assert te.error(untimed, 400) == "1.0.0.1"
    assert te.error(stale, 401) == te.error(stale_iso, 401) == "1.2.0.1"
    assert te.error(secret_form, 400) == "1.0.0.1"
    assert deals_of(te, gina.account) == []


def test_positions_list_golden_shape_and_filters(market: TE) -> None:
    te = market
    alice, bob = Trader(te, "alice"), Trader(te, "bob")
    first = te.ok(send(te, alice, {"symbol": "EURUSD", "side": "buy", "volume": 1}))
    te.ok(send(te, bob, {"symbol": "EURUSD", "side": "sell", "volume": "0.5"}))
    te.ok(send(te, alice, {"symbol": "EURUSD", "side": "sell", "volume": 0.1}))
    quote(te, "1.10500", "1.10520")

    listed = te.ok(te.get("/positions"))
    position = listed[0]
    opened = first["positions"][0]
    assert position == {
        "id": opened["id"],
        "accountId": alice.account,
        "symbol": "EURUSD",
        "side": "buy",
        "quantity": 1,
        "openPrice": 1.1002,
        "currentPrice": 1.105,
        "profit": 480,
        "margin": position["margin"],
        "currency": "USD",
        "openTime": opened["openTime"],
        "comment": "",
    }
    leverage = te.ok(te.get(f"/accounts/{alice.account}"))["leverage"]
    # 1 lot x 100000 x mid 1.1051 / leverage
    assert Decimal(str(position["margin"])) == (Decimal("110510") / leverage).quantize(
        Decimal("0.01")
    )
    assert [(p["accountId"], p["side"]) for p in listed] == [
        (alice.account, "buy"),
        (bob.account, "sell"),
        (alice.account, "sell"),
    ]
    by_user = te.ok(te.get("/positions", params={"userId": alice.user_id}))
    assert [p["side"] for p in by_user] == ["buy", "sell"]
    assert (
        te.ok(te.get("/positions", params={"userId": alice.user_id, "accountId": bob.account}))
        == []
    )
    assert [p["id"] for p in te.ok(te.get("/positions", params={"offset": 1, "limit": 1}))] == [
        listed[1]["id"]
    ]
    assert te.ok(te.get("/positions", params={"symbol": "GBPUSD"})) == []
    assert te.ok(te.get(f"/positions/{position['id']}")) == position

    assert te.error(te.get("/positions", params={"accountId": 99999999}), 404) == "1.4.0.2"
    assert te.error(te.get("/positions", params={"limit": 0}), 400) == "1.0.0.1"
    assert te.error(te.get("/positions/999999"), 404) == "1.4.0.9"
    assert te.error(te.get("/positions/abc"), 400) == "1.0.0.1"
    user_token = te.ok(sign_in(te.client, "alice", USER_PASSWORD))["accessToken"]
    assert te.error(te.get("/positions", token=user_token), 403) == "2.0.2.4"


def test_accounts_show_equity_and_margin_from_open_positions(market: TE) -> None:
    te = market
    frank = Trader(te, "frank")
    te.ok(send(te, frank, {"symbol": "EURUSD", "side": "buy", "volume": 2}))
    quote(te, "1.09000", "1.09020")

    state = te.services.get_trade_state(frank.account, te.admin)
    expected = {
        "balance": 10000,
        "equity": float(state.equity),
        "usedMargin": float(state.margin),
        "freeMargin": float(state.margin_free),
    }
    assert state.equity == Decimal("7960.00")  # 2 lots bought at 1.10020, now bid 1.09000
    for found in (
        te.ok(te.get(f"/accounts/{frank.account}")),
        te.ok(te.get(f"/users/{frank.user_id}/accounts"))[0],
        te.ok(te.get(f"/users/{frank.user_id}"))["accounts"][0],
    ):
        assert {k: found[k] for k in expected} == expected
    assert expected["usedMargin"] > 0


def test_bogus_signatures_do_not_use_up_the_keys_rate_limit(market: TE) -> None:
    """Whoever knows the public apiKey cannot block the user's alerts: the proof comes before
    the key's rate limit, and failed proofs are limited per address instead."""
    te = market
    alice = Trader(te, "alice")
    state = te.client.app.state  # type: ignore[attr-defined]
    state.te_throttle = Throttle(3, clock=lambda: 0.0)  # 3 a second, time standing still
    order = {"symbol": "EURUSD", "side": "buy", "volume": 0.1, "accountId": alice.account}

    forged = [send(te, alice, order, headers={"X-Signature": "0" * 64}) for _ in range(6)]

    assert [r.status_code for r in forged] == [401] * 3 + [429] * 3  # the address waits
    assert te.ok(send(te, alice, order))["deals"]  # the key's allowance is untouched


def test_request_ids_must_be_kept_as_long_as_a_webhooks_timestamp_is_accepted(
    tmp_path: Any,
) -> None:
    """A signed webhook may be sent again while its timestamp is within 5 minutes either
    side: its id must be remembered at least 10 minutes, or a captured one runs twice."""
    with pytest.raises(ValueError, match="idempotency_retention_days must be at least"):
        Settings(data_dir=tmp_path, idempotency_retention_days=0.005)  # 7.2 minutes
    assert Settings(data_dir=tmp_path, idempotency_retention_days=0.007)
    assert REPLAY_WINDOW * 2 == MIN_RETENTION
