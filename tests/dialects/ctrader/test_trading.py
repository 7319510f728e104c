"""Trading figures through cTrader: open and closed positions as CSV (exact rows, the window by
position open time, netted reversals), equity and margins in TraderTO (one trader and the
list, JSON and XML), withdrawals limited by the free margin (and skipMarginCheck), access
rights set here holding for orders from any channel, and the read rights."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from brokerplane.core.errors import TradeDisabled
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.core.trading.commands import ClosePosition, OpenPosition, QuoteInput
from tests.dialects.ctrader.conftest import CTrader, as_manager
from tests.dialects.ctrader.test_catalog import CLOSED_HEADER, OPEN_HEADER
from tests.unit.fakes import FakeClock

FX = {
    "currency_base": "EUR",
    "currency_profit": "USD",
    "currency_margin": "EUR",
    "digits": 5,
    "contract_size": "100000",
}
USD = {"groupName": "usd\\standard", "depositCurrency": "USD"}  # NET margin, 1:100
FIRST_DAY = {"from": "2026-03-04T00:00:00.000", "to": "2026-03-05T00:00:00.000"}


@pytest.fixture
def clock(ct: CTrader) -> Iterator[FakeClock]:
    """The server's clock, standing at 2026-03-04T05:06:07.123456Z until moved."""
    services = ct.services
    held = services.clock
    services.clock = FakeClock(datetime(2026, 3, 4, 5, 6, 7, 123456, tzinfo=UTC))
    yield services.clock
    services.clock = held


@pytest.fixture
def market(ct: CTrader, clock: FakeClock) -> CTrader:
    """EURUSD quoted 1.10000 / 1.10020."""
    ct.services.create_symbol(CreateSymbol("EURUSD", FX), ct.admin)
    quote(ct, "1.10000", "1.10020")
    return ct


def quote(ct: CTrader, bid: str, ask: str) -> None:
    ct.services.set_quotes([QuoteInput("EURUSD", bid, ask)], ct.admin)


def order(ct: CTrader, login: int, side: str, lots: str) -> int:
    """A market order through the core; the id of the position it opened or changed."""
    done = ct.services.open_position(OpenPosition(login, "EURUSD", side, lots), ct.admin)
    return done.deal.position_id


def close(ct: CTrader, position: int, lots: str | None = None) -> int:
    """Close (part of) a position; the closing deal's id."""
    return ct.services.close_position(ClosePosition(position, lots), ct.admin).deal.id


