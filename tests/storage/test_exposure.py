"""The exposure report over real storage on both engines: one aggregate statement, an account
trading several symbols (each line priced at its own symbol's quote, the account counted once
per group and in all), and the reach of a manager limited by groups or white labels, which
sees only its accounts in the report and in the users export alike."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import event

from brokerplane.application.app import Application
from brokerplane.bootstrap import Runtime
from brokerplane.core.account.commands import ListAccounts, OpenAccount
from brokerplane.core.actor import SCOPES, Actor
from brokerplane.core.group.commands import CreateGroup
from brokerplane.core.ledger.commands import PostLedgerEntry
from brokerplane.core.symbol.commands import CreateSymbol
from brokerplane.core.trading.commands import ExposureReport, OpenPosition, QuoteInput

FX = {"currency_profit": "USD", "currency_margin": "EUR", "digits": 5, "contract_size": "100000"}
JPY = {"currency_profit": "JPY", "currency_margin": "USD", "digits": 3, "contract_size": "100000"}


@pytest.fixture
def book(services: Application, admin: Actor) -> dict[str, int]:
    """Three accounts in two groups and two white labels; `multi` trades three symbols."""
    services.create_symbol(CreateSymbol("EURUSD", {**FX, "currency_base": "EUR"}), admin)
    services.create_symbol(CreateSymbol("GBPUSD", {**FX, "currency_base": "GBP"}), admin)
    services.create_symbol(CreateSymbol("USDJPY", {**JPY, "currency_base": "USD"}), admin)
    services.create_group(CreateGroup("demo\\usd", "USD"), admin)
    services.create_group(CreateGroup("real\\usd", "USD"), admin)
    services.set_quotes(
        [
            QuoteInput("EURUSD", "1.10000", "1.10020"),
            QuoteInput("GBPUSD", "1.25000", "1.25030"),
            QuoteInput("USDJPY", "150.000", "150.020"),
        ],
        admin,
    )
    logins = {}
    for tag, group, broker in (
        ("multi", "demo\\usd", "acme"),
        ("other", "demo\\usd", "zeta"),
        ("real", "real\\usd", "acme"),
    ):
        opened = OpenAccount(group, profile={"broker": broker, "email": f"{tag}@example.com"})
        logins[tag] = login = services.open_account(opened, admin).login
        services.post_ledger_entry(PostLedgerEntry(login, "deposit", "100000"), admin)
    trades = (
        ("multi", "EURUSD", "buy", "1"),
        ("multi", "EURUSD", "sell", "0.3"),
        ("multi", "GBPUSD", "sell", "2"),
        ("multi", "USDJPY", "buy", "0.5"),
        ("other", "EURUSD", "buy", "0.7"),
        ("real", "GBPUSD", "buy", "1"),
    )
    for tag, symbol, side, lots in trades:
        services.open_position(OpenPosition(logins[tag], symbol, side, lots), admin)
    return logins


@contextmanager
def statements(runtime: Runtime) -> Iterator[list[str]]:
    """The SQL statements that read positions, sent meanwhile."""
    sent: list[str] = []

    def seen(_c: Any, _cur: Any, sql: str, *_: Any) -> None:
        if "positions" in sql:
            sent.append(sql)

    engine = runtime.storage.engine
    event.listen(engine, "before_cursor_execute", seen)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", seen)


def _lines(report: ExposureReport) -> dict[tuple[str, str], tuple[Any, ...]]:
    return {
        (x.symbol, x.group): (x.accounts, x.positions, x.net_lots, x.gross_lots, x.net_notional)
        for x in report.lines
    }


def test_an_account_in_several_symbols_is_priced_per_symbol_and_counted_once(
    runtime: Runtime, services: Application, admin: Actor, book: dict[str, int]
) -> None:
    with statements(runtime) as sent:
        report = services.exposure(admin)
    assert len(sent) == 1  # one aggregate over the positions per report
    assert _lines(report) == {
        # 0.7 lots net x 100000 x 1.1001 (EURUSD's mid)
        ("EURUSD", "demo\\usd"): (2, 3, Decimal("1.4"), Decimal("2.0"), Decimal("154014.00")),
        ("GBPUSD", "demo\\usd"): (1, 1, Decimal("-2"), Decimal("2"), Decimal("-250030.00")),
        ("GBPUSD", "real\\usd"): (1, 1, Decimal("1"), Decimal("1"), Decimal("125015.00")),
        # 0.5 lots x 100000 x 150.01 JPY, at 1/150.01 USD per JPY
        ("USDJPY", "demo\\usd"): (1, 1, Decimal("0.5"), Decimal("0.5"), Decimal("50000.00")),
    }
    groups = {x.group: (x.accounts, x.positions) for x in report.groups}
    assert groups == {"demo\\usd": (2, 5), "real\\usd": (1, 1)}  # multi counted once
    symbols = {x.symbol: x.accounts for x in report.symbols}
    assert symbols == {"EURUSD": 2, "GBPUSD": 2, "USDJPY": 1}
    assert (report.total.accounts, report.total.positions) == (3, 6)
    # every open position has lost its spread, in its own symbol's points and currency
    spread = {
        ("EURUSD", "demo\\usd"): Decimal("-40.00"),  # 2.0 lots x 0.0002 x 100000
        ("GBPUSD", "demo\\usd"): Decimal("-60.00"),  # 2 lots x 0.0003
        ("GBPUSD", "real\\usd"): Decimal("-30.00"),
        ("USDJPY", "demo\\usd"): Decimal("-6.67"),  # 0.5 x 0.020 x 100000 JPY = 1000 JPY
    }
    assert {(x.symbol, x.group): x.client_profit for x in report.lines} == spread
    assert report.total.client_profit == sum(spread.values())


def test_the_report_sees_only_the_managers_reach(
    services: Application, admin: Actor, book: dict[str, int]
) -> None:
    demo = Actor(1002, frozenset(SCOPES), group_mask="demo\\*")
    acme = Actor(1003, frozenset(SCOPES), white_labels="acme")
    both = Actor(1004, frozenset(SCOPES), group_mask="demo\\*", white_labels="acme")
    none = Actor(1005, frozenset(SCOPES), group_mask="nothing\\*")
    everything = _lines(services.exposure(admin))
    in_demo = {k: v for k, v in everything.items() if k[1] == "demo\\usd"}
    # zeta's account (`other`, 0.7 lots of EURUSD in demo) is out of the white label's reach
    acme_eurusd = (1, 2, Decimal("0.7"), Decimal("1.3"), Decimal("77007.00"))
    for actor, kw, lines, accounts in (
        (demo, {}, in_demo, 2),
        (acme, {}, {**everything, ("EURUSD", "demo\\usd"): acme_eurusd}, 2),
        (both, {}, {**in_demo, ("EURUSD", "demo\\usd"): acme_eurusd}, 1),
        (acme, {"symbol": "EUR*"}, {("EURUSD", "demo\\usd"): acme_eurusd}, 1),
        (demo, {"group": "real\\*"}, {}, 0),  # a filter never widens reach
        (none, {}, {}, 0),
    ):
        report = services.exposure(actor, **kw)
        assert (_lines(report), report.total.accounts) == (lines, accounts), (actor, kw)
        assert report.total.positions == sum(x[1] for x in lines.values())
    # the users export of the same managers sees the same accounts
    for actor, tags in ((demo, {"multi", "other"}), (acme, {"multi", "real"}), (both, {"multi"})):
        pages = services.export_accounts(ListAccounts(), actor, ("login",))
        assert {int(row[0]) for page in pages for row in page} == {book[t] for t in tags}
