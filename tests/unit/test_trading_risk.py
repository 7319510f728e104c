"""Pricing rules of core/trading/risk.py: conversions, profit, margin by mode."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from brokerplane.core.account.model import Account
from brokerplane.core.errors import NoQuote
from brokerplane.core.symbol.model import Symbol
from brokerplane.core.trading.model import Market, Position, Quote
from brokerplane.core.trading.risk import figures, risk_of, total_margin

NOW = datetime(2026, 11, 21, tzinfo=UTC)


def _market(**quotes: tuple[str, str]) -> Market:
    pairs = {
        "EURUSD": ("EUR", "USD"),
        "USDJPY": ("USD", "JPY"),
        "GBPUSD": ("GBP", "USD"),
        "XAUUSD": ("XAU", "USD"),
    }
    symbols = {n: Symbol(n, b, p, b, digits=3 if p == "JPY" else 5) for n, (b, p) in pairs.items()}
    return Market(
        symbols, {n: Quote(n, Decimal(b), Decimal(a), NOW) for n, (b, a) in quotes.items()}
    )


def _account(currency: str = "USD", leverage: int = 100, balance: int = 1_000_000) -> Account:
    return Account(
        login=7,
        group_id=1,
        group="g",
        currency=currency,
        currency_digits=2,
        leverage=leverage,
        balance=balance,
    )


def _position(symbol: str, side: str, lots: str, price: str, digits: int = 5) -> Position:
    volume = int(Decimal(lots) * 10_000)
    points = int(Decimal(price).scaleb(digits))
    return Position(7, symbol, side, volume, volume * points, digits, Decimal(100_000), NOW, NOW)


def test_rates_direct_inverse_cross_and_missing() -> None:
    m = _market(EURUSD=("1.1", "1.1"), USDJPY=("150", "150"))
    assert m.rate("EUR", "USD") == Decimal("1.1")
    assert m.rate("JPY", "USD") == 1 / Decimal(150)
    assert m.rate("EUR", "JPY") == Decimal("1.1") * 150  # through USD
    assert m.rate("GBP", "USD") is None  # GBPUSD has no quote
    with pytest.raises(NoQuote, match="GBP to USD"):
        m.require_rate("GBP", "USD")


def test_profit_closes_buys_at_the_bid_and_sells_at_the_ask() -> None:
    m = _market(EURUSD=("1.10100", "1.10120"))
    buy = figures(_position("EURUSD", "buy", "1", "1.10000"), _account(), m)
    sell = figures(_position("EURUSD", "sell", "1", "1.10000"), _account(), m)
    assert (buy.profit, sell.profit) == (10_000, -12_000)  # +100.00 and -120.00 USD
    # margin: 1 lot x 100000 x mid 1.1011 / 100
    assert buy.margin == sell.margin == 110_110


def test_profit_in_another_currency_converts_at_the_mid() -> None:
    m = _market(USDJPY=("149.000", "149.020"), EURUSD=("1.25", "1.25"))
    sold = _position("USDJPY", "sell", "1", "150.000", digits=3)
    f = figures(sold, _account("EUR"), m)
    # (150.000 - 149.020) x 100000 = 98000 JPY; JPY -> EUR through USD: / 149.01 / 1.25
    assert f.profit == 52_614


@pytest.mark.parametrize(("mode", "expected"), [("SUM", 300), ("MAX", 200), ("NET", 100)])
def test_margin_modes(mode: str, expected: int) -> None:
    m = _market(EURUSD=("1", "1"))
    acc = _account(leverage=100_000)  # 1 lot -> 100000 / 100000 = 1.00 of margin
    legs = [
        _position("EURUSD", "buy", "1", "1"),
        _position("EURUSD", "buy", "1", "1"),
        _position("EURUSD", "sell", "1", "1"),
    ]
    figs = [figures(p, acc, m) for p in legs]
    assert total_margin(figs, mode) == expected
    state = risk_of(acc, legs, m, mode).state()
    assert state.margin == Decimal(expected) / 100
    assert state.equity == Decimal("10000.00")