def csv_lines(ct: CTrader, path: str, params: dict[str, Any] | None = None) -> list[str]:
    response = ct.get(path, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return response.text.splitlines()


def figures(trader: dict[str, Any]) -> tuple[int, ...]:
    keys = (
        "balance",
        "bonus",
        "cashEquity",
        "equity",
        "usedMargin",
        "freeMargin",
        "minEquityDaily",
        "maxEquityDaily",
    )
    return tuple(trader[k] for k in keys)


def test_open_positions_rows_in_base_units_with_each_positions_margin(market: CTrader) -> None:
    usd = market.create(**USD, balance="1000000")["login"]
    eur = market.create(balance="1000000")["login"]  # seed 003's Default group, in EUR
    long_ = order(market, usd, "buy", "1")
    short = order(market, eur, "sell", "0.5")
    # 1 lot x 100000 x mid 1.1001 / 100 = 1100.10 USD; 0.5 lot at the same mid is 50000 EUR
    # of notional: 500.00 EUR at 1:100
    rows = [
        (
            f"{usd},{long_},2026-03-04T05:06:07.123,1.10020,BUY,100000.00,EURUSD,0.00,0.00,BOOK_B,0.00,false,"
            "1100.10"
        ),
        f"{eur},{short},2026-03-04T05:06:07.123,1.10000,SELL,50000.00,EURUSD,0.00,0.00,BOOK_B,0.00,false,500.00",
    ]
    assert csv_lines(market, "/openPositions") == [OPEN_HEADER, *rows]
    assert csv_lines(market, "/openPositions/", {"login": eur}) == [OPEN_HEADER, rows[1]]
    # asked for XML, the CSV is still CSV
    xml = market.get("/openPositions", headers={"Accept": "application/xml"})
    assert xml.headers["content-type"].startswith("text/csv")
    assert xml.text.splitlines() == [OPEN_HEADER, *rows]


def test_closed_positions_one_row_per_closing_deal(market: CTrader, clock: FakeClock) -> None:
    usd = market.create(**USD, balance="1000000")["login"]
    eur = market.create(balance="1000000")["login"]
    long_ = order(market, usd, "buy", "1")
    short = order(market, eur, "sell", "0.5")
    clock.advance(hours=1)
    quote(market, "1.10520", "1.10540")
    whole = close(market, long_)
    part = close(market, short, "0.2")
    # the buy closes at the bid: (1.10520 - 1.10020) x 100000 = 500.00 USD. The sell buys
    # back at the ask: (1.10000 - 1.10540) x 20000 = -108 USD, x 1 / 1.1053 = -97.71 EUR
    assert csv_lines(market, "/closedPositions", FIRST_DAY) == [
        CLOSED_HEADER,
        (
            f"{usd},{long_},{whole},2026-03-04T05:06:07.123,2026-03-04T06:06:07.123,1.10020,"
            "1.10520,BUY,100000.00,EURUSD,0.00,0.00,500.00,1.00000,1.00000,BOOK_B,0.00,false"
        ),
        (
            f"{eur},{short},{part},2026-03-04T05:06:07.123,2026-03-04T06:06:07.123,1.10000,"
            "1.10540,SELL,20000.00,EURUSD,0.00,0.00,-97.71,0.90473175,1.10530,BOOK_B,0.00,false"
        ),
    ]
    # the rest of the sell is still open
    (line,) = csv_lines(market, "/openPositions", {"login": eur})[1:]
    assert line.split(",")[4:6] == ["SELL", "30000.00"]
    # a second close of the same position repeats its positionId
    again = close(market, short)
    lines = csv_lines(market, "/closedPositions", {**FIRST_DAY, "login": eur})
    assert [r.split(",")[1:3] for r in lines[1:]] == [
        [str(short), str(part)],
        [str(short), str(again)],
    ]


def test_the_window_is_by_the_positions_open_time(market: CTrader, clock: FakeClock) -> None:
    login = market.create(**USD, balance="1000000")["login"]
    early = order(market, login, "buy", "1")  # opened on the 4th
    clock.advance(days=2)
    late = order(market, login, "buy", "1")  # opened on the 6th
    close(market, early)  # both closed on the 6th
    close(market, late)

    def positions(start: str, end: str) -> list[str]:
        lines = csv_lines(market, "/closedPositions", {"from": start, "to": end})
        return [r.split(",")[1] for r in lines[1:]]

    assert positions("2026-03-04T00:00:00.000", "2026-03-05T00:00:00.000") == [str(early)]
    assert positions("2026-03-05T00:00:00.000", "2026-03-07T00:00:00.000") == [str(late)]
    # [from, to): a position opened exactly at `to` belongs to the next window
    assert positions("2026-03-03T05:06:07.123", "2026-03-04T05:06:07.123") == []
    assert positions("2026-03-04T05:06:07.123", "2026-03-04T05:06:07.124") == [str(early)]


def test_a_netted_reversal_closes_what_the_position_held(market: CTrader, clock: FakeClock) -> None:
    login = market.create(**USD, balance="1000000", accountType="NETTED")["login"]
    position = order(market, login, "buy", "1")
    clock.advance(minutes=5)
    order(market, login, "sell", "1.5")  # closes the 1 lot bought, sells 0.5 more
    (closed,) = csv_lines(market, "/closedPositions", FIRST_DAY)[1:]
    cells = closed.split(",")
    # bought at the ask 1.10020, sold at the bid 1.10000: -0.0002 x 100000 = -20.00 USD
    assert cells[1] == str(position)
    assert cells[5:13] == [
        "1.10020",
        "1.10000",
        "BUY",
        "100000.00",
        "EURUSD",
        "0.00",
        "0.00",
        "-20.00",
    ]
    (opened,) = csv_lines(market, "/openPositions")[1:]
    assert opened.split(",")[1:6] == [
        str(position),
        "2026-03-04T05:11:07.123",
        "1.10000",
        "SELL",
        "50000.00",
    ]


def test_trader_figures_from_the_open_positions(market: CTrader) -> None:
    login = market.create(**USD, balance="1000000")["login"]
    idle = market.create(**USD, balance="50000")["login"]
    bonus = {"login": login, "preciseAmount": "100", "type": "DEPOSIT"}
    assert market.post(f"/traders/{login}/changebonus", bonus).status_code == 200
    order(market, login, "buy", "1")
    # balance 10000.00 + bonus 100.00 - 20.00 floating = 10080.00; cash equity leaves out the
    # bonus; margin 1100.10
    expected = (1000000, 10000, 998000, 1008000, 110010, 897990, 1008000, 1008000)
    assert figures(market.trader(login)) == expected
    assert figures(market.trader(idle)) == (50000, 0, 50000, 50000, 0, 50000, 50000, 50000)
    quote(market, "1.10520", "1.10540")  # +500.00 floating, margin at the new mid 1.1053
    assert figures(market.trader(login)) == (
        1000000,
        10000,
        1050000,
        1060000,
        110530,
        949470,
        1060000,
        1060000,
    )
    listed = market.get(
        "/traders", params={"from": "2026-03-01T00:00:00.000", "to": "2026-03-05T00:00:00.000"}
    )
    by_login = {t["login"]: t for t in listed.json()["trader"]}
    assert figures(by_login[login])[2:] == (1050000, 1060000, 110530, 949470, 1060000, 1060000)
    assert figures(by_login[idle])[2:] == (50000, 50000, 0, 50000, 50000, 50000)
    trimmed = market.get(
        "/traders",
        params={
            "from": "2026-03-01T00:00:00.000",
            "to": "2026-03-05T00:00:00.000",
            "fields": "login,usedMargin",
        },
    )
    assert {t["login"]: t["usedMargin"] for t in trimmed.json()["trader"]} == {
        login: 110530,
        idle: 0,
    }
    xml = market.get(f"/traders/{login}", headers={"Accept": "*/*"})
    assert xml.headers["content-type"].startswith("application/xml")
    for tag, value in (
        ("equity", 1060000),
        ("usedMargin", 110530),
        ("freeMargin", 949470),
        ("cashEquity", 1050000),
    ):
        assert f"<{tag}>{value}</{tag}>" in xml.text
    xml_list = market.get(
        "/traders",
        headers={"Accept": "application/xml"},
        params={"from": "2026-03-01T00:00:00.000", "to": "2026-03-05T00:00:00.000"},
    )
    assert "<usedMargin>110530</usedMargin>" in xml_list.text


def _withdraw(ct: CTrader, login: int, amount: str, **extra: Any) -> Any:
    body = {"login": login, "preciseAmount": amount, "type": "WITHDRAW", **extra}
    return ct.post(f"/traders/{login}/changebalance", body)


def test_a_withdrawal_beyond_the_free_margin_is_not_enough_money(market: CTrader) -> None:
    login = market.create(**USD, balance="1000000")["login"]
    order(market, login, "buy", "1")  # equity 9980.00, margin 1100.10: 8879.90 free
    refused = _withdraw(market, login, "8880")
    assert market.error(refused, 400) == "NOT_ENOUGH_MONEY"
    assert market.trader(login)["balance"] == 1000000
    for flag in (False, "false", 0):
        again = _withdraw(market, login, "8880", skipMarginCheck=flag)
        assert market.error(again, 400) == "NOT_ENOUGH_MONEY"
    assert _withdraw(market, login, "8879.90").status_code == 200
    assert market.trader(login)["freeMargin"] == 0


def test_skip_margin_check_withdraws_beyond_the_free_margin(market: CTrader) -> None:
    login = market.create(**USD, balance="1000000")["login"]
    order(market, login, "buy", "1")
    done = _withdraw(market, login, "9000", skipMarginCheck="true")
    assert done.status_code == 200, done.text
    trader = market.trader(login)
    assert (trader["balance"], trader["equity"], trader["freeMargin"]) == (100000, 98000, -12010)
    # the balance itself still may not go below zero
    beyond = _withdraw(market, login, "1000.01", skipMarginCheck=True)
    assert market.error(beyond, 400) == "NOT_ENOUGH_MONEY"
    bad = _withdraw(market, login, "1", skipMarginCheck="maybe")
    assert market.error(bad, 400) == "INVALID_REQUEST"


def test_close_only_set_here_refuses_orders_from_any_channel(market: CTrader) -> None:
    login = market.create(**USD, balance="1000000")["login"]
    held = order(market, login, "buy", "1")
    patched = market.call("PATCH", f"/traders/{login}", json={"accessRights": "CLOSE_ONLY"})
    assert patched.status_code == 204
    with pytest.raises(TradeDisabled, match="CLOSE_ONLY"):
        order(market, login, "buy", "0.1")
    close(market, held, "0.4")
    close(market, held)
    assert csv_lines(market, "/openPositions") == [OPEN_HEADER]
    market.call("PATCH", f"/traders/{login}", json={"accessRights": "NO_TRADING"})
    with pytest.raises(TradeDisabled, match="NO_TRADING"):
        order(market, login, "sell", "0.1")


def test_positions_need_a_read_right(market: CTrader) -> None:
    login = market.create(**USD, balance="1000000")["login"]
    order(market, login, "buy", "1")
    reporter = as_manager(market, 1102, rights=frozenset({"reports:read"}))
    assert len(csv_lines(reporter, "/openPositions", {"login": login})) == 2
    assert len(csv_lines(reporter, "/closedPositions", FIRST_DAY)) == 1
    writer = as_manager(market, 1103, rights=frozenset({"balances:write"}))
    for path, params in (("/openPositions", {}), ("/closedPositions", FIRST_DAY)):
        assert writer.error(writer.get(path, params=params), 403) == "NOT_ENOUGH_RIGHTS"
    limited = as_manager(market, 1104, group_mask="Default")
    assert csv_lines(limited, "/openPositions") == [OPEN_HEADER]
    unseen = limited.get("/openPositions", params={"login": login})
    assert limited.error(unseen, 404) == "TRADER_NOT_FOUND"
