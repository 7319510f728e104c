"""Trading over real storage on both engines: quotes, market orders on hedged and netted
accounts, realised P/L in the ledger, margin by mode, free-margin limits, rights, exposure and
margin calls."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from decimal import Decimal

import pytest

from brokerplane.application.app import Application
from brokerplane.core.account.commands import OpenAccount, UpdateAccount
from brokerplane.core.account.model import RIGHT_TRADE_DISABLED
from brokerplane.core.actor import Actor
from brokerplane.core.errors import (
    InsufficientFunds,
    InvalidVolume,
    NoQuote,
    PositionNotFound,
    SymbolNotFound,
    TradeDisabled,
    ValidationError,
)
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.ledger.model import LedgerQuery
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.core.trading.commands import ClosePosition, OpenPosition, QuoteInput
from brokerplane.core.trading.model import DealQuery
from tests.unit.fakes import FakeClock

WORKERS = 12
FX = {
    "currency_base": "EUR",
    "currency_profit": "USD",
    "currency_margin": "EUR",
    "digits": 5,
    "contract_size": "100000",
}


@pytest.fixture
def market(services: Application, admin: Actor) -> Application:
    """EURUSD, USDJPY and EURJPY quoted; groups in USD (MAX), USD (SUM), USD (NET), EUR."""
    services.create_symbol(CreateSymbol("EURUSD", FX), admin)
    jpy = {
        "currency_base": "USD",
        "currency_profit": "JPY",
        "currency_margin": "USD",
        "digits": 3,
        "contract_size": "100000",
    }
    services.create_symbol(CreateSymbol("USDJPY", jpy), admin)
    services.create_symbol(CreateSymbol("GBPUSD", {**FX, "currency_base": "GBP"}), admin)
    for name, mode in (("usd-max", "MAX"), ("usd-sum", "SUM"), ("usd-net", "NET")):
        services.create_group(CreateGroup(name, "USD", {"margin_mode": mode}), admin)
    services.create_group(CreateGroup("eur", "EUR"), admin)
    quote(services, admin, "EURUSD", "1.10000", "1.10020")
    quote(services, admin, "USDJPY", "150.000", "150.020")
    return services


def quote(services: Application, actor: Actor, symbol: str, bid: str, ask: str) -> None:
    services.set_quotes([QuoteInput(symbol, bid, ask)], actor)


def funded(services: Application, actor: Actor, group: str, amount: str, **profile: object) -> int:
    login = services.open_account(OpenAccount(group, profile=dict(profile)), actor).login
    services.post_ledger_entry(PostLedgerEntry(login, "deposit", amount), actor)
    return login


def test_quotes_keep_the_newest_and_round_to_digits(
    market: Application, admin: Actor, clock: FakeClock
) -> None:
    market.set_quotes([QuoteInput("EURUSD", "1.123456", "1.12350")], admin)
    older = clock() - timedelta(seconds=5)
    market.set_quotes([QuoteInput("EURUSD", "1.0", "1.0", at=older)], admin)
    (q,) = market.list_quotes(admin, ["EURUSD"])
    assert (q.bid, q.ask) == (Decimal("1.12346"), Decimal("1.12350"))
    with pytest.raises(ValidationError, match="below the bid"):
        market.set_quotes([QuoteInput("EURUSD", "1.2", "1.1")], admin)
    with pytest.raises(SymbolNotFound):
        market.set_quotes([QuoteInput("NOPE", "1", "1")], admin)
    ahead = clock() + timedelta(minutes=5)
    with pytest.raises(ValidationError, match="future"):
        market.set_quotes([QuoteInput("EURUSD", "1.2", "1.2", at=ahead)], admin)
    with pytest.raises(ValidationError, match="positive"):
        market.set_quotes([QuoteInput("EURUSD", "0", "1")], admin)


def test_hedged_buy_then_close_realises_profit_in_the_ledger(
    market: Application, admin: Actor
) -> None:
    login = funded(market, admin, "usd-max", "10000")
    opened = market.open_position(OpenPosition(login, "EURUSD", "buy", "1"), admin)
    assert opened.deal.entry == "in" and opened.deal.price_decimal == Decimal("1.10020")
    assert opened.position is not None
    state = market.get_trade_state(login, admin)
    # margin: 1 lot x 100000 x mid 1.1001 / 100 = 1100.10; profit: (1.10000 - 1.10020) x 100000
    assert state.margin == Decimal("1100.10")
    assert state.profit == Decimal("-20.00")
    assert state.equity == Decimal("9980.00")
    assert state.margin_free == Decimal("8879.90")
    quote(market, admin, "EURUSD", "1.10520", "1.10540")
    assert market.get_trade_state(login, admin).profit == Decimal("500.00")
    closed = market.close_position(ClosePosition(opened.position.id), admin)
    assert closed.position is None and closed.deal.entry == "out"
    assert closed.deal.profit == 50000 and closed.deal.side == "sell"
    acc = market.get_account(login, admin)
    assert acc.balance == 1_050_000
    entries = market.list_ledger(LedgerQuery(login=login, kinds=("trade",)), admin)
    assert [e.amount for e in entries] == [0, 50000]
    assert [e.id for e in entries] == [opened.deal.id, closed.deal.id]
    assert market.verify_ledger() == []
    assert market.verify_audit().ok
    assert market.audit_ledger().ok  # the deals' entries are tied to their trade.deal records
    assert market.list_positions(admin, logins=[login]) == []
    deals = market.list_deals(DealQuery(login=login), admin)
    assert [(d.entry, d.profit) for d in deals] == [("in", 0), ("out", 50000)]


def test_partial_close_and_profit_in_another_currency(market: Application, admin: Actor) -> None:
    login = funded(market, admin, "usd-sum", "10000")
    opened = market.open_position(OpenPosition(login, "USDJPY", "sell", "0.5"), admin)
    assert opened.position is not None
    quote(market, admin, "USDJPY", "149.000", "149.020")
    part = market.close_position(ClosePosition(opened.position.id, "0.2"), admin)
    # sold at 150.000, bought back at 149.020: 0.980 JPY x 20000 = 19600 JPY at 1/149.01
    assert part.deal.profit == 13153
    assert part.position is not None and part.position.lots == Decimal("0.3")
    with pytest.raises(InvalidVolume, match="more than"):
        market.close_position(ClosePosition(opened.position.id, "0.4"), admin)
    assert market.verify_ledger() == []
    assert market.audit_ledger().ok


def test_netted_orders_add_reduce_and_reverse(market: Application, admin: Actor) -> None:
    login = funded(market, admin, "usd-net", "50000", account_type="NETTED")
    first = market.open_position(OpenPosition(login, "EURUSD", "buy", "1"), admin)
    quote(market, admin, "EURUSD", "1.20000", "1.20020")
    added = market.open_position(OpenPosition(login, "EURUSD", "buy", "1"), admin)
    assert first.position is not None and added.position is not None
    assert added.position.id == first.position.id
    assert added.position.price_open == Decimal("1.15020")  # the average of both
    reduced = market.open_position(OpenPosition(login, "EURUSD", "sell", "0.5"), admin)
    assert reduced.deal.entry == "out" and reduced.deal.profit == 2490_00
    reversed_ = market.open_position(OpenPosition(login, "EURUSD", "sell", "2"), admin)
    assert reversed_.deal.entry == "inout"
    assert reversed_.position is not None and reversed_.position.side == "sell"
    assert reversed_.position.lots == Decimal("0.5")
    (only,) = market.list_positions(admin, logins=[login])
    assert only.position.id == first.position.id
    assert market.verify_ledger() == []


def test_margin_modes_for_opposite_legs(market: Application, admin: Actor) -> None:
    margins = {}
    for group in ("usd-max", "usd-sum", "usd-net"):
        login = funded(market, admin, group, "100000")
        market.open_position(OpenPosition(login, "EURUSD", "buy", "2"), admin)
        market.open_position(OpenPosition(login, "EURUSD", "sell", "1"), admin)
        margins[group] = market.get_trade_state(login, admin).margin
    leg = Decimal("1100.10")
    assert margins == {"usd-max": 2 * leg, "usd-sum": 3 * leg, "usd-net": leg}


def test_orders_beyond_free_margin_and_withdrawals_beyond_it_are_refused(
    market: Application, admin: Actor
) -> None:
    login = funded(market, admin, "usd-max", "1000")
    with pytest.raises(InsufficientFunds, match="free margin"):
        market.open_position(OpenPosition(login, "EURUSD", "buy", "1"), admin)
    assert market.list_positions(admin, logins=[login]) == []
    assert market.get_account(login, admin).balance == 100000
    market.open_position(OpenPosition(login, "EURUSD", "buy", "0.5"), admin)
    state = market.get_trade_state(login, admin)
    free = state.margin_free  # 1000 - 10 (spread) - 550.05
    assert free == Decimal("439.95")
    with pytest.raises(InsufficientFunds, match=r"free margin of 439\.95"):
        market.post_ledger_entry(PostLedgerEntry(login, "withdrawal", "440"), admin)
    market.post_ledger_entry(PostLedgerEntry(login, "withdrawal", "439.95"), admin)
    unchecked = PostLedgerEntry(login, "withdrawal", "100", check_margin=False)
    market.post_ledger_entry(unchecked, admin)
    assert market.get_account(login, admin).balance == 100000 - 43995 - 10000
    assert market.verify_ledger() == []


def test_rights_locks_and_trade_modes_refuse_orders(market: Application, admin: Actor) -> None:
    login = funded(market, admin, "usd-max", "10000")
    pos = market.open_position(OpenPosition(login, "EURUSD", "buy", "0.1"), admin).position
    assert pos is not None
    market.update_account(UpdateAccount(login, {"access_rights": "CLOSE_ONLY"}), admin)
    with pytest.raises(TradeDisabled, match="CLOSE_ONLY"):
        market.open_position(OpenPosition(login, "EURUSD", "buy", "0.1"), admin)
    market.close_position(ClosePosition(pos.id, "0.05"), admin)  # reducing is allowed
    market.update_account(UpdateAccount(login, {"access_rights": "NO_TRADING"}), admin)
    with pytest.raises(TradeDisabled, match="NO_TRADING"):
        market.close_position(ClosePosition(pos.id), admin)
    acc = market.get_account(login, admin)
    changes = {"access_rights": "FULL_ACCESS", "rights": acc.rights | RIGHT_TRADE_DISABLED}
    market.update_account(UpdateAccount(login, changes), admin)
    with pytest.raises(TradeDisabled, match="USER_RIGHT_TRADE_DISABLED"):
        market.open_position(OpenPosition(login, "EURUSD", "sell", "0.1"), admin)
    other = funded(market, admin, "usd-max", "10000")
    with pytest.raises(NoQuote):
        market.open_position(OpenPosition(other, "GBPUSD", "buy", "0.1"), admin)
    with pytest.raises(SymbolNotFound):
        market.open_position(OpenPosition(other, "XXXYYY", "buy", "0.1"), admin)
    for bad in ("0", "-1", "0.001", "1000", "abc"):
        with pytest.raises(InvalidVolume):
            market.open_position(OpenPosition(other, "EURUSD", "buy", bad), admin)
    with pytest.raises(ValidationError, match="side"):
        market.open_position(OpenPosition(other, "EURUSD", "hold", "1"), admin)
    with pytest.raises(PositionNotFound):
        market.close_position(ClosePosition(10**9), admin)
    assert market.list_positions(admin, logins=[other]) == []


def test_exposure_and_margin_calls(market: Application, admin: Actor) -> None:
    a = funded(market, admin, "usd-max", "10000")
    b = funded(market, admin, "usd-sum", "2000")
    e = funded(market, admin, "eur", "5000")
    market.open_position(OpenPosition(a, "EURUSD", "buy", "2"), admin)
    market.open_position(OpenPosition(b, "EURUSD", "sell", "0.5"), admin)
    market.open_position(OpenPosition(b, "USDJPY", "buy", "1"), admin)
    market.open_position(OpenPosition(e, "EURUSD", "buy", "1"), admin)
    report = market.exposure(admin)
    by = {(x.symbol, x.group): x for x in report.lines}
    assert by[("EURUSD", "usd-max")].net_lots == Decimal("2")
    assert by[("EURUSD", "usd-sum")].net_lots == Decimal("-0.5")
    (eurusd,) = [x for x in report.symbols if x.symbol == "EURUSD"]
    assert (eurusd.net_lots, eurusd.gross_lots, eurusd.accounts) == (
        Decimal("2.5"),
        Decimal("3.5"),
        3,
    )
    assert eurusd.net_notional == Decimal("275025.00")  # 2.5 x 100000 x 1.1001
    # every position has lost the spread so far: 3.5 lots x 20 USD
    assert eurusd.client_profit == Decimal("-70.00")
    assert report.total.accounts == 3
    assert report.total.client_profit == sum(x.client_profit for x in report.lines)
    only = market.exposure(admin, group="usd-*", symbol="EURUSD")
    assert {(x.symbol, x.group) for x in only.lines} == {
        ("EURUSD", "usd-max"),
        ("EURUSD", "usd-sum"),
    }
    quote(market, admin, "USDJPY", "140.000", "140.020")  # b loses ~7144 on 1 lot
    calls = market.margin_calls(admin)
    assert [(m.risk.account.login, m.state) for m in calls] == [(b, "stop_out")]


def test_concurrent_orders_never_exceed_the_margin(market: Application, admin: Actor) -> None:
    login = funded(market, admin, "usd-max", "2500")
    start = threading.Barrier(WORKERS)

    def order(_: int) -> bool:
        start.wait(timeout=30)
        try:
            market.open_position(OpenPosition(login, "EURUSD", "buy", "0.5"), admin)
        except InsufficientFunds:
            return False
        return True

    with ThreadPoolExecutor(WORKERS) as pool:
        filled = sum(pool.map(order, range(WORKERS)))
    # each 0.5 lot takes 550.05 of margin and 10.00 of spread: 4 fit in 2500, a 5th does not
    assert filled == 4
    state = market.get_trade_state(login, admin)
    assert state.margin == Decimal("2200.20") and state.margin_free == Decimal("259.80")
    assert len(market.list_positions(admin, logins=[login])) == 4
    assert market.verify_ledger() == []


def test_a_closed_positions_id_is_never_handed_out_again(market: Application, admin: Actor) -> None:
    login = funded(market, admin, "usd-max", "10000")
    first = market.open_position(OpenPosition(login, "EURUSD", "buy", "0.1"), admin).position
    assert first is not None
    market.close_position(ClosePosition(first.id), admin)
    second = market.open_position(OpenPosition(login, "EURUSD", "buy", "0.1"), admin).position
    assert second is not None and second.id > first.id
    deals = market.list_deals(DealQuery(login=login), admin)
    assert [d.position_id for d in deals] == [first.id, first.id, second.id]
